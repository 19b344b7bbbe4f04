"""Run the batch pipeline on two runners and compare what each indexed.

Used by ``tests/integration/test_flink_equivalence.py`` (a slice of the corpus) and by
``python -m bench.run --equivalence`` (the whole corpus). Each run writes into its own fresh
alias; ``indexed_clusters`` reads back, per document id, the duplicate cluster it joined
(``dedup.cluster_id``) and the canonical it duplicates (``dedup.duplicate_of``), which is
what "the same output" means here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"
RUNNERS_DIR = REPO / "var" / "runners"
BEAM_VERSION = "2.70.0"
FLINK_JAR = RUNNERS_DIR / f"beam-flink-job-server-{BEAM_VERSION}.jar"
SPARK_JAR = RUNNERS_DIR / f"beam-spark-job-server-{BEAM_VERSION}.jar"

Clusters = dict[str, tuple[str | None, str | None]]


def runner_args(name: str) -> list[str]:
    """Beam flags for ``default`` (no flags: DirectRunner), ``flink`` or ``spark`` (local, LOOPBACK)."""
    if name == "default":
        return []
    if name == "flink":
        if not FLINK_JAR.exists():
            raise FileNotFoundError(f"{FLINK_JAR} is missing: run `make flink-jobserver` first")
        return [
            "--runner=FlinkRunner",
            "--flink_master=[local]",
            f"--flink_job_server_jar={FLINK_JAR.resolve()}",
            "--environment_type=LOOPBACK",
        ]
    if name == "spark":
        if not SPARK_JAR.exists():
            raise FileNotFoundError(f"{SPARK_JAR} is missing: run `make spark-jobserver` first")
        return [
            "--runner=SparkRunner",
            "--spark_master_url=local[2]",
            f"--spark_job_server_jar={SPARK_JAR.resolve()}",
            "--environment_type=LOOPBACK",
        ]
    raise ValueError(f"unknown runner {name!r}")


def batch_argv(inputs: Sequence[str], alias: str, es_url: str, workdir: Path, runner: str) -> list[str]:
    return [
        "--input",
        *inputs,
        "--index",
        alias,
        "--es-url",
        es_url,
        "--deadletter-dir",
        str(workdir / "deadletter"),
        "--pending-dir",
        str(workdir / "pending"),
        *runner_args(runner),
    ]


def write_slice(rows: Iterable[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def indexed_clusters(client: Any, alias: str) -> Clusters:
    """``{_id: (dedup.cluster_id, dedup.duplicate_of)}`` of every document behind ``alias``."""
    from elasticsearch import helpers

    client.indices.refresh(index=alias)
    clusters: Clusters = {}
    hits = helpers.scan(
        client,
        index=alias,
        query={"query": {"match_all": {}}},
        _source=["dedup.cluster_id", "dedup.duplicate_of"],
        size=1000,
    )
    for hit in hits:
        dedup = hit.get("_source", {}).get("dedup", {})
        clusters[hit["_id"]] = (dedup.get("cluster_id"), dedup.get("duplicate_of"))
    return clusters


def compare(left: Clusters, right: Clusters) -> dict[str, Any]:
    """What differs between two runs' outputs (empty lists when they are the same)."""
    only_left = sorted(set(left) - set(right))
    only_right = sorted(set(right) - set(left))
    differ = sorted(i for i in set(left) & set(right) if left[i] != right[i])
    multi: dict[str, int] = {}
    for cluster_id, _ in left.values():
        if cluster_id is not None:
            multi[cluster_id] = multi.get(cluster_id, 0) + 1
    return {
        "documents": [len(left), len(right)],
        "same_ids": not only_left and not only_right,
        "same_clusters": not only_left and not only_right and not differ,
        "only_in_first": only_left[:20],
        "only_in_second": only_right[:20],
        "different_cluster": [(i, left[i], right[i]) for i in differ[:20]],
        "clusters_with_several_documents": sum(1 for n in multi.values() if n > 1),
        "documents_flagged_duplicate_of": sum(1 for _, dup in left.values() if dup),
    }


def delete_alias(client: Any, alias: str) -> None:
    """The alias's versioned index, its dead-letter index and its template ``akhbar-<alias>``."""
    client.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
    client.options(ignore_status=404).indices.delete_index_template(name=f"akhbar-{alias}")


def timed_run(argv: list[str]) -> tuple[Any, float]:
    """``pipelines.batch.run`` in this process: (RunSummary, wall seconds)."""
    from pipelines.batch import run

    started = time.perf_counter()
    summary = run(argv)
    return summary, time.perf_counter() - started
