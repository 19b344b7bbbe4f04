"""Polling logic for continuous feed ingestion: plain, typed functions, no Beam.

``load_feeds`` reads the feeds file (``config/feeds.yaml``) into a validated ``FeedsConfig``.
For each poll the streaming source (``transforms.feed_source``) calls, in order:

1. ``is_due`` / ``host_wait``: is the feed due, and may its host be asked yet (per-host
   minimum gap, and a host-wide ``Retry-After`` after a 429/503)?
2. ``conditional_headers`` + ``http_get``: a conditional GET (``If-None-Match`` /
   ``If-Modified-Since``) with timeouts, a size cap and a descriptive User-Agent.
3. ``after_response``: 304, body identical to the last one (hash; validators lie), changed,
   throttled (429/503 + ``Retry-After``) or failed (exponential backoff). Returns the new
   ``FeedState`` and what to parse.
4. ``after_items``: the share of already-seen item keys sets the adaptive interval, bounded
   by the feed's min/max and by its declared ``ttl`` / ``sy:updatePeriod`` (``declared_interval``).

Everything takes ``now`` (epoch seconds) as an argument so tests control time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

USER_AGENT = "akhbar-stream/0.1 (+https://github.com/akhbar; Arabic news feed poller; polls politely)"
RECENT_KEYS = 1000  # item keys remembered per feed for the seen share (not the dedup state)

# Adaptive interval: interval' = interval * GROWTH ** (1 - 2 * new_share), then clamped.
# All items new -> interval / 1.5; half new -> unchanged; nothing new -> interval * 1.5.
GROWTH = 1.5

_SY_PERIOD_S = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}
_TTL = re.compile(rb"<ttl>\s*(\d+)\s*</ttl>", re.IGNORECASE)
_SY_PERIOD = re.compile(rb"<sy:updatePeriod>\s*(\w+)\s*</sy:updatePeriod>", re.IGNORECASE)
_SY_FREQUENCY = re.compile(rb"<sy:updateFrequency>\s*(\d+)\s*</sy:updateFrequency>", re.IGNORECASE)
_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Config


@dataclass(frozen=True)
class FeedSpec:
    """One configured feed. Intervals in seconds."""

    url: str
    name: str = ""
    interval: float = 300.0  # starting interval; adapts between min_interval and max_interval
    min_interval: float = 60.0
    max_interval: float = 3600.0
    max_backoff: float = 3600.0  # longest wait after repeated failures
    respect_feed_hints: bool = True  # <ttl> / sy:updatePeriod raise the minimum interval
    fetch_full_page: bool = False  # summary-only feed: fetch and extract each new article page

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"feed url must be http(s): {self.url!r}")
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError(f"{self.url}: need 0 < min_interval <= max_interval")
        if self.interval <= 0 or self.max_backoff <= 0:
            raise ValueError(f"{self.url}: interval and max_backoff must be positive")

    @property
    def host(self) -> str:
        return host_of(self.url)

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(frozen=True)
class FeedsConfig:
    """The feeds file: the feeds and the politeness rules shared by all of them."""

    feeds: tuple[FeedSpec, ...]
    user_agent: str = USER_AGENT
    host_min_interval: float = 2.0  # seconds between two requests to the same host
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_bytes: int = 10 * 1024 * 1024  # feed bodies larger than this are refused (after decompression)
    max_retry_after: float = 6 * 3600.0  # a Retry-After longer than this is capped
    tick: float = 1.0  # seconds between two due checks
    seen_retention: float = 7 * 86400.0  # an item's "seen" state is dropped this long after its last sighting

    def __post_init__(self) -> None:
        if not self.feeds:
            raise ValueError("feeds file lists no feeds")
        urls = [spec.url for spec in self.feeds]
        if len(set(urls)) != len(urls):
            raise ValueError("feeds file lists a url twice")
        if self.tick <= 0 or self.host_min_interval < 0 or self.max_bytes <= 0 or self.seen_retention <= 0:
            raise ValueError("tick, max_bytes and seen_retention must be positive, host_min_interval not negative")

    def by_host(self) -> dict[str, tuple[FeedSpec, ...]]:
        hosts: dict[str, list[FeedSpec]] = {}
        for spec in self.feeds:
            hosts.setdefault(spec.host, []).append(spec)
        return {host: tuple(specs) for host, specs in hosts.items()}

    def spec(self, url: str) -> FeedSpec | None:
        return next((spec for spec in self.feeds if spec.url == url), None)


_FEED_KEYS = {f for f in FeedSpec.__dataclass_fields__}
_TOP_KEYS = {f for f in FeedsConfig.__dataclass_fields__} | {"defaults"}


def feeds_config_from_dict(data: dict[str, Any]) -> FeedsConfig:
    """``{"feeds": [...], "defaults": {...}, <politeness keys>}`` -> ``FeedsConfig``; unknown keys are errors."""
    if not isinstance(data, dict):
        raise ValueError("feeds file must be a mapping with a 'feeds' list")
    if unknown := set(data) - _TOP_KEYS:
        raise ValueError(f"feeds file: unknown keys {sorted(unknown)}")
    defaults = dict(data.get("defaults") or {})
    if unknown := set(defaults) - (_FEED_KEYS - {"url", "name"}):
        raise ValueError(f"feeds file defaults: unknown keys {sorted(unknown)}")
    entries = data.get("feeds")
    if not isinstance(entries, list):
        raise ValueError("feeds file: 'feeds' must be a list")
    specs = []
    for position, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict) or "url" not in entry:
            raise ValueError(f"feeds[{position}]: each feed needs a url")
        if unknown := set(entry) - _FEED_KEYS:
            raise ValueError(f"feeds[{position}]: unknown keys {sorted(unknown)}")
        merged = {**defaults, **entry}
        # A feed that sets only `interval` keeps it inside its own bounds.
        if "interval" in entry and "min_interval" not in merged:
            merged["min_interval"] = min(float(entry["interval"]), FeedSpec.min_interval)
        if "interval" in entry and "max_interval" not in merged:
            merged["max_interval"] = max(float(entry["interval"]), FeedSpec.max_interval)
        specs.append(FeedSpec(**merged))
    top = {key: value for key, value in data.items() if key not in ("feeds", "defaults")}
    return FeedsConfig(feeds=tuple(specs), **top)


def load_feeds(path: str | Path) -> FeedsConfig:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    try:
        return feeds_config_from_dict(data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from err


# ---------------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class FeedState:
    """What the poller remembers about one feed between polls (kept in Beam state)."""

    interval: float
    next_due: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    hint: float | None = None  # interval declared by the feed (ttl / sy:updatePeriod), seconds
    consecutive_errors: int = 0
    recent: tuple[str, ...] = ()  # recent item keys, newest last
    seen_share: float | None = None
    polls: int = 0
    not_modified: int = 0
    unchanged: int = 0
    new_items: int = 0
    errors: int = 0
    last_polled: float | None = None

    def with_(self, **changes: Any) -> FeedState:
        return replace(self, **changes)


def initial_state(spec: FeedSpec, now: float) -> FeedState:
    """A feed never polled is due at once."""
    return FeedState(interval=clamp(spec.interval, spec.min_interval, spec.max_interval), next_due=now)


@dataclass(frozen=True)
class HostState:
    """Per-host politeness: when it was last asked, and until when it asked us to stay away."""

    last_request: float | None = None
    blocked_until: float = 0.0


def is_due(state: FeedState, now: float) -> bool:
    return now >= state.next_due


def host_wait(host: HostState, now: float, min_gap: float) -> float:
    """Seconds to wait before the host may be asked again (0 when it may be asked now)."""
    wait = max(0.0, host.blocked_until - now)
    if host.last_request is not None:
        wait = max(wait, host.last_request + min_gap - now)
    return wait


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class HttpResult:
    """One GET, reduced to what the poller needs. ``error`` is set when there was no usable answer."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes | None = None
    error: str | None = None
    elapsed_ms: float = 0.0

    @property
    def charset(self) -> str | None:
        match = _CHARSET.search(self.headers.get("content-type", ""))
        return match.group(1) if match else None


def conditional_headers(state: FeedState | None) -> dict[str, str]:
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def http_get(
    session: Any, url: str, headers: dict[str, str], timeout: tuple[float, float], max_bytes: int
) -> HttpResult:
    """GET ``url`` with ``session`` (a ``requests.Session``); the body is read up to ``max_bytes``.

    Never raises for network trouble: a timeout, a refused connection or an oversized body
    comes back as ``HttpResult(error=...)`` so one feed's failure stays that feed's.
    """
    import time

    import requests

    started = time.monotonic()

    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    try:
        with session.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=True) as response:
            lowered = {name.lower(): value for name, value in response.headers.items()}
            declared = lowered.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                return HttpResult(response.status_code, lowered, None, f"body larger than {max_bytes} bytes", elapsed())
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    return HttpResult(
                        response.status_code, lowered, None, f"body larger than {max_bytes} bytes", elapsed()
                    )
                chunks.append(chunk)
            return HttpResult(response.status_code, lowered, b"".join(chunks), None, elapsed())
    except requests.RequestException as err:
        return HttpResult(None, {}, None, f"{type(err).__name__}: {err}"[:500], elapsed())


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


# ---------------------------------------------------------------------------------------------
# Deciding


@dataclass(frozen=True)
class Response:
    """What ``after_response`` decided about one poll."""

    outcome: str  # not_modified | unchanged | changed | throttled | error
    body: bytes | None = None  # set when outcome == "changed": to be parsed
    error: str | None = None
    retry_after: float | None = None  # seconds the host asked us to wait


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def interval_bounds(spec: FeedSpec, hint: float | None) -> tuple[float, float]:
    """(low, high) for the adaptive interval: a declared ttl / update period raises the floor."""
    low = spec.min_interval
    if spec.respect_feed_hints and hint:
        low = max(low, hint)
    return low, max(low, spec.max_interval)


def adapt_interval(interval: float, new_share: float, low: float, high: float) -> float:
    """More new items -> poll sooner; mostly repeats -> poll later (see ``GROWTH``)."""
    return clamp(interval * GROWTH ** (1.0 - 2.0 * clamp(new_share, 0.0, 1.0)), low, high)


def backoff_delay(spec: FeedSpec, interval: float, consecutive_errors: int) -> float:
    """Exponential backoff after failures: interval * 2**errors, capped by ``max_backoff``."""
    return min(spec.max_backoff, interval * 2.0 ** min(consecutive_errors, 30))


def after_response(
    spec: FeedSpec, state: FeedState, result: HttpResult, now: float, max_retry_after: float
) -> tuple[FeedState, Response]:
    """The feed's new state after one GET, and what the poll found."""
    polled = state.with_(polls=state.polls + 1, last_polled=now)
    status = result.status
    if result.error is None and status == 304:
        return _quiet(spec, polled.with_(not_modified=polled.not_modified + 1), now), Response("not_modified")
    if result.error is None and status is not None and 200 <= status < 300 and result.body is not None:
        digest = body_digest(result.body)
        validators = polled.with_(
            etag=result.headers.get("etag") or None,
            last_modified=result.headers.get("last-modified") or None,
            consecutive_errors=0,
        )
        if digest == state.body_hash:
            return _quiet(spec, validators.with_(unchanged=polled.unchanged + 1), now), Response("unchanged")
        # Stay due until after_items has seen the items and set the next interval.
        return validators.with_(body_hash=digest), Response("changed", body=result.body)
    errors = polled.consecutive_errors + 1
    failed = polled.with_(consecutive_errors=errors, errors=polled.errors + 1)
    error = result.error or f"HTTP {status}"
    if status in (429, 503):
        wait = retry_after_seconds(result.headers.get("retry-after"), now)
        if wait is not None:
            wait = clamp(wait, 0.0, max_retry_after)
            delay = max(wait, state.interval)
            return failed.with_(next_due=now + delay), Response("throttled", error=error, retry_after=wait)
    backoff = failed.with_(next_due=now + backoff_delay(spec, state.interval, errors))
    return backoff, Response("throttled" if status in (429, 503) else "error", error=error)


def _quiet(spec: FeedSpec, state: FeedState, now: float) -> FeedState:
    """A poll that brought nothing new: every item counts as seen."""
    low, high = interval_bounds(spec, state.hint)
    interval = adapt_interval(state.interval, 0.0, low, high)
    return state.with_(interval=interval, next_due=now + interval, consecutive_errors=0, seen_share=1.0)


def after_items(
    spec: FeedSpec, state: FeedState, item_keys: list[str], hint: float | None, now: float
) -> tuple[FeedState, int]:
    """After a changed body was parsed: count the items this feed had not shown before, adapt
    the interval to their share and schedule the next poll. Returns (state, new items)."""
    remembered = set(state.recent)
    current = tuple(dict.fromkeys(item_keys))  # distinct, in feed order
    fresh = [key for key in current if key not in remembered]
    total = len(current)
    new_share = len(fresh) / total if total else 0.0
    low, high = interval_bounds(spec, hint)
    interval = adapt_interval(state.interval, new_share, low, high)
    in_feed = set(current)
    recent = tuple(key for key in state.recent if key not in in_feed) + current
    return (
        state.with_(
            interval=interval,
            next_due=now + interval,
            hint=hint,
            recent=recent[-RECENT_KEYS:],
            seen_share=1.0 - new_share if total else 1.0,
            new_items=state.new_items + len(fresh),
        ),
        len(fresh),
    )


def declared_interval(body: bytes) -> float | None:
    """The polling interval a feed declares, in seconds: RSS ``<ttl>`` (minutes) or the
    syndication module's ``sy:updatePeriod`` / ``sy:updateFrequency``; the larger wins."""
    head = body[: 256 * 1024]
    candidates = []
    if match := _TTL.search(head):
        candidates.append(int(match.group(1)) * 60.0)
    if match := _SY_PERIOD.search(head):
        period = _SY_PERIOD_S.get(match.group(1).decode("ascii", "ignore").lower())
        if period:
            frequency = _SY_FREQUENCY.search(head)
            candidates.append(period / max(1, int(frequency.group(1)) if frequency else 1))
    positive = [value for value in candidates if value > 0]
    return max(positive) if positive else None


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def item_key(feed_url: str, url: str | None, guid: str | None, article_id: str) -> str:
    """The key an item is remembered by: its canonical URL, else its guid (scoped to the feed,
    since bare guids are only unique inside one feed), else the article id (folded content)."""
    if url:
        return f"url:{url}"
    if guid:
        return f"guid:{feed_url}|{guid}"
    return f"id:{article_id}"


def content_fingerprint(title: str, body: str) -> str:
    """What "the same item" means for the seen state: an item whose text changed is emitted again."""
    return hashlib.blake2b(f"{title}\n{body}".encode(), digest_size=12).hexdigest()
