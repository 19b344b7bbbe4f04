"""`akhbar stream` end to end: Prism (the real streaming runner), the real Elasticsearch, and
the local feed server changing its feeds while the stream runs.

One run, several checks, because starting the runner is the expensive part:

* freshness: items added to a feed are searchable within the feed's max interval + 5 s;
* no duplicates after 20+ polls of unchanged feeds (honest 304s, lying ETags, a republished item,
  an item carried by two feeds);
* a feed answering 500 backs off and does not delay the other feeds;
* a 429 with Retry-After keeps its host away for that long; a windows-1256 feed with no
  declaration is indexed as Arabic;
* SIGTERM right after a poll fetched new items: exit 0 within 30 s, and every fetched item is
  indexed or in the dead-letter folder.
"""

from __future__ import annotations

import itertools
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import REPO, es_url
from tests.feedserver import FeedServer, load_articles

AKHBAR = Path(sys.executable).parent / "akhbar"
MAX_INTERVAL = 2.0
FRESHNESS_BOUND = MAX_INTERVAL + 5.0
POLLS_UNCHANGED = 20


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.1, process: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"akhbar stream exited ({process.returncode}) while waiting for {what}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def searchable(es: Any, index: str, guids: list[str]) -> bool:
    from elasticsearch import ApiError

    try:
        found = es.count(index=index, query={"terms": {"guid": guids}})["count"]
    except ApiError as err:  # the stream creates the index once started; its shard may not be ready yet
        if err.meta.status in (404, 503):
            return False
        raise
    return found == len(guids)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_stream_end_to_end(es_client: Any, index_name: str, tmp_path: Path) -> None:
    es = es_client
    assert AKHBAR.exists(), f"{AKHBAR} missing: run `make install`"
    assert (REPO / "var" / "runners" / "prism").exists(), "var/runners/prism missing: run `make runners`"
    corpus = load_articles(40, offset=300)
    initial, later = corpus[:14], corpus[14:]
    health_index = f"{index_name}-feed-health"
    deadletter_dir = tmp_path / "deadletter"

    with FeedServer() as server:
        live = server.add_feed("/live.xml", initial[:4])
        wire = server.add_feed("/wire.xml", [*initial[4:8], initial[0]], etag="random")  # lies; shares one item
        legacy = server.add_feed("/legacy.xml", initial[8:11], encoding="windows-1256", declare=False)
        static = server.add_feed("/static.xml", initial[11:12], etag="none")  # no validators at all
        down = server.add_feed("/down.xml", [])
        server.set_failing("/down.xml", 500)
        busy = server.add_feed("/busy.xml", initial[12:14]).replace("//127.0.0.1:", "//localhost:")
        server.fail("/busy.xml", 429, retry_after="3")
        feeds_file = tmp_path / "feeds.yaml"
        feeds_file.write_text(
            "host_min_interval: 0.1\n"
            f"defaults: {{interval: 1, min_interval: 1, max_interval: {MAX_INTERVAL}, max_backoff: 16}}\n"
            "feeds:\n"
            + "".join(
                f"  - {{url: '{url}', name: {name}}}\n"
                for name, url in [
                    ("live", live),
                    ("wire", wire),
                    ("legacy", legacy),
                    ("static", static),
                    ("down", down),
                    ("busy", busy),
                ]
            ),
            encoding="utf-8",
        )
        log_path = tmp_path / "stream.log"
        command = [
            str(AKHBAR),
            "stream",
            "--feeds",
            str(feeds_file),
            "--index",
            index_name,
            "--es-url",
            es_url(),
            "--health-index",
            health_index,
            "--deadletter-dir",
            str(deadletter_dir),
            "--pending-dir",
            str(tmp_path / "pending"),
            "--window",
            "1",
        ]
        started = time.monotonic()
        wall_start = time.time()
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            # 1. Everything served at start is indexed (13 distinct items: wire repeats one of live's).
            everything = [a["id"] for a in initial]
            wait_for("the initial items", lambda: searchable(es, index_name, everything), 90, process=process)
            startup = time.monotonic() - started

            # 2. Freshness: add one item at a time at a random phase of the poll cycle.
            latencies = []
            for position, item in enumerate(later[:8]):
                feed = "/live.xml" if position % 2 == 0 else "/wire.xml"
                added = server.add_items(feed, [item])
                wait_for(f"item {position} searchable", lambda i=item: searchable(es, index_name, [i["id"]]), 30, 0.05)
                latencies.append(time.time() - added)
                time.sleep(random.uniform(0.0, MAX_INTERVAL))
            server.repeat("/live.xml", 5)  # an old item comes back on top: not a new document

            # 3. Unchanged feeds polled 20 times or more after their last change.
            def unchanged_polls() -> bool:
                unchanged = ("/static.xml", "/legacy.xml")
                return all(len(server.requests_for(path)) >= POLLS_UNCHANGED + 1 for path in unchanged)

            wait_for("20 polls of the unchanged feeds", unchanged_polls, 60, 0.5)

            # 4. SIGTERM right after a poll fetched new items.
            last = server.add_items("/live.xml", later[8:11])
            wait_for(
                "a poll that fetched the last items",
                lambda: any(r.at > last and r.status == 200 for r in server.requests_for("/live.xml")),
                10,
                0.01,
            )
            signalled = time.monotonic()
            sigterm_at = time.time()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            shutdown = time.monotonic() - signalled
        finally:
            if process.poll() is None:  # a failed check: let akhbar stop its runner, then insist
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        output = log_path.read_text(encoding="utf-8", errors="replace")
        print(output[-4000:])
        assert shutdown < 30

        requests_by_path = {path: server.requests_for(path) for path in server.feeds}

    es.indices.refresh(index=index_name)
    # Nothing fetched is lost: every item is indexed or dead-lettered.
    served = [*initial, *later[:11]]
    hits = es.search(index=index_name, size=100, query={"match_all": {}})["hits"]["hits"]
    indexed = {hit["_source"]["guid"] for hit in hits}
    dead_lines = [line for path in deadletter_dir.rglob("*.jsonl") for line in path.read_text().splitlines()]
    missing = [a["id"] for a in served if a["id"] not in indexed and not any(a["id"] in line for line in dead_lines)]
    assert missing == []
    # No duplicates: one document per distinct item, after all those polls.
    assert es.count(index=index_name)["count"] == len(served) == len(indexed)
    assert code == 0, output[-3000:]
    # The windows-1256 feed became Arabic text.
    legacy_titles = {
        hit["_source"]["title"]
        for hit in es.search(index=index_name, query={"terms": {"guid": [a["id"] for a in initial[8:11]]}})["hits"][
            "hits"
        ]
    }
    assert legacy_titles == {a["title"] for a in initial[8:11]}

    # Freshness bound, and the numbers for docs/streaming.md.
    print(
        f"startup {startup:.1f} s; freshness median {statistics.median(latencies):.2f} s, "
        f"worst {max(latencies):.2f} s over {len(latencies)} items; shutdown {shutdown:.1f} s; "
        f"all: {sorted(round(latency, 2) for latency in latencies)}"
    )
    assert max(latencies) <= FRESHNESS_BOUND, latencies

    # The failing feed backed off; the others kept their rhythm.
    down_times = [r.at for r in requests_by_path["/down.xml"]]
    assert all(r.status == 500 for r in requests_by_path["/down.xml"])
    assert gaps(down_times)[-1] >= 8 > gaps(down_times)[0]  # exponential: 2 s, 4 s, 8 s, 16 s
    for path in ("/static.xml", "/legacy.xml", "/wire.xml"):
        times = [r.at for r in requests_by_path[path]]
        late = [
            (round(at - wall_start, 1), round(gap, 1))
            for at, gap in zip(times[1:], gaps(times), strict=True)
            if gap > MAX_INTERVAL + 1.5
        ]
        assert late == [], f"{path}: (seconds into the run, gap) {late}; SIGTERM at {sigterm_at - wall_start:.1f}"
    # 429 + Retry-After: 3 s honoured for its host.
    busy_times = [r.at for r in requests_by_path["/busy.xml"]]
    assert requests_by_path["/busy.xml"][0].status == 429 and busy_times[1] - busy_times[0] >= 3.0
    # Conditional GET where the server supports it.
    statuses = {r.status for r in requests_by_path["/live.xml"]}
    assert 304 in statuses and all("if-none-match" not in r.headers for r in requests_by_path["/static.xml"])

    # Feed health: one document per poll, with the outcomes seen.
    es.indices.refresh(index=health_index)
    outcomes = es.search(index=health_index, size=0, aggs={"o": {"terms": {"field": "outcome"}}})["aggregations"]["o"]
    seen_outcomes = {bucket["key"] for bucket in outcomes["buckets"]}
    assert {"changed", "not_modified", "unchanged", "error", "throttled"} <= seen_outcomes
    polls_logged = sum(len(requests) for requests in requests_by_path.values())
    health_docs = es.count(index=health_index)["count"]
    assert polls_logged - 2 <= health_docs <= polls_logged  # a poll in flight at SIGTERM may be unlogged
    assert re.search(r"\[OK: read = indexed \+ duplicates \+ dead-lettered\]", output)
