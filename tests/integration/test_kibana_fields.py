"""The Kibana saved objects against the real Elasticsearch.

Each data view's field list is what Kibana would build: ``_field_caps`` on the indices akhbar
creates (``ensure_index``, ``ensure_deadletter_index``, the feed-health mapping). Every field a
saved object uses must be there with a type its use accepts, and every panel's aggregation must
run on those indices.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import config_path
from pipelines import kibana
from transforms.elasticsearch import (
    EsConfig,
    deadletter_to_json,
    ensure_deadletter_index,
    ensure_index,
    load_mapping,
    load_template,
)
from transforms.records import DeadLetter

REPO = Path(__file__).resolve().parents[2]

ARTICLES = [
    {
        "_id": "a1",
        "title": "بوتين يستقبل شي جين بينغ في موسكو",
        "body": "قال الكرملين إن فلاديمير بوتين بحث مع ترمب في فبراير/شباط 2022 ملفات النصف الأول من هذا العام.",
        "folded": {
            "title": "بوتين يستقبل شي جين بينغ في موسكو",
            "body": "قال الكرملين ان فلاديمير بوتين",
            "version": 1,
        },
        "url": "https://example.org/news/a1",
        "source": "seed",
        "language": "ar",
        "published_at": "2026-02-04T09:00:00+03:00",
        "dates": [
            {"field": "body", "text": "فبراير/شباط 2022", "start": 52, "end": 68, "type": "DATE", "value": "2022-02"},
            {
                "field": "body",
                "text": "النصف الأول من هذا العام",
                "start": 75,
                "end": 99,
                "type": "DATE",
                "value": "2026-H1",
            },
        ],
        "date_range": [{"gte": "2022-02-01", "lte": "2022-02-28"}, {"gte": "2026-01-01", "lte": "2026-06-30"}],
        "entities": {
            "persons": ["فلاديمير بوتين", "دونالد ترامب", "شي جين بينغ"],
            "organizations": ["الكرملين"],
            "locations": ["موسكو"],
            "misc": [],
            "mentions": [
                {"field": "body", "text": "ترمب", "start": 40, "end": 44, "type": "PER", "canonical": "دونالد ترامب"}
            ],
        },
        "countries_mentioned": ["روسيا", "الصين"],
        "dedup": {"content_hash": "h1", "cluster_id": "c1", "is_canonical": True, "similarity": 1.0},
    },
    {
        "_id": "a2",
        "title": "بوتين يستقبل الرئيس الصيني",
        "body": "استقبل فلاديمير بوتين الرئيس الصيني في موسكو.",
        "folded": {"title": "بوتين يستقبل الرئيس الصيني", "body": "استقبل فلاديمير بوتين الرئيس الصيني", "version": 1},
        "url": "https://example.org/news/a2",
        "source": "reprint",
        "language": "ar",
        "published_at": "2026-02-04T11:00:00+03:00",
        "dates": [],
        "date_range": [],
        "entities": {
            "persons": ["فلاديمير بوتين"],
            "organizations": [],
            "locations": ["موسكو"],
            "misc": [],
            "mentions": [],
        },
        "countries_mentioned": ["الصين"],
        "dedup": {
            "content_hash": "h2",
            "cluster_id": "c1",
            "duplicate_of": "a1",
            "similarity": 0.91,
            "is_canonical": False,
        },
    },
]
FEED_POLLS = [
    {
        "feed": "wire",
        "url": "http://127.0.0.1/wire.xml",
        "host": "127.0.0.1",
        "polled_at": "2026-02-04T09:00:00Z",
        "outcome": "ok",
        "http_status": 200,
        "items": 20,
        "new_items": 3,
        "interval_s": 300.0,
        "freshness_s": 4.2,
        "consecutive_errors": 0,
        "polls": 1,
        "errors": 0,
    },
    {
        "feed": "wire",
        "url": "http://127.0.0.1/wire.xml",
        "host": "127.0.0.1",
        "polled_at": "2026-02-04T09:05:00Z",
        "outcome": "error",
        "http_status": 500,
        "error": "HTTP 500",
        "interval_s": 600.0,
        "consecutive_errors": 1,
        "polls": 2,
        "errors": 1,
    },
]


@pytest.fixture
def indices(es_client: Any, index_name: str) -> dict[str, str]:
    """The three indices the data views read, created by akhbar's own code; data view id -> index."""
    ensure_index(es_client, index_name)
    ensure_deadletter_index(es_client, EsConfig(alias=index_name))
    feed_health = f"{index_name}-feed-health"
    es_client.indices.create(
        index=feed_health,
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings=load_mapping("feed_health_mapping.json"),
    )
    return kibana.data_view_titles(index_name, feed_health)


def saved_objects(index_name: str) -> list[dict[str, Any]]:
    objects = kibana.all_objects(kibana.load_objects(config_path("kibana")))
    return kibana.with_index(objects, index_name, f"{index_name}-feed-health")


def test_every_field_the_saved_objects_use_is_in_the_real_mapping(es_client, index_name, indices):
    objects = saved_objects(index_name)
    titles = {obj["id"]: obj["attributes"]["title"] for obj in objects if obj["type"] == "index-pattern"}
    assert titles == indices  # the data views point at the indices akhbar creates for this alias
    caps = {view: kibana.field_caps(es_client, title) for view, title in titles.items()}
    uses = kibana.fields_used(objects)
    assert len(uses) > 50
    assert {use.data_view for use in uses} == set(titles)
    assert kibana.check_fields(uses, caps) == []


def test_the_check_fails_when_a_mapped_field_is_renamed(es_client, index_name, indices):
    template = copy.deepcopy(load_template()["template"])
    template["settings"]["analysis"]["analyzer"]["akhbar_display"] = {"type": "standard"}
    entities = template["mappings"]["properties"]["entities"]["properties"]
    entities["people"] = entities.pop("persons")
    renamed = f"{index_name}-renamed"
    es_client.indices.create(index=renamed, settings=template["settings"], mappings=template["mappings"])

    caps = {view: kibana.field_caps(es_client, title) for view, title in indices.items()}
    caps["akhbar-articles"] = kibana.field_caps(es_client, renamed)
    problems = kibana.check_fields(kibana.fields_used(saved_objects(index_name)), caps)
    assert problems and all("'entities.persons'" in problem and "no such field" in problem for problem in problems)
    assert {problem.split(":")[0] for problem in problems} == {
        "index-pattern akhbar-articles",
        "search akhbar-articles-search",
        "visualization akhbar-top-persons",
    }


def kql_to_dsl(query: str) -> dict[str, Any]:
    """The KQL the saved objects use (``field : *``, optionally negated) as query DSL."""
    text = query.strip()
    if not text:
        return {"match_all": {}}
    negated = text.startswith("not ")
    match = re.fullmatch(r"([\w.]+)\s*:\s*\*", text.removeprefix("not ").strip())
    assert match, f"translate this KQL for the test: {query!r}"
    exists = {"exists": {"field": match.group(1)}}
    return {"bool": {"must_not": [exists]}} if negated else exists


def bucket_dsl(agg: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    params = agg["params"]
    if agg["type"] == "terms":
        order_key = "_count" if metrics[params["orderBy"]]["type"] == "count" else params["orderBy"]
        return {"terms": {"field": params["field"], "size": params["size"], "order": {order_key: params["order"]}}}
    if agg["type"] == "date_histogram":
        interval = {"auto": "1d", "M": "1M"}[params["interval"]]  # Kibana scales "auto" to the time range
        return {"date_histogram": {"field": params["field"], "calendar_interval": interval, "min_doc_count": 1}}
    if agg["type"] == "filters":
        return {"filters": {"filters": {f["label"]: kql_to_dsl(f["input"]["query"]) for f in params["filters"]}}}
    raise AssertionError(f"translate this aggregation for the test: {agg['type']}")


def panel_request(vis: dict[str, Any]) -> dict[str, Any]:
    """The search a legacy visualization sends: buckets nested in order, metrics at the leaves."""
    aggs = json.loads(vis["attributes"]["visState"])["aggs"]
    metrics = {agg["id"]: agg for agg in aggs if agg["schema"] == "metric"}
    tree = {aid: {m["type"]: {"field": m["params"]["field"]}} for aid, m in metrics.items() if m["type"] != "count"}
    for agg in reversed([agg for agg in aggs if agg["schema"] != "metric"]):
        tree = {agg["id"]: {**bucket_dsl(agg, metrics), **({"aggs": tree} if tree else {})}}
    query = kibana._search_source(vis)["query"]["query"]
    return {"size": 0, "query": kql_to_dsl(query), "aggs": tree}


def test_every_panel_runs_on_the_real_indices(es_client, index_name, indices):
    for article in ARTICLES:
        es_client.index(index=index_name, id=article["_id"], document={k: v for k, v in article.items() if k != "_id"})
    for poll in FEED_POLLS:
        es_client.index(index=indices["akhbar-feed-health"], document=poll)
    dead = DeadLetter(step="parse", origin="feeds/broken.xml", error="XMLSyntaxError: mismatched tag", element="<rss>")
    es_client.index(index=indices["akhbar-deadletter"], document=json.loads(deadletter_to_json(dead)))
    es_client.indices.refresh(index=f"{index_name}*")

    results = {}
    for vis in (obj for obj in saved_objects(index_name) if obj["type"] == "visualization"):
        response = es_client.search(index=indices[vis["references"][0]["id"]], body=panel_request(vis))
        results[vis["id"]] = response["aggregations"]

    def keys(vis_id: str, agg_id: str = "2") -> dict[str, int]:
        return {b.get("key_as_string", b["key"]): b["doc_count"] for b in results[vis_id][agg_id]["buckets"]}

    assert keys("akhbar-top-persons")["فلاديمير بوتين"] == 2
    assert keys("akhbar-top-locations") == {"موسكو": 2}
    assert keys("akhbar-countries-mentioned") == {"الصين": 2, "روسيا": 1}
    months = keys("akhbar-periods-mentioned")
    assert months["2022-02-01T00:00:00.000Z"] == 1  # the article published in 2026 talks about February 2022
    assert sum(1 for month in months if month.startswith("2026-")) == 6  # ... and about 2026-H1
    assert keys("akhbar-top-date-values") == {"2022-02": 1, "2026-H1": 1}
    assert {k: v["doc_count"] for k, v in results["akhbar-duplicate-rate"]["2"]["buckets"].items()} == {
        "near duplicates": 1,
        "first copies": 1,
    }
    [cluster] = results["akhbar-largest-clusters"]["2"]["buckets"]
    assert (cluster["key"], cluster["doc_count"], cluster["3"]["value"]) == ("c1", 1, 1)
    [error_day] = results["akhbar-feed-errors"]["2"]["buckets"]
    assert error_day["3"]["buckets"] == [{"key": "wire", "doc_count": 1}]
    [feed] = results["akhbar-feed-summary"]["2"]["buckets"]
    assert (feed["key"], feed["3"]["value"], feed["4"]["value"], feed["6"]["value"]) == ("wire", 3.0, 1.0, 450.0)
    [day] = results["akhbar-deadletter-reasons"]["2"]["buckets"]
    assert day["3"]["buckets"] == [{"key": "XMLSyntaxError", "doc_count": 1}]


def test_docker_compose_runs_the_version_the_tests_run(es_client):
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    [node] = es_client.nodes.info(node_id="_local", filter_path="nodes.*.version")["nodes"].values()
    version = node["version"]  # the core-only distribution does not serve GET /
    assert services["elasticsearch"]["image"].endswith(f":{version}")
    assert services["kibana"]["image"].endswith(f":{version}")
