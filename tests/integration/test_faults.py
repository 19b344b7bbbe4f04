"""Nothing lost, nothing duplicated (issue 9): a real outage, real 429s, a corpus of broken inputs.

The outage and 429 tests start their own Elasticsearch nodes on other ports (the one `make
test` started keeps serving the other tests), kill or throttle them for real, and compare
with an undisturbed run of the same input.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from tests import fuzz_corpus
from tests.conftest import REPO, SAMPLE_FEED, SEED, SHARED_DATA, es_url

AKHBAR = str(REPO / ".venv" / "bin" / "akhbar")
SUMMARY = re.compile(r"read=(\d+) indexed=(\d+) duplicates=(\d+) dead-lettered=(\d+)(?: pending=(\d+))?")


class EsNode:
    """An extra Elasticsearch node started with scripts/es.sh on its own port."""

    def __init__(self, port: int, extra_settings: str = "") -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "ES_PORT": str(port), "ES_EXTRA_SETTINGS": extra_settings}

    def up(self) -> None:
        subprocess.run([str(REPO / "scripts" / "es.sh"), "up"], env=self.env, check=True, timeout=240)

    def down(self) -> None:
        subprocess.run([str(REPO / "scripts" / "es.sh"), "down"], env=self.env, check=False, timeout=120)

    def kill(self) -> None:
        pid = int((REPO / "var" / "es" / f"run-{self.port}" / "es.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)

    def client(self) -> Elasticsearch:
        return Elasticsearch(self.url, request_timeout=30)


def corpus_slice(path: Path, count: int, skip: int = 0) -> Path:
    with (SHARED_DATA / "arabic-news" / "articles.jsonl").open(encoding="utf-8") as source:
        lines = [line for _, line in zip(range(skip + count), source, strict=False)][skip:]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def batch(*inputs: Path | str, index: str, url: str, tmp: Path, config: dict | None = None) -> subprocess.Popen:
    flags = [str(i) for i in inputs if str(i).startswith("--")]
    paths = [str(i) for i in inputs if not str(i).startswith("--")]
    args = [
        AKHBAR,
        "batch",
        *flags,
        *(["--input", *paths] if paths else []),
        "--index",
        index,
        "--es-url",
        url,
        "--deadletter-dir",
        str(tmp / "dead"),
        "--pending-dir",
        str(tmp / "pending"),
    ]
    if config:
        config_file = tmp / f"config-{uuid.uuid4().hex[:6]}.json"
        config_file.write_text(json.dumps(config))
        args += ["--config", str(config_file)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 900) -> tuple[int, dict[str, int], str]:
    out, err = process.communicate(timeout=timeout)
    match = SUMMARY.search(out)
    assert match, f"no summary line in output:\n{out}\n{err[-3000:]}"
    read, indexed, duplicates, dead, pending = (int(g or 0) for g in match.groups())
    assert "[OK:" in out, out
    return (
        process.returncode,
        {"read": read, "indexed": indexed, "duplicates": duplicates, "dead": dead, "pending": pending},
        out + err,
    )


def ids_in(client: Elasticsearch, index: str) -> set[str]:
    client.indices.refresh(index=index)
    response = client.search(index=index, query={"match_all": {}}, size=10_000, source=False)
    return {hit["_id"] for hit in response["hits"]["hits"]}


def index_operations(client: Elasticsearch, index: str) -> int:
    try:
        stats = client.indices.stats(index=index, metric="indexing")
    except Exception:
        return -1
    return stats["_all"]["primaries"].get("indexing", {}).get("index_total", 0)


@pytest.fixture(scope="module")
def corpus_run(es_client, tmp_path_factory) -> tuple[Path, set[str]]:
    """A slice of the shared corpus and the ids an undisturbed run indexes (on the main node)."""
    tmp = tmp_path_factory.mktemp("reference")
    inputs = corpus_slice(tmp / "slice.jsonl", 1000, skip=2000)
    index = f"akhbar-test-ref-{uuid.uuid4().hex[:8]}"
    try:
        code, _, output = finish(batch(inputs, index=index, url=es_url(), tmp=tmp))
        assert code == 0, output
        return inputs, ids_in(es_client, index)
    finally:
        es_client.indices.delete(index=f"{index}*", ignore_unavailable=True, allow_no_indices=True)
        es_client.indices.delete_index_template(name=f"akhbar-{index}", ignore=[404])


def test_elasticsearch_killed_mid_batch_and_restarted(tmp_path, corpus_run):
    node = EsNode(9251)
    node.up()
    index = f"akhbar-test-outage-{uuid.uuid4().hex[:8]}"
    inputs, expected = corpus_run
    client = node.client()
    try:
        started = time.monotonic()
        process = batch(
            inputs,
            index=index,
            url=node.url,
            tmp=tmp_path,
            config={"elasticsearch": {"batch_docs": 25, "retry_budget_s": 180}},
        )
        while (done := index_operations(client, index)) < 50:
            assert process.poll() is None, "the run ended before Elasticsearch could be killed"
            assert time.monotonic() - started < 600
            time.sleep(0.05)
        node.kill()
        killed_at = time.monotonic()
        time.sleep(20)
        node.up()
        code, counts, output = finish(process)
        assert 0 < done < len(expected), "the outage did not fall in the middle of indexing"
        assert code == 0, output
        assert counts["pending"] == 0
        assert ids_in(client, index) == expected
        assert counts["indexed"] == len(expected)
        retries = int(re.search(r"retries\s+(\d+)", output).group(1))
        print(
            f"outage: killed after {done} index operations, run done {time.monotonic() - killed_at:.0f}s later; "
            f"{len(expected)} documents, {retries} retries, summary {counts}"
        )
    finally:
        client.indices.delete(index=f"{index}*", ignore_unavailable=True, allow_no_indices=True)
        client.close()
        node.down()


def test_write_queue_full_answers_429_and_everything_lands(tmp_path, corpus_run):
    node = EsNode(9252, "thread_pool.write.size: 1\nthread_pool.write.queue_size: 1")
    node.up()
    index = f"akhbar-test-429-{uuid.uuid4().hex[:8]}"
    inputs, expected = corpus_run
    client = node.client()
    stop = threading.Event()

    def load() -> None:  # competing writers keep the one write thread and its queue busy
        load_client = node.client()
        docs = [{"index": {"_index": "akhbar-test-load"}}, {"n": 1}] * 200
        while not stop.is_set():
            try:
                load_client.bulk(operations=docs)
            except Exception:
                time.sleep(0.01)
        load_client.close()

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        code, counts, output = finish(
            batch(inputs, index=index, url=node.url, tmp=tmp_path, config={"elasticsearch": {"batch_docs": 20}})
        )
        stop.set()
        assert code == 0, output
        assert ids_in(client, index) == expected
        retries = int(re.search(r"retries\s+(\d+)", output).group(1))
        assert retries > 0, "the server never pushed back: the test did not test 429 handling"
        print(f"429: {len(expected)} documents landed after {retries} retries; summary {counts}")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        client.indices.delete(index=f"{index}*,akhbar-test-load", ignore_unavailable=True, allow_no_indices=True)
        client.close()
        node.down()


def test_a_thousand_broken_inputs_are_all_accounted_for(es_client, index_name, tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    paths = fuzz_corpus.build(cases, SHARED_DATA / "arabic-news" / "articles.jsonl", count=1000)
    code, counts, output = finish(batch(str(cases / "case-*"), index=index_name, url=es_url(), tmp=tmp_path))
    assert code == 0, output
    assert counts["read"] >= len(paths)
    assert counts["read"] == counts["indexed"] + counts["duplicates"] + counts["dead"]
    dead_lines = [json.loads(line) for f in (tmp_path / "dead").rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(dead_lines) == counts["dead"]
    reasons = " ".join(d["error"] for d in dead_lines)
    assert "unsafe XML" in reasons and "DecodeError" in reasons
    es_client.indices.refresh(index=index_name)
    assert es_client.count(index=index_name, query={"match": {"body": "root"}})["count"] == 0  # no entity resolved
    assert es_client.count(index=index_name)["count"] == counts["indexed"]
    huge = es_client.search(index=index_name, query={"term": {"origin": str(cases / "case-huge.jsonl") + ":1"}})
    assert any("capped" in note for hit in huge["hits"]["hits"] for note in hit["_source"]["notes"])
    print(f"fuzz: {len(paths)} inputs, summary {counts}")


def test_outage_longer_than_the_budget_leaves_pending_documents_for_resume(tmp_path):
    node = EsNode(9253)
    node.up()
    index = f"akhbar-test-resume-{uuid.uuid4().hex[:8]}"
    client = node.client()
    try:
        process = batch(
            SEED, SAMPLE_FEED, index=index, url=node.url, tmp=tmp_path, config={"elasticsearch": {"retry_budget_s": 3}}
        )
        while not client.indices.exists(index=f"{index}-deadletter"):  # the run's setup is done
            assert process.poll() is None
            time.sleep(0.05)
        time.sleep(1)  # let the setup's last answer reach the run
        node.kill()  # before the sink stage: every write meets a dead server
        out, err = process.communicate(timeout=600)
        assert process.returncode == 1, out + err
        assert "--resume" in err and "pending=11" in out
        pending = list((tmp_path / "pending").rglob("pending-*.jsonl"))
        assert sum(len(f.read_text().splitlines()) for f in pending) == 11

        node.up()
        code, counts, output = finish(batch("--resume", index=index, url=node.url, tmp=tmp_path))
        assert code == 0, output
        assert counts == {"read": 11, "indexed": 11, "duplicates": 0, "dead": 0, "pending": 0}
        assert not list((tmp_path / "pending").rglob("pending-*.jsonl"))
        assert len(ids_in(client, index)) == 11
    finally:
        client.indices.delete(index=f"{index}*", ignore_unavailable=True, allow_no_indices=True)
        client.close()
        node.down()
