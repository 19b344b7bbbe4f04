"""Shared fixtures: paths to the shared data, and the real Elasticsearch for integration tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from transforms.records import Article

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_SEED = REPO.parent / "shared" / "seeds" / "000_c66fc04c14814b94.txt"  # the article the project started from
SHARED_CORPUS = SHARED_DATA / "arabic-news" / "articles.jsonl"  # 11,448 real articles
SEED = REPO / "samples" / "seed.txt"
SAMPLE_FEED = REPO / "samples" / "feed.xml"


def pytest_configure(config: pytest.Config) -> None:
    """TestPipeline runs on Beam's DirectRunner, which in 2.70 first tries Prism and, without a
    --prism_location, downloads it from GitHub. Nothing may download at run time: make that
    attempt fail at once, so the DirectRunner falls back to its in-process engine. Pipelines
    that name PrismRunner with a local --prism_location are untouched."""
    from apache_beam.options.pipeline_options import PrismRunnerOptions
    from apache_beam.runners.portability import prism_runner

    class LocalOnlyPrismRunner(prism_runner.PrismRunner):
        def run_pipeline(self, pipeline, options):  # type: ignore[no-untyped-def]
            if not options.view_as(PrismRunnerOptions).prism_location:
                raise RuntimeError("no --prism_location: akhbar never downloads Prism at run time")
            return super().run_pipeline(pipeline, options)

    prism_runner.PrismRunner = LocalOnlyPrismRunner  # type: ignore[misc]


@pytest.fixture(scope="session")
def corpus() -> dict[str, dict]:
    """The shared corpus, by article id."""
    from eval.dedup import load_articles

    return load_articles(SHARED_CORPUS)


def as_article(row: dict, published_at: str | None = None) -> Article:
    """A corpus record as the pipeline's Article (ids as in the corpus)."""
    return Article(
        id=row["id"],
        source=row["source"],
        title=row["title"] or "",
        body=row["body"] or "",
        origin=row["origin"],
        fetched_at="2026-11-25T08:00:00+00:00",
        url=row["url"],
        published_at=published_at or row["published"],
    )


def es_url() -> str:
    return os.environ.get("AKHBAR_ES_URL", f"http://127.0.0.1:{os.environ.get('ES_PORT', '9200')}")


@pytest.fixture(scope="session")
def es_client() -> Iterator[object]:
    """The Elasticsearch that `make test` started. Unreachable is a failure, never a skip."""
    from elasticsearch import Elasticsearch

    client = Elasticsearch(es_url(), request_timeout=30)
    health = client.cluster.health(wait_for_status="yellow", timeout="30s")
    assert health["status"] in ("green", "yellow"), f"Elasticsearch at {es_url()} is not healthy: {health}"
    yield client
    client.close()


@pytest.fixture
def index_name(es_client: object) -> Iterator[str]:
    """A unique alias for one test; its indices, template and dead-letter index are removed after."""
    name = f"akhbar-test-{uuid.uuid4().hex[:10]}"
    yield name
    es_client.indices.delete(index=f"{name}*", ignore_unavailable=True, allow_no_indices=True)  # type: ignore[attr-defined]
    es_client.indices.delete_index_template(name=f"akhbar-{name}", ignore=[404])  # type: ignore[attr-defined]
