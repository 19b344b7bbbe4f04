"""Searching the index: the query is folded exactly like the indexed ``folded.*`` fields.

So احمد and أحمد, مسئول and مسؤول find the same documents on any Elasticsearch distribution;
``folded.stems`` (light stems, ``transforms.stem``) lets المسؤولين match مسؤول, and the display
fields add the server's own ``arabic`` analysis where it exists.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from transforms.normalize import fold
from transforms.stem import stem_text


def build_query(text: str, hide_near_duplicates: bool = False) -> dict[str, Any]:
    folded = fold(text)
    stems = stem_text(folded)
    query: dict[str, Any] = {
        "bool": {
            "should": [
                {
                    "multi_match": {
                        "query": folded,
                        "fields": ["folded.title^3", "folded.body"],
                        "type": "best_fields",
                    }
                },
                {
                    "multi_match": {
                        "query": folded,
                        "fields": ["folded.title^3", "folded.body"],
                        "type": "phrase",
                        "boost": 2,
                    }
                },
                {"match": {"folded.stems": {"query": stems, "boost": 0.7}}},
                # Display fields: the server's arabic stemming where it has it. The query is folded here
                # too, so spelling variants of one query always get the same hits and scores.
                {"multi_match": {"query": folded, "fields": ["title^2", "body"], "boost": 0.5}},
            ],
            "minimum_should_match": 1,
        }
    }
    if hide_near_duplicates:
        query["bool"]["must_not"] = [{"exists": {"field": "dedup.duplicate_of"}}]
    return query


def search(
    client: Any, index: str, text: str, size: int = 10, hide_near_duplicates: bool = False
) -> list[dict[str, Any]]:
    response = client.search(
        index=index,
        query=build_query(text, hide_near_duplicates),
        size=size,
        source_includes=["title", "source", "published_at", "url", "body", "dedup.duplicate_of"],
    )
    return [{"id": hit["_id"], "score": hit["_score"], **hit["_source"]} for hit in response["hits"]["hits"]]


def format_hits(hits: list[dict[str, Any]]) -> str:
    if not hits:
        return "no hits"
    lines = []
    for rank, hit in enumerate(hits, start=1):
        when = (hit.get("published_at") or "")[:10] or "----------"
        duplicate = (
            f"  (near duplicate of {hit['dedup']['duplicate_of']})" if hit.get("dedup", {}).get("duplicate_of") else ""
        )
        lines.append(
            f"{rank:>2}. [{hit['score']:.2f}] {when} {hit.get('source', '')}: {hit.get('title', '')}{duplicate}"
        )
        snippet = " ".join((hit.get("body") or "").split())[:160]
        lines.append(f"    {snippet}")
        if hit.get("url"):
            lines.append(f"    {unquote(hit['url'])}")  # readable Arabic paths, as browsers show them
    return "\n".join(lines)
