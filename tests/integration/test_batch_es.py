"""The batch pipeline end to end against the real Elasticsearch (issue 3 acceptance)."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.batch import run
from pipelines.cli import main
from tests.conftest import SAMPLE_FEED, SEED, es_url


def ingest(index: str, *inputs: Path | str, tmp_path: Path) -> object:
    return run(
        [
            "--input",
            *map(str, inputs),
            "--index",
            index,
            "--es-url",
            es_url(),
            "--deadletter-dir",
            str(tmp_path / "dead"),
            "--pending-dir",
            str(tmp_path / "pending"),
        ]
    )


def test_seed_twice_gives_one_document(es_client, index_name, tmp_path):
    first = ingest(index_name, SEED, tmp_path=tmp_path)
    assert (first.read, first.indexed, first.duplicates, first.dead) == (1, 1, 0, 0), first.render()
    second = ingest(index_name, SEED, tmp_path=tmp_path)
    assert (second.read, second.indexed, second.duplicates) == (1, 0, 1), second.render()
    assert second.balanced

    es_client.indices.refresh(index=index_name)
    docs = es_client.search(index=index_name, query={"match_all": {}})["hits"]["hits"]
    assert len(docs) == 1
    doc = docs[0]["_source"]
    assert doc["published_at"].startswith("2026-02-04")
    assert doc["date_source"] == "header"
    assert not doc["body"].lstrip().startswith("date")
    assert "2026-02-04" not in doc["body"]
    hits = es_client.search(index=index_name, query={"match": {"body": "بوتين"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == [docs[0]["_id"]]


def test_alias_points_at_versioned_index(es_client, index_name, tmp_path):
    ingest(index_name, SEED, tmp_path=tmp_path)
    aliases = es_client.indices.get_alias(name=index_name)
    assert list(aliases) == [f"{index_name}-v1"]
    mapping = es_client.indices.get_mapping(index=index_name)[f"{index_name}-v1"]["mappings"]
    assert mapping["properties"]["published_at"]["type"] == "date"
    assert mapping["properties"]["entities"]["properties"]["persons"]["type"] == "keyword"


def test_sample_feed_and_bad_inputs_are_accounted_for(es_client, index_name, tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"title": "خبر", "body": "نص الخبر", "source": "x"}\nnot json\n', encoding="utf-8")
    missing = tmp_path / "nothing-*.xml"
    summary = ingest(index_name, SEED, SAMPLE_FEED, broken, missing, tmp_path=tmp_path)
    assert summary.balanced, summary.render()
    # 11 feed items (one served twice), the seed, one good JSON line; a bad line and a glob matching nothing.
    assert summary.read == 15
    assert summary.dead == 2
    assert summary.get("duplicates_exact") == 1
    dead_files = list((tmp_path / "dead").rglob("deadletter*.jsonl"))
    reasons = [json.loads(line)["error"] for f in dead_files for line in f.read_text().splitlines()]
    assert any("JSONDecodeError" in r for r in reasons) and any("no file matches" in r for r in reasons)


def test_search_folds_the_query(es_client, index_name, tmp_path, capsys):
    ingest(index_name, SEED, SAMPLE_FEED, tmp_path=tmp_path)
    es_client.indices.refresh(index=index_name)
    outputs = {}
    for query in ("احمد", "أحمد", "مسئول", "مسؤول"):
        assert main(["search", query, "--index", index_name, "--es-url", es_url()]) == 0
        outputs[query] = capsys.readouterr().out
    assert outputs["احمد"].startswith(" 1.")
    assert outputs["احمد"] == outputs["أحمد"]
    assert outputs["مسئول"].startswith(" 1.")
    assert outputs["مسئول"] == outputs["مسؤول"]
