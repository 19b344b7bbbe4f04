"""The Beam sink (``_IndexBatches``): bulk requests on a writer thread, outcomes collected back.

A scripted stand-in for the server that can hold a request open shows that ``process`` does not
wait for Elasticsearch, that at most ``in_flight`` batches are outstanding, that every outcome
comes out (in the order of the batches, in each batch's window) by the end of the bundle, and
that an error of the writer thread fails the bundle. tests/integration/ runs the same sink
against the real Elasticsearch.
"""

from __future__ import annotations

import threading
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import PaneInfo, PaneInfoTiming, WindowedValue
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import AuthenticationException

import transforms.elasticsearch as sink
from tests.transforms.test_elasticsearch import ScriptedServer, bulk_lines
from transforms.elasticsearch import EsConfig, IndexRequest, WriteToElasticsearch
from transforms.records import DeadLetter

WAIT_S = 10.0  # generous: the machine is shared; a test only waits this long when it is failing


class HeldServer(ScriptedServer):
    """A ``ScriptedServer`` whose bulk requests wait until ``release()`` (all, or the first ``n``)."""

    def __init__(self, script: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(script or [], **kwargs)
        self.gate = threading.Semaphore(0)
        self.started = threading.Semaphore(0)
        self.closed = False

    def release(self, n: int = 1000) -> None:
        for _ in range(n):
            self.gate.release()

    def bulk(self, operations: list[bytes]) -> dict[str, Any]:
        self.started.release()
        assert self.gate.acquire(timeout=WAIT_S), "bulk request never released"
        return super().bulk(operations)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink.random, "uniform", lambda low, high: 0.0)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> HeldServer:
    held = HeldServer()
    monkeypatch.setattr(sink, "make_client", lambda cfg: held)
    return held


def requests(*ids: str, replaces: dict[str, tuple[str, ...]] | None = None) -> list[IndexRequest]:
    return [
        IndexRequest(
            i, {"title": f"خبر {i}", "dedup": {"content_hash": f"h-{i}"}}, f"feed:{i}", (replaces or {}).get(i, ())
        )
        for i in ids
    ]


def window(start: int) -> IntervalWindow:
    return IntervalWindow(start, start + 1)


PANE = PaneInfo(True, True, PaneInfoTiming.ON_TIME, 0, 0)


def started_dofn(**cfg: Any) -> sink._IndexBatches:
    dofn = sink._IndexBatches(EsConfig(**{"retry_budget_s": 5.0, **cfg}))
    dofn.setup()
    dofn.start_bundle()
    return dofn


def process(dofn: sink._IndexBatches, batch: list[IndexRequest], start: int) -> list[Any]:
    return list(dofn.process(batch, Timestamp(start), window(start), PANE))


def test_process_returns_while_elasticsearch_works_and_finish_bundle_collects_in_order(server: HeldServer):
    dofn = started_dofn(in_flight=2)
    assert process(dofn, requests("a1", "a2"), 0) == []
    assert server.started.acquire(timeout=WAIT_S)  # the first request is open on the writer thread ...
    assert process(dofn, requests("b1"), 10) == []  # ... and the bundle thread went on without it
    assert server.bulk_calls == []
    server.release()
    outputs = list(dofn.finish_bundle())
    assert [(o.value.doc_id, o.value.status) for o in outputs] == [
        ("a1", "indexed"),
        ("a2", "indexed"),
        ("b1", "indexed"),
    ]
    assert all(isinstance(o, WindowedValue) and o.pane_info == PANE for o in outputs)
    assert [(o.windows, o.timestamp) for o in outputs] == [
        ((window(0),), Timestamp(0)),
        ((window(0),), Timestamp(0)),
        ((window(10),), Timestamp(10)),
    ]
    assert list(dofn.finish_bundle()) == []  # nothing left over for the next bundle
    dofn.teardown()
    assert server.closed


def test_at_most_in_flight_batches_are_outstanding(server: HeldServer):
    dofn = started_dofn(in_flight=1)
    assert process(dofn, requests("a"), 0) == []
    assert server.started.acquire(timeout=WAIT_S)
    second: list[Any] = []
    blocked = threading.Thread(target=lambda: second.extend(process(dofn, requests("b"), 1)))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive(), "a second batch was handed over while the first was still being written"
    server.release()
    blocked.join(WAIT_S)
    assert [o.value.doc_id for o in second] == ["a"]  # the oldest batch, collected before "b" was handed over
    assert [o.value.doc_id for o in dofn.finish_bundle()] == ["b"]
    dofn.teardown()


def test_outcomes_keep_their_tags_and_every_document_is_accounted_for(server: HeldServer):
    server.script = [[201, 400, 429], [201]]
    server.existing = {"copy": "h-x", "u": "h-u"}
    server.release()
    dofn = started_dofn()
    outputs = process(dofn, requests("i", "r", "q", "u", replaces={"i": ("copy",)}), 0) + list(dofn.finish_bundle())
    by_tag = {(o.tag if isinstance(o, beam.pvalue.TaggedOutput) else "outcomes"): o for o in outputs}
    assert len(outputs) == 4
    assert {o.value.doc_id: o.value.status for o in outputs if not isinstance(o, beam.pvalue.TaggedOutput)} == {
        "i": "indexed",
        "q": "indexed",
        "u": "unchanged",
    }
    dead = by_tag["dead"].value
    assert isinstance(dead.value, DeadLetter) and (dead.value.article_id, dead.value.origin) == ("r", "feed:r")
    assert dead.windows == (window(0),)
    assert server.deleted == ["copy"]
    dofn.teardown()


def test_pending_documents_keep_their_copies_to_delete(server: HeldServer):
    server.down = True
    dofn = started_dofn(retry_budget_s=0.0)
    outputs = process(dofn, requests("p", replaces={"p": ("copy",)}), 0) + list(dofn.finish_bundle())
    [pending] = outputs
    assert pending.tag == "pending"
    assert pending.value.value == {
        "_id": "p",
        "_source": requests("p")[0].document,
        "origin": "feed:p",
        "replaces": ["copy"],
    }
    dofn.teardown()


def auth_error() -> AuthenticationException:
    meta = ApiResponseMeta(401, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "127.0.0.1", 9200))
    return AuthenticationException("security_exception", meta, {"error": "missing authentication credentials"})


def test_an_error_on_the_writer_thread_fails_the_bundle_and_the_next_bundle_starts_clean(server: HeldServer):
    server.script = [auth_error()]
    server.release()
    dofn = started_dofn()
    assert process(dofn, requests("a"), 0) == []  # the request fails later, on the writer thread ...
    with pytest.raises(AuthenticationException):
        list(dofn.finish_bundle())  # ... and the bundle fails when its outcome is collected
    dofn.start_bundle()  # the runner retries the bundle
    outputs = process(dofn, requests("a"), 0) + list(dofn.finish_bundle())
    assert [(o.value.doc_id, o.value.status) for o in outputs] == [("a", "indexed")]
    dofn.teardown()


def test_an_error_surfaces_at_the_next_process_when_the_queue_is_full(server: HeldServer):
    server.script = [auth_error()]
    server.release()
    dofn = started_dofn(in_flight=1)
    assert process(dofn, requests("a"), 0) == []
    with pytest.raises(AuthenticationException):
        process(dofn, requests("b"), 1)
    dofn.teardown()


class ServerById(ScriptedServer):
    """Item statuses by document id (``BatchElements`` chooses the batch sizes), then 201."""

    def __init__(self, statuses: dict[str, list[int]], **kwargs: Any) -> None:
        super().__init__([], **kwargs)
        self.statuses = statuses

    def bulk(self, operations: list[bytes]) -> dict[str, Any]:
        ids = [op["index"]["_id"] for op in bulk_lines(operations) if "index" in op]
        self.script = [[(self.statuses.get(i) or [201]).pop(0) for i in ids]]
        return super().bulk(operations)

    def close(self) -> None:
        pass


def test_in_a_pipeline_every_outcome_is_counted_from_the_bundle_thread(monkeypatch: pytest.MonkeyPatch):
    server = ServerById({"id1": [429], "id3": [400]}, existing={"old": "x"})
    monkeypatch.setattr(sink, "make_client", lambda cfg: server)
    p = TestPipeline()
    resumed = p | "Resumed" >> beam.Create(requests(*(f"id{i}" for i in range(5)), replaces={"id0": ("old",)}))
    written = p | beam.Create([]) | WriteToElasticsearch(EsConfig(), resumed=resumed)
    assert_that(
        written["outcomes"] | "Ids" >> beam.Map(lambda o: (o.doc_id, o.status)),
        equal_to([(f"id{i}", "indexed") for i in (0, 1, 2, 4)]),
    )
    assert_that(written["dead"] | "DeadIds" >> beam.Map(lambda d: d.article_id), equal_to(["id3"]), label="Dead")
    result = p.run()
    result.wait_until_finish()
    assert counter(result, "sink_indexed") == 4
    assert counter(result, "sink_rejected") == 1
    assert counter(result, "sink_replaced") == 1
    assert counter(result, "sink_retries") == 1  # the item-level 429
    assert server.deleted == ["old"]
    assert sorted(map(sorted, server.bulk_calls)) == [["id0", "id1", "id2", "id3", "id4"], ["id1"]]  # one batch


def counter(result: Any, name: str) -> int:
    counters = result.metrics().query(MetricsFilter().with_namespace("akhbar").with_name(name))["counters"]
    return sum(c.committed for c in counters)
