"""The batch pipeline: inputs -> clean -> dedup -> tag -> Elasticsearch, with dead letters.

akhbar batch --input PATH|GLOB|URL ... [--index NAME] [--es-url URL] [--config FILE] [beam options]
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import RunConfig, load_run_config, local_runner
from pipelines.summary import RunSummary, summarize
from transforms.dedup import Dedup, load_config
from transforms.elasticsearch import (
    ReadPending,
    WriteDeadLetters,
    WriteJsonLines,
    WriteToElasticsearch,
    ensure_deadletter_index,
    ensure_index,
    make_client,
)
from transforms.records import Article
from transforms.sources import ReadInputs
from transforms.stages import CleanArticles, TagDates, TagEntities

log = logging.getLogger(__name__)


def build(p: beam.Pipeline, cfg: RunConfig, run_dir: str, pending_files: list[str]) -> None:
    read = p | "ReadInputs" >> ReadInputs(list(cfg.inputs))
    resumed = p | "ReadPending" >> ReadPending(pending_files) if pending_files else None
    process_and_index(read["articles"], read["dead"], cfg, run_dir, resumed)


def process_and_index(
    articles: beam.PCollection,
    dead_inputs: beam.PCollection,
    cfg: RunConfig,
    run_dir: str,
    resumed: beam.PCollection | None = None,
) -> None:
    """Everything after the source, shared by the batch and streaming pipelines.

    Every ``dead`` output ends in the dead-letter writer; documents Elasticsearch could not
    take within the retry budget end in the pending folder.
    """
    cleaned = articles | "Clean" >> CleanArticles()
    # Entities before dedup: the tagger's Rust thread works while this worker's Python cleans and
    # fingerprints the next articles, on a core Elasticsearch leaves idle until indexing starts
    # (after dedup, the tagger and Elasticsearch would share it). Dates, in Python, after dedup:
    # dropped duplicates skip them. Dedup reads only the cleaned title and body.
    with_entities = cleaned["articles"] | "TagEntities" >> TagEntities()
    deduped = with_entities["articles"] | "Dedup" >> Dedup(cfg.es, load_config(overrides=cfg.dedup))
    tagged = deduped["articles"] | "TagDates" >> TagDates()
    _ = deduped["duplicates"] | "CountDuplicates" >> beam.Map(count_duplicate)
    written = (
        tagged["articles"]
        | "CountFlagged" >> beam.Map(count_flagged)
        | "Index" >> WriteToElasticsearch(cfg.es, resumed)
    )
    _ = written["pending"] | "WritePending" >> WritePending(os.path.join(cfg.pending_dir, cfg.es.alias, run_dir))
    dead = (
        dead_inputs,
        cleaned["dead"],
        with_entities["dead"],
        tagged["dead"],
        deduped["dead"],
        written["dead"],
    ) | "FlattenDead" >> beam.Flatten()
    _ = dead | "DeadLetters" >> WriteDeadLetters(cfg.es, os.path.join(cfg.deadletter_dir, cfg.es.alias, run_dir))


def count_duplicate(duplicate: tuple[Article, str, str]) -> None:
    """Duplicates end here (not indexed); the summary reads these counters."""
    _, reason, _ = duplicate
    Metrics.counter("akhbar", "duplicates_near_dropped" if reason.startswith("near") else "duplicates_exact").inc()


def count_flagged(article: Article) -> Article:
    if article.dedup.get("duplicate_of"):
        Metrics.counter("akhbar", "near_duplicates_flagged").inc()
    return article


class WritePending(beam.PTransform):
    """Documents Elasticsearch could not take within the retry budget, as JSON Lines for ``--resume``."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory

    def expand(self, pending: beam.PCollection) -> beam.PCollection:
        return (
            pending
            | "PendingToJson" >> beam.Map(lambda doc: json.dumps(doc, ensure_ascii=False))
            | "WritePendingFiles" >> beam.ParDo(WriteJsonLines(self.directory, "pending"))
        )


def prepare(cfg: RunConfig) -> None:
    """Create the index, alias and dead-letter index before the run (fails fast if unreachable).

    The two indices are created at once: each waits for Elasticsearch to write its cluster
    state and start its shard (0.4 to 1.3 s here), time the client only waits.
    """
    client = make_client(cfg.es)
    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="akhbar-prepare") as pool:
            index = pool.submit(ensure_index, client, cfg.es.alias)
            deadletter = pool.submit(ensure_deadletter_index, client, cfg.es)
            index.result()
            deadletter.result()
    finally:
        client.close()


def pending_files(cfg: RunConfig) -> list[str]:
    """Pending documents left by earlier runs into the same alias (read with ``--resume``)."""
    matches = FileSystems.match([os.path.join(cfg.pending_dir, cfg.es.alias, "*", "pending-*.jsonl")])[0]
    return sorted(m.path for m in matches.metadata_list)


def run(argv: list[str] | None = None) -> RunSummary:
    options = PipelineOptions(argv)
    cfg = load_run_config(options)
    resume = pending_files(cfg) if cfg.resume else []
    if not cfg.inputs and not resume:
        raise SystemExit("akhbar batch: give at least one --input (or --resume with pending documents)")
    run_dir = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="akhbar-prepare") as pool:
        prepared = pool.submit(prepare, cfg)  # Elasticsearch creates the indices while the graph is built
        pipeline = beam.Pipeline(runner=local_runner(options), options=options)
        build(pipeline, cfg, run_dir, resume)
        prepared.result()
    result = pipeline.run()
    result.wait_until_finish()
    summary = summarize(result)
    if resume and summary.ok:
        FileSystems.delete(resume)  # replayed: ids are stable, so nothing was indexed twice
    if not summary.pending:  # make what was written searchable now, not at the next refresh
        client = make_client(cfg.es)
        try:
            client.indices.refresh(index=cfg.es.alias)
        finally:
            client.close()
    return summary
