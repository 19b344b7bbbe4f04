"""The Kibana saved objects in config/kibana/: they parse, reference each other correctly and
use only fields the mappings in config/ define (the same check runs against the real server in
tests/integration/test_kibana_fields.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import config_path
from pipelines import kibana

KIBANA_DIR = config_path("kibana")
REPO = Path(__file__).resolve().parents[2]
# Latest migration version per type that these objects are written for; all are at or below
# what Kibana 8.19 knows, so Kibana migrates them forward on import and never refuses them.
MIGRATION_VERSIONS = {"index-pattern": "8.0.0", "search": "10.5.0", "visualization": "8.5.0", "dashboard": "8.9.0"}
# Aggregation schemas of each legacy visualization type (Kibana's vis_types editorConfig.schemas).
VIS_SCHEMAS = {
    "histogram": {"metric", "radius", "segment", "group", "split"},
    "line": {"metric", "radius", "segment", "group", "split"},
    "pie": {"metric", "segment", "split"},
    "table": {"metric", "bucket", "split"},
}
# Attribute keys Kibana's saved object schemas accept (unknown keys are refused on import), and
# the ones they require: visualization schema 8.8.0, dashboard 8.9.0, saved search, data view.
ATTRIBUTES = {
    "visualization": (
        {"title", "description", "version", "kibanaSavedObjectMeta", "uiStateJSON", "visState", "savedSearchRefName"},
        {"title"},
    ),
    "dashboard": (
        {
            "title",
            "description",
            "kibanaSavedObjectMeta",
            "timeRestore",
            "timeFrom",
            "timeTo",
            "refreshInterval",
            "controlGroupInput",
            "panelsJSON",
            "optionsJSON",
            "hits",
            "version",
        },
        {"title", "kibanaSavedObjectMeta"},
    ),
    "search": (
        {
            "title",
            "sort",
            "columns",
            "description",
            "grid",
            "hideChart",
            "isTextBasedQuery",
            "usesAdHocDataView",
            "kibanaSavedObjectMeta",
            "viewMode",
            "hideAggregatedPreview",
            "rowHeight",
            "headerRowHeight",
            "hits",
            "timeRestore",
            "timeRange",
            "refreshInterval",
            "rowsPerPage",
            "sampleSize",
            "breakdownField",
        },
        {"title", "sort", "columns", "description", "grid", "kibanaSavedObjectMeta"},
    ),
    "index-pattern": (
        {
            "title",
            "name",
            "timeFieldName",
            "fields",
            "fieldAttrs",
            "sourceFilters",
            "fieldFormatMap",
            "type",
            "typeMeta",
            "allowNoIndex",
            "runtimeFieldMap",
            "allowHidden",
        },
        {"title"},
    ),
}
FORMAT_FIELD_TYPES = {"url": {"string", "number"}, "duration": {"number"}, "percent": {"number"}, "number": {"number"}}


@pytest.fixture(scope="module")
def by_file() -> dict[Path, list[dict[str, Any]]]:
    return kibana.load_objects(KIBANA_DIR)


@pytest.fixture(scope="module")
def objects(by_file) -> list[dict[str, Any]]:
    return kibana.all_objects(by_file)


def mapping_caps() -> dict[str, dict[str, kibana.FieldCaps]]:
    """Field caps per data view, derived from the mapping files alone."""
    articles = json.loads(config_path("index_template.json").read_text(encoding="utf-8"))["template"]["mappings"]
    return {
        "akhbar-articles": kibana.caps_from_mapping(articles["properties"]),
        "akhbar-deadletter": kibana.caps_from_mapping(kibana_mapping("deadletter_mapping.json")),
        "akhbar-feed-health": kibana.caps_from_mapping(kibana_mapping("feed_health_mapping.json")),
    }


def kibana_mapping(name: str) -> dict[str, Any]:
    return dict(json.loads(config_path(name).read_text(encoding="utf-8"))["properties"])


def test_every_object_parses_with_a_unique_id(objects):
    assert Counter(obj["type"] for obj in objects) == {
        "index-pattern": 3,
        "search": 1,
        "visualization": 15,
        "dashboard": 2,
    }
    ids = Counter(obj["id"] for obj in objects)
    assert [oid for oid, n in ids.items() if n > 1] == []
    for obj in objects:
        assert obj["coreMigrationVersion"] == "8.8.0"
        assert obj["typeMigrationVersion"] == MIGRATION_VERSIONS[obj["type"]], obj["id"]
        assert obj["attributes"]["title"]
        attributes = obj["attributes"]
        for name in kibana.JSON_STRING_ATTRIBUTES:
            if name in attributes:
                json.loads(attributes[name])
        if "kibanaSavedObjectMeta" in attributes:
            json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])


def test_attributes_fit_kibanas_saved_object_schemas(objects):
    for obj in objects:
        allowed, required = ATTRIBUTES[obj["type"]]
        keys = set(obj["attributes"])
        assert keys <= allowed, (obj["id"], keys - allowed)
        assert required <= keys, (obj["id"], required - keys)
        meta = obj["attributes"].get("kibanaSavedObjectMeta", {})
        assert set(meta) <= {"searchSourceJSON"}, obj["id"]


def test_every_reference_resolves_inside_the_file_set(objects):
    present = {(obj["type"], obj["id"]) for obj in objects}
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, f"{obj['id']} -> {ref}"
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), obj["id"]
        source = kibana._search_source(obj)
        if "indexRefName" in source:
            assert source["indexRefName"] in names, obj["id"]
        if obj["type"] in ("search", "visualization"):
            assert source["indexRefName"] == "kibanaSavedObjectMeta.searchSourceJSON.index"


def test_dashboards_reference_every_panel_and_fit_the_grid(objects):
    for dashboard in (obj for obj in objects if obj["type"] == "dashboard"):
        panels = json.loads(dashboard["attributes"]["panelsJSON"])
        refs = {ref["name"]: ref for ref in dashboard["references"]}
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            ref = refs.pop(f"{panel['panelIndex']}:{panel['panelRefName']}")
            assert ref["type"] == panel["type"]
            grid = panel["gridData"]
            assert grid["i"] == panel["panelIndex"] and grid["x"] + grid["w"] <= 48
            area = {
                (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not area & cells, f"{dashboard['id']}: panel {panel['panelIndex']} overlaps another"
            cells |= area
        assert refs == {}, f"{dashboard['id']}: references without a panel"
        if dashboard["attributes"]["timeRestore"]:
            assert dashboard["attributes"]["timeFrom"] and dashboard["attributes"]["timeTo"]


def test_every_visualization_is_well_formed(objects):
    for vis in (obj for obj in objects if obj["type"] == "visualization"):
        state = json.loads(vis["attributes"]["visState"])
        assert state["title"] == vis["attributes"]["title"]
        assert state["type"] in VIS_SCHEMAS, vis["id"]
        aggs = state["aggs"]
        ids = [agg["id"] for agg in aggs]
        assert len(ids) == len(set(ids)), vis["id"]
        metrics = {agg["id"] for agg in aggs if agg["schema"] == "metric"}
        assert metrics, vis["id"]
        for agg in aggs:
            assert agg["schema"] in VIS_SCHEMAS[state["type"]], (vis["id"], agg)
            if agg["type"] == "terms":
                assert agg["params"]["orderBy"] in metrics, (vis["id"], agg)
        for series in state["params"].get("seriesParams", []):
            assert series["data"]["id"] in metrics, vis["id"]
        if state["type"] != "table":
            assert state["params"]["type"] == state["type"]


def test_data_view_formats_fit_their_fields(objects):
    caps = mapping_caps()
    for view in (obj for obj in objects if obj["type"] == "index-pattern"):
        for field, fmt in json.loads(view["attributes"]["fieldFormatMap"]).items():
            kibana_type = caps[view["id"]][field].kibana_type
            assert kibana_type in FORMAT_FIELD_TYPES[fmt["id"]], (view["id"], field, fmt["id"])


def test_the_saved_search_shows_the_agreed_columns(objects):
    [search] = [obj for obj in objects if obj["type"] == "search"]
    assert search["attributes"]["columns"] == [
        "title",
        "source",
        "published_at",
        "entities.persons",
        "entities.locations",
        "dedup.cluster_id",
    ]
    assert search["references"][0]["id"] == "akhbar-articles"


def test_every_field_used_is_in_the_mappings(objects):
    assert kibana.check_fields(kibana.fields_used(objects), mapping_caps()) == []


def test_renaming_a_mapped_field_breaks_the_check(objects):
    caps = mapping_caps()
    caps["akhbar-articles"] = {
        ("entities.people" if name == "entities.persons" else name): field
        for name, field in caps["akhbar-articles"].items()
    }
    problems = kibana.check_fields(kibana.fields_used(objects), caps)
    assert problems and all("'entities.persons'" in problem for problem in problems)
    assert {problem.split(":")[0] for problem in problems} == {
        "index-pattern akhbar-articles",
        "search akhbar-articles-search",
        "visualization akhbar-top-persons",
    }


def test_a_field_of_the_wrong_type_breaks_the_check(objects):
    caps = mapping_caps()
    caps["akhbar-articles"]["date_range"] = kibana.FieldCaps(frozenset({"keyword"}), searchable=True, aggregatable=True)
    caps["akhbar-articles"]["entities.locations"] = kibana.FieldCaps(
        frozenset({"text"}), searchable=True, aggregatable=False
    )
    problems = kibana.check_fields(kibana.fields_used(objects), caps)
    assert any("date_histogram aggregation cannot use a string field" in p and "'date_range'" in p for p in problems)
    assert any("'entities.locations'" in p and "not aggregatable" in p for p in problems)


def test_kql_fields():
    assert kibana.kql_fields("dedup.duplicate_of : *") == {"dedup.duplicate_of"}
    assert kibana.kql_fields('not dedup.duplicate_of : * and entities.persons : "فلاديمير بوتين"') == {
        "dedup.duplicate_of",
        "entities.persons",
    }
    assert kibana.kql_fields('interval_s >= 60 or body : "a : b"') == {"interval_s", "body"}
    assert kibana.kql_fields("") == set()


def test_files_are_in_canonical_form(by_file, tmp_path):
    for path, file_objects in by_file.items():
        kibana.write_ndjson(tmp_path / path.name, file_objects)
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), f"{path.name}: not canonical"


def test_index_name_rewrites_only_data_view_titles(objects):
    renamed = kibana.with_index(objects, "news", "news-feed-health")
    changed = {obj["id"]: obj["attributes"]["title"] for obj, old in zip(renamed, objects, strict=True) if obj != old}
    assert changed == {
        "akhbar-articles": "news",
        "akhbar-deadletter": "news-deadletter",
        "akhbar-feed-health": "news-feed-health",
    }
    assert kibana.without_index(renamed, "news", "news-feed-health") == objects
    with pytest.raises(ValueError, match="expected 'other'"):
        kibana.without_index(renamed, "other")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8")))


def test_docker_compose_pins_the_tested_stack_on_loopback():
    services = compose()["services"]
    es_version = re.search(r'ES_VERSION="\$\{ES_VERSION:-([0-9.]+)\}"', (REPO / "scripts/es.sh").read_text()).group(1)
    assert services["elasticsearch"]["image"] == f"docker.elastic.co/elasticsearch/elasticsearch:{es_version}"
    assert services["kibana"]["image"] == f"docker.elastic.co/kibana/kibana:{es_version}"
    assert services["elasticsearch"]["ports"] == ["127.0.0.1:9200:9200"]
    assert services["kibana"]["ports"] == ["127.0.0.1:5601:5601"]
    assert "xpack.security.enabled=false" in services["elasticsearch"]["environment"]
    setup = services["kibana-setup"]
    assert setup["volumes"] == ["./config/kibana:/akhbar-kibana:ro"]
    command = setup["entrypoint"][-1]
    assert "/api/saved_objects/_import?overwrite=true" in command and "kbn-xsrf" in command
