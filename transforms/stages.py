"""The per-article stages shared by the batch and streaming pipelines.

Each stage is one composite transform returning ``{"articles": ..., "dead": ...}``: the
pure functions of ``clean``, ``dates`` and ``entities`` do the work, and ``Guarded`` adapts
them so that an article that makes a step fail becomes a ``DeadLetter`` naming the step,
instead of failing the run.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.utils.shared import Shared

from transforms.clean import clean_text
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
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            result = DeadLetter(self.step, article.origin, detail, repr(article)[:20_000], article.id)
        if isinstance(result, DeadLetter):
            yield beam.pvalue.TaggedOutput("dead", result)
        elif result is not None:
            yield result


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


class _TagArticle(Guarded):
    """Dates and entities on the display text; the entity model is shared by the DoFns of a worker."""

    def __init__(self, shared: Shared) -> None:
        super().__init__("tag", lambda article: article)
        self.shared = shared

    def setup(self) -> None:
        from transforms.entities import EntityTagger

        self.fn = functools.partial(tag_article, tagger=self.shared.acquire(EntityTagger.load))


def tag_article(article: Article, tagger: Any) -> Article:
    """Dates and entities of title and body; offsets index into the field named by ``field``."""
    from datetime import date

    from transforms.dates import date_ranges, tag_dates
    from transforms.entities import facets

    published = date.fromisoformat(article.published_at[:10]) if article.published_at else None
    fields = (("title", article.title), ("body", article.body))
    # The entity tagger works on its own thread while the date rules (Python) run here.
    entities_of = tagger.tag_later([text for _, text in fields])
    dates = [{**ann, "field": name} for name, text in fields for ann in tag_dates(text, published)]
    entities = [
        {**ann, "field": name}
        for (name, _), annotations in zip(fields, entities_of(), strict=True)
        for ann in annotations
    ]
    entity_facets = facets(entities, f"{article.title}\n\n{article.body}", tagger)
    return article.with_(
        dates=tuple(dates),
        entities=tuple(entities),
        facets={**entity_facets, "date_range": date_ranges(dates)},
    )


class TagArticles(beam.PTransform):
    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        tagged = articles | "TagDatesAndEntities" >> beam.ParDo(_TagArticle(Shared())).with_outputs(
            "dead", main="articles"
        )
        return {"articles": tagged.articles, "dead": tagged.dead}
