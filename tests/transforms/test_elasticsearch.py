"""The bulk writer's retry and outcome logic, with a scripted stand-in for the server.

These are unit tests of our own control flow; tests/integration/ runs the sink against the
real Elasticsearch, including a real outage and real 429s.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from elastic_transport import ConnectionError as TransportConnectionError

from transforms.elasticsearch import BulkWriter, EsConfig, RetryClock, _indexed_at, document_json, redact
from transforms.records import NonFiniteFloat, loads_record


def bulk_lines(operations: list[bytes]) -> list[dict[str, Any]]:
    """A bulk request's lines as Elasticsearch reads them (the writer sends them serialized)."""
    return [json.loads(line) for line in operations]


class ScriptedServer:
    """Answers bulk requests from a script: an exception, or a status per item."""

    def __init__(self, script: list[Any], existing: dict[str, str] | None = None, down: bool = False) -> None:
        self.script = list(script)
        self.existing = existing or {}
        self.down = down  # every request fails, as when the server is stopped
        self.bulk_calls: list[list[str]] = []
        self.bodies: list[bytes] = []  # each bulk request as NDJSON
        self.deleted: list[str] = []
        self.delete_script: list[int] = []  # statuses for the next delete items (default: 200 or 404)
        self.requests = 0

    def mget(self, index: str, ids: list[str], source_includes: list[str]) -> dict[str, Any]:
        self.requests += 1
        if self.down:
            raise TransportConnectionError("connection refused")
        return {
            "docs": [
                {
                    "_id": i,
                    "found": i in self.existing,
                    "_source": {"dedup": {"content_hash": self.existing.get(i)}},
                }
                for i in ids
            ]
        }

    def bulk(self, operations: list[bytes]) -> dict[str, Any]:
        self.requests += 1
        if self.down:
            raise TransportConnectionError("connection refused")
        self.bodies.append(b"\n".join(operations))
        actions = [op for op in bulk_lines(operations) if "index" in op or "delete" in op]
        ids = [op["index"]["_id"] for op in actions if "index" in op]
        self.bulk_calls.append(ids)
        step = self.script.pop(0) if self.script else 201
        if isinstance(step, Exception):
            raise step
        statuses = iter(step if isinstance(step, list) else [step] * len(ids))
        items = []
        for action in actions:
            if "delete" in action:
                doc_id = action["delete"]["_id"]
                default = 200 if doc_id in self.existing else 404
                status = self.delete_script.pop(0) if self.delete_script else default
                if status == 200:
                    self.existing.pop(doc_id)
                    self.deleted.append(doc_id)
                items.append({"delete": {"_id": doc_id, "status": status}})
                continue
            doc_id, status = action["index"]["_id"], next(statuses)
            item: dict[str, Any] = {"_id": doc_id, "status": status}
            if status >= 300:
                item["error"] = {
                    "type": "mapper_parsing_exception" if status == 400 else "es_rejected_execution_exception",
                    "reason": "failed to parse field [published_at]" if status == 400 else "queue full",
                }
            else:
                item["result"] = "created"
            items.append({"index": item})
        return {"errors": any(next(iter(i.values()))["status"] >= 300 for i in items), "items": items}


def writer(server: ScriptedServer, budget: float = 30.0, **cfg: Any) -> BulkWriter:
    w = BulkWriter(server, EsConfig(retry_budget_s=budget, **cfg))
    clock = {"t": 0.0}
    w.clock = RetryClock(budget, sleep=lambda s: clock.__setitem__("t", clock["t"] + s), now=lambda: clock["t"])
    return w


def docs(n: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"id{i}", {"title": f"خبر {i}", "dedup": {"content_hash": f"h{i}"}}) for i in range(n)]


def test_item_level_429_is_retried_and_400_is_rejected():
    server = ScriptedServer([[201, 429, 400], [201]])
    outcomes = {o.doc_id: o for o in writer(server).write(docs(3))}
    assert outcomes["id0"].status == "indexed"
    assert outcomes["id1"].status == "indexed"
    assert outcomes["id2"].status == "rejected" and "mapper_parsing_exception" in outcomes["id2"].detail
    assert outcomes["id2"].document is not None
    assert server.bulk_calls == [["id0", "id1", "id2"], ["id1"]]


def test_connection_errors_and_5xx_are_retried_until_success():
    server = ScriptedServer([TransportConnectionError("refused"), 503, 201])
    w = writer(server)
    outcomes = w.write(docs(2))
    assert [o.status for o in outcomes] == ["indexed", "indexed"]
    assert w.clock.retries == 2


def test_budget_spent_leaves_documents_pending():
    server = ScriptedServer([], down=True)
    w = writer(server, budget=5.0)
    outcomes = w.write(docs(3))
    assert {o.status for o in outcomes} == {"pending"}
    assert all(o.document for o in outcomes)
    assert w.clock.waited_s == pytest.approx(5.0)
    # The next batch does not wait again for a server that is still down, but tries once.
    requests = server.requests
    assert {o.status for o in w.write(docs(2))} == {"pending"}
    assert server.requests == requests + 1
    # Once the server is back, the writer notices on the next batch.
    server.down = False
    assert {o.status for o in w.write(docs(2))} == {"indexed"}


def test_unchanged_documents_are_not_rewritten():
    server = ScriptedServer([], existing={"id0": "h0", "id1": "old"})
    outcomes = {o.doc_id: o.status for o in writer(server).write(docs(2))}
    assert outcomes == {"id0": "unchanged", "id1": "indexed"}
    assert server.bulk_calls == [["id1"]]


def test_replaced_exact_copies_are_deleted_in_the_same_bulk_and_counted():
    server = ScriptedServer([], existing={"b-copy": "h0", "id1": "h1"})
    outcomes = {o.doc_id: o for o in writer(server).write(docs(2), {"id0": ["b-copy", "gone"]})}
    assert (outcomes["id0"].status, outcomes["id0"].replaced) == ("indexed", 1)  # "gone" was already deleted
    assert outcomes["id1"].status == "unchanged"
    assert server.deleted == ["b-copy"] and server.bulk_calls == [["id0"]]
    # A document that replaces a copy is written even when its own content is already there
    # (an earlier run indexed it but failed to delete the copy); a 429 on the delete retries both.
    server = ScriptedServer([], existing={"id0": "h0", "b-copy": "h0"})
    server.delete_script = [429]
    outcomes = {o.doc_id: o for o in writer(server).write(docs(1), {"id0": ["b-copy"]})}
    assert (outcomes["id0"].status, outcomes["id0"].replaced) == ("indexed", 1)
    assert server.bulk_calls == [["id0"], ["id0"]] and server.deleted == ["b-copy"]


def test_batches_are_bounded_by_bytes():
    server = ScriptedServer([])
    big = [(f"id{i}", {"body": "ن" * 4000, "dedup": {"content_hash": str(i)}}) for i in range(10)]
    writer(server, batch_bytes=20_000).write(big)
    assert len(server.bulk_calls) >= 4 and sum(map(len, server.bulk_calls)) == 10


def standard_json(document: dict[str, Any]) -> bytes:
    """What elasticsearch-py's standard serializer sends for ``document``."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


ARABIC_DOCUMENT = {
    "title": "قال المسؤول «نعم»",
    "body": 'سطر\nثان\t"مقتبس" \\ \x00\x1f\x7f\u2028\u200f 😀',
    "captions": [],
    "folded": {"stems": "قال مسؤول", "version": 2},
    "url": None,
    "dedup": {"content_hash": "ab", "similarity": 0.8125, "cluster_size": 3, "duplicate": False},
}


def test_request_lines_are_the_standard_json_of_each_document_with_indexed_at_last():
    server = ScriptedServer([])
    writer(server, alias="news").write([("id0", ARABIC_DOCUMENT), ("id1", {"title": "خبر"})], {"id0": ["old"]})
    action, document, delete, _, document1 = server.bodies[0].split(b"\n")
    assert json.loads(action) == {"index": {"_index": "news", "_id": "id0"}}
    assert json.loads(delete) == {"delete": {"_index": "news", "_id": "old"}}
    indexed_at = json.loads(document)["indexed_at"]
    assert document == standard_json({**ARABIC_DOCUMENT, "indexed_at": indexed_at})
    assert document1 == standard_json({"title": "خبر", "indexed_at": indexed_at})


@pytest.mark.parametrize(
    "document",
    [
        ARABIC_DOCUMENT,
        {"title": "نص \ud800 بلا زوج"},  # lone surrogate: orjson refuses it
        {"count": 2**70},  # beyond 64 bits: orjson refuses it
        {"category": NonFiniteFloat("NaN"), "guid": [NonFiniteFloat("-Infinity")]},  # orjson would write null
        {},
        {"title": "x", "indexed_at": "2020-01-01T00:00:00+00:00"},
    ],
)
def test_document_json_is_what_the_standard_serializer_writes(document):
    assert document_json(document) == standard_json(document)
    assert _indexed_at(document, document_json(document), "now") == standard_json({**document, "indexed_at": "now"})


def test_nan_read_from_json_lines_is_sent_as_read_and_refused():
    record = loads_record('{"category": NaN, "id": Infinity, "n": 1.5}')
    assert isinstance(record["category"], NonFiniteFloat) and type(record["n"]) is float
    assert document_json(record) == b'{"category":NaN,"id":Infinity,"n":1.5}'


def test_oversized_document_is_rejected_without_a_request():
    server = ScriptedServer([])
    outcomes = writer(server, max_doc_bytes=1000).write([("big", {"body": "x" * 5000})])
    assert outcomes[0].status == "rejected" and server.bulk_calls == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://elastic:s3cret@es.example:9243/_bulk", "https://***@es.example:9243/_bulk"),
        ("no url", "no url"),
    ],
)
def test_credentials_are_redacted(text, expected):
    assert redact(text) == expected
