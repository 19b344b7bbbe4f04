"""The batch pipeline gives the same output on Flink as on the default runner (issue 10).

One slice of the shared corpus, the SaudiNewsNet articles of 2015-08-10 without the two
outlets with the most articles of their own (al-Riyadh, al-Eqtisadiya): 1,300 articles, Saudi
Press Agency stories and their reprints, 123 near-duplicate clusters of two or more, 62 exact
duplicates and 2 articles without text (dead letters). It is run once on the default runner
and once on Flink (``[local]`` mini cluster, ``LOOPBACK``
workers) into two fresh aliases of the real Elasticsearch. Both runs must index the same
document ids with the same ``dedup.cluster_id`` and ``dedup.duplicate_of``, and both
summaries must add up. The whole corpus is compared by ``python -m bench.run --equivalence``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apache_beam.runners.portability import job_server

from bench import equivalence
from tests.conftest import es_url

SLICE_DAY = "-2015-08-10-"
LEFT_OUT = ("alriyadh", "aleqtisadiya")  # keeps the test near 3 minutes; the clusters stay
SLICE_SIZE = 1300


@pytest.fixture
def stop_job_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Beam keeps a Flink job server (a JVM, ~700 MB) until Python exits; stop the ones started here."""
    started: list[job_server.StopOnExitJobServer] = []
    original_start = job_server.StopOnExitJobServer.start

    def start_and_remember(self: job_server.StopOnExitJobServer) -> str:
        started.append(self)
        return original_start(self)

    monkeypatch.setattr(job_server.StopOnExitJobServer, "start", start_and_remember)
    yield
    for server in started:
        server.stop()


@pytest.fixture
def aliases(es_client: Any) -> Iterator[dict[str, str]]:
    names = {runner: f"akhbar-test-{runner}-{uuid.uuid4().hex[:8]}" for runner in ("default", "flink")}
    yield names
    for alias in names.values():
        equivalence.delete_alias(es_client, alias)


def wire_slice(path: Path) -> Path:
    with equivalence.CORPUS.open(encoding="utf-8") as lines:
        rows = [
            row
            for row in map(json.loads, lines)
            if row["id"].startswith("snn-") and SLICE_DAY in row["id"] and row["source"] not in LEFT_OUT
        ]
    return equivalence.write_slice(rows, path)


def test_flink_gives_the_default_runners_ids_and_clusters(
    es_client: Any, aliases: dict[str, str], stop_job_servers: None, tmp_path: Path
) -> None:
    assert equivalence.FLINK_JAR.exists(), f"{equivalence.FLINK_JAR} is missing: run `make flink-jobserver` first"
    corpus = wire_slice(tmp_path / "snn-2015-08-10.jsonl")

    summaries, clusters = {}, {}
    for runner, alias in aliases.items():
        argv = equivalence.batch_argv([str(corpus)], alias, es_url(), tmp_path / runner, runner)
        summaries[runner], _ = equivalence.timed_run(argv)
        clusters[runner] = equivalence.indexed_clusters(es_client, alias)

    for runner, summary in summaries.items():
        assert summary.ok, f"{runner}: {summary.line()}"
        assert summary.read == SLICE_SIZE, f"{runner}: {summary.line()}"
    assert summaries["flink"].line() == summaries["default"].line()
    difference = equivalence.compare(clusters["default"], clusters["flink"])
    assert difference["same_ids"], difference
    assert difference["same_clusters"], difference
    # The slice must exercise clustering, or equality would prove little.
    assert difference["clusters_with_several_documents"] >= 50, difference
    assert len(clusters["default"]) == summaries["default"].indexed
