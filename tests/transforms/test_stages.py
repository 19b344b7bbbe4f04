"""The per-article stages: entities before dedup (with the tagger running ahead), dates after."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue
from apache_beam.utils.shared import Shared

from tests.conftest import SEED
from transforms.entities import EntityTagger
from transforms.records import Article
from transforms.sources import parse_seed
from transforms.stages import (
    TagDates,
    TagEntities,
    _TagEntities,
    clean_article,
    with_dates,
    with_entities,
)

FETCHED = "2026-02-05T10:00:00+00:00"


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger.load()


def articles(n: int) -> list[Article]:
    """``n`` cleaned articles: the seed's paragraphs, one or two per article, as title and body."""
    seed = clean_article(parse_seed(SEED.read_text(encoding="utf-8"), str(SEED), FETCHED))
    paragraphs = [p for p in seed.body.split("\n\n") if p.strip()]
    return [
        seed.with_(
            id=f"a{k}",
            title=paragraphs[k % len(paragraphs)][:80],
            body="\n\n".join(paragraphs[k % len(paragraphs) :][:2]),
            published_at=f"2026-02-{1 + k % 28:02d}",
        )
        for k in range(n)
    ]


def expected(article: Article, tagger: EntityTagger) -> Article:
    return with_entities(article, [tagger.tag(article.title), tagger.tag(article.body)], tagger)


def test_entities_then_dates_fill_every_annotation_field(tagger: EntityTagger) -> None:
    article = articles(1)[0]
    tagged = with_dates(with_entities(article, tagger.tag_later([article.title, article.body])(), tagger))
    assert tagged.entities == tuple(
        {**ann, "field": name} for name in ("title", "body") for ann in tagger.tag(getattr(article, name))
    )
    assert {e["field"] for e in tagged.entities} == {"title", "body"}
    assert any(e["canonical"] for e in tagged.entities)
    fields = [d["field"] for d in tagged.dates]
    assert "body" in fields and fields == sorted(fields, key=["title", "body"].index)
    assert list(tagged.facets)[-1] == "date_range"
    assert tagged.facets["date_range"], "the seed's dates give ranges"


def test_entities_leave_in_order_with_their_windows(tagger: EntityTagger) -> None:
    """More articles than the lookahead, in several windows: each leaves tagged as ``tag`` tags
    it, in the window it came in."""
    items = articles(11)

    def with_window(article: Article, window: Any = beam.DoFn.WindowParam) -> tuple[str, float, int]:
        return article.id, float(window.start), len(article.entities)

    want = [(a.id, float(10 * (k // 4)), len(expected(a, tagger).entities)) for k, a in enumerate(items)]
    with TestPipeline() as p:
        tagged = (
            p
            | beam.Create([TimestampedValue(a, 10 * (k // 4) + 1) for k, a in enumerate(items)])
            | beam.WindowInto(FixedWindows(10))
            | beam.ParDo(_TagEntities(Shared(), lookahead=3)).with_outputs("dead", main="articles")
        )
        assert_that(tagged.articles | "Windows" >> beam.Map(with_window), equal_to(want), label="windows")
        assert_that(
            tagged.articles | "Same" >> beam.Map(lambda a: a == expected(a.with_(entities=(), facets={}), tagger)),
            equal_to([True] * len(items)),
            label="same",
        )
        assert_that(tagged.dead, equal_to([]), label="no dead")


def test_an_article_the_tagger_cannot_take_is_dead_lettered_and_the_others_go_on() -> None:
    items = articles(5)
    broken = items[2].with_(title=None)  # not text: the tagger refuses it
    with TestPipeline() as p:
        out = p | beam.Create([*items[:2], broken, *items[3:]]) | TagEntities()
        assert_that(out["articles"] | beam.Map(lambda a: a.id), equal_to(["a0", "a1", "a3", "a4"]), label="kept")
        assert_that(
            out["dead"] | beam.Map(lambda d: (d.step, d.article_id, "TypeError" in d.error)),
            equal_to([("tag", "a2", True)]),
            label="dead",
        )


def test_dates_stage_adds_dates_and_their_range_after_the_entity_facets(tagger: EntityTagger) -> None:
    items = [expected(a, tagger) for a in articles(3)]
    with TestPipeline() as p:
        out = p | beam.Create(items) | TagDates()
        assert_that(out["articles"], equal_to([with_dates(a) for a in items]), label="dated")
        assert_that(out["dead"], equal_to([]), label="none dead")
