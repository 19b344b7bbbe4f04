"""Near-duplicate detection across runs against the real Elasticsearch (issue 7 acceptance).

Each "run" is a separate Beam pipeline; what one run knows about another comes only from
the documents it indexed (``dedup.bands``, ``dedup.minhash``, ``dedup.cluster_id``).
"""

from __future__ import annotations

import json
import pickle
import tempfile
import uuid
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from elasticsearch.helpers import bulk, scan

from eval.dedup import edit_article
from pipelines.batch import run
from tests.conftest import as_article, es_url
from transforms.dedup import Dedup, DedupConfig, _LookupIndexed, band_key_strings, dedup_key, fingerprint, load_config
from transforms.elasticsearch import EsConfig, article_to_document, ensure_index
from transforms.sources import article_id
from transforms.urls import canonical_url

ROOT = Path(__file__).resolve().parents[2]
PRISM_BIN = ROOT / "var" / "runners" / "prism"
CORPUS = ROOT / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"
JUBEIR = "snn-aawsat-2015-08-10-196"
JUBEIR_REPRINT = "snn-almadina-2015-08-11-529"
# Saudi Press Agency stories and their reprints (clusters measured in the corpus), plus
# unrelated stories, in publication order.
HALVES_IDS = (
    "snn-sabq-2015-08-09-1266",  # crown prince: UAE martyrs treated like Saudi ones (wire)
    "snn-alriyadh-2015-08-09-749",
    "snn-aawsat-2015-08-10-196",  # al-Jubeir on Iran
    "ant-CN-middleEast-982-20180520",
    "snn-okaz-2015-08-10-1363",  # reprint of the first
    "snn-almadina-2015-08-11-529",  # reprint of al-Jubeir
    "ant-CN-middleEast-988-20180521",
    "snn-aljazirah-2015-08-11-363",
)


class _Spill(beam.DoFn):
    """Pickles each element into a folder: how a test reads a pipeline's outputs back."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def process(self, element):
        Path(self.folder, f"{uuid.uuid4().hex}.pkl").write_bytes(pickle.dumps(element))


def dedup_run(articles, es, config=None, runner_args=None):
    """One run of ``Dedup`` against the index; returns (articles, duplicates, dead) as lists.

    ``runner_args`` run it on another runner (the default is the test pipeline's Direct runner).
    """
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = beam.Pipeline(options=PipelineOptions(runner_args)) if runner_args else TestPipeline()
        with pipeline as p:
            out = p | beam.Create(list(articles)) | Dedup(es, config or load_config())
            for name in ("articles", "duplicates", "dead"):
                Path(tmp, name).mkdir()
                _ = out[name] | f"Spill{name}" >> beam.ParDo(_Spill(str(Path(tmp, name))))
        return tuple(
            sorted((pickle.loads(f.read_bytes()) for f in Path(tmp, name).iterdir()), key=repr)
            for name in ("articles", "duplicates", "dead")
        )


def index_all(client, alias, articles):
    """What the sink does at the end of a run (here: plain bulk index, then refresh)."""
    actions = ({"_index": alias, "_id": a.id, "_source": article_to_document(a)} for a in articles)
    bulk(client, actions, raise_on_error=True)
    client.indices.refresh(index=alias)


def indexed_clusters(client, alias):
    hits = scan(client, index=alias, query={"query": {"match_all": {}}}, _source=["dedup"])
    return {h["_id"]: (h["_source"]["dedup"]["cluster_id"], h["_source"]["dedup"]["duplicate_of"]) for h in hits}


def test_edited_copy_in_a_later_run_joins_the_indexed_cluster(es_client, index_name, corpus):
    ensure_index(es_client, index_name)
    es = EsConfig(url=es_url(), alias=index_name)
    original = as_article(corpus[JUBEIR], "2015-08-10T09:00:00+03:00")
    first, _, dead = dedup_run([original], es)
    assert dead == [] and first[0].dedup["duplicate_of"] is None
    index_all(es_client, index_name, first)

    row = edit_article(corpus[JUBEIR], "lead_drop_respell")  # new lead, a paragraph gone, شؤون -> شئون, أ -> ا
    assert "شئون" in row["body"] and "شؤون" in corpus[JUBEIR]["body"]
    assert "عادل بن احمد الجبير" in row["body"] and "عادل بن أحمد الجبير" in corpus[JUBEIR]["body"]
    paragraphs = [[line for line in body.split("\n") if line.strip()] for body in (corpus[JUBEIR]["body"], row["body"])]
    assert len(paragraphs[1]) == len(paragraphs[0]) and paragraphs[1][0] not in paragraphs[0]  # one out, a lead in
    copy = as_article(row, "2015-08-17T09:00:00+03:00")
    later, duplicates, dead = dedup_run([copy], es)
    assert dead == [] and duplicates == []
    (flagged,) = later
    assert flagged.dedup["duplicate_of"] == JUBEIR
    assert flagged.dedup["cluster_id"] == first[0].dedup["cluster_id"] == JUBEIR
    assert flagged.dedup["is_canonical"] is False
    assert flagged.dedup["similarity"] >= load_config().threshold

    index_all(es_client, index_name, later)
    assert indexed_clusters(es_client, index_name) == {JUBEIR: (JUBEIR, None), copy.id: (JUBEIR, JUBEIR)}
    mapping = es_client.indices.get_mapping(index=index_name)
    dedup_mapping = next(iter(mapping.values()))["mappings"]["properties"]["dedup"]["properties"]
    assert dedup_mapping["minhash"]["index"] is False


def test_exact_copy_under_another_url_is_never_indexed_twice(es_client, index_name, corpus):
    ensure_index(es_client, index_name)
    es = EsConfig(url=es_url(), alias=index_name)
    original = as_article(corpus[JUBEIR], "2015-08-10T09:00:00+03:00")
    index_all(es_client, index_name, dedup_run([original], es)[0])
    # Published later, so the indexed original wins the tie-break (the other way round, the
    # copy replaces it: test_undated_exact_copies_in_the_wrong_order_across_runs_end_as_one_run).
    later = "2015-08-11T09:00:00+03:00"
    copy = original.with_(id="https://mirror.example/jubeir", url="https://mirror.example/jubeir", published_at=later)
    kept, duplicates, _ = dedup_run([copy], es)
    assert kept == []
    assert [(d[0].id, d[1], d[2]) for d in duplicates] == [(copy.id, "same_content_indexed", JUBEIR)]
    earlier = copy.with_(id="https://mirror.example/early", published_at="2015-08-09T09:00:00+03:00")
    kept, duplicates, _ = dedup_run([earlier], es)
    assert duplicates == []
    assert [(a.id, a.dedup["replaces"], a.dedup["duplicate_of"]) for a in kept] == [(earlier.id, [JUBEIR], None)]
    assert "replaces" not in article_to_document(kept[0])["dedup"]  # for the sink only: the mapping is strict


def test_reingesting_indexed_documents_keeps_their_clusters(es_client, index_name, corpus):
    ensure_index(es_client, index_name)
    es = EsConfig(url=es_url(), alias=index_name)
    articles = [as_article(corpus[i]) for i in HALVES_IDS]
    first, _, _ = dedup_run(articles, es)
    index_all(es_client, index_name, first)
    before = indexed_clusters(es_client, index_name)
    again, duplicates, dead = dedup_run(articles, es)
    assert duplicates == [] and dead == []
    assert {a.id: (a.dedup["cluster_id"], a.dedup["duplicate_of"]) for a in again} == before
    index_all(es_client, index_name, again)
    assert es_client.count(index=index_name)["count"] == len(HALVES_IDS)


def test_two_halves_in_two_runs_give_the_clusters_of_one_run(es_client, index_name, corpus):
    articles = [as_article(corpus[i]) for i in HALVES_IDS]
    one_alias, halves_alias = f"{index_name}-one", f"{index_name}-halves"
    for alias in (one_alias, halves_alias):
        ensure_index(es_client, alias)
    try:
        index_all(es_client, one_alias, dedup_run(articles, EsConfig(url=es_url(), alias=one_alias))[0])
        half = len(articles) // 2
        halves_es = EsConfig(url=es_url(), alias=halves_alias)
        index_all(es_client, halves_alias, dedup_run(articles[:half], halves_es)[0])
        index_all(es_client, halves_alias, dedup_run(articles[half:], halves_es)[0])
        one_run = indexed_clusters(es_client, one_alias)
        assert indexed_clusters(es_client, halves_alias) == one_run
        assert one_run["snn-okaz-2015-08-10-1363"][0] == one_run["snn-sabq-2015-08-09-1266"][0]
        assert one_run["snn-almadina-2015-08-11-529"] == (JUBEIR, JUBEIR)
        assert len({cluster for cluster, _ in one_run.values()}) < len(articles)
    finally:
        es_client.indices.delete_index_template(name=f"akhbar-{one_alias}", ignore=[404])
        es_client.indices.delete_index_template(name=f"akhbar-{halves_alias}", ignore=[404])


def test_a_later_article_bridging_two_indexed_clusters_merges_them(es_client, index_name, corpus):
    """Two reprints of one SPA story that verify only through a third (published later)."""
    first_a, first_b, bridge = "snn-3alyoum-2015-08-10-18", "snn-almadina-2015-08-10-570", "snn-alwatan-2015-08-11-968"
    ensure_index(es_client, index_name)
    es = EsConfig(url=es_url(), alias=index_name)
    earlier, _, _ = dedup_run([as_article(corpus[first_a]), as_article(corpus[first_b])], es)
    assert {a.dedup["cluster_id"] for a in earlier} == {first_a, first_b}  # not near duplicates of each other
    index_all(es_client, index_name, earlier)
    later, _, dead = dedup_run([as_article(corpus[bridge])], es)
    assert dead == []
    index_all(es_client, index_name, later)
    assert indexed_clusters(es_client, index_name) == {
        first_a: (first_a, None),
        first_b: (first_a, first_a),
        bridge: (first_a, first_a),
    }


def test_a_backfilled_earlier_original_becomes_canonical(es_client, index_name, corpus):
    ensure_index(es_client, index_name)
    es = EsConfig(url=es_url(), alias=index_name)
    reprint = as_article(corpus["snn-almadina-2015-08-11-529"], "2015-08-11T09:00:00+03:00")
    index_all(es_client, index_name, dedup_run([reprint], es)[0])
    original = as_article(corpus[JUBEIR], "2015-08-10T09:00:00+03:00")
    later, _, dead = dedup_run([original], es)
    assert dead == [] and later[0].dedup["duplicate_of"] is None
    index_all(es_client, index_name, later)
    assert indexed_clusters(es_client, index_name) == {JUBEIR: (JUBEIR, None), reprint.id: (JUBEIR, JUBEIR)}


def test_cross_run_lookup_on_the_prism_runner(es_client, index_name, corpus):
    """The same second run on a portable runner: DoFns pickled, clients built in setup()."""
    if not PRISM_BIN.exists():
        pytest.fail(f"{PRISM_BIN} is missing: run `make prism`")
    ensure_index(es_client, index_name)
    es = EsConfig(url=es_url(), alias=index_name)
    original = as_article(corpus[JUBEIR], "2015-08-10T09:00:00+03:00")
    index_all(es_client, index_name, dedup_run([original], es)[0])
    later = [
        as_article(corpus["snn-almadina-2015-08-11-529"], "2015-08-11T09:00:00+03:00"),
        as_article(edit_article(corpus[JUBEIR], "lead_drop_respell"), "2015-08-17T09:00:00+03:00"),
        as_article(corpus["ant-CN-middleEast-982-20180520"]),
    ]
    # Own job server: the Direct runner's earlier attempt to start a (downloaded) Prism is
    # cached in the process-wide Prism singleton, without --prism_location.
    prism = [
        "--runner=PrismRunner",
        f"--prism_location={PRISM_BIN}",
        "--environment_type=LOOPBACK",
        "--experiments=disable_prism_server_singleton",
    ]
    on_prism = dedup_run(later, es, runner_args=prism)
    on_direct = dedup_run(later, es)
    assert on_prism == on_direct
    assert {a.id: a.dedup["duplicate_of"] for a in on_prism[0]} == {
        "snn-almadina-2015-08-11-529": JUBEIR,
        f"{JUBEIR}~lead_drop_respell": JUBEIR,
        "ant-CN-middleEast-982-20180520": None,
    }


@pytest.mark.slow
def test_corpus_days_in_two_runs_match_one_run_and_reingesting_adds_nothing(es_client, index_name, corpus):
    """1,500 SaudiNewsNet articles (SPA wires and their reprints), in publication order."""
    rows = sorted(
        (r for r in corpus.values() if r["id"].startswith("snn-") and r["published"] and r["body"].strip()),
        key=lambda r: (r["published"], r["id"]),
    )[:1500]
    articles = [as_article(r) for r in rows]
    one_alias, halves_alias = f"{index_name}-one", f"{index_name}-halves"
    try:
        for alias in (one_alias, halves_alias):
            ensure_index(es_client, alias)
        one_es, halves_es = EsConfig(url=es_url(), alias=one_alias), EsConfig(url=es_url(), alias=halves_alias)
        kept, duplicates, dead = dedup_run(articles, one_es)
        assert dead == [] and len(kept) + len(duplicates) == len(articles)
        index_all(es_client, one_alias, kept)
        half = len(articles) // 2
        for part in (articles[:half], articles[half:]):
            part_kept, _, part_dead = dedup_run(part, halves_es)
            assert part_dead == []
            index_all(es_client, halves_alias, part_kept)
        one_run = indexed_clusters(es_client, one_alias)
        assert indexed_clusters(es_client, halves_alias) == one_run
        assert len({cluster for cluster, duplicate_of in one_run.values() if duplicate_of}) > 50

        again, _, dead = dedup_run(articles, one_es)
        assert dead == []
        assert {a.id: (a.dedup["cluster_id"], a.dedup["duplicate_of"]) for a in again} == one_run
        index_all(es_client, one_alias, again)
        assert es_client.count(index=one_alias)["count"] == len(one_run)
    finally:
        for alias in (one_alias, halves_alias):
            es_client.indices.delete_index_template(name=f"akhbar-{alias}", ignore=[404])


def test_one_search_per_batch_finds_what_each_article_alone_finds(es_client, index_name, corpus):
    """The lookup's batch search, assigned to each article, against the scored per-article
    query it stands for: re-ingested articles (their own documents indexed) and edited copies,
    with room for all candidates and with room for one (then crowded articles ask alone)."""
    ensure_index(es_client, index_name)
    es = EsConfig(url=es_url(), alias=index_name)
    index_all(es_client, index_name, dedup_run([as_article(corpus[i]) for i in HALVES_IDS], es)[0])
    later = [as_article(corpus[i]) for i in HALVES_IDS]
    later += [as_article(edit_article(corpus[i], "lead_drop_respell")) for i in HALVES_IDS]
    keys = [dedup_key(a, fingerprint(a.title, a.body)) for a in later]
    bands = [band_key_strings(key.band_digests) for key in keys]
    for kept in (10, 1):
        lookup = _LookupIndexed(es, DedupConfig(lookup_hits_per_article=kept))
        lookup.setup()
        try:
            found, alone = lookup._candidates(keys), lookup._search_each(keys, bands)
        finally:
            lookup.teardown()
        assert [sorted(hit["_id"] for hit in hits) for hits in found] == [
            sorted(hit["_id"] for hit in hits) for hits in alone
        ]
        # Up to two candidates per article here: with room for one, those articles asked alone.
        assert max(len(hits) for hits in alone) == min(kept, 2)


def test_lookup_in_a_missing_index_finds_nothing(index_name, corpus):
    kept, duplicates, dead = dedup_run([as_article(corpus[JUBEIR])], EsConfig(url=es_url(), alias=index_name))
    assert dead == [] and duplicates == []
    assert kept[0].dedup["cluster_id"] == JUBEIR and kept[0].dedup["duplicate_of"] is None


def test_unreachable_server_lets_the_batch_through_with_a_note(corpus):
    """An outage must not lose articles here: they go on (in-run dedup only) to the sink, which
    keeps them pending for --resume while the server is down."""
    article = as_article(corpus[JUBEIR])
    kept, _, dead = dedup_run([article], EsConfig(url="http://127.0.0.1:9", alias="nowhere", request_timeout=1))
    assert dead == []
    assert [a.id for a in kept] == [JUBEIR]
    assert kept[0].dedup["duplicate_of"] is None
    assert any(note.startswith("cross-run dedup skipped") for note in kept[0].notes)


def test_batch_pipeline_flags_a_later_edited_copy(es_client, index_name, corpus, tmp_path):
    """The same acceptance through ``akhbar batch`` in two runs (the pipeline wires the composites)."""

    def ingest(rows, name):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        args = ["--input", str(path), "--index", index_name, "--es-url", es_url()]
        return run([*args, "--deadletter-dir", str(tmp_path / "dead"), "--pending-dir", str(tmp_path / "pending")])

    original = {**corpus[JUBEIR], "published": "2015-08-10T09:00:00+03:00"}
    copy = {
        **edit_article(corpus[JUBEIR], "lead_drop_respell"),
        "url": "https://mirror.example/jubeir-copy",
        "published": "2015-08-17T09:00:00+03:00",
    }
    first = ingest([original], "first")
    assert first.balanced, first.render()
    second = ingest([copy], "second")
    assert second.balanced, second.render()
    es_client.indices.refresh(index=index_name)
    docs = es_client.search(index=index_name, query={"match_all": {}}, size=10)["hits"]["hits"]
    assert len(docs) == 2
    (copy_doc,) = [d for d in docs if "mirror.example" in (d["_source"]["url"] or "")]
    (original_doc,) = [d for d in docs if d is not copy_doc]
    assert original_doc["_source"]["dedup"]["duplicate_of"] is None
    assert copy_doc["_source"]["dedup"]["duplicate_of"] == original_doc["_id"]
    assert copy_doc["_source"]["dedup"]["cluster_id"] == original_doc["_source"]["dedup"]["cluster_id"]


def test_undated_exact_copies_in_the_wrong_order_across_runs_end_as_one_run(es_client, index_name, corpus, tmp_path):
    """Two undated exact copies under different URLs and an undated reprint, through ``akhbar
    batch``: the larger-id copy and the reprint in a first run, the smaller-id copy in a second
    run. One run keeps the smaller id (ties by id) as canonical; two runs must end the same: the
    later copy replaces the indexed one (deleted by the sink) and the reprint is relabelled."""
    rows = [
        {**corpus[JUBEIR], "url": "https://one.example/jubeir", "published": None},
        {**corpus[JUBEIR], "url": "https://two.example/jubeir", "published": None},
        {**corpus[JUBEIR_REPRINT], "url": "https://one.example/reprint", "published": None},
    ]
    ids = [article_id(canonical_url(r["url"]), r["title"], r["body"]) for r in rows]
    copies = sorted(zip(ids[:2], rows[:2], strict=True))
    (small_id, small), (large_id, large) = copies
    reprint_id, reprint = ids[2], rows[2]
    assert small_id < reprint_id  # so that one run elects the smaller copy over the reprint

    def ingest(batches, alias):
        summaries = []
        for number, batch in enumerate(batches):
            path = tmp_path / f"{alias}-{number}.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch), encoding="utf-8")
            args = ["--input", str(path), "--index", alias, "--es-url", es_url()]
            summaries.append(run([*args, "--deadletter-dir", str(tmp_path / "dead"), "--pending-dir", str(tmp_path)]))
        return summaries

    one_alias, two_alias = f"{index_name}-one", f"{index_name}-two"
    try:
        (one,) = ingest([[small, large, reprint]], one_alias)
        (first,) = ingest([[large, reprint]], two_alias)
        assert indexed_clusters(es_client, two_alias) == {large_id: (large_id, None), reprint_id: (large_id, large_id)}
        (second,) = ingest([[small]], two_alias)
        assert one.balanced and first.balanced and second.balanced, second.render()
        assert (second.read, second.indexed, second.duplicates, second.get("sink_replaced")) == (1, 1, 0, 1)
        assert "replaced" in second.render()
        one_run = indexed_clusters(es_client, one_alias)
        assert one_run == {small_id: (small_id, None), reprint_id: (small_id, small_id)}
        assert indexed_clusters(es_client, two_alias) == one_run

        # Re-ingesting everything into either index adds nothing and changes no cluster.
        (again,) = ingest([[large, reprint, small]], two_alias)
        assert (again.indexed, again.get("sink_replaced")) == (0, 0), again.render()
        assert indexed_clusters(es_client, two_alias) == one_run
    finally:
        for alias in (one_alias, two_alias):
            es_client.indices.delete_index_template(name=f"akhbar-{alias}", ignore=[404])
