"""The per-article stages shared by the batch and streaming pipelines.

Each stage is one composite transform returning ``{"articles": ..., "dead": ...}``: the
pure functions of ``clean``, ``dates`` and ``entities`` do the work, and ``Guarded`` adapts
them so that an article that makes a step fail becomes a ``DeadLetter`` naming the step,
instead of failing the run.
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import apache_beam as beam
from apache_beam.utils.shared import Shared
from apache_beam.utils.windowed_value import WindowedValue

from transforms.clean import clean_text
from transforms.dates import date_ranges, tag_dates
from transforms.entities import EntityTagger, facets
from transforms.records import Article, DeadLetter

MAX_BODY_CHARS = 200_000


class Guarded(beam.DoFn):
    """Applies ``fn(article) -> article`` and routes any exception to the ``dead`` output."""

    def __init__(self, step: str, fn: Callable[[Article], Article | None]) -> None:
        self.step = step
        self.fn = fn

    def process(self, article: Article) -> Iterator[Any]:
        result: Article | DeadLetter | None
        try:
            result = self.fn(article)
        except Exception as err:
            result = dead_letter(self.step, article, err)
        if isinstance(result, DeadLetter):
            yield beam.pvalue.TaggedOutput("dead", result)
        elif result is not None:
            yield result


def dead_letter(step: str, article: Article, err: Exception) -> DeadLetter:
    """The dead letter of ``article`` failing ``step`` with ``err``."""
    detail = "".join(traceback.format_exception_only(type(err), err)).strip()
    return DeadLetter(step, article.origin, detail, repr(article)[:20_000], article.id)


def clean_article(article: Article) -> Article:
    """Display text for title and body; captions split off; huge bodies capped (and noted)."""
    notes = list(article.notes)
    body = article.body
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS]
        notes.append(f"body capped at {MAX_BODY_CHARS} characters (was {len(article.body)})")
    cleaned = clean_text(body)
    title = " ".join(clean_text(article.title).text.split())
    if not title and not cleaned.text:
        raise ValueError("empty article: no title and no body")
    if not cleaned.text:
        notes.append("empty body")
    return article.with_(title=title, body=cleaned.text, captions=cleaned.captions, notes=tuple(notes))


class CleanArticles(beam.PTransform):
    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        cleaned = articles | "CleanText" >> beam.ParDo(Guarded("clean", clean_article)).with_outputs(
            "dead", main="articles"
        )
        return {"articles": cleaned.articles, "dead": cleaned.dead}


# Articles the entity tagger may run ahead of the one ``TagEntities`` hands on.
ENTITY_LOOKAHEAD = 16


class _TagEntities(beam.DoFn):
    """Entities and their facets. The tagger (shared by the DoFns of a worker) works on its own
    Rust thread up to ``lookahead`` articles ahead of the one handed on, so it runs while this
    worker's Python goes on with the next articles; every article leaves with the window,
    timestamp and pane it came with, and a bundle ends only when all of its articles are out."""

    def __init__(self, shared: Shared, lookahead: int = ENTITY_LOOKAHEAD) -> None:
        self.shared = shared
        self.lookahead = lookahead

    def setup(self) -> None:
        self.tagger = self.shared.acquire(EntityTagger.load)

    def start_bundle(self) -> None:
        self.queue: deque[tuple[Article, Any, WindowedValue]] = deque()

    def process(
        self,
        article: Article,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
        pane: Any = beam.DoFn.PaneInfoParam,
    ) -> Iterator[Any]:
        try:
            later = self.tagger.tag_later([article.title, article.body])
        except Exception as err:
            yield beam.pvalue.TaggedOutput("dead", dead_letter("tag", article, err))
            return
        self.queue.append((article, later, WindowedValue(None, timestamp, (window,), pane)))
        while len(self.queue) > self.lookahead:
            yield self._finish(*self.queue.popleft())

    def finish_bundle(self) -> Iterator[Any]:
        while self.queue:
            yield self._finish(*self.queue.popleft())

    def _finish(self, article: Article, later: Any, where: WindowedValue) -> Any:
        try:
            tagged = with_entities(article, later(), self.tagger)
        except Exception as err:
            return beam.pvalue.TaggedOutput("dead", where.with_value(dead_letter("tag", article, err)))
        return where.with_value(tagged)


def with_entities(article: Article, annotations: list[list[dict[str, Any]]], tagger: Any) -> Article:
    """``article`` with the entity annotations of its title and body (``tagger.tag`` of each, in
    that order) and their facets; offsets index into the field named by ``field``."""
    entities = [
        {**ann, "field": name}
        for name, field_annotations in zip(("title", "body"), annotations, strict=True)
        for ann in field_annotations
    ]
    entity_facets = facets(entities, f"{article.title}\n\n{article.body}", tagger)
    return article.with_(entities=tuple(entities), facets={**article.facets, **entity_facets})


def with_dates(article: Article) -> Article:
    """``article`` with the temporal expressions of its title and body, resolved against its
    publication date, and their ``date_range`` facet."""
    published = date.fromisoformat(article.published_at[:10]) if article.published_at else None
    dates = [
        {**ann, "field": name}
        for name, text in (("title", article.title), ("body", article.body))
        for ann in tag_dates(text, published)
    ]
    return article.with_(dates=tuple(dates), facets={**article.facets, "date_range": date_ranges(dates)})


class TagEntities(beam.PTransform):
    """Entities and entity facets of every article (``_TagEntities``)."""

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        tagged = articles | "TagEntities" >> beam.ParDo(_TagEntities(Shared())).with_outputs("dead", main="articles")
        return {"articles": tagged.articles, "dead": tagged.dead}


class TagDates(beam.PTransform):
    """Dates and the ``date_range`` facet of every article (``with_dates``)."""

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        tagged = articles | "TagDates" >> beam.ParDo(Guarded("tag", with_dates)).with_outputs("dead", main="articles")
        return {"articles": tagged.articles, "dead": tagged.dead}
