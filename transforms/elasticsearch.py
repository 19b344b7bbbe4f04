"""The Elasticsearch side of akhbar: index setup, documents, and the idempotent bulk sink.

Data flow: ``Article`` -> ``article_to_document`` (the indexed JSON) -> batches bounded by
count and bytes -> ``BulkWriter.write`` -> one ``Outcome`` per document:

* ``indexed``   created or updated (a changed article at the same id replaces the old one);
  when dedup elected it over indexed exact copies under other ids (``Article.dedup["replaces"]``),
  the same bulk request deletes those copies (``Outcome.replaced`` counts the ones deleted);
* ``unchanged`` the same id is already indexed with the same content hash (a re-run);
* ``rejected``  Elasticsearch refused the document for good (mapping error, too large): dead letter;
* ``pending``   Elasticsearch stayed unreachable for longer than the retry budget: written
  where ``akhbar batch --resume`` picks it up (ids are stable, so a replay cannot duplicate).

Connection errors, 429 and 5xx (whole requests and single bulk items) are retried with
exponential backoff and full jitter until the retry budget is spent.

In Beam (``_IndexBatches``) the requests run on one writer thread per worker, so the stage
keeps tagging the next articles while Elasticsearch answers; each bundle waits for all of its
outcomes before it ends.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import apache_beam as beam
import orjson
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from config import config_path
from transforms.dedup import REPLACES
from transforms.normalize import FOLD_VERSION, fold
from transforms.records import Article, DeadLetter, loads_record
from transforms.stem import stem_text

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_CREDENTIALS_IN_URL = re.compile(r"(?<=//)[^/@\s]+@")


@dataclass(frozen=True)
class EsConfig:
    """Where and how to write. Picklable; secrets are read from the environment by ``make_client``."""

    url: str = "http://127.0.0.1:9200"
    alias: str = "akhbar"
    request_timeout: float = 30.0
    batch_docs: int = 500
    batch_bytes: int = 5 * 1024 * 1024
    retry_budget_s: float = 180.0
    max_doc_bytes: int = 10 * 1024 * 1024
    in_flight: int = 2  # batches handed to the writer thread, not yet collected: one written, one waiting

    @property
    def deadletter_alias(self) -> str:
        return f"{self.alias}-deadletter"


def redact(text: str) -> str:
    """Remove credentials embedded in URLs (``https://user:pass@host``) from a message."""
    return _CREDENTIALS_IN_URL.sub("***@", text)


def make_client(cfg: EsConfig) -> Any:
    """An Elasticsearch client; credentials only from the environment or a file.

    ``AKHBAR_ES_API_KEY`` (or ``AKHBAR_ES_API_KEY_FILE``), else ``AKHBAR_ES_USERNAME`` with
    ``AKHBAR_ES_PASSWORD`` (or ``AKHBAR_ES_PASSWORD_FILE``); ``AKHBAR_ES_CA_CERTS`` for a private
    CA. TLS certificates are verified for https URLs unless ``AKHBAR_ES_VERIFY_CERTS=false``.
    """
    from elasticsearch import Elasticsearch

    def secret(name: str) -> str | None:
        if os.environ.get(name):
            return os.environ[name]
        path = os.environ.get(f"{name}_FILE")
        return Path(path).read_text().strip() if path else None

    kwargs: dict[str, Any] = {
        "request_timeout": cfg.request_timeout,
        "max_retries": 0,
        "serializers": _orjson_serializers(),
    }
    if api_key := secret("AKHBAR_ES_API_KEY"):
        kwargs["api_key"] = api_key
    elif (user := os.environ.get("AKHBAR_ES_USERNAME")) and (password := secret("AKHBAR_ES_PASSWORD")):
        kwargs["basic_auth"] = (user, password)
    if cfg.url.startswith("https"):
        kwargs["verify_certs"] = os.environ.get("AKHBAR_ES_VERIFY_CERTS", "true").lower() != "false"
        if ca := os.environ.get("AKHBAR_ES_CA_CERTS"):
            kwargs["ca_certs"] = ca
    return Elasticsearch(cfg.url, **kwargs)


def _orjson_serializers() -> dict[str, Any]:
    """JSON and NDJSON (bulk, msearch) bodies and responses through orjson instead of the standard
    library. Bulk bodies arrive already serialized (``document_json``): NDJSON lines in bytes
    pass through."""
    from elasticsearch.serializer import NdjsonSerializer, OrjsonSerializer

    class OrjsonNdjsonSerializer(NdjsonSerializer, OrjsonSerializer):
        """elasticsearch-py's NDJSON framing; each line that is not bytes yet serialized by orjson."""

    return {OrjsonSerializer.mimetype: OrjsonSerializer(), NdjsonSerializer.mimetype: OrjsonNdjsonSerializer()}


# ---------------------------------------------------------------------------------------------
# Index setup


def load_template() -> dict[str, Any]:
    return json.loads(config_path("index_template.json").read_text(encoding="utf-8"))


def load_mapping(name: str) -> dict[str, Any]:
    mapping = json.loads(config_path(name).read_text(encoding="utf-8"))
    mapping.pop("_comment", None)
    return mapping


def has_analyzer(client: Any, analyzer: str) -> bool:
    from elasticsearch import BadRequestError

    try:
        client.indices.analyze(analyzer=analyzer, text="اختبار")
    except BadRequestError:
        return False
    return True


def ensure_index(client: Any, alias: str) -> str:
    """Create (idempotently) the template, the versioned index and the alias; return the index name.

    The display fields (``title``, ``body``) use the ``arabic`` analyzer when the server has it
    (full distributions); the core-only distribution falls back to ``standard``. The folded
    search fields work the same everywhere because folding happens in akhbar, not in the server.
    """
    spec = load_template()
    index = f"{alias}-v{spec['mapping_version']}"
    if client.indices.exists_alias(name=alias):
        return next(iter(client.indices.get_alias(name=alias)))
    display = "arabic" if has_analyzer(client, "arabic") else "standard"
    if display == "standard":
        log.warning(
            "Elasticsearch has no 'arabic' analyzer (core-only distribution): title/body use 'standard'; "
            "search still folds Arabic through the folded.* fields"
        )
    template = spec["template"]
    template["settings"]["analysis"]["analyzer"]["akhbar_display"] = {"type": display}
    client.indices.put_index_template(
        name=f"akhbar-{alias}",
        index_patterns=[f"{alias}-v*"],
        template=template,
        priority=200,
        meta={"description": "akhbar articles", "mapping_version": spec["mapping_version"]},
    )
    from elasticsearch import BadRequestError

    try:
        client.indices.create(index=index, aliases={alias: {"is_write_index": True}})
    except BadRequestError as err:  # another worker created it first
        if "resource_already_exists" not in str(err):
            raise
    return index


def ensure_plain_index(client: Any, name: str, mapping_file: str) -> None:
    """Create (idempotently, race-safe) a one-shard index with a mapping from ``config/``."""
    from elasticsearch import BadRequestError

    if client.indices.exists(index=name):
        return
    try:
        client.indices.create(
            index=name,
            settings={"number_of_shards": 1, "number_of_replicas": 0},
            mappings=load_mapping(mapping_file),
        )
    except BadRequestError as err:
        if "resource_already_exists" not in str(err):
            raise


def ensure_deadletter_index(client: Any, cfg: EsConfig) -> None:
    ensure_plain_index(client, cfg.deadletter_alias, "deadletter_mapping.json")


# ---------------------------------------------------------------------------------------------
# Documents


def article_to_document(article: Article) -> dict[str, Any]:
    """The JSON indexed for ``article`` (``_id`` is ``article.id``)."""
    return {
        "title": article.title,
        "body": article.body,
        "captions": list(article.captions),
        "folded": {
            "title": (folded_title := fold(article.title)),
            "body": (folded_body := fold(article.body)),
            "stems": stem_text(f"{folded_title}\n{folded_body}"),
            "version": FOLD_VERSION,
        },
        "url": article.url,
        "guid": article.guid,
        "source": article.source,
        "category": article.category,
        "language": article.language,
        "origin": article.origin,
        "published_at": article.published_at,
        "fetched_at": article.fetched_at,
        "date_source": article.date_source,
        "notes": list(article.notes),
        "dates": list(article.dates),
        "date_range": list(article.facets.get("date_range", [])),
        "entities": {
            "persons": list(article.facets.get("persons", [])),
            "organizations": list(article.facets.get("organizations", [])),
            "locations": list(article.facets.get("locations", [])),
            "misc": list(article.facets.get("misc", [])),
            "mentions": list(article.entities),
        },
        "countries_mentioned": list(article.facets.get("countries_mentioned", [])),
        "dedup": {"content_hash": article.content_hash, **{k: v for k, v in article.dedup.items() if k != REPLACES}},
    }


def document_json(document: Mapping[str, Any]) -> bytes:
    """``document`` as a bulk request carries it: compact UTF-8 JSON, as elasticsearch-py's own
    serializer writes it, in a fourth of the CPU (orjson). What orjson refuses goes to the
    standard library as before: lone surrogates, integers beyond 64 bits, and the NaN and
    Infinity that JSON inputs can hold (``NonFiniteFloat``), which Elasticsearch refuses."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _indexed_at(source: Mapping[str, Any], body: bytes, now: str) -> bytes:
    """``source`` with ``indexed_at`` as its last field, appended to its JSON ``body``."""
    if not source or "indexed_at" in source:
        return document_json({**source, "indexed_at": now})
    return body[:-1] + b',"indexed_at":' + orjson.dumps(now) + b"}"


# ---------------------------------------------------------------------------------------------
# The bulk writer (plain Python; the DoFn below only adapts it)


@dataclass(frozen=True)
class Outcome:
    doc_id: str
    status: str  # indexed | unchanged | rejected | pending
    detail: str = ""
    document: dict[str, Any] | None = None  # kept for rejected/pending, to write it out
    replaced: int = 0  # indexed exact copies under other ids deleted with it (``indexed`` only)


@dataclass
class RetryClock:
    """Backoff with full jitter, bounded by a total budget per outage (shared by all batches of a worker)."""

    budget_s: float
    base_s: float = 0.5
    cap_s: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.monotonic
    outage_started: float | None = None
    attempts: int = 0
    retries: int = 0
    waited_s: float = 0.0

    def failed(self) -> bool:
        """Record a failure; sleep and return True to retry, or False when the budget is spent."""
        now = self.now()
        if self.outage_started is None:
            self.outage_started = now
        if now - self.outage_started >= self.budget_s:
            return False
        delay = random.uniform(0, min(self.cap_s, self.base_s * 2**self.attempts))
        delay = min(delay, self.budget_s - (now - self.outage_started))
        self.attempts += 1
        self.retries += 1
        self.waited_s += delay
        self.sleep(delay)
        return True

    def succeeded(self) -> None:
        self.outage_started = None
        self.attempts = 0

    @property
    def exhausted(self) -> bool:
        return self.outage_started is not None and self.now() - self.outage_started >= self.budget_s


def _transient_errors() -> tuple[type[BaseException], ...]:
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout

    return (TransportConnectionError, ConnectionTimeout)


def _status_of(err: BaseException) -> int | None:
    return getattr(err, "status_code", None) or getattr(getattr(err, "meta", None), "status", None)


@dataclass
class BulkWriter:
    """Writes documents with per-document outcomes, retries and a byte bound per request."""

    client: Any
    cfg: EsConfig
    clock: RetryClock = field(init=False)

    def __post_init__(self) -> None:
        self.clock = RetryClock(self.cfg.retry_budget_s)

    def write(
        self, docs: list[tuple[str, dict[str, Any]]], replaces: Mapping[str, Sequence[str]] | None = None
    ) -> list[Outcome]:
        """One outcome per document. ``replaces`` maps a document id to ids of indexed exact
        copies it displaces: they are deleted in the bulk request that indexes it (a missing
        copy is fine: already deleted), and such a document is written even when unchanged."""
        replaces = replaces or {}
        outcomes: list[Outcome] = []
        serialized = []
        for doc_id, source in docs:
            body = document_json(source)
            if len(body) > self.cfg.max_doc_bytes:
                outcomes.append(Outcome(doc_id, "rejected", "document larger than max_doc_bytes", source))
            else:
                serialized.append(_Serialized(doc_id, source, body))
        for chunk in _chunks_by_bytes(serialized, self.cfg.batch_bytes):
            outcomes.extend(self._write_chunk(chunk, replaces))
        return outcomes

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run one request, retrying transient failures; None when the retry budget is spent."""
        transient = _transient_errors()
        from elasticsearch import ApiError

        while True:
            if self.clock.exhausted:
                # Still down: try once without waiting, so a recovered server is noticed.
                try:
                    result = fn()
                except transient:
                    return None
                except ApiError as err:
                    if _status_of(err) in RETRYABLE_STATUS:
                        return None
                    raise
                self.clock.succeeded()
                return result
            try:
                result = fn()
            except transient as err:
                log.warning("Elasticsearch unreachable (%s); retrying", redact(type(err).__name__))
                if not self.clock.failed():
                    return None
                continue
            except ApiError as err:
                if _status_of(err) in RETRYABLE_STATUS and self.clock.failed():
                    continue
                if _status_of(err) in RETRYABLE_STATUS:
                    return None
                raise
            self.clock.succeeded()
            return result

    def _write_chunk(self, docs: list[_Serialized], replaces: Mapping[str, Sequence[str]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        hashes = self._existing_hashes([doc.doc_id for doc in docs])
        if hashes is None:
            return [Outcome(doc.doc_id, "pending", "Elasticsearch unreachable", doc.source) for doc in docs]
        todo = []
        for doc in docs:
            new_hash = doc.source.get("dedup", {}).get("content_hash")
            if new_hash and hashes.get(doc.doc_id) == new_hash and not replaces.get(doc.doc_id):
                outcomes.append(Outcome(doc.doc_id, "unchanged", "already indexed with the same content"))
            else:
                todo.append(doc)
        while todo:
            now = datetime.now(UTC).isoformat()
            operations: list[bytes] = []
            for doc in todo:
                operations.append(orjson.dumps({"index": {"_index": self.cfg.alias, "_id": doc.doc_id}}))
                operations.append(_indexed_at(doc.source, doc.body, now))
                operations += [
                    orjson.dumps({"delete": {"_index": self.cfg.alias, "_id": old}})
                    for old in replaces.get(doc.doc_id, ())
                ]
            response = self._call(functools.partial(self.client.bulk, operations=operations))
            if response is None:
                outcomes.extend(Outcome(doc.doc_id, "pending", "Elasticsearch unreachable", doc.source) for doc in todo)
                return outcomes
            retry = []
            items = iter(response["items"])
            for doc in todo:
                doc_id, source = doc.doc_id, doc.source
                result = next(items)["index"]
                deletes = [next(items)["delete"] for _ in replaces.get(doc_id, ())]
                status = result.get("status", 500)
                delete_statuses = [d.get("status", 500) for d in deletes]
                if status in (200, 201) and any(s in RETRYABLE_STATUS for s in delete_statuses):
                    retry.append(doc)  # indexing again is idempotent; the copies must go
                elif status in (200, 201):
                    for d in deletes:
                        if d.get("status") not in (200, 404):
                            log.error("exact copy %s not deleted: %s", d.get("_id"), redact(str(d.get("error"))))
                    replaced = sum(1 for d in deletes if d.get("status") == 200)
                    outcomes.append(Outcome(doc_id, "indexed", result.get("result", ""), replaced=replaced))
                elif status in RETRYABLE_STATUS:
                    retry.append(doc)
                else:
                    error = result.get("error", {})
                    detail = f"{status} {error.get('type', '')}: {error.get('reason', '')}"
                    outcomes.append(Outcome(doc_id, "rejected", redact(detail), source))
            if retry and not self.clock.failed():
                outcomes.extend(
                    Outcome(doc.doc_id, "pending", "item-level retries exhausted", doc.source) for doc in retry
                )
                return outcomes
            todo = retry
        return outcomes

    def _existing_hashes(self, ids: list[str]) -> dict[str, str] | None:
        from elasticsearch import NotFoundError

        def fetch() -> Any:
            try:
                return self.client.mget(index=self.cfg.alias, ids=ids, source_includes=["dedup.content_hash"])
            except NotFoundError:
                return {"docs": []}

        response = self._call(fetch)
        if response is None:
            return None
        return {
            doc["_id"]: doc["_source"].get("dedup", {}).get("content_hash")
            for doc in response["docs"]
            if doc.get("found")
        }


class _Serialized(NamedTuple):
    """A document to write and its JSON, serialized once for the size bounds and the request."""

    doc_id: str
    source: dict[str, Any]
    body: bytes


def _chunks_by_bytes(docs: list[_Serialized], max_bytes: int) -> Iterator[list[_Serialized]]:
    chunk: list[_Serialized] = []
    size = 0
    for doc in docs:
        if chunk and size + len(doc.body) > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append(doc)
        size += len(doc.body)
    if chunk:
        yield chunk


# ---------------------------------------------------------------------------------------------
# Beam


class IndexRequest(NamedTuple):
    """One document to write: its ``_id``, its JSON, where it came from (for dead letters) and
    the indexed exact copies it displaces (deleted when it is written)."""

    doc_id: str
    document: dict[str, Any]
    origin: str
    replaces: tuple[str, ...] = ()


def to_request(article: Article) -> IndexRequest:
    return IndexRequest(
        article.id, article_to_document(article), article.origin, tuple(article.dedup.get(REPLACES, ()))
    )


class _Written(NamedTuple):
    """What the writer thread hands back for one batch: its outcomes and the retries they took."""

    outcomes: list[Outcome]
    retries: int


@dataclass
class _InFlight:
    """A batch handed to the writer thread, with what its outputs need (origins, copies, window)."""

    written: Future[_Written]
    origins: dict[str, str]
    replaces: dict[str, tuple[str, ...]]
    timestamp: Any
    window: Any
    pane: Any


class _IndexBatches(beam.DoFn):
    """Adapts ``BulkWriter`` to Beam: one client and one writer thread per worker, outcomes to tagged outputs.

    ``process`` hands a batch to the writer thread and returns, so the bundle thread goes on
    preparing the next batches (the upstream steps fused into the same stage: tagging) while
    Elasticsearch answers. At most ``cfg.in_flight`` batches are handed over and not yet
    collected: the next ``process`` first collects the oldest (waiting for it if needed), and
    ``finish_bundle`` collects them all, so a bundle only ends once every document in it has an
    outcome. One writer thread keeps the requests (and the retry clock) in order; outcomes are
    collected on the bundle thread, the only one where Beam counters and outputs are safe, in
    the order of the batches, each in the window of its batch. An error of the writer thread
    (a request Elasticsearch refused for good) is raised on the bundle thread when its batch is
    collected, failing the bundle as before.
    """

    def __init__(self, cfg: EsConfig) -> None:
        self.cfg = cfg
        self.counters = {
            status: Metrics.counter("akhbar", f"sink_{status}")
            for status in ("indexed", "unchanged", "rejected", "pending")
        }
        self.retries = Metrics.counter("akhbar", "sink_retries")
        self.replaced = Metrics.counter("akhbar", "sink_replaced")

    def setup(self) -> None:
        self.client = make_client(self.cfg)
        self.writer = BulkWriter(self.client, self.cfg)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="akhbar-bulk")
        self.in_flight: deque[_InFlight] = deque()

    def start_bundle(self) -> None:
        # Batches of a bundle that failed are not collected: the runner retries the whole bundle.
        for batch in self.in_flight:
            batch.written.cancel()
        self.in_flight.clear()

    def process(
        self,
        batch: list[IndexRequest],
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
        pane: Any = beam.DoFn.PaneInfoParam,
    ) -> Iterator[Any]:
        while len(self.in_flight) >= max(1, self.cfg.in_flight):
            yield from self._collect(self.in_flight.popleft())
        docs = [(request.doc_id, request.document) for request in batch]
        replaces = {request.doc_id: request.replaces for request in batch if request.replaces}
        self.in_flight.append(
            _InFlight(
                self.thread.submit(self._write, docs, replaces),
                {request.doc_id: request.origin for request in batch},
                replaces,
                timestamp,
                window,
                pane,
            )
        )

    def finish_bundle(self) -> Iterator[Any]:
        while self.in_flight:
            yield from self._collect(self.in_flight.popleft())

    def _write(self, docs: list[tuple[str, dict[str, Any]]], replaces: dict[str, tuple[str, ...]]) -> _Written:
        """On the writer thread (the only one using ``self.writer``, so the retry count is this batch's)."""
        retries_before = self.writer.clock.retries
        outcomes = self.writer.write(docs, replaces)
        return _Written(outcomes, self.writer.clock.retries - retries_before)

    def _collect(self, batch: _InFlight) -> Iterator[Any]:
        """The outputs of ``batch`` once written, counted here on the bundle thread."""
        written = batch.written.result()
        self.retries.inc(written.retries)
        for outcome in written.outcomes:
            self.counters[outcome.status].inc()
            if outcome.replaced:
                self.replaced.inc(outcome.replaced)
            output = self._output(outcome, batch)
            tag = output.tag if isinstance(output, beam.pvalue.TaggedOutput) else None
            value = output.value if isinstance(output, beam.pvalue.TaggedOutput) else output
            windowed = WindowedValue(value, batch.timestamp, (batch.window,), batch.pane)
            yield windowed if tag is None else beam.pvalue.TaggedOutput(tag, windowed)

    @staticmethod
    def _output(outcome: Outcome, batch: _InFlight) -> Any:
        if outcome.status == "rejected":
            return beam.pvalue.TaggedOutput(
                "dead",
                DeadLetter(
                    step="index",
                    origin=batch.origins[outcome.doc_id],
                    error=outcome.detail,
                    element=json.dumps(outcome.document, ensure_ascii=False)[:100_000],
                    article_id=outcome.doc_id,
                ),
            )
        if outcome.status == "pending":
            pending: dict[str, Any] = {
                "_id": outcome.doc_id,
                "_source": outcome.document,
                "origin": batch.origins[outcome.doc_id],
            }
            if outcome.doc_id in batch.replaces:
                pending[REPLACES] = list(batch.replaces[outcome.doc_id])
            return beam.pvalue.TaggedOutput("pending", pending)
        return outcome

    def teardown(self) -> None:
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.shutdown(wait=True, cancel_futures=True)
        client = getattr(self, "client", None)
        if client is not None:
            client.close()


class WriteToElasticsearch(beam.PTransform):
    """Articles (and, with ``--resume``, pending ``IndexRequest``s) -> Elasticsearch.

    Outputs ``outcomes`` (indexed/unchanged), ``dead`` (rejected for good) and ``pending``.
    """

    def __init__(self, cfg: EsConfig, resumed: beam.PCollection | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.resumed = resumed

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        requests = articles | "ToDocuments" >> beam.Map(to_request)
        if self.resumed is not None:
            requests = (requests, self.resumed) | "WithResumed" >> beam.Flatten()
        written = (
            requests
            # Fixed-size batches (BulkWriter still bounds their bytes): an adaptive size is fitted to
            # the time downstream of BatchElements, now mostly waits for the writer thread, and it
            # cut 2,000 articles into 16 to 44 requests of 1 to 500 documents instead of 4.
            | "BatchDocuments"
            >> beam.BatchElements(min_batch_size=self.cfg.batch_docs, max_batch_size=self.cfg.batch_docs)
            | "BulkIndex" >> beam.ParDo(_IndexBatches(self.cfg)).with_outputs("dead", "pending", main="outcomes")
        )
        return {"outcomes": written.outcomes, "dead": written.dead, "pending": written.pending}


def read_pending_line(line: str, origin: str) -> IndexRequest:
    record = loads_record(line)
    replaces = tuple(record.get(REPLACES) or ())
    return IndexRequest(record["_id"], record["_source"], record.get("origin") or origin, replaces)


class ReadPending(beam.PTransform):
    """The documents earlier runs left in the pending folder (``--resume``); each counts as read."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin | "PendingFiles" >> beam.Create(self.paths) | "ReadPendingLines" >> beam.FlatMap(_pending_requests)
        )


def _pending_requests(path: str) -> Iterator[IndexRequest]:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as handle:
        for line in handle.read().decode("utf-8").splitlines():
            if line.strip():
                Metrics.counter("akhbar", "read_pending").inc()
                yield read_pending_line(line, path)


def deadletter_to_json(dead: DeadLetter) -> str:
    return json.dumps(
        {
            "step": dead.step,
            "origin": redact(dead.origin),
            "error": redact(dead.error),
            "reason": redact(dead.error).split(":", 1)[0][:200],
            "element": redact(dead.element),
            "article_id": dead.article_id,
            "at": datetime.now(UTC).isoformat(),
        },
        ensure_ascii=False,
    )


def _count_dead(dead: DeadLetter) -> DeadLetter:
    """Every dead letter of the run passes here once: the summary reads these counters."""
    Metrics.counter("akhbar", "dead").inc()
    Metrics.counter("akhbar", f"dead_{dead.step}").inc()
    return dead


class _IndexDeadLetters(beam.DoFn):
    """Best effort copy of dead letters into ``<alias>-deadletter`` (the JSON Lines file is the record)."""

    def __init__(self, cfg: EsConfig) -> None:
        self.cfg = cfg

    def setup(self) -> None:
        self.client = make_client(self.cfg)
        self.writer = BulkWriter(self.client, EsConfig(**{**self.cfg.__dict__, "alias": self.cfg.deadletter_alias}))

    def process(self, batch: list[str]) -> Iterable[None]:
        import hashlib

        docs = [(hashlib.sha1(line.encode()).hexdigest(), json.loads(line)) for line in batch]
        for outcome in self.writer.write(docs):
            if outcome.status in ("rejected", "pending"):
                log.error("dead letter not copied to %s: %s", self.cfg.deadletter_alias, outcome.detail)
        return []

    def teardown(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()


class WriteJsonLines(beam.DoFn):
    """Appends text lines to one new file per bundle under ``directory`` (any Beam filesystem).

    Unlike ``WriteToText`` it works the same in batch and streaming, and a file is complete as
    soon as its bundle is: nothing waits for the end of the run.
    """

    def __init__(self, directory: str, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix

    def start_bundle(self) -> None:
        self.handle: Any = None

    def process(self, line: str) -> None:
        if self.handle is None:
            import uuid

            from apache_beam.io.filesystems import FileSystems

            if "://" not in self.directory:
                os.makedirs(self.directory, exist_ok=True)
            path = FileSystems.join(self.directory, f"{self.prefix}-{uuid.uuid4().hex}.jsonl")
            self.handle = FileSystems.create(path, mime_type="application/x-ndjson")
        self.handle.write(line.encode("utf-8") + b"\n")

    def finish_bundle(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class WriteDeadLetters(beam.PTransform):
    """DeadLetters -> JSON Lines files under ``directory`` and the ``<alias>-deadletter`` index."""

    def __init__(self, cfg: EsConfig, directory: str) -> None:
        super().__init__()
        self.cfg = cfg
        self.directory = directory

    def expand(self, dead: beam.PCollection) -> beam.PCollection:
        # Behind a Reshuffle, the count runs in one stage even when ``dead`` is a Flatten: fused after
        # a Flatten it would be copied into each input's stage, and Flink reports one copy only.
        lines = (
            dead
            | "GatherDeadLetters" >> beam.Reshuffle()
            | "CountDeadLetters" >> beam.Map(_count_dead)
            | "DeadLetterToJson" >> beam.Map(deadletter_to_json)
        )
        _ = lines | "WriteDeadLetterFiles" >> beam.ParDo(WriteJsonLines(self.directory, "deadletter"))
        return (
            lines
            | "BatchDeadLetters" >> beam.BatchElements(min_batch_size=1, max_batch_size=200)
            | "IndexDeadLetters" >> beam.ParDo(_IndexDeadLetters(self.cfg))
        )
