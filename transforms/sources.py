"""Inputs -> ``Article`` records: seed text files, JSON Lines articles, RSS/Atom feeds.

``ReadInputs`` expands each ``--input`` (path, glob or http(s) URL) into locations, reads
each location's bytes, sniffs the format and parses it. Every input ends either as
articles or as a ``DeadLetter`` (a glob that matches nothing, an unreadable file, a line that
is not JSON, a feed that does not parse), so the run summary can account for all of them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.clean import clean_html
from transforms.decode import DecodeError, decode_bytes
from transforms.normalize import fold
from transforms.records import Article, DeadLetter, loads_record
from transforms.urls import canonical_url

USER_AGENT = "akhbar/0.1 (+https://github.com/akhbar; Arabic news ingestion)"
MAX_INPUT_BYTES = 200 * 1024 * 1024
FUTURE_SKEW = timedelta(days=1)

_SEED_DATE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s*")
_SEED_HEADER = re.compile(r"^(title|url|source)\s*:\s*(.*)$", re.IGNORECASE)
_XML_ENCODING = re.compile(r"""^(\ufeff?\s*<\?xml[^>]*?encoding\s*=\s*)["'][^"']*["']""")
_FIRST_SENTENCE = re.compile(r"^(.{20,200}?)[.!؟?\n]")


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# Ids and dates


def article_id(url: str | None, title: str, body: str) -> str:
    """Stable ``_id``: from the canonical URL when there is one, else from the folded content."""
    if url:
        return "u" + hashlib.blake2b(url.encode("utf-8"), digest_size=16).hexdigest()
    content = fold(f"{title}\n{body}")
    return "c" + hashlib.blake2b(content.encode("utf-8"), digest_size=16).hexdigest()


def parse_published(value: Any) -> str | None:
    """An ISO 8601 date or datetime (with timezone when it had one), from the formats inputs use."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text).isoformat()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = parsedate_to_datetime(text)  # RFC 822, as feeds write it
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def bounded_published(published: str | None, fetched_at: str) -> tuple[str | None, str | None]:
    """Keep ``published`` unless it lies after fetch time plus a small skew or before 1900.

    Returns (published_at, note): a date in the future is replaced by the fetch time, an
    impossible one is dropped, and the note says so.
    """
    if published is None:
        return None, None
    fetched = datetime.fromisoformat(fetched_at)
    if len(published) == 10:
        moment = datetime.fromisoformat(published).replace(tzinfo=UTC)
    else:
        moment = datetime.fromisoformat(published)
    if moment.year < 1900:
        return None, f"published_at {published} dropped: before 1900"
    if moment > fetched + FUTURE_SKEW:
        return fetched_at, f"published_at {published} is in the future: replaced by fetch time"
    return published, None


_NOT_LETTER, _LETTER, _ARABIC_LETTER = 0, 1, 2
_ARABIC_BLOCKS = ((0x0600, 0x0700), (0x0750, 0x0780))
# Planes 4 to 16 hold no letter (tags, private use, unassigned; a test checks it): the table stops
# at U+3FFFF, and a higher code point reads its last entry, which is not a letter.
_LETTER_TABLE_SIZE = 0x40000


@functools.cache
def _letter_classes() -> np.ndarray:
    """The class of every code point for ``language_of``: str.isalpha, and within it the Arabic blocks."""
    code_points = "".join(map(chr, range(_LETTER_TABLE_SIZE)))
    classes = np.frombuffer(bytes(map(str.isalpha, code_points)), dtype=np.uint8).copy()
    for start, end in _ARABIC_BLOCKS:
        classes[start:end] *= _ARABIC_LETTER
    return classes


def language_of(text: str) -> str:
    """Script-level language tag: 'ar' when Arabic letters dominate, else 'und' (still indexed).

    The characters are classified by one numpy look-up of their code points: a Python loop over
    them cost 0.1 ms per article.
    """
    codes = np.frombuffer(text[:4000].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    counts = np.bincount(np.take(_letter_classes(), codes, mode="clip"), minlength=3)
    letters = int(counts[_LETTER] + counts[_ARABIC_LETTER])
    if not letters:
        return "und"
    return "ar" if int(counts[_ARABIC_LETTER]) / letters >= 0.5 else "und"


def make_article(
    *,
    origin: str,
    fetched_at: str,
    source: str,
    title: str,
    body: str,
    url: str | None = None,
    guid: str | None = None,
    published: Any = None,
    date_source: str | None = None,
    category: str | None = None,
) -> Article:
    canonical = canonical_url(url) if url else None
    try:
        published_at, note = bounded_published(parse_published(published), fetched_at)
    except (ValueError, TypeError, OverflowError):
        published_at, note = None, f"published date {str(published)[:40]!r} not understood: dropped"
    return Article(
        id=article_id(canonical, title, body),
        source=source,
        title=title,
        body=body,
        origin=origin,
        fetched_at=fetched_at,
        url=canonical,
        guid=guid,
        published_at=published_at,
        date_source=date_source if published_at else None,
        language=language_of(f"{title}\n{body}"),
        category=category,
        notes=(note,) if note else (),
    )


# ---------------------------------------------------------------------------------------------
# Formats


def parse_seed(text: str, origin: str, fetched_at: str, default_source: str = "seed") -> Article:
    """A seed text file: optional ``title:``/``url:``/``source:`` header lines, then the text,
    which may start with a ``date YYYY-MM-DD`` header on the same line as its first sentence."""
    headers: dict[str, str] = {}
    lines = text.lstrip("\ufeff").split("\n")
    while lines and (match := _SEED_HEADER.match(lines[0].strip())):
        headers[match.group(1).lower()] = match.group(2).strip()
        lines.pop(0)
    body = "\n".join(lines)
    published = None
    if match := _SEED_DATE.match(body):
        published = match.group(1)
        body = body[match.end() :]
    body = body.strip()
    title = headers.get("title") or _first_sentence(body)
    return make_article(
        origin=origin,
        fetched_at=fetched_at,
        source=headers.get("source", default_source),
        title=title,
        body=body,
        url=headers.get("url"),
        published=published,
        date_source="header" if published else None,
    )


def _first_sentence(body: str) -> str:
    """A title for text that has none: its first sentence, cut at a word boundary if long."""
    match = _FIRST_SENTENCE.match(body)
    if match:
        return match.group(1).strip()
    return body[:200].rsplit(" ", 1)[0].strip() if len(body) > 200 else body.strip()


def parse_jsonl(text: str, origin: str, fetched_at: str) -> Iterator[Article | DeadLetter]:
    """JSON Lines shaped like ``shared/data/arabic-news/articles.jsonl``."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{origin}:{lineno}"
        try:
            record = loads_record(line)
            if not isinstance(record, dict):
                raise ValueError("a JSON Lines record must be an object")
            yield make_article(
                origin=where,
                fetched_at=fetched_at,
                source=str(record.get("source") or "unknown"),
                title=str(record.get("title") or ""),
                body=str(record.get("body") or ""),
                url=record.get("url"),
                guid=record.get("id"),
                published=record.get("published"),
                date_source="metadata",
                category=record.get("category"),
            )
        except Exception as err:
            yield DeadLetter("parse", where, f"{type(err).__name__}: {err}", line[:20_000])


def parse_feed(text: str, origin: str, fetched_at: str) -> Iterator[Article | DeadLetter]:
    """An RSS 2.0 / Atom feed, parsed with feedparser; HTML in entries becomes display text."""
    import feedparser

    if unsafe := xml_threat(text):
        yield DeadLetter("parse", origin, f"unsafe XML: {unsafe}", text[:20_000])
        return
    # The text is already decoded (decode_bytes); tell feedparser so, or it re-decodes it by the
    # XML declaration's charset and turns a windows-1256 feed into mojibake.
    utf8 = _XML_ENCODING.sub(r'\1"utf-8"', text, count=1).encode("utf-8")
    parsed = feedparser.parse(utf8, response_headers={"content-type": "application/xml; charset=utf-8"})
    if parsed.bozo and not parsed.entries:
        yield DeadLetter("parse", origin, f"not a feed: {parsed.get('bozo_exception')!r}"[:2000], text[:20_000])
        return
    feed_name = parsed.feed.get("title") or origin
    for position, entry in enumerate(parsed.entries):
        where = f"{origin}#{position}"
        try:
            content = entry.get("content", [{}])[0].get("value") if entry.get("content") else None
            body = clean_html(content or entry.get("summary", ""))
            published = entry.get("published") or entry.get("updated")
            parsed_time = entry.get("published_parsed") or entry.get("updated_parsed")
            if parsed_time and not published:
                published = datetime(*parsed_time[:6]).replace(tzinfo=UTC)
            yield make_article(
                origin=where,
                fetched_at=fetched_at,
                source=(entry.get("source") or {}).get("title") or feed_name,
                title=clean_html(entry.get("title", "")),
                body=body,
                url=entry.get("link"),
                guid=entry.get("id"),
                published=published,
                date_source="feed",
            )
        except Exception as err:
            yield DeadLetter("parse", where, f"{type(err).__name__}: {err}", json.dumps(entry, default=str)[:20_000])


def xml_threat(text: str) -> str | None:
    """Why ``text`` must not be parsed (entity declarations: billion laughs, external entities), or None.

    Malformed XML is not a threat: feedparser's lenient parser decides what it can read.
    """
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree
    from defusedxml import DefusedXmlException

    try:
        defusedxml.ElementTree.fromstring(text)
    except DefusedXmlException as err:
        return f"{type(err).__name__}: {err}"
    except (ParseError, ValueError):
        return None
    return None


def sniff_format(location: str, text: str) -> str:
    lowered = location.lower().split("?", 1)[0]
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    head = text.lstrip("\ufeff \t\r\n")[:1]
    if head == "<":
        return "feed"
    if head == "{":
        return "jsonl"
    return "seed"


def parse_input(location: str, data: bytes, fetched_at: str, declared: str | None = None) -> Iterator[Any]:
    """Bytes of one input -> Articles and DeadLetters."""
    try:
        text = decode_bytes(data, declared).text
    except DecodeError as err:
        yield DeadLetter("decode", location, f"DecodeError: {err}", repr(data[:2000]))
        return
    kind = sniff_format(location, text)
    if kind == "jsonl":
        yield from parse_jsonl(text, location, fetched_at)
    elif kind == "feed":
        yield from parse_feed(text, location, fetched_at)
    elif text.strip():
        yield parse_seed(text, location, fetched_at)
    else:
        yield DeadLetter("parse", location, "empty input", "")


def read_location(location: str, session: Any = None) -> tuple[bytes, str | None]:
    """The bytes at ``location`` (file, glob match or http(s) URL) and any declared charset."""
    if is_url(location):
        response = session.get(location, timeout=(10, 60), stream=True)
        response.raise_for_status()
        data = response.raw.read(MAX_INPUT_BYTES + 1, decode_content=True)
        if len(data) > MAX_INPUT_BYTES:
            raise ValueError(f"input larger than {MAX_INPUT_BYTES} bytes")
        content_type = response.headers.get("Content-Type", "")
        match = re.search(r"charset=([\w.-]+)", content_type)
        return data, match.group(1) if match else None
    with FileSystems.open(location) as handle:
        data = handle.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise ValueError(f"input larger than {MAX_INPUT_BYTES} bytes")
    return data, None


def read_and_parse(location: str, session: Any) -> Iterator[Article | DeadLetter]:
    """Everything one location holds, as Articles and DeadLetters."""
    fetched_at = now_iso()
    try:
        data, declared = read_location(location, session)
    except Exception as err:
        yield DeadLetter("read", location, f"{type(err).__name__}: {err}", location)
        return
    yield from parse_input(location, data, fetched_at, declared)


# ---------------------------------------------------------------------------------------------
# Beam


class _ExpandPattern(beam.DoFn):
    def process(self, pattern: str) -> Iterator[Any]:
        if is_url(pattern):
            yield pattern
        else:
            yield from expand_pattern(pattern)


def expand_pattern(pattern: str) -> Iterator[Any]:
    """Paths matching a local or remote glob, or a dead letter saying why there are none."""
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:
        yield beam.pvalue.TaggedOutput("dead", DeadLetter("read", pattern, f"{type(err).__name__}: {err}", pattern))
        return
    if not matched:
        yield beam.pvalue.TaggedOutput("dead", DeadLetter("read", pattern, "no file matches this input", pattern))
    for metadata in sorted(matched, key=lambda m: m.path):
        yield metadata.path


class _ReadAndParse(beam.DoFn):
    def __init__(self) -> None:
        self.read = Metrics.counter("akhbar", "read")
        self.inputs = Metrics.counter("akhbar", "inputs")

    def setup(self) -> None:
        import requests

        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def process(self, location: str) -> Iterator[Any]:
        self.inputs.inc()
        for item in read_and_parse(location, self.session):
            if isinstance(item, DeadLetter):
                yield beam.pvalue.TaggedOutput("dead", item)
            else:
                self.read.inc()
                yield item

    def teardown(self) -> None:
        self.session.close()


class ReadInputs(beam.PTransform):
    """Input patterns -> ``articles`` and ``dead`` (unreadable or unparseable inputs)."""

    def __init__(self, patterns: list[str]) -> None:
        super().__init__()
        self.patterns = patterns

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        locations = (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "ExpandPatterns" >> beam.ParDo(_ExpandPattern()).with_outputs("dead", main="locations")
        )
        parsed = (
            locations.locations
            | "SpreadLocations" >> beam.Reshuffle()
            | "ReadAndParse" >> beam.ParDo(_ReadAndParse()).with_outputs("dead", main="articles")
        )
        articles = parsed.articles | "SpreadArticles" >> beam.Reshuffle()
        dead = (locations.dead, parsed.dead) | "FlattenReadErrors" >> beam.Flatten()
        return {"articles": articles, "dead": dead}
