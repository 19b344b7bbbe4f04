"""The bulk writer's retry and outcome logic, with a scripted stand-in for the server.

These are unit tests of our own control flow; tests/integration/ runs the sink against the
real Elasticsearch, including a real outage and real 429s.
"""

from __future__ import annotations

from typing import Any

import pytest
from elastic_transport import ConnectionError as TransportConnectionError

from transforms.elasticsearch import BulkWriter, EsConfig, RetryClock, redact


class ScriptedServer:
    """Answers bulk requests from a script: an exception, or a status per item."""

    def __init__(self, script: list[Any], existing: dict[str, str] | None = None, down: bool = False) -> None:
        self.script = list(script)
        self.existing = existing or {}
        self.down = down  # every request fails, as when the server is stopped
        self.bulk_calls: list[list[str]] = []
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

    def bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests += 1
        if self.down:
            raise TransportConnectionError("connection refused")
        actions = [op for op in operations if "index" in op or "delete" in op]
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
