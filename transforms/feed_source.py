"""The unbounded feed source of ``akhbar stream``: ticks -> per-host polls -> new items only.

Data flow (``ReadFeeds``)::

    Ticks            one element every ``tick`` seconds (a periodic impulse that stops on request)
    FanOutToHosts    (host, tick) for every host in the feeds file
    PollHosts        stateful, keyed by host: which feeds are due, conditional GET, body
                     hash, parse, adaptive interval  -> Article | dead | health
    KeyByItem        (item key, Article): canonical URL, else feed guid, else content id
    DetectNewItems   stateful, keyed by item: emits an item the first time, and again only
                     when its text changed ("seen" = fingerprint of title and body); an
                     event-time timer drops the state ``seen_retention`` after the last sighting
    FetchFullPages   summary-only feeds: the article page, extracted with trafilatura

State lives in Beam keyed state (``ReadModifyWriteState``), so it works on any runner that
supports state. The only timer is the event-time expiry of an item's "seen" state; the ticks
carry wall-clock timestamps and move the watermark, so it fires about ``seen_retention``
after the item was last in its feed (processing-time timers, unreliable on the local runners,
are not used). Polls are keyed by host, not by feed, so that the per-host minimum gap and a
host's ``Retry-After`` are enforced in one place; a failing feed is simply not due again
until its backoff ends, so it never delays the other feeds.

``WriteFeedHealth`` writes one document per poll to the feed-health index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import apache_beam as beam
from apache_beam.coders import PickleCoder, StrUtf8Coder
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.periodicsequence import ImpulseSeqGenRestrictionProvider
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Duration, Timestamp

from transforms.feeds import (
    FeedsConfig,
    FeedSpec,
    FeedState,
    HostState,
    HttpResult,
    Response,
    after_items,
    after_response,
    conditional_headers,
    content_fingerprint,
    declared_interval,
    host_wait,
    http_get,
    initial_state,
    is_due,
    item_key,
)
from transforms.records import Article, DeadLetter

log = logging.getLogger("akhbar.feeds")

HEALTH = "health"
DEAD = "dead"

# DoFn parameters (module-level singletons, as Beam reads them from the signature's defaults).
POLLER_STATE = ReadModifyWriteStateSpec("poller", PickleCoder())  # HostRecord, per host
SEEN_STATE = ReadModifyWriteStateSpec("seen", StrUtf8Coder())  # content fingerprint, per item
SEEN_EXPIRY = TimerSpec("seen_expiry", TimeDomain.WATERMARK)  # drops "seen" after the retention
_POLLER = beam.DoFn.StateParam(POLLER_STATE)
_SEEN = beam.DoFn.StateParam(SEEN_STATE)
_SEEN_EXPIRY = beam.DoFn.TimerParam(SEEN_EXPIRY)
_TICK_RESTRICTION = beam.DoFn.RestrictionParam(ImpulseSeqGenRestrictionProvider())
_TICK_WATERMARK = beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider())


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def feed_of(article: Article) -> str:
    """The feed an article came from: its origin is ``<feed url>#<position>``."""
    return article.origin.rsplit("#", 1)[0]


# ---------------------------------------------------------------------------------------------
# Ticks: PeriodicImpulse's restriction, plus a stop request


class _StoppableImpulse(beam.DoFn):
    """Emits the tick timestamps of ``(start, stop, interval)`` like ``PeriodicImpulse``, and
    finishes as soon as ``stop_path`` exists. Finishing the restriction lets the watermark reach
    the end of time, so every window still open fires and the pipeline drains to DONE: that is
    how ``akhbar stream`` stops on SIGTERM without losing what is in flight (the Python SDK
    offers no drain call for portable runners)."""

    def __init__(self, stop_path: str) -> None:
        self.stop_path = stop_path

    def _stop_requested(self) -> bool:
        return FileSystems.exists(self.stop_path)

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[Timestamp, Timestamp, float],
        tracker: Any = _TICK_RESTRICTION,
        watermark: Any = _TICK_WATERMARK,
    ) -> Iterator[TimestampedValue]:
        start, _, interval = element
        first = start.micros / 1e6
        index = tracker.current_restriction().start
        while True:
            if self._stop_requested():
                # Claiming past the end marks the restriction done (nothing is deferred).
                tracker.try_claim(tracker.current_restriction().stop)
                log.info("stop requested: no more polls")
                break
            moment = first + interval * index
            if moment > time.time():
                tracker.defer_remainder(Timestamp.of(moment))
                break
            if not tracker.try_claim(index):
                break
            stamp = Timestamp.of(moment)
            current = watermark.current_watermark()
            if current is None or stamp > current:
                watermark.set_watermark(stamp)
            yield TimestampedValue(moment, stamp)
            index += 1


class Ticks(beam.PTransform):
    """PBegin -> one tick (epoch seconds, timestamped) every ``interval`` seconds until stopped."""

    def __init__(self, interval: float, stop_path: str) -> None:
        super().__init__()
        self.interval = interval
        self.stop_path = stop_path

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "Schedule" >> beam.Map(lambda _, interval: (Timestamp.now(), MAX_TIMESTAMP, interval), self.interval)
            | "Tick" >> beam.ParDo(_StoppableImpulse(self.stop_path))
        )


# ---------------------------------------------------------------------------------------------
# Polling, keyed by host


def health_document(
    spec: FeedSpec,
    state: FeedState,
    result: HttpResult,
    response: Response,
    now: float,
    items: int,
    new: int,
    newest_published: str | None,
) -> dict[str, Any]:
    """One feed-health document (fields of ``config/feed_health_mapping.json``)."""
    freshness = None
    if newest_published and len(newest_published) > 10:
        freshness = round(now - datetime.fromisoformat(newest_published).timestamp(), 3)
    return {
        "feed": spec.label,
        "url": spec.url,
        "host": spec.host,
        "polled_at": iso(now),
        "outcome": response.outcome,
        "http_status": result.status,
        "not_modified": response.outcome == "not_modified",
        "unchanged_body": response.outcome == "unchanged",
        "items": items,
        "new_items": new,
        "seen_items": items - new,
        "error": response.error,
        "interval_s": round(state.interval, 3),
        "latency_ms": result.elapsed_ms,
        "freshness_s": freshness,
        "consecutive_errors": state.consecutive_errors,
        "polls": state.polls,
        "errors": state.errors,
    }


@dataclass(frozen=True)
class HostRecord:
    """The poller's state for one host: its feeds' states and its politeness state."""

    version: int
    feeds: dict[str, FeedState]
    host: HostState


class _HostGuard:
    """Process-wide: at most one poll per host at a time, and the newest record each host got.

    Beam promises that a stateful DoFn sees one key at a time, with the state the previous
    element left. Prism 2.70 breaks that when processing is slow: it hands the same key to a
    second bundle while the first is still running, and that bundle reads the state from
    before (reproduced with a 3 s sleep in a ReadModifyWriteState counter). A slow feed would
    then be polled twice at once and one poll's state lost. The guard skips a tick whose host
    is being polled in this process, and hands out the newest record even before the runner
    has committed it. Runners that keep the promise never contend for it.
    """

    lock = threading.Lock()
    busy: ClassVar[set[tuple[str, str]]] = set()  # (pipeline, host)
    latest: ClassVar[dict[tuple[str, str], HostRecord]] = {}

    @classmethod
    def claim(cls, key: tuple[str, str]) -> bool:
        with cls.lock:
            if key in cls.busy:
                return False
            cls.busy.add(key)
            return True

    @classmethod
    def release(cls, key: tuple[str, str], record: HostRecord | None) -> None:
        with cls.lock:
            cls.busy.discard(key)
            current = cls.latest.get(key)
            if record is not None and (current is None or record.version >= current.version):
                cls.latest[key] = record

    @classmethod
    def newest(cls, key: tuple[str, str], stored: HostRecord | None) -> HostRecord:
        with cls.lock:
            cached = cls.latest.get(key)
        candidates = [record for record in (stored, cached) if record is not None]
        return max(candidates, key=lambda r: r.version) if candidates else HostRecord(0, {}, HostState())


class _PollHost(beam.DoFn):
    """(host, tick) -> Articles of the host's due feeds whose body changed; ``dead``; ``health``.

    State: one ``HostRecord`` per host (its feeds' states, its politeness state). Within one
    tick, due feeds are polled oldest-due first; a feed is left for a later tick when the host
    gap would hold this key for longer than one tick.
    """

    def __init__(self, config: FeedsConfig) -> None:
        self.config = config
        self.pipeline = uuid.uuid4().hex  # scopes _HostGuard to this pipeline (copies share it)
        names = ("polls", "not_modified", "unchanged", "changed", "error", "throttled", "items", "ticks_skipped")
        self.counters = {name: Metrics.counter("akhbar", f"feed_{name}") for name in names}
        self.inputs = Metrics.counter("akhbar", "inputs")  # bodies parsed: the summary's "from N inputs"

    def setup(self) -> None:
        import requests

        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.config.user_agent
        self.specs = self.config.by_host()

    def process(self, element: tuple[str, float], poller: Any = _POLLER) -> Iterator[Any]:
        name, tick = element
        key = (self.pipeline, name)
        if _HostGuard.claim(key):
            record = None
            try:
                record = yield from self._poll_due(name, tick, _HostGuard.newest(key, poller.read()))
                poller.write(record)
            finally:
                _HostGuard.release(key, record)
        else:
            self.counters["ticks_skipped"].inc()

    def _poll_due(self, name: str, tick: float, record: HostRecord) -> Any:
        # Feeds are scheduled on the ticks' own times (not on when a poll happened to run), so an
        # interval of n ticks is polled every n ticks instead of drifting to the next tick; a tick
        # that comes late counts from one tick ago, so a backlog of ticks is not a burst of polls.
        started = time.time()
        scheduled = max(tick, started - self.config.tick)
        specs = self.specs.get(name, ())
        states = dict(record.feeds)
        host_state = record.host
        for spec in specs:
            states.setdefault(spec.url, initial_state(spec, scheduled))
        due = sorted((s for s in specs if is_due(states[s.url], scheduled)), key=lambda s: states[s.url].next_due)
        for spec in due:
            wait = host_wait(host_state, time.time(), self.config.host_min_interval)
            if wait > 0:
                if time.time() + wait - started > self.config.tick:
                    break  # the rest stays due for the next tick
                time.sleep(wait)
            states[spec.url], host_state = yield from self._poll(spec, states[spec.url], host_state, scheduled)
        return HostRecord(record.version + 1, states, host_state)

    def _poll(self, spec: FeedSpec, state: FeedState, host_state: HostState, scheduled: float) -> Any:
        now = time.time()
        timeout = (self.config.connect_timeout, self.config.read_timeout)
        result = http_get(self.session, spec.url, conditional_headers(state), timeout, self.config.max_bytes)
        answered = time.time()
        host_state = HostState(last_request=answered, blocked_until=host_state.blocked_until)
        state, response = after_response(spec, state, result, scheduled, self.config.max_retry_after)
        if response.retry_after:  # counted from the answer, for the whole host
            host_state = HostState(answered, max(host_state.blocked_until, answered + response.retry_after))
        items = new = 0
        newest: str | None = None
        if response.outcome == "changed" and response.body is not None:
            self.inputs.inc()
            articles, dead = self._parse(spec, response.body, result.charset, iso(now))
            for letter in dead:
                yield beam.pvalue.TaggedOutput(DEAD, letter)
            keys = [item_key(spec.url, a.url, a.guid, a.id) for a in articles]
            remembered = set(state.recent)
            published = [a.published_at for a, key in zip(articles, keys, strict=True) if key not in remembered]
            newest = max((p for p in published if p), default=None)
            state, new = after_items(spec, state, keys, declared_interval(response.body), scheduled)
            items = len(articles)
            self.counters["items"].inc(items)
            yield from articles
        self.counters["polls"].inc()
        self.counters[response.outcome].inc()
        document = health_document(spec, state, result, response, now, items, new, newest)
        log.info(
            "feed=%s outcome=%s status=%s items=%d new=%d interval=%.1fs polls=%d 304s=%d unchanged=%d "
            "new_total=%d errors=%d%s",
            spec.label,
            response.outcome,
            result.status,
            items,
            new,
            state.interval,
            state.polls,
            state.not_modified,
            state.unchanged,
            state.new_items,
            state.errors,
            f" error={response.error!r}" if response.error else "",
        )
        yield beam.pvalue.TaggedOutput(HEALTH, document)
        return state, host_state

    def _parse(self, spec: FeedSpec, body: bytes, charset: str | None, fetched_at: str) -> tuple[list, list]:
        from transforms.sources import parse_input

        articles: list[Article] = []
        dead: list[DeadLetter] = []
        try:
            for item in parse_input(spec.url, body, fetched_at, charset):
                if isinstance(item, DeadLetter):
                    dead.append(item)
                else:
                    articles.append(item.with_(source=spec.name) if spec.name else item)
        except Exception as err:  # parse_input reports bad input itself; this is a bug guard
            excerpt = body[:20_000].decode("utf-8", "replace")
            dead.append(DeadLetter("parse", spec.url, f"{type(err).__name__}: {err}", excerpt))
        return articles, dead

    def teardown(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.close()


# ---------------------------------------------------------------------------------------------
# New items, keyed by item


class _DetectNew(beam.DoFn):
    """(item key, Article) -> the Article the first time, and again only if its text changed.

    Every sighting moves the item's expiry timer to ``retention`` after the sighting's event
    time, so the state of the items still in a feed stays, and the state of an item gone from
    its feed for ``retention`` is dropped: memory stays bounded by the items of the last
    ``retention``. An item seen again after that is emitted again; the sink's content-hash
    check (cross-run dedup) keeps it from becoming a second document.
    """

    def __init__(self, retention: float) -> None:
        self.retention = Duration.of(retention)
        self.read = Metrics.counter("akhbar", "read")
        self.updated = Metrics.counter("akhbar", "feed_updated_items")
        self.repeats = Metrics.counter("akhbar", "feed_repeats")
        self.expired = Metrics.counter("akhbar", "feed_seen_expired")

    def process(
        self,
        element: tuple[str, Article],
        timestamp: Any = beam.DoFn.TimestampParam,
        seen: Any = _SEEN,
        expiry: Any = _SEEN_EXPIRY,
    ) -> Iterator[Article]:
        _, article = element
        expiry.set(min(timestamp + self.retention, MAX_TIMESTAMP))
        fingerprint = content_fingerprint(article.title, article.body)
        previous = seen.read()
        if previous == fingerprint:
            self.repeats.inc()
        else:
            if previous is not None:
                self.updated.inc()
            seen.write(fingerprint)
            self.read.inc()
            yield article

    @on_timer(SEEN_EXPIRY)
    def expire(self, seen: Any = _SEEN) -> None:
        seen.clear()
        self.expired.inc()


class DetectNewItems(beam.PTransform):
    """Articles from every poll -> only those not seen before (or whose text changed)."""

    def __init__(self, retention: float = FeedsConfig.seen_retention) -> None:
        super().__init__()
        self.retention = retention

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        return (
            articles
            | "KeyByItem"
            >> beam.Map(lambda a: (item_key(feed_of(a), a.url, a.guid, a.id), a)).with_output_types(tuple[str, Article])
            | "FirstSightOnly" >> beam.ParDo(_DetectNew(self.retention))
        )


# ---------------------------------------------------------------------------------------------
# Full pages for summary-only feeds


def page_candidates(url: str, feed_url: str) -> list[str]:
    """Where to fetch an article page: its canonical URL (always https), and the http form
    when the feed itself is served over http (canonical URLs are identities, not locations)."""
    candidates = [url]
    if url.startswith("https://") and feed_url.startswith("http://"):
        candidates.append("http://" + url.removeprefix("https://"))
    return candidates


def extract_page(html: bytes, charset: str | None, title: str) -> str | None:
    """The main text of an article page (trafilatura), paragraphs separated by blank lines,
    without a leading repeat of the title (the page's headline)."""
    import trafilatura

    from transforms.decode import decode_bytes

    text = trafilatura.extract(decode_bytes(html, charset).text, include_comments=False, include_tables=False)
    paragraphs = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if paragraphs and paragraphs[0] == title.strip():
        paragraphs = paragraphs[1:]
    return "\n\n".join(paragraphs) or None


class _FetchFullPage(beam.DoFn):
    """Replaces a summary body by the extracted article page; on failure keeps the summary and
    notes why (the item is never dropped)."""

    def __init__(self, config: FeedsConfig) -> None:
        self.config = config
        self.fetched = Metrics.counter("akhbar", "feed_full_pages")
        self.failed = Metrics.counter("akhbar", "feed_full_page_failures")

    def setup(self) -> None:
        import requests

        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.config.user_agent
        self.full_page_feeds = {spec.url for spec in self.config.feeds if spec.fetch_full_page}
        self.last_request: dict[str, float] = {}
        self.lock = threading.Lock()

    def process(self, article: Article) -> Iterator[Article]:
        feed = feed_of(article)
        if feed not in self.full_page_feeds or not article.url:
            yield article
            return
        error = "no page fetched"
        for url in page_candidates(article.url, feed):
            self._respect_host_gap(url)
            timeout = (self.config.connect_timeout, self.config.read_timeout)
            result = http_get(self.session, url, {"Accept": "text/html"}, timeout, self.config.max_bytes)
            if result.error is None and result.status == 200 and result.body:
                try:
                    text = extract_page(result.body, result.charset, article.title)
                except Exception as err:
                    error = f"extraction failed: {type(err).__name__}: {err}"
                    break
                if text and len(text) > len(article.body):
                    self.fetched.inc()
                    yield article.with_(body=text, notes=(*article.notes, f"body extracted from {url}"))
                    return
                error = "page text not longer than the feed summary"
                break
            error = result.error or f"HTTP {result.status}"
        self.failed.inc()
        yield article.with_(notes=(*article.notes, f"full page not used: {error}"[:300]))

    def _respect_host_gap(self, url: str) -> None:
        from transforms.feeds import host_of

        host = host_of(url)
        with self.lock:
            last = self.last_request.get(host)
            wait = 0.0 if last is None else last + self.config.host_min_interval - time.time()
            self.last_request[host] = time.time() + max(0.0, wait)
        if wait > 0:
            time.sleep(wait)

    def teardown(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.close()


# ---------------------------------------------------------------------------------------------
# The source composite


class ReadFeeds(beam.PTransform):
    """PBegin -> {"articles": new Articles, "dead": DeadLetters, "health": feed-health documents}."""

    def __init__(self, config: FeedsConfig, stop_path: str) -> None:
        super().__init__()
        self.config = config
        self.stop_path = stop_path

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        polled = pbegin | "Ticks" >> Ticks(self.config.tick, self.stop_path) | "Poll" >> PollFeeds(self.config)
        new_articles = polled["articles"] | "NewItems" >> NewItems(self.config)
        return {"articles": new_articles, "dead": polled[DEAD], "health": polled[HEALTH]}


class PollFeeds(beam.PTransform):
    """Ticks -> {"articles": every item of every changed body, "dead", "health"}."""

    def __init__(self, config: FeedsConfig) -> None:
        super().__init__()
        self.config = config

    def expand(self, ticks: beam.PCollection) -> dict[str, beam.PCollection]:
        hosts = sorted(self.config.by_host())
        polled = (
            ticks
            | "FanOutToHosts"
            >> beam.FlatMap(lambda tick, names: [(name, tick) for name in names], hosts).with_output_types(
                tuple[str, float]
            )
            | "PollHosts" >> beam.ParDo(_PollHost(self.config)).with_outputs(DEAD, HEALTH, main="articles")
        )
        return {"articles": polled.articles, DEAD: polled[DEAD], HEALTH: polled[HEALTH]}


class NewItems(beam.PTransform):
    """Polled articles -> new items, with full pages for the feeds that ask for them."""

    def __init__(self, config: FeedsConfig) -> None:
        super().__init__()
        self.config = config

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        new = articles | "DetectNewItems" >> DetectNewItems(self.config.seen_retention)
        if not any(spec.fetch_full_page for spec in self.config.feeds):
            return new
        return new | "FetchFullPages" >> beam.ParDo(_FetchFullPage(self.config))


# ---------------------------------------------------------------------------------------------
# Feed health


def health_id(document: dict[str, Any]) -> str:
    key = f"{document['url']}|{document['polls']}|{document['polled_at']}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def ensure_health_index(client: Any, index: str) -> None:
    """Create the feed-health index with ``config/feed_health_mapping.json`` if it is missing."""
    from transforms.elasticsearch import ensure_plain_index

    ensure_plain_index(client, index, "feed_health_mapping.json")


class _IndexHealth(beam.DoFn):
    """Bulk-writes feed-health documents; telemetry, so failures are logged and counted, with
    a short retry for transient errors."""

    def __init__(self, es_url: str, index: str) -> None:
        self.es_url = es_url
        self.index = index
        self.written = Metrics.counter("akhbar", "feed_health_written")
        self.failed = Metrics.counter("akhbar", "feed_health_failed")

    def setup(self) -> None:
        from transforms.elasticsearch import EsConfig, make_client

        self.client = make_client(EsConfig(url=self.es_url, alias=self.index))

    def process(self, batch: list[dict[str, Any]]) -> None:
        operations: list[dict[str, Any]] = []
        for document in batch:
            operations += [{"index": {"_index": self.index, "_id": health_id(document)}}, document]
        for attempt in range(3):
            try:
                response = self.client.bulk(operations=operations)
            except Exception as err:
                log.warning("feed health not written (attempt %d): %s", attempt + 1, type(err).__name__)
                time.sleep(0.5 * 2**attempt)
                continue
            failures = [item["index"] for item in response["items"] if item["index"].get("status", 500) >= 300]
            for failure in failures:
                log.error("feed health document rejected: %s", json.dumps(failure.get("error"))[:500])
            self.failed.inc(len(failures))
            self.written.inc(len(batch) - len(failures))
            return
        self.failed.inc(len(batch))
        log.error("feed health: %d documents not written, Elasticsearch unreachable", len(batch))

    def teardown(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()


class WriteFeedHealth(beam.PTransform):
    """Feed-health documents -> the feed-health index (one document per poll)."""

    def __init__(self, es_url: str, index: str) -> None:
        super().__init__()
        self.es_url = es_url
        self.index = index

    def expand(self, documents: beam.PCollection) -> beam.PCollection:
        return (
            documents
            | "BatchHealth" >> beam.BatchElements(min_batch_size=1, max_batch_size=200)
            | "IndexHealth" >> beam.ParDo(_IndexHealth(self.es_url, self.index))
        )
