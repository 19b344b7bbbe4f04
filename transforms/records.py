"""Typed records that flow through the pipeline.

Sources turn every input into ``Article`` records; later stages return copies with more
fields filled (``dataclasses.replace``), never mutate in place. ``DeadLetter`` is what
every failing step emits instead of raising: the element, the error and the step.
"""

from __future__ import annotations

import copyreg
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One news article, from whatever input it came."""

    id: str  # stable Elasticsearch _id (canonical URL or folded content)
    source: str  # outlet or feed name
    title: str  # display title
    body: str  # display body: paragraphs separated by "\n\n"
    origin: str  # where it was read: path:line, feed URL#entry, ...
    fetched_at: str  # ISO 8601 with timezone
    url: str | None = None  # canonical URL
    guid: str | None = None  # feed guid / id when the feed gives one
    published_at: str | None = None  # ISO 8601 with timezone
    date_source: str | None = None  # feed, metadata, header, fetch
    language: str = "ar"
    category: str | None = None
    captions: tuple[str, ...] = ()
    # Filled by later stages.
    content_hash: str | None = None
    dates: tuple[dict[str, Any], ...] = ()
    entities: tuple[dict[str, Any], ...] = ()
    facets: dict[str, Any] = field(default_factory=dict)
    dedup: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # non-fatal remarks recorded on the way (body capped, date clamped...)

    def with_(self, **changes: Any) -> Article:
        """A copy with ``changes``, as ``dataclasses.replace`` makes it but about five times
        cheaper: the fields are copied as they are, without running the frozen ``__init__``
        (19 ``object.__setattr__`` calls); every stage makes such copies of every article."""
        unknown = changes.keys() - _ARTICLE_FIELDS
        if unknown:
            raise TypeError(f"Article has no field {', '.join(sorted(unknown))}")
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__, **changes)
        return copy

    def __reduce__(self) -> tuple[Any, ...]:
        """What the default reduction gives (the pickles are byte for byte the same), without its
        look-ups of ``__getnewargs_ex__`` and the like: Beam pickles every article at each
        shuffle, and this takes a fourth off ``pickle.dumps``."""
        return copyreg.__newobj__, (type(self),), self.__dict__  # type: ignore[attr-defined]  # not in typeshed


_ARTICLE_FIELDS = frozenset(f.name for f in dataclasses.fields(Article))


@dataclass(frozen=True)
class DeadLetter:
    """An input or article a step could not handle, and why."""

    step: str  # "decode", "parse", "clean", "tag", "index", ...
    origin: str
    error: str
    element: str  # the element (or a capped excerpt of it), as text
    article_id: str | None = None


class NonFiniteFloat(float):
    """NaN or Infinity read from a JSON input: Python's json accepts these tokens, Elasticsearch
    refuses them. orjson would write them as null; it refuses this subclass, so the sink's
    standard-library fallback writes them as they were read and Elasticsearch refuses the
    document (a dead letter), as it always has."""


def loads_record(line: str) -> Any:
    """One JSON input record (a JSON Lines article, a pending document)."""
    return json.loads(line, parse_constant=NonFiniteFloat)
