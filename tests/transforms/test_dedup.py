"""Dedup: URL and content keys, MinHash/LSH, clustering, index matching, and the composites."""

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from datasketch import MinHash
from hypothesis import given
from hypothesis import strategies as st

from eval.dedup import edit_article
from tests.conftest import as_article
from transforms.dedup import (
    Decision,
    Dedup,
    DedupConfig,
    Fingerprint,
    IndexedMatch,
    Member,
    Resolution,
    _ApplyMerges,
    _band_salt,
    _LookupIndexed,
    apply_decision,
    band_key_strings,
    band_keys,
    best_similarities,
    candidate_hits,
    choose_survivor,
    cluster,
    content_hash,
    decode_signature,
    dedup_key,
    element_key,
    encode_signature,
    estimated_containment,
    estimated_similarity,
    fingerprint,
    join_components,
    load_config,
    match_indexed,
    minhash_signature,
    near_duplicate_pairs,
    resolve_component,
    shared_band_groups,
    shingles,
    verify_band_group,
)
from transforms.elasticsearch import EsConfig
from transforms.normalize import FOLD_VERSION, fold, fold_tokens
from transforms.records import Article
from transforms.urls import canonical_url

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"
# A Saudi Press Agency story on al-Jubeir and Iran, and almadina's reprint of it a day later.
JUBEIR = "snn-aawsat-2015-08-10-196"
JUBEIR_REPRINT = "snn-almadina-2015-08-11-529"
# Two different CNN stories on the same topic (Gargash and Yemen), a day apart.
GARGASH_A = "ant-CN-middleEast-982-20180520"
GARGASH_B = "ant-CN-middleEast-988-20180521"


# --- canonical URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://Www.SkyNewsArabia.com:443/world/1043727?utm_source=twitter&utm_medium=social#comments",
            "https://www.skynewsarabia.com/world/1043727",
        ),
        ("http://www.alriyadh.com/1070000?fbclid=IwAR0x&gclid=abc&mc_cid=1", "https://www.alriyadh.com/1070000"),
        ("https://amp.alarabiya.net/ar/2018/05/01/story.amp", "https://alarabiya.net/ar/2018/05/01/story"),
        ("https://www.okaz.com.sa/amp/news/1234/", "https://www.okaz.com.sa/news/1234"),
        ("https://www.okaz.com.sa/news/1234?amp", "https://www.okaz.com.sa/news/1234"),
        ("https://x.example/a?outputType=amp&b=2&a=1", "https://x.example/a?a=1&b=2"),
        ("https://www.alyaum.com/article.php?id=55&utm_campaign=x", "https://www.alyaum.com/article.php?id=55"),
        (
            "https://aawsat.com/home/article/123/الجبير",
            "https://aawsat.com/home/article/123/%D8%A7%D9%84%D8%AC%D8%A8%D9%8A%D8%B1",
        ),
    ],
)
def test_canonical_url_drops_what_does_not_identify_the_article(url, expected):
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", ["", "   ", "not a url", "ftp://example.com/a", "mailto:news@example.com"])
def test_canonical_url_rejects_non_web_urls(url):
    assert canonical_url(url) is None


@given(
    path=st.lists(st.sampled_from(["news", "amp", "2018", "خبر", "a b", "x.amp"]), max_size=4),
    params=st.lists(
        st.tuples(st.sampled_from(["id", "p", "utm_source", "fbclid", "q"]), st.text("ab1ع ", max_size=3)),
        max_size=4,
    ),
)
def test_canonical_url_is_idempotent(path, params):
    query = "&".join(f"{k}={v}" for k, v in params)
    url = canonical_url("http://WWW.Example.com/" + "/".join(path) + ("?" + query if query else ""))
    assert url is not None
    assert canonical_url(url) == url


# The fields of ``dedup`` on an indexed document, in the order they are written.
DEDUP_FIELDS = [
    "content_hash",
    "cluster_id",
    "duplicate_of",
    "similarity",
    "is_canonical",
    "bands",
    "minhash",
    "fold_version",
]


# --- content hash and fingerprints -------------------------------------------------------------


def test_content_hash_ignores_what_fold_ignores():
    body = "قال المسؤول إنَّ الاتفاق   سيوقع أمس.\n\nوأضاف أن الوزارة مستعدة."
    variant = "قال المسئول إن الاتفاق سيوقع أمس.\nوأضاف ان الوزارة مستعدة."
    assert content_hash("عنوان", body) == content_hash("عنوان آخر", variant)
    assert len(content_hash("", body)) == 40


def test_content_hash_uses_the_title_only_without_a_body():
    assert content_hash("خبر عاجل", "") == content_hash("خبر عاجل", "   ")
    assert content_hash("خبر عاجل", "") != content_hash("خبر آخر", "")
    with pytest.raises(ValueError):
        content_hash("", "  ")


def test_shingles_are_word_ngrams_of_folded_tokens():
    assert shingles(fold("أعلن الوزير، اليوم: الخطة"), 3) == {"اعلن الوزير اليوم", "الوزير اليوم الخطه"}
    assert shingles("كلمتان فقط", 3) == {"كلمتان فقط"}
    assert shingles("", 3) == set()


def test_shingles_use_the_tokens_of_fold_tokens(corpus):
    body = corpus[JUBEIR]["body"]
    tokens = fold_tokens(body)
    assert shingles(fold(body), 3) == {" ".join(tokens[i : i + 3]) for i in range(len(tokens) - 2)}


def test_numpy_minhash_equals_datasketch(corpus):
    shingle_set = shingles(fold(corpus[JUBEIR]["body"]), 3)
    reference = MinHash(num_perm=128, seed=1)
    reference.update_batch([s.encode("utf-8") for s in shingle_set])
    assert np.array_equal(minhash_signature(shingle_set, 128, 1), reference.hashvalues)


@given(st.sets(st.text(min_size=1, max_size=40), min_size=1, max_size=60), st.integers(1, 2**32 - 1))
def test_numpy_minhash_equals_datasketch_on_any_set(shingle_set, seed):
    reference = MinHash(num_perm=16, seed=seed)
    reference.update_batch([s.encode("utf-8") for s in shingle_set])
    assert np.array_equal(minhash_signature(shingle_set, 16, seed), reference.hashvalues)


def test_band_keys_hash_each_band_with_the_salted_blake2b(corpus):
    config = load_config()
    signature = fingerprint("", corpus[JUBEIR]["body"], config).signature
    salt = _band_salt(config)
    expected = [
        f"{band}:"
        + hashlib.blake2b(
            signature[band * config.rows : (band + 1) * config.rows].astype("<u4").tobytes(), digest_size=8, salt=salt
        ).hexdigest()
        for band in range(config.bands)
    ]
    assert band_keys(signature, config) == expected
    assert band_keys(signature, config) == expected  # the memoized hasher is never updated


def test_signature_is_identical_in_another_process(corpus):
    body = corpus[JUBEIR]["body"]
    fp = fingerprint("", body)
    script = (
        "import sys; from transforms.dedup import fingerprint, encode_signature;"
        "fp = fingerprint('', sys.stdin.read()); print(encode_signature(fp.signature, fp.size)); print(fp.bands[0])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script], input=body, capture_output=True, text=True, cwd=ROOT, env=env, check=True
    ).stdout.split()
    assert out == [encode_signature(fp.signature, fp.size), fp.bands[0]]


def test_fingerprint_keeps_the_digests_behind_its_band_keys(corpus):
    config = load_config()
    fp = fingerprint("", corpus[JUBEIR]["body"], config)
    assert len(fp.band_digests) == 8 * config.bands
    assert band_key_strings(fp.band_digests) == fp.bands == tuple(band_keys(fp.signature, config))
    assert fp.size == len(shingles(fold(corpus[JUBEIR]["body"]), config.shingle_size))
    assert np.array_equal(fp.signature, minhash_signature(shingles(fold(corpus[JUBEIR]["body"])), 128, 1))


def reference_fingerprint(title: str, body: str, config) -> tuple[np.ndarray | None, int]:
    """The signature and size ``fingerprint`` computes natively, by the Python definition."""
    folded = " ".join(fold(body).split()) or " ".join(fold(title).split())
    if len(fold_tokens(folded)) < max(config.min_tokens, 1):
        return None, 0
    found = shingles(folded, config.shingle_size)
    return minhash_signature(found, config.num_perm, config.seed), len(found)


def same_fingerprint(title: str, body: str, config) -> bool:
    fp = fingerprint(title, body, config)
    signature, size = reference_fingerprint(title, body, config)
    if signature is None or fp.signature is None:
        return signature is None and fp.signature is None and fp.size == size
    return fp.size == size and np.array_equal(fp.signature, signature)


def test_native_signatures_are_the_python_definition_on_the_corpus(corpus):
    config = load_config()
    small = replace(config, shingle_size=1, num_perm=16, seed=7, bands=4, rows=4)
    for row in list(corpus.values())[:300]:
        assert same_fingerprint(row["title"] or "", row["body"] or "", config)
        assert same_fingerprint(row["title"] or "", row["body"] or "", small)


@given(st.lists(st.sampled_from(["كلمة", "و", "a_b", "١٢", " ", "\n", "،", "ـ", "_", "Ab"]), min_size=1, max_size=40))
def test_native_signatures_are_the_python_definition_on_random_texts(words):
    config = load_config()
    for min_tokens in (0, 1, 5):
        assert same_fingerprint("عنوان", "".join(words), replace(config, min_tokens=min_tokens))


def test_band_keys_are_one_per_band_and_depend_on_the_parameters(corpus):
    config = load_config()
    fp = fingerprint("", corpus[JUBEIR]["body"], config)
    assert len(fp.bands) == config.bands
    assert [key.split(":")[0] for key in fp.bands] == [str(i) for i in range(config.bands)]
    other = DedupConfig(shingle_size=config.shingle_size, bands=config.bands, rows=config.rows, seed=2)
    assert set(band_keys(fp.signature, other)).isdisjoint(fp.bands)


def test_signature_round_trips_through_its_text_form(corpus):
    fp = fingerprint("", corpus[JUBEIR]["body"])
    encoded = encode_signature(fp.signature, fp.size)
    signature, size = decode_signature(encoded)
    assert np.array_equal(signature, fp.signature) and size == fp.size
    assert len(encoded) < 700
    with pytest.raises(ValueError):
        decode_signature(encoded[:-8])
    with pytest.raises(ValueError):
        decode_signature(encoded.split(":", 1)[1])


def test_estimates_track_exact_jaccard_and_containment(corpus):
    a = shingles(fold(corpus[JUBEIR]["body"]), 3)
    b = shingles(fold(corpus[JUBEIR_REPRINT]["body"]), 3)
    sig_a, sig_b = minhash_signature(a), minhash_signature(b)
    assert abs(estimated_similarity(sig_a, sig_b) - len(a & b) / len(a | b)) < 0.1
    exact_containment = len(a & b) / min(len(a), len(b))
    assert abs(estimated_containment(sig_a, len(a), sig_b, len(b)) - exact_containment) < 0.1


def test_short_texts_get_a_hash_but_no_signature():
    fp = fingerprint("عنوان", "خبر قصير جدا")
    assert fp.signature is None and fp.bands == () and len(fp.content_hash) == 40
    assert near_duplicate_pairs({"short": fp, "copy": fp}) == {}


def test_config_rejects_impossible_banding_and_unknown_keys(tmp_path):
    with pytest.raises(ValueError):
        DedupConfig(num_perm=64, bands=42, rows=3)
    bad = tmp_path / "dedup.yaml"
    bad.write_text("threshold: 0.5\nthreshhold: 0.6\n", encoding="utf-8")
    with pytest.raises(ValueError, match="threshhold"):
        load_config(bad)
    assert load_config(overrides={"drop_near_duplicates": True}).drop_near_duplicates is True


# --- pairs and clusters ------------------------------------------------------------------------


def test_lsh_finds_reprints_and_edited_copies_but_not_same_topic_stories(corpus):
    config = load_config()
    edited = edit_article(corpus[JUBEIR], "lead_drop_respell")
    texts = {
        JUBEIR: corpus[JUBEIR]["body"],
        JUBEIR_REPRINT: corpus[JUBEIR_REPRINT]["body"],
        edited["id"]: edited["body"],
        GARGASH_A: corpus[GARGASH_A]["body"],
        GARGASH_B: corpus[GARGASH_B]["body"],
    }
    fingerprints = {i: fingerprint("", body, config) for i, body in texts.items()}
    edges = near_duplicate_pairs(fingerprints, config)
    clusters = cluster(edges, dict.fromkeys(texts))
    assert {i: c for i, (c, _) in clusters.items()} == {  # no dates given: the smallest id is canonical
        JUBEIR: JUBEIR,
        JUBEIR_REPRINT: JUBEIR,
        edited["id"]: JUBEIR,
        GARGASH_A: GARGASH_A,
        GARGASH_B: GARGASH_B,
    }
    assert all(config.threshold <= score <= 1.0 for score in edges.values())


def _pairs_band_by_band(fingerprints, config):
    """The reference LSH: every band key with two or more members verified on its own."""
    band_to_members = {}
    for article_id, fp in fingerprints.items():
        for key in fp.bands:
            band_to_members.setdefault(key, []).append((article_id, fp.signature, fp.size))
    pairs = {}
    for members in band_to_members.values():
        if len(members) > 1:
            for id_a, id_b, score in verify_band_group(members, config):
                pairs[(id_a, id_b)] = score
    return pairs


def test_shared_band_groups_verify_each_set_of_members_once_with_the_same_edges(corpus):
    """A reprint shares most band keys with its original: their set is verified once, and the
    edges are those of verifying every band key on its own."""
    config = load_config()
    rows = [r for r in corpus.values() if r["id"].startswith("snn-") and (r["body"] or "").strip()][:600]
    fingerprints = {r["id"]: fingerprint(r["title"] or "", r["body"] or "", config) for r in rows}
    fingerprints = {i: fp for i, fp in fingerprints.items() if fp.signature is not None}
    reference = _pairs_band_by_band(fingerprints, config)
    assert len(reference) > 20
    assert near_duplicate_pairs(fingerprints, config) == reference


def test_shared_band_groups_are_distinct_sorted_sets_of_two_or_more():
    ids = ["c", "a", "b", "d"]
    # (row, band, digest): a and c share band 0's digest 7 and band 1's digest 9 (one set);
    # a, b and c share band 2's digest 5; band 3's digest 5 belongs to d alone; digest 9 in
    # band 0 (d) is another band key than digest 9 in band 1.
    entries = [(1, 0, 7), (0, 0, 7), (1, 1, 9), (0, 1, 9), (0, 2, 5), (1, 2, 5), (2, 2, 5), (3, 3, 5), (3, 0, 9)]
    rows, bands, digests = (np.array(column) for column in zip(*entries, strict=True))
    groups = shared_band_groups(ids, rows.astype(np.int32), bands.astype(np.int16), digests.astype(np.uint64))
    assert groups == [("a", "b", "c"), ("a", "c")]
    assert shared_band_groups(ids, rows[:0], bands[:0], digests[:0]) == []


def test_band_groups_emit_a_spanning_forest_not_every_pair(corpus):
    config = load_config()
    base = corpus[JUBEIR]
    copies = [base] + [edit_article(base, edit) for edit in ("new_lead", "agency_tag", "respell", "drop_paragraph")]
    members = []
    for row in copies:
        fp = fingerprint("", row["body"], config)
        members.append((row["id"], fp.signature, fp.size))
    edges = verify_band_group(members, config)
    assert len(edges) == len(copies) - 1
    assert {c for c, _ in cluster(edges, {row["id"]: None for row in copies}).values()} == {JUBEIR}
    best = best_similarities(members, config)
    assert set(best) == {row["id"] for row in copies} and min(best.values()) >= config.threshold


def test_cluster_canonical_is_earliest_published_then_id():
    published = {
        "b": "2018-05-01T23:00:00+00:00",
        "a": "2018-05-02T01:00:00+04:00",  # 21:00 UTC the day before: earliest
        "c": None,
        "d": "2018-05-01T21:00:00+00:00",  # same instant as a: a wins on id
        "e": None,
    }
    result = cluster([("b", "a", 0.9), ("c", "b"), ("d", "c")], published)
    assert {node: value[0] for node, value in result.items()} == {"a": "a", "b": "a", "c": "a", "d": "a", "e": "e"}
    assert cluster([("y", "x")], {"x": None, "y": None})["y"] == ("x", "x")


def test_join_components_joins_run_components_through_the_indexed_clusters_they_matched():
    edges = [("b", "c"), ("x", "y")]
    links = [("c", "old1"), ("y", "old1"), ("z", "old2")]
    assert join_components(edges, links) == {
        "b": "b",
        "c": "b",
        "x": "b",
        "y": "b",
        "old1": "b",
        "z": "old2",
        "old2": "old2",
    }
    # A run component whose smallest id is larger than the cluster's takes the cluster's name;
    # an article named like a matched cluster (its own indexed document) joins that cluster.
    assert join_components([("m", "n")], [("n", "a-cluster")])["m"] == "a-cluster"
    assert join_components([], [("q", "p")]) == {"q": "p", "p": "p"}
    assert join_components([], []) == {}


# --- joining indexed clusters ------------------------------------------------------------------


def indexed_hit(doc_id, row, cluster_id=None):
    fp = fingerprint("", row["body"])
    source = {"dedup": {"minhash": encode_signature(fp.signature, fp.size), "content_hash": fp.content_hash}}
    if cluster_id:
        source["dedup"]["cluster_id"] = cluster_id
    return {"_id": doc_id, "_source": source}


def test_match_indexed_verifies_hits_and_skips_itself(corpus):
    config = load_config()
    edited = edit_article(corpus[JUBEIR], "lead_drop_respell")
    fp = fingerprint("", edited["body"], config)
    hits = [
        indexed_hit(edited["id"], edited),  # the article's own document (a re-run)
        indexed_hit(JUBEIR, corpus[JUBEIR]),
        indexed_hit(GARGASH_A, corpus[GARGASH_A]),
        {"_id": "broken", "_source": {"dedup": {"minhash": "not a signature"}}},
    ]
    matches = match_indexed(edited["id"], fp.signature, fp.size, fp.content_hash, hits, config)
    assert [(m.id, m.cluster_id, m.same_content) for m in matches] == [(JUBEIR, JUBEIR, False)]
    same = match_indexed("copy", fp.signature, fp.size, fp.content_hash, [indexed_hit("orig", edited, "c1")], config)
    assert same == (IndexedMatch("orig", "c1", 1.0, True),)


def test_candidate_hits_are_what_each_article_alone_would_match():
    articles = [("a", "h1", ["0:aa", "1:bb"]), ("b", "h2", ["0:cc", "1:bb"]), ("c", "h3", [])]
    hits = [
        {"_id": "a", "_source": {"dedup": {"content_hash": "h1", "bands": ["0:aa", "1:bb"]}}},  # a's own document
        {"_id": "x", "_source": {"dedup": {"content_hash": "h9", "bands": ["1:bb"]}}},
        {"_id": "y", "_source": {"dedup": {"content_hash": "h3", "bands": ["0:zz"]}}},
        {"_id": "z", "_source": {"dedup": {"content_hash": "h8", "bands": ["1:aa"]}}},  # another band's key
    ]
    found = candidate_hits(articles, hits)
    assert [[hit["_id"] for hit in hits_of] for hits_of in found] == [["x"], ["a", "x"], ["y"]]


def test_resolve_new_component_elects_earliest_published():
    members = [
        Member("b", "2015-08-10", 0.8),
        Member("a", "2015-08-11", 0.8),
        Member("c", None, 0.7),
    ]
    result, merges = resolve_component(members)
    assert merges == {}
    assert result["b"].duplicate_of is None and result["b"].cluster_id == "b"
    assert (result["a"].duplicate_of, result["a"].similarity) == ("b", 0.8)
    assert result["c"].cluster_id == "b"


def test_resolve_joins_the_indexed_cluster_and_keeps_its_older_canonical():
    older = IndexedMatch("old2", "old1", 0.7, False, "2015-07-01")
    members = [Member("new1", "2015-08-01", None, (older,)), Member("new2", "2015-08-02", 0.9)]
    result, merges = resolve_component(members)
    assert {m: (r.cluster_id, r.duplicate_of, r.similarity) for m, r in result.items()} == {
        "new1": ("old1", "old1", 0.7),
        "new2": ("old1", "old1", 0.9),
    }
    assert merges == {}
    rerun, merges = resolve_component([Member("old1", "2015-07-01", None, (older,))])
    assert rerun["old1"].duplicate_of is None and rerun["old1"].cluster_id == "old1" and merges == {}


def test_resolve_merges_bridged_clusters_and_backfills_under_the_earliest():
    bridge = Member(
        "new",
        "2015-08-11",
        None,
        (IndexedMatch("x2", "x1", 0.8, False, "2015-08-10"), IndexedMatch("y1", "y1", 0.6, False, "2015-08-09")),
    )
    result, merges = resolve_component([bridge])
    assert (result["new"].cluster_id, result["new"].duplicate_of) == ("y1", "y1")
    assert merges == {"x1": "y1"}
    backfill = Member("early", "2015-08-01", None, (IndexedMatch("x2", "x1", 0.8, False, "2015-08-10"),))
    result, merges = resolve_component([backfill])
    assert result["early"].duplicate_of is None and merges == {"x1": "early"}


def test_resolve_drops_an_exact_copy_the_indexed_one_beats():
    copy = Member("copy", "2015-08-11", None, (IndexedMatch("orig", "orig", 1.0, True, "2015-08-10", "2015-08-10"),))
    result, merges = resolve_component([copy])
    assert result["copy"].exact_of == "orig" and result["copy"].cluster_id == "orig" and merges == {}
    assert result["copy"].replaces == ()
    undated = Member("b-copy", None, None, (IndexedMatch("a-orig", "a-orig", 1.0, True),))
    result, _ = resolve_component([undated])
    assert result["b-copy"].exact_of == "a-orig"  # no dates: the smaller id stays


def test_resolve_lets_a_newcomer_that_wins_the_tie_break_replace_its_indexed_copy():
    """The rule of ``choose_survivor`` across runs: earliest published, then smallest id."""
    earlier = Member(
        "z-copy", "2015-01-01", None, (IndexedMatch("orig", "orig", 1.0, True, "2015-08-10", "2015-08-10"),)
    )
    result, merges = resolve_component([earlier])
    assert result["z-copy"] == Resolution("z-copy", None, None, None, ("orig",))
    assert merges == {"orig": "z-copy"}  # the documents that pointed at the copy now point at it
    # Undated copies, the smaller id second: it replaces the indexed copy, which was canonical of
    # a cluster whose canonical it becomes; a copy that was not canonical leaves its cluster alone.
    copy_b = IndexedMatch("b", "b", 1.0, True)
    reprint = IndexedMatch("r", "b", 0.8, False)
    result, merges = resolve_component([Member("a", None, None, (copy_b, reprint))])
    assert result["a"] == Resolution("a", None, None, None, ("b",)) and merges == {"b": "a"}
    member_copy = IndexedMatch("b", "c", 1.0, True, "2015-08-09")
    result, merges = resolve_component([Member("a", None, None, (member_copy,))])
    assert result["a"] == Resolution("c", "c", None, None, ("b",)) and merges == {}


def _one_run(articles):
    """What one run makes of ``articles``: exact survivors, then clusters (the pure functions)."""
    by_hash = {}
    for article in articles:
        by_hash.setdefault(content_hash(article.title, article.body), []).append(article)
    survivors = [choose_survivor(group, "same_content")[0] for group in by_hash.values()]
    fingerprints = {a.id: fingerprint(a.title, a.body) for a in survivors}
    clusters = cluster(near_duplicate_pairs(fingerprints), {a.id: a.published_at for a in survivors})
    return {i: (c, None if c == i else c) for i, (c, _) in clusters.items()}


def _later_run(articles, index):
    """One article per run against ``index`` ({id: source}), applying what the sink and the
    relabelling do: delete the replaced copies, index the article, relabel merged clusters."""
    for article in articles:
        fp = fingerprint(article.title, article.body)
        hits = [{"_id": doc_id, "_source": source} for doc_id, source in index.items()]
        matches = match_indexed(article.id, fp.signature, fp.size, fp.content_hash, hits)
        matches = tuple(
            replace(m, canonical_published_at=index[m.cluster_id]["published_at"]) if m.cluster_id in index else m
            for m in matches
        )
        result, merges = resolve_component([Member(article.id, article.published_at, None, matches)])
        resolution = result[article.id]
        if resolution.exact_of is not None:
            continue
        for old in resolution.replaces:
            del index[old]
        minhash = encode_signature(fp.signature, fp.size)
        dedup = {"content_hash": fp.content_hash, "minhash": minhash, "cluster_id": resolution.cluster_id}
        index[article.id] = {
            "published_at": article.published_at,
            "dedup": {**dedup, "duplicate_of": resolution.duplicate_of},
        }
        for old_cluster, canonical in merges.items():
            for doc_id, source in index.items():
                if source["dedup"]["cluster_id"] == old_cluster:
                    source["dedup"]["cluster_id"] = canonical
                    source["dedup"]["duplicate_of"] = None if doc_id == canonical else canonical
    return {i: (s["dedup"]["cluster_id"], s["dedup"]["duplicate_of"]) for i, s in index.items()}


def test_undated_exact_copies_in_the_wrong_order_across_runs_end_as_one_run(corpus):
    """Two undated exact copies and a reprint: the larger-id copy indexed first (canonical of
    the reprint), the smaller-id copy in a later run must end where one run puts it."""
    first = as_article(corpus[JUBEIR], "").with_(id="b-copy", published_at=None)
    second = first.with_(id="a-copy", url="https://mirror.example/a")
    reprint = as_article(corpus[JUBEIR_REPRINT]).with_(id="r-reprint", published_at=None)
    expected = _one_run([first, reprint, second])
    assert expected == {"a-copy": ("a-copy", None), "r-reprint": ("a-copy", "a-copy")}
    assert _later_run([first, reprint, second], {}) == expected
    assert _later_run([second, reprint, first], {}) == expected  # the right order stays right


# --- composites ------------------------------------------------------------------------------


def test_exact_dedup_keeps_one_per_id_and_per_folded_body(corpus):
    original = as_article(corpus[JUBEIR])
    refetched = original.with_(fetched_at="2026-11-25T09:00:00+00:00")
    respelled_copy = original.with_(
        id="https://other.example/copy",
        body=original.body.replace("مسؤول", "مسئول").replace("أ", "ا"),
        published_at="2015-08-11",
    )
    other = as_article(corpus[GARGASH_A])
    empty = original.with_(id="empty", title="", body=" ")
    with TestPipeline() as p:
        out = p | beam.Create([original, refetched, respelled_copy, other, empty]) | Dedup(None, load_config())
        assert_that(
            out["articles"] | "Ids" >> beam.Map(lambda a: (a.id, a.fetched_at[11:13], a.content_hash is not None)),
            equal_to([(JUBEIR, "09", True), (GARGASH_A, "08", True)]),
            label="survivors",
        )
        assert_that(
            out["duplicates"] | "Reasons" >> beam.Map(lambda d: (d[0].id, d[1], d[2])),
            equal_to([(JUBEIR, "same_id", JUBEIR), ("https://other.example/copy", "same_content", JUBEIR)]),
            label="duplicates",
        )
        assert_that(
            out["dead"] | "Dead" >> beam.Map(lambda d: (d.step, d.article_id)),
            equal_to([("dedup_hash", "empty")]),
            label="dead",
        )


def near_dedup_inputs(corpus):
    original = as_article(corpus[JUBEIR], "2015-08-10T00:00:00+03:00")
    reprint = as_article(corpus[JUBEIR_REPRINT], "2015-08-11T00:00:00+03:00")
    edited_row = edit_article(corpus[JUBEIR], "lead_drop_respell")
    edited = as_article(edited_row, "2015-08-12T00:00:00+03:00")
    unrelated = as_article(corpus[GARGASH_A])
    return original, reprint, edited, unrelated


def test_near_dedup_clusters_reprints_within_a_run(corpus):
    original, reprint, edited, unrelated = near_dedup_inputs(corpus)
    config = load_config()
    with TestPipeline() as p:
        out = p | beam.Create([edited, unrelated, reprint, original]) | Dedup(None, config)
        assert_that(
            out["articles"] | "Clusters" >> beam.Map(lambda a: (a.id, a.dedup["cluster_id"], a.dedup["duplicate_of"])),
            equal_to(
                [
                    (JUBEIR, JUBEIR, None),
                    (JUBEIR_REPRINT, JUBEIR, JUBEIR),
                    (edited.id, JUBEIR, JUBEIR),
                    (GARGASH_A, GARGASH_A, None),
                ]
            ),
            label="clusters",
        )
        assert_that(
            out["articles"]
            | "Fields"
            >> beam.Map(
                lambda a: (
                    sorted(a.dedup),
                    a.dedup["fold_version"],
                    len(a.dedup["bands"]),
                    a.dedup["similarity"] is None or a.dedup["similarity"] >= config.threshold,
                )
            ),
            equal_to(
                [
                    (
                        sorted(DEDUP_FIELDS),
                        FOLD_VERSION,
                        config.bands,
                        True,
                    )
                ]
                * 4
            ),
            label="fields",
        )
        assert_that(out["duplicates"], equal_to([]), label="no_duplicates")


def test_near_dedup_can_drop_near_duplicates(corpus):
    original, reprint, edited, unrelated = near_dedup_inputs(corpus)
    config = load_config(overrides={"drop_near_duplicates": True})
    with TestPipeline() as p:
        out = p | beam.Create([original, reprint, edited, unrelated]) | Dedup(None, config)
        assert_that(out["articles"] | "Kept" >> beam.Map(lambda a: a.id), equal_to([JUBEIR, GARGASH_A]), label="kept")
        assert_that(
            out["duplicates"] | "Dropped" >> beam.Map(lambda d: (d[0].id, d[1], d[2])),
            equal_to([(JUBEIR_REPRINT, "near_duplicate", JUBEIR), (edited.id, "near_duplicate", JUBEIR)]),
            label="dropped",
        )


def test_applying_a_decision_fills_dedup_in_the_indexed_order(corpus):
    article = as_article(corpus[JUBEIR])
    fp = fingerprint(article.title, article.body)
    key = dedup_key(article, fp)
    assert (
        key.element
        == element_key(article, fp.content_hash)
        != element_key(article.with_(origin="b:1"), fp.content_hash)
    )
    assert (key.id, key.content_hash, key.size, key.band_digests) == (JUBEIR, fp.content_hash, fp.size, fp.band_digests)
    signed = article.with_(
        content_hash=fp.content_hash,
        dedup={"content_hash": fp.content_hash, "bands": list(fp.bands), "minhash": "m", "fold_version": FOLD_VERSION},
    )
    decided = apply_decision(signed, Decision("c", "c", 0.8, ("old",), None, ("noted",)))
    assert list(decided.dedup) == [*DEDUP_FIELDS, "replaces"]
    assert (decided.dedup["cluster_id"], decided.dedup["is_canonical"], decided.dedup["replaces"]) == (
        "c",
        False,
        ["old"],
    )
    assert decided.notes == (*article.notes, "noted")
    assert apply_decision(signed, Decision(None, None, None, dropped=("same_id", JUBEIR))) is signed


class _LookupServer:
    """Answers the batch search with ``hits`` (at most ``size``) and each per-key query with
    the hits sharing its terms; records which keys needed their own query."""

    def __init__(self, hits):
        self.hits = hits
        self.own_queries = []

    def search(self, index, query, size, source, track_total_hits, ignore_unavailable):
        return {"hits": {"hits": self.hits[:size]}}

    def msearch(self, searches):
        responses = []
        for body in searches[1::2]:
            should = body["query"]["bool"]["should"]
            own = body["query"]["bool"]["must_not"][0]["ids"]["values"][0]
            self.own_queries.append(own)
            article = [(own, should[0]["term"]["dedup.content_hash"], [c["term"]["dedup.bands"] for c in should[1:]])]
            responses.append({"hits": {"hits": candidate_hits(article, self.hits)[0][: body["size"]]}})
        return {"responses": responses}


def _key(article_id, bands):
    digests = b"".join(bytes.fromhex(band.split(":")[1]) for band in bands)
    return dedup_key(
        Article(id=article_id, source="s", title="", body="", origin="o", fetched_at="2026-11-25T08:00:00+00:00"),
        Fingerprint(f"h-{article_id}", None, 0, tuple(bands), digests),
    )


def _indexed(doc_id, bands):
    return {"_id": doc_id, "_source": {"dedup": {"content_hash": f"i-{doc_id}", "bands": bands}}}


def test_lookup_asks_a_key_its_own_query_only_when_it_has_more_candidates_than_it_keeps():
    config = DedupConfig(lookup_hits_per_article=2)
    band = f"0:{1:016x}"
    lookup = _LookupIndexed(EsConfig(alias="test"), config)
    quiet, crowded = _key("quiet", [f"0:{2:016x}"]), _key("crowded", [band])
    lookup.client = _LookupServer([_indexed("q1", [f"0:{2:016x}"]), *(_indexed(f"c{i}", [band]) for i in range(3))])
    found = lookup._candidates([quiet, crowded])
    assert [[hit["_id"] for hit in hits] for hits in found] == [["q1"], ["c0", "c1"]]
    assert lookup.client.own_queries == ["crowded"]
    # More candidates than the batch search returns: every key gets its own query.
    lookup.client = _LookupServer([_indexed(f"c{i}", [band]) for i in range(9)])
    assert [len(hits) for hits in lookup._candidates([quiet, crowded])] == [0, 2]
    assert lookup.client.own_queries == ["quiet", "crowded"]


class _RelabelServer:
    """Index of {id: cluster_id} where some ids were deleted after the search saw them."""

    def __init__(self, clusters, deleted_meanwhile):
        self.clusters = dict(clusters)
        self.stale = set(deleted_meanwhile)  # still found by search, gone for updates
        self.searches = []

    def search(self, index, query, size, source, ignore_unavailable):
        self.searches.append(query)
        terms = query["terms"] if "terms" in query else query["bool"]["filter"][0]["terms"]
        excluded = set(query["bool"]["must_not"][0]["ids"]["values"]) if "bool" in query else set()
        hits = [
            {"_index": index, "_id": i}
            for i, c in sorted(self.clusters.items())
            if c in terms["dedup.cluster_id"] and i not in excluded
        ]
        return {"hits": {"hits": hits[:size]}}

    def bulk(self, operations, refresh):
        items = []
        for action, change in zip(operations[::2], operations[1::2], strict=True):
            doc_id = action["update"]["_id"]
            if doc_id in self.stale:
                items.append(
                    {"update": {"_id": doc_id, "status": 404, "error": {"type": "document_missing_exception"}}}
                )
            else:
                self.clusters[doc_id] = change["doc"]["dedup"]["cluster_id"]
                items.append({"update": {"_id": doc_id, "status": 200}})
        return {"errors": any(i["update"]["status"] >= 300 for i in items), "items": items}


def test_relabelling_skips_a_copy_the_sink_deleted_meanwhile():
    merges = _ApplyMerges(EsConfig(alias="test"))
    merges.client = _RelabelServer({"b": "b", "r": "b", "x": "x"}, deleted_meanwhile={"b"})
    assert list(merges.process([("b", "a")])) == []  # no dead letter
    assert merges.client.clusters == {"b": "b", "r": "a", "x": "x"}
    assert len(merges.client.searches) == 2  # the second search excludes the deleted copy


@pytest.mark.parametrize("reason", ["same_id", "same_content"])
def test_survivor_does_not_depend_on_arrival_order(reason: str) -> None:
    # One URL filed under two categories (the corpus has 358 such pairs): same id, same body,
    # same fetch time. Runners with several workers deliver the group in any order.
    base = Article(
        id="u1", source="s", title="t", body="نص", origin="a.jsonl:7", fetched_at="2026-11-25T08:00:00+00:00"
    )
    copies = [
        base.with_(origin="a.jsonl:9", category="middleEast", guid="g2"),
        base.with_(category="internationalNews", guid="g1"),
        base.with_(origin="b.jsonl:1", category="culture"),
    ]
    kept = [choose_survivor(order, reason)[0] for order in (copies, copies[::-1], copies[1:] + copies[:1])]
    assert kept == [copies[1]] * 3
