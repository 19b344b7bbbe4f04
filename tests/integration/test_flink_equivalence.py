"""The batch pipeline gives the same output on Flink as on the default runner (issue 10).

One slice of the shared corpus is run once on the default runner and once on Flink
(``[local]`` mini cluster, ``LOOPBACK`` workers) into two fresh aliases of the real
Elasticsearch:

* the SaudiNewsNet articles of 2015-08-10 without the two outlets with the most articles of
  their own (al-Riyadh, al-Eqtisadiya): 1,300 articles, Saudi Press Agency stories and their
  reprints, 123 near-duplicate clusters of two or more, 62 duplicates by content hash, 2
  articles without text (dead letters);
* the first 30 pairs of corpus articles listed under two sections with one URL (same ``_id``):
  60 articles, 30 duplicates by id.

Both runs must index the same document ids with the same ``dedup.cluster_id`` and
``dedup.duplicate_of``, and both summaries must add up. The whole corpus is compared by
``python -m bench.run --equivalence`` (docs/distributed.md).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apache_beam.runners.portability import job_server

from bench import equivalence
from tests.conftest import es_url
from transforms.urls import canonical_url

SLICE_DAY = "-2015-08-10-"
LEFT_OUT = ("alriyadh", "aleqtisadiya")  # keeps the test near 2 minutes; the clusters stay
SAME_URL_PAIRS = 30
SLICE_SIZE = 1300 + 2 * SAME_URL_PAIRS


def wire_slice(path: Path) -> Path:
    with equivalence.CORPUS.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    wire = [
        row for row in rows if row["id"].startswith("snn-") and SLICE_DAY in row["id"] and row["source"] not in LEFT_OUT
    ]
    by_url: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_url[canonical_url(row["url"]) if row.get("url") else None].append(row)
    pairs = [group for url, group in by_url.items() if url and len(group) == 2][:SAME_URL_PAIRS]
    return equivalence.write_slice([*wire, *(row for pair in pairs for row in pair)], path)


@pytest.fixture(scope="module")
def runs(es_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both runs once for the module: ``{runner: (RunSummary, {_id: (cluster_id, duplicate_of)})}``.

    Beam keeps each Flink job server (a JVM, ~700 MB) until Python exits; the ones started
    here are stopped at the end, like the runner smoke tests do.
    """
    assert equivalence.FLINK_JAR.exists(), f"{equivalence.FLINK_JAR} is missing: run `make flink-jobserver` first"
    tmp_path = tmp_path_factory.mktemp("flink-equivalence")
    corpus = wire_slice(tmp_path / "slice.jsonl")
    started: list[job_server.StopOnExitJobServer] = []
    original_start = job_server.StopOnExitJobServer.start

    def start_and_remember(self: job_server.StopOnExitJobServer) -> str:
        started.append(self)
        return original_start(self)

    aliases = {runner: f"akhbar-test-{runner}-{uuid.uuid4().hex[:8]}" for runner in ("default", "flink")}
    results: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job_server.StopOnExitJobServer, "start", start_and_remember)
        try:
            for runner, alias in aliases.items():
                argv = equivalence.batch_argv([str(corpus)], alias, es_url(), tmp_path / runner, runner)
                summary, _ = equivalence.timed_run(argv)
                results[runner] = (summary, equivalence.indexed_clusters(es_client, alias))
            yield results
        finally:
            for server in started:
                server.stop()
            for alias in aliases.values():
                equivalence.delete_alias(es_client, alias)


def test_flink_indexes_the_default_runners_ids_and_clusters(runs: dict[str, Any]) -> None:
    (default, default_clusters), (flink, flink_clusters) = runs["default"], runs["flink"]
    assert default.ok and default.read == SLICE_SIZE, default.line()
    assert flink.read == default.read and flink.indexed == default.indexed and flink.dead == default.dead
    difference = equivalence.compare(default_clusters, flink_clusters)
    assert difference["same_ids"], difference
    assert difference["same_clusters"], difference
    # The slice must exercise clustering, or equality would prove little.
    assert difference["clusters_with_several_documents"] >= 50, difference
    assert len(default_clusters) == default.indexed


def test_flink_summary_adds_up_like_the_default_runners(runs: dict[str, Any]) -> None:
    default, flink = runs["default"][0], runs["flink"][0]
    assert flink.ok, flink.line()
    assert flink.line() == default.line()
