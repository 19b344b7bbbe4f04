"""Exact and near-duplicate detection, within a run and across runs.

Pure functions do the work and are unit-tested without Beam:

* keys: ``canonical_url`` (``transforms.urls``), ``content_hash`` of the folded body;
* near-duplicate fingerprints: ``shingles`` (word n-grams of ``fold`` tokens) ->
  ``minhash_signature`` (numpy reproduction of datasketch's ``MinHash(num_perm, seed)``,
  affine32 scheme) -> ``band_keys`` (LSH: ``bands`` bands of ``rows`` rows);
  ``pair_similarity`` (estimated containment or Jaccard) verifies a candidate pair,
  ``verify_band_group`` all pairs sharing a band key; ``encode_signature`` /
  ``decode_signature`` store a signature in Elasticsearch (``dedup.minhash``);
* ``cluster``: union-find over verified pairs, canonical = earliest published, ties by id;
* ``match_indexed`` / ``resolve_component``: join a run's clusters to clusters already in
  the index, electing one canonical across runs.

The Beam composites ``ExactDedup`` and ``NearDedup`` only adapt these. Data flow:
Article -> ExactDedup (one survivor per id and per content hash) -> NearDedup (sign,
group by band key, verify pairs, connected components, batched Elasticsearch lookup of
band keys, join the indexed clusters matched, relabel indexed clusters a run absorbs) ->
Article with ``dedup`` filled. Losers leave through the ``duplicates`` output as
``(article, reason, kept_id)``; failures through ``dead`` as ``DeadLetter``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import yaml
from apache_beam.metrics import Metrics

from transforms.normalize import FOLD_VERSION, fold
from transforms.records import Article, DeadLetter

CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "dedup.yaml"

# datasketch's affine32 scheme (MinHash default since 2.0): sha1 -> 32 bits -> murmur3
# finaliser -> h * a + b mod 2**32 with odd a. Reproduced here so that signatures are plain
# arrays and identical to datasketch's for the same num_perm and seed.
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_MAX_HASH32 = np.uint32(0xFFFFFFFF)
_SHA1_DIGEST = type(hashlib.sha1()).digest
_TOKEN = re.compile(r"[^\W_]+")  # the tokens of normalize.fold_tokens, on text already folded
MEASURES = frozenset({"jaccard", "containment"})
_BLOCK_VALUES = 1 << 22  # signature values compared per numpy step when verifying a band group


@dataclass(frozen=True)
class DedupConfig:
    """Domain config for duplicate detection (``config/dedup.yaml``)."""

    shingle_size: int = 3
    num_perm: int = 128
    seed: int = 1
    bands: int = 42
    rows: int = 3
    threshold: float = 0.5
    measure: str = "containment"  # "jaccard" or "containment" (of the smaller text in the larger)
    min_tokens: int = 20
    drop_near_duplicates: bool = False
    lookup_batch_size: int = 64
    lookup_hits_per_article: int = 10

    def __post_init__(self) -> None:
        for name in ("shingle_size", "num_perm", "bands", "rows", "lookup_batch_size", "lookup_hits_per_article"):
            if getattr(self, name) < 1:
                raise ValueError(f"dedup config: {name} must be at least 1")
        if self.bands * self.rows > self.num_perm:
            raise ValueError("dedup config: bands * rows must not exceed num_perm")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("dedup config: threshold must be in (0, 1]")
        if self.measure not in MEASURES:
            raise ValueError(f"dedup config: measure must be one of {sorted(MEASURES)}")
        if self.min_tokens < 0:
            raise ValueError("dedup config: min_tokens must not be negative")


def load_config(path: str | Path = CONFIG_PATH, overrides: Mapping[str, Any] | None = None) -> DedupConfig:
    """Read and validate a dedup YAML file, then ``overrides`` (the run config's ``dedup:``
    section) on top; unknown keys are an error, missing ones default."""
    raw = {**(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}), **(overrides or {})}
    known = {f.name: f.type for f in fields(DedupConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"dedup config {path}: unknown keys {unknown}")
    casts = {"int": int, "float": float, "bool": bool, "str": str}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        cast = casts[str(known[name])]
        if cast is bool and not isinstance(value, bool):
            raise ValueError(f"dedup config {path}: {name} must be true or false")
        values[name] = cast(value)
    return DedupConfig(**values)


# --- keys -------------------------------------------------------------------------------


def content_hash(title: str, body: str) -> str:
    """Hex blake2b-160 of the folded body with whitespace collapsed; the title only when the
    body is empty. Depends on ``FOLD_VERSION`` (stored beside it as ``dedup.fold_version``).
    Raises ValueError when there is no text at all (such articles must not collapse into one).
    """
    return _digest(_key_text(title, body))


def _key_text(title: str, body: str) -> str:
    return " ".join(fold(body or "").split()) or " ".join(fold(title or "").split())


def _digest(key_text: str) -> str:
    if not key_text:
        raise ValueError("article has neither body nor title text")
    return hashlib.blake2b(key_text.encode("utf-8"), digest_size=20).hexdigest()


# --- MinHash and LSH --------------------------------------------------------------------


def shingles(folded_text: str, size: int = 3) -> set[str]:
    """Word ``size``-grams of the folded text's tokens; a text shorter than ``size`` tokens
    is one shingle, an empty text none."""
    return _shingles_of(_TOKEN.findall(folded_text), size)


def _shingles_of(tokens: list[str], size: int) -> set[str]:
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    # zip of shifted copies (stopping at the shortest): the n-grams without a Python-level loop
    return set(map(" ".join, zip(*(tokens[i:] for i in range(size)), strict=False)))


@functools.lru_cache(maxsize=8)  # a pure memo of deterministic constants, not shared state
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _fmix32(values: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX32
    values = values ^ (values >> s1)
    values = values * m1
    values = values ^ (values >> s2)
    values = values * m2
    return values ^ (values >> s3)


def minhash_signature(shingle_set: Iterable[str], num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """MinHash signature (uint32[num_perm]) of a set of shingles; deterministic everywhere.

    Equal to ``datasketch.MinHash(num_perm, seed).update_batch(s.encode())`` hash values.
    An empty set gives the all-max signature (similar to nothing but another empty set).
    """
    a, b = _permutations(num_perm, seed)
    # Whole 20-byte digests, hashed without a Python-level loop; the first 4 bytes of each
    # (word 0 of every 5) are datasketch's sha1_hash32.
    digests = b"".join(map(_SHA1_DIGEST, map(hashlib.sha1, map(str.encode, shingle_set))))
    if not digests:
        return np.full(num_perm, _MAX_HASH32, dtype=np.uint32)
    hashed = _fmix32(np.frombuffer(digests, dtype="<u4")[::5].astype(np.uint32)).reshape(-1, 1)
    with np.errstate(over="ignore"):
        permuted = hashed * a
        permuted += b
    return permuted.min(axis=0)


def estimated_similarity(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of positions where the signatures agree."""
    if sig_a.shape != sig_b.shape:
        raise ValueError(f"signature lengths differ: {sig_a.shape} vs {sig_b.shape}")
    return float(np.count_nonzero(sig_a == sig_b)) / float(len(sig_a))


def _band_salt(config: DedupConfig) -> bytes:
    # Keys from signatures made with other parameters must never collide with these.
    scheme = f"fold{FOLD_VERSION}:n{config.shingle_size}:p{config.num_perm}:s{config.seed}:r{config.rows}"
    return hashlib.blake2b(scheme.encode("ascii"), digest_size=16).digest()


@functools.lru_cache(maxsize=8)  # a constant per config: only ever copied, never updated
def _band_hasher(config: DedupConfig) -> Any:
    """An empty blake2b-64 salted for ``config``; band keys hash from copies of it."""
    return hashlib.blake2b(digest_size=8, salt=_band_salt(config))


def band_keys(signature: np.ndarray, config: DedupConfig = DedupConfig()) -> list[str]:
    """LSH band keys ``"{band_index}:{hash of the band's rows}"``, one per band."""
    values = signature.astype("<u4", copy=False).tobytes()
    keyed = _band_hasher(config)
    step = 4 * config.rows
    keys = []
    for band in range(config.bands):
        hasher = keyed.copy()
        hasher.update(values[band * step : (band + 1) * step])
        keys.append(f"{band}:{hasher.hexdigest()}")
    return keys


def estimated_containment(sig_a: np.ndarray, size_a: int, sig_b: np.ndarray, size_b: int) -> float:
    """Estimated share of the smaller shingle set found in the larger one.

    From the Jaccard estimate J and the set sizes: |A & B| = J (|A| + |B|) / (1 + J).
    """
    if min(size_a, size_b) <= 0:
        return 0.0
    jaccard = estimated_similarity(sig_a, sig_b)
    return min(1.0, jaccard * (size_a + size_b) / ((1.0 + jaccard) * min(size_a, size_b)))


def pair_similarity(
    sig_a: np.ndarray, size_a: int, sig_b: np.ndarray, size_b: int, measure: str = "containment"
) -> float:
    """The similarity ``config.measure`` names, compared against ``config.threshold``."""
    if measure == "containment":
        return estimated_containment(sig_a, size_a, sig_b, size_b)
    return estimated_similarity(sig_a, sig_b)


def encode_signature(signature: np.ndarray, size: int) -> str:
    """Compact text form for ``dedup.minhash``: ``"{shingle count}:{base64 of little-endian
    uint32 values}"`` (684 base64 characters for 128 permutations)."""
    return f"{size}:" + base64.b64encode(signature.astype("<u4").tobytes()).decode("ascii")


def decode_signature(encoded: str, num_perm: int = 128) -> tuple[np.ndarray, int]:
    """Inverse of ``encode_signature``: ``(signature, shingle count)``; raises ValueError on a
    malformed or foreign value."""
    size_text, separator, payload = encoded.partition(":")
    if not separator or not size_text.isdigit():
        raise ValueError("signature lacks its shingle count")
    raw = base64.b64decode(payload.encode("ascii"), validate=True)
    if len(raw) != 4 * num_perm:
        raise ValueError(f"signature has {len(raw) // 4} values, expected {num_perm}")
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32), int(size_text)


@dataclass(frozen=True)
class Fingerprint:
    """Everything dedup derives from one article's text."""

    content_hash: str
    signature: np.ndarray | None  # None: fewer than min_tokens tokens
    size: int  # number of distinct shingles (for the containment estimate)
    bands: tuple[str, ...]


def fingerprint(title: str, body: str, config: DedupConfig = DedupConfig()) -> Fingerprint:
    """Content hash, MinHash signature and band keys of an article's text (folded once)."""
    folded = _key_text(title, body)
    digest = _digest(folded)
    tokens = _TOKEN.findall(folded)
    if len(tokens) < max(config.min_tokens, 1):
        return Fingerprint(digest, None, 0, ())
    shingle_set = _shingles_of(tokens, config.shingle_size)
    signature = minhash_signature(shingle_set, config.num_perm, config.seed)
    return Fingerprint(digest, signature, len(shingle_set), tuple(band_keys(signature, config)))


def _from_agreement(agree: np.ndarray, sizes_a: np.ndarray, sizes_b: np.ndarray, measure: str) -> np.ndarray:
    """Similarity from the share of agreeing signature positions (and the set sizes)."""
    if measure != "containment":
        return agree
    smaller = np.maximum(np.minimum(sizes_a, sizes_b), 1.0)
    return np.minimum(agree * (sizes_a + sizes_b) / ((1.0 + agree) * smaller), 1.0)


def _stack(members: Sequence[tuple[str, np.ndarray, int]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    unique = {article_id: (signature, size) for article_id, signature, size in members}
    ids = sorted(unique)
    if not ids:
        return ids, np.empty((0, 0), dtype=np.uint32), np.empty(0)
    signatures = np.stack([unique[article_id][0] for article_id in ids])
    sizes = np.array([unique[article_id][1] for article_id in ids], dtype=np.float64)
    return ids, signatures, sizes


def _pair_scores(signatures: np.ndarray, sizes: np.ndarray, start: int, stop: int, measure: str) -> np.ndarray:
    """Similarities of rows ``start:stop`` against all rows, shape (stop - start, len)."""
    block = signatures[start:stop]
    agree = np.count_nonzero(block[:, None, :] == signatures[None, :, :], axis=2) / signatures.shape[1]
    return _from_agreement(agree, sizes[start:stop, None], sizes[None, :], measure)


def verify_band_group(
    members: Sequence[tuple[str, np.ndarray, int]], config: DedupConfig = DedupConfig()
) -> list[tuple[str, str, float]]:
    """Verified edges ``(id_a, id_b, similarity)`` (id_a < id_b) among articles sharing a band key.

    ``members`` are ``(id, signature, shingle count)``. All pairs are compared with numpy,
    a block of rows at a time (memory stays bounded for any group size), but an edge is
    emitted only when it joins two parts not yet connected: a spanning forest of the
    verified pairs. Connected components are the same as with every pair, and a reprint
    cluster of k copies yields k - 1 edges, not k^2 / 2.
    """
    ids, signatures, sizes = _stack(members)
    if len(ids) < 2:
        return []
    parent = list(range(len(ids)))

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    block_rows = max(1, _BLOCK_VALUES // (len(ids) * signatures.shape[1]))
    edges = []
    for start in range(0, len(ids), block_rows):
        stop = min(start + block_rows, len(ids))
        scores = _pair_scores(signatures, sizes, start, stop, config.measure)
        rows, cols = np.nonzero(scores >= config.threshold)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + row
            if col <= i:
                continue
            root_i, root_j = find(i), find(col)
            if root_i != root_j:
                parent[root_j] = root_i
                edges.append((ids[i], ids[col], round(float(scores[row, col]), 4)))
    return edges


def best_similarities(
    members: Sequence[tuple[str, np.ndarray, int]], config: DedupConfig = DedupConfig()
) -> dict[str, float]:
    """For each member of a component, its highest similarity to another member."""
    ids, signatures, sizes = _stack(members)
    if len(ids) < 2:
        return {}
    block_rows = max(1, _BLOCK_VALUES // (len(ids) * signatures.shape[1]))
    best = {}
    for start in range(0, len(ids), block_rows):
        stop = min(start + block_rows, len(ids))
        scores = _pair_scores(signatures, sizes, start, stop, config.measure)
        scores[np.arange(stop - start), np.arange(start, stop)] = -1.0  # not with itself
        for row, score in enumerate(scores.max(axis=1).tolist()):
            best[ids[start + row]] = round(score, 4)
    return best


def near_duplicate_pairs(
    fingerprints: Mapping[str, Fingerprint], config: DedupConfig = DedupConfig()
) -> dict[tuple[str, str], float]:
    """In-memory LSH: group ids by band key and verify each group (``verify_band_group``);
    returns the verified edges, each once. The Beam composite does the same with a
    GroupByKey; this is for evaluation and tests.
    """
    band_to_members: dict[str, list[tuple[str, np.ndarray, int]]] = {}
    for article_id, fp in fingerprints.items():
        if fp.signature is None:
            continue
        for key in fp.bands:
            band_to_members.setdefault(key, []).append((article_id, fp.signature, fp.size))
    pairs: dict[tuple[str, str], float] = {}
    for members in band_to_members.values():
        if len(members) > 1:
            for id_a, id_b, score in verify_band_group(members, config):
                pairs[(id_a, id_b)] = score
    return pairs


# --- clustering ---------------------------------------------------------------------------


def published_sort_key(published_at: str | None, article_id: str) -> tuple[int, float, str]:
    """Order for "earliest published, ties by id"; unknown or unparsable dates sort last."""
    if published_at:
        try:
            moment = datetime.fromisoformat(published_at)
        except ValueError:
            return (1, 0.0, article_id)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (0, moment.timestamp(), article_id)
    return (1, 0.0, article_id)


def cluster(pairs: Iterable[Sequence[str]], published_by_id: Mapping[str, str | None]) -> dict[str, tuple[str, str]]:
    """Connected components of duplicate pairs: ``id -> (cluster_id, canonical_id)``.

    ``pairs`` holds ``(id_a, id_b, ...)`` items (extra items such as a similarity are
    ignored). Every id of ``published_by_id`` appears in the result, alone if unpaired.
    The canonical is the earliest published member, ties by id; cluster_id = canonical id.
    """
    parent: dict[str, str] = {article_id: article_id for article_id in published_by_id}

    def find(node: str) -> str:
        root = parent.setdefault(node, node)
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    for pair in pairs:
        root_a, root_b = find(pair[0]), find(pair[1])
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)

    members: dict[str, list[str]] = {}
    for node in list(parent):
        members.setdefault(find(node), []).append(node)
    result: dict[str, tuple[str, str]] = {}
    for group in members.values():
        canonical = min(group, key=lambda node: published_sort_key(published_by_id.get(node), node))
        for node in group:
            result[node] = (canonical, canonical)
    return result


# --- joining clusters already in the index ------------------------------------------------


@dataclass(frozen=True)
class IndexedMatch:
    """An indexed document that verified as a near duplicate of an incoming article."""

    id: str
    cluster_id: str  # the indexed document's dedup.cluster_id (its own id when it has none)
    similarity: float
    same_content: bool  # identical content hash: an exact duplicate already indexed
    canonical_published_at: str | None = None  # published_at of the cluster's canonical document
    published_at: str | None = None  # the indexed document's own published_at


@dataclass(frozen=True)
class Member:
    """One article of a run's connected component, as ``resolve_component`` needs it."""

    id: str
    published_at: str | None
    similarity: float | None  # best verified similarity inside the run (None: no in-run pair)
    matches: tuple[IndexedMatch, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """Where one member ends up."""

    cluster_id: str
    duplicate_of: str | None  # canonical id; None for the canonical itself
    similarity: float | None
    exact_of: str | None = None  # set when an indexed document has the same content: drop it
    replaces: tuple[str, ...] = ()  # indexed exact copies this member displaces (it wins the tie-break)


def match_indexed(
    article_id: str,
    signature: np.ndarray | None,
    size: int,
    digest: str,
    hits: Iterable[Mapping[str, Any]],
    config: DedupConfig = DedupConfig(),
) -> tuple[IndexedMatch, ...]:
    """Verify Elasticsearch hits (``_id`` and ``_source`` with ``dedup.minhash``,
    ``dedup.cluster_id``, ``dedup.content_hash``, ``published_at``) against an article; the
    article's own document and unparsable signatures are skipped; an article without a
    signature (under ``min_tokens``) matches exact copies only. A hit that is its cluster's
    canonical gives ``canonical_published_at``; for the others the caller fills it.
    """
    matches = []
    for hit in hits:
        if hit.get("_id") == article_id:
            continue
        source = hit.get("_source") or {}
        dedup = source.get("dedup") or {}
        same_content = dedup.get("content_hash") == digest
        if same_content:
            similarity = 1.0
        elif signature is None:
            continue
        else:
            try:
                other, other_size = decode_signature(dedup.get("minhash") or "", config.num_perm)
            except ValueError:
                continue
            similarity = pair_similarity(signature, size, other, other_size, config.measure)
        if similarity >= config.threshold:
            cluster_id = dedup.get("cluster_id") or hit["_id"]
            own = source.get("published_at")
            canonical_published = own if cluster_id == hit["_id"] else None
            matches.append(
                IndexedMatch(hit["_id"], cluster_id, round(similarity, 4), same_content, canonical_published, own)
            )
    return tuple(sorted(matches, key=lambda m: (-m.similarity, m.id)))


def resolve_component(members: Sequence[Member]) -> tuple[dict[str, Resolution], dict[str, str]]:
    """Final cluster of each member of a component, and the indexed clusters to relabel.

    The component (articles of this run connected by verified pairs, joined with every
    indexed cluster any of them matched) gets one canonical: the earliest published among
    its members and the matched clusters' canonicals, ties by id; that is what one run over
    all those articles would elect. Returns ``(resolutions, merges)``: ``merges`` maps each
    matched indexed cluster id that is not the canonical to the canonical id (its indexed
    documents must be relabelled).

    A member whose exact content is already indexed under another id is settled by the rule
    ``choose_survivor`` applies within a run (earliest published, then smallest id), so the
    result does not depend on which copy came first: when the indexed copy wins, the member
    gets ``exact_of`` (it is dropped and never becomes canonical); when the member wins, it
    gets ``replaces`` (the sink indexes it and deletes those copies) and takes their place,
    also as canonical when one of them was (its cluster is then in ``merges``).
    """
    exact_of: dict[str, str | None] = {}
    replaces: dict[str, tuple[str, ...]] = {}
    for m in members:
        copies = [match for match in m.matches if match.same_content]
        first = min(copies, key=lambda c: published_sort_key(c.published_at, c.id), default=None)
        if first is None:
            exact_of[m.id], replaces[m.id] = None, ()
        elif published_sort_key(m.published_at, m.id) < published_sort_key(first.published_at, first.id):
            exact_of[m.id], replaces[m.id] = None, tuple(sorted(c.id for c in copies))
        else:
            exact_of[m.id], replaces[m.id] = first.id, ()
    replaced = {copy_id for ids in replaces.values() for copy_id in ids}
    candidates = {m.id: m.published_at for m in members if exact_of[m.id] is None}
    indexed: dict[str, str | None] = {}
    for m in members:
        for match in m.matches:
            indexed.setdefault(match.cluster_id, match.canonical_published_at)
    for cluster_id, published_at in indexed.items():
        if cluster_id not in replaced:
            candidates.setdefault(cluster_id, published_at)
    canonical = min(candidates, key=lambda node: published_sort_key(candidates[node], node))
    resolutions: dict[str, Resolution] = {}
    for m in members:
        indexed_similarity = next((x.similarity for x in m.matches if x.id not in replaced), None)
        similarities = [s for s in (m.similarity, indexed_similarity) if s is not None]
        if m.id == canonical:
            resolutions[m.id] = Resolution(canonical, None, None, exact_of[m.id], replaces[m.id])
        else:
            similarity = max(similarities, default=None)
            resolutions[m.id] = Resolution(canonical, canonical, similarity, exact_of[m.id], replaces[m.id])
    merges = {cluster_id: canonical for cluster_id in sorted(indexed) if cluster_id != canonical}
    return resolutions, merges


def _instant(text: str | None) -> float:
    key = published_sort_key(text, "")
    return key[1] if key[0] == 0 else float("-inf")


def choose_survivor(group: Sequence[Article], reason: str) -> tuple[Article, list[Article]]:
    """The article kept among exact duplicates, and the others.

    ``same_id`` (one canonical URL seen twice): the latest fetched version, since a changed
    article at the same URL is an update; ties by content hash. ``same_content`` (one folded
    body under several ids): the earliest published, then the smallest id. Remaining ties go to
    the smallest ``origin`` (then guid), so the survivor never depends on arrival order, which
    differs between runners and worker counts.
    """
    if reason == "same_id":
        ordered = sorted(group, key=lambda a: (-_instant(a.fetched_at), a.content_hash or "", a.origin, a.guid or ""))
    else:
        ordered = sorted(
            group, key=lambda a: (published_sort_key(a.published_at, a.id), a.fetched_at, a.origin, a.guid or "")
        )
    return ordered[0], ordered[1:]


# --- Beam composites ----------------------------------------------------------------------
# DoFns only adapt the functions above. Nothing is kept between elements except what
# setup() builds (the Elasticsearch client), so the same code runs on any runner.

DUPLICATES = "duplicates"
DEAD = "dead"
MERGES = "merges"
REPLACES = "replaces"  # Article.dedup key: indexed exact copies the sink deletes when it indexes the article


def _dead(step: str, article: Article, err: BaseException) -> beam.pvalue.TaggedOutput:
    detail = "".join(traceback.format_exception_only(type(err), err)).strip()
    return beam.pvalue.TaggedOutput(DEAD, DeadLetter(step, article.origin, detail, repr(article)[:20_000], article.id))


class _AddContentHash(beam.DoFn):
    def process(self, article: Article) -> Iterator[Any]:
        try:
            yield article.with_(content_hash=content_hash(article.title, article.body))
        except ValueError as err:
            yield _dead("dedup_hash", article, err)


class _KeepOne(beam.DoFn):
    """One survivor per key (``choose_survivor``); the others go to ``duplicates`` as
    ``(article, reason, kept_id)``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.duplicates = Metrics.counter("dedup", f"exact_{reason}")

    def process(self, keyed: tuple[str, Iterable[Article]]) -> Iterator[Any]:
        kept, losers = choose_survivor(list(keyed[1]), self.reason)
        yield kept
        for loser in losers:
            self.duplicates.inc()
            yield beam.pvalue.TaggedOutput(DUPLICATES, (loser, self.reason, kept.id))


class ExactDedup(beam.PTransform):
    """PCollection[Article] -> {"articles", "duplicates", "dead"}.

    Sets ``content_hash``; keeps one article per id (same canonical URL: the latest fetched
    version, an update), then one per content hash (same folded body under another URL: the
    earliest published, then the smallest id). ``duplicates`` holds ``(article, reason,
    kept_id)`` with reason ``same_id`` or ``same_content``; ``dead`` holds DeadLetters for
    articles with no text at all.
    """

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        hashed = articles | "ContentHash" >> beam.ParDo(_AddContentHash()).with_outputs(DEAD, main="articles")
        per_id = (
            hashed.articles
            | "KeyById" >> beam.Map(lambda a: (a.id, a))
            | "GroupById" >> beam.GroupByKey()
            | "OnePerId" >> beam.ParDo(_KeepOne("same_id")).with_outputs(DUPLICATES, main="articles")
        )
        per_hash = (
            per_id.articles
            | "KeyByContentHash" >> beam.Map(lambda a: (a.content_hash, a))
            | "GroupByContentHash" >> beam.GroupByKey()
            | "OnePerContentHash" >> beam.ParDo(_KeepOne("same_content")).with_outputs(DUPLICATES, main="articles")
        )
        duplicates = (per_id[DUPLICATES], per_hash[DUPLICATES]) | "FlattenDuplicates" >> beam.Flatten()
        return {"articles": per_hash.articles, DUPLICATES: duplicates, DEAD: hashed[DEAD]}


class _Sign(beam.DoFn):
    """Fills ``dedup`` with the fingerprint: content hash, band keys, encoded signature."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config

    def process(self, article: Article) -> Iterator[Any]:
        try:
            fp = fingerprint(article.title, article.body, self.config)
        except ValueError as err:
            yield _dead("dedup_sign", article, err)
            return
        minhash = encode_signature(fp.signature, fp.size) if fp.signature is not None else None
        dedup = {
            "content_hash": fp.content_hash,
            "cluster_id": article.id,
            "duplicate_of": None,
            "similarity": None,
            "is_canonical": True,
            "bands": list(fp.bands),
            "minhash": minhash,
            "fold_version": FOLD_VERSION,
        }
        yield article.with_(content_hash=fp.content_hash, dedup=dedup)


def _band_ids(article: Article) -> Iterator[tuple[str, str]]:
    for key in article.dedup["bands"]:
        yield key, article.id


def _signed_minhash(article: Article) -> Iterator[tuple[str, str]]:
    if article.dedup["minhash"] is not None:
        yield article.id, article.dedup["minhash"]


def _shared_band_ids(keyed: tuple[str, Iterable[str]]) -> Iterator[tuple[str, str]]:
    """(id, band key) for the articles of a band key that more than one article has."""
    band, ids = keyed[0], sorted(set(keyed[1]))
    if len(ids) > 1:
        for article_id in ids:
            yield article_id, band


def _bands_with_minhash(keyed: tuple[str, dict[str, list]]) -> Iterator[tuple[str, tuple[str, str]]]:
    article_id, joined = keyed
    for minhash in joined["minhash"][:1]:
        for band in joined["band"]:
            yield band, (article_id, minhash)


class _VerifyBand(beam.DoFn):
    def __init__(self, config: DedupConfig) -> None:
        self.config = config

    def process(self, keyed: tuple[str, Iterable[tuple[str, str]]]) -> Iterator[tuple[str, str, float]]:
        members = []
        for article_id, minhash in keyed[1]:
            signature, size = decode_signature(minhash, self.config.num_perm)
            members.append((article_id, signature, size))
        if len(members) > 1:
            yield from verify_band_group(members, self.config)


class _ComponentsFn(beam.CombineFn):
    """Verified edges -> {id: component id} by union-find (``cluster``).

    A global combine of the edge list: band groups emit spanning edges only (fewer than the
    articles in the run), so one worker holds them easily at news scale.
    """

    def create_accumulator(self) -> set[tuple[str, str]]:
        return set()

    def add_input(self, edges: set[tuple[str, str]], edge: tuple[str, str, float]) -> set[tuple[str, str]]:
        edges.add((edge[0], edge[1]))
        return edges

    def merge_accumulators(self, accumulators: Iterable[set[tuple[str, str]]]) -> set[tuple[str, str]]:
        return set().union(*accumulators)

    def extract_output(self, edges: set[tuple[str, str]]) -> dict[str, str]:
        return {node: component for node, (component, _) in cluster(sorted(edges), {}).items()}


def _key_by_component(keyed: tuple[str, dict[str, list]]) -> Iterator[tuple[str, Article]]:
    article_id, joined = keyed
    component = joined["component"][0] if joined["component"] else article_id
    for article in joined["article"]:
        yield component, article


_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def _retrying(call: Any, attempts: int = 5) -> Any:
    """``call()``, retried with exponential backoff on connection errors, 429 and 5xx."""
    delay = 0.5
    for _ in range(attempts - 1):
        try:
            return call()
        except Exception as err:
            status = getattr(err, "status_code", None) or getattr(getattr(err, "meta", None), "status", None)
            if status is not None and status not in _RETRYABLE_STATUS:
                raise
            time.sleep(delay)
            delay *= 2
    return call()


class _ElasticsearchDoFn(beam.DoFn):
    """A DoFn with an Elasticsearch client built in setup() and closed in teardown()."""

    def __init__(self, es_config: Any) -> None:
        self.es_config = es_config
        self.client: Any = None

    def setup(self) -> None:
        from transforms.elasticsearch import make_client

        self.client = make_client(self.es_config)

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()


class _LookupIndexed(_ElasticsearchDoFn):
    """Batches of (component, article) -> (component, (article, matches)): one msearch per
    batch on ``dedup.bands`` and ``dedup.content_hash`` (so texts too short for a signature
    still meet their indexed exact copies), one mget for the published_at of the matched
    clusters' canonicals; a batch Elasticsearch cannot answer goes on without indexed
    matches (noted)."""

    def __init__(self, es_config: Any, config: DedupConfig) -> None:
        super().__init__(es_config)
        self.config = config
        self.failures = Metrics.counter("dedup", "lookup_failures")

    def _search(self, signed: list[Article]) -> list[list[dict]]:
        searches: list[dict[str, Any]] = []
        for article in signed:
            searches.append({"index": self.es_config.alias, "ignore_unavailable": True})
            searches.append(
                {
                    "size": self.config.lookup_hits_per_article,
                    "_source": ["dedup.minhash", "dedup.cluster_id", "dedup.content_hash", "published_at"],
                    "query": {
                        "bool": {
                            "should": [
                                {"term": {"dedup.content_hash": article.dedup["content_hash"]}},
                                *({"term": {"dedup.bands": key}} for key in article.dedup["bands"]),
                            ],
                            "minimum_should_match": 1,
                            "must_not": [{"ids": {"values": [article.id]}}],
                        }
                    },
                }
            )
        response = _retrying(lambda: self.client.msearch(searches=searches))
        results: list[list[dict]] = []
        for item in response["responses"]:
            if "error" in item:
                if (item["error"] or {}).get("type") == "index_not_found_exception":
                    results.append([])
                    continue
                raise RuntimeError(f"dedup lookup failed: {item['error']}")
            results.append(item["hits"]["hits"])
        return results

    def _canonical_dates(self, cluster_ids: set[str]) -> dict[str, str | None]:
        if not cluster_ids:
            return {}
        ids = sorted(cluster_ids)
        response = _retrying(
            lambda: self.client.mget(index=self.es_config.alias, ids=ids, source_includes=["published_at"])
        )
        return {doc["_id"]: (doc.get("_source") or {}).get("published_at") for doc in response["docs"]}

    def process(self, batch: list[tuple[str, Article]]) -> Iterator[Any]:
        keyed = [article for _, article in batch if article.dedup.get("content_hash")]
        try:
            hits_per_article = self._search(keyed) if keyed else []
            matches_by_id: dict[str, tuple[IndexedMatch, ...]] = {}
            for article, hits in zip(keyed, hits_per_article, strict=True):
                signature, size = None, 0
                if article.dedup.get("minhash"):
                    signature, size = decode_signature(article.dedup["minhash"], self.config.num_perm)
                digest = article.dedup["content_hash"]
                matches_by_id[article.id] = match_indexed(article.id, signature, size, digest, hits, self.config)
            missing = {m.cluster_id for ms in matches_by_id.values() for m in ms if m.cluster_id != m.id}
            dates = self._canonical_dates(missing)
        except Exception as err:
            # Elasticsearch unreachable or failing: the articles are still good. They go on with
            # in-run dedup only (noted), and the sink indexes them or keeps them pending for
            # --resume; dead-lettering them here would lose them to a passing outage.
            self.failures.inc(len(batch))
            note = f"cross-run dedup skipped: {type(err).__name__}: {err}"[:300]
            for component, article in batch:
                yield component, (article.with_(notes=(*article.notes, note)), ())
            return
        for component, article in batch:
            matches = tuple(
                replace(m, canonical_published_at=dates.get(m.cluster_id)) if m.cluster_id in dates else m
                for m in matches_by_id.get(article.id, ())
            )
            yield component, (article, matches)


def _cluster_links(keyed: tuple[str, tuple[Article, tuple[IndexedMatch, ...]]]) -> Iterator[tuple[str, str]]:
    component, (_, matches) = keyed
    for match in matches:
        yield component, match.cluster_id


def _key_by_joined_component(keyed: tuple[str, dict[str, list]]) -> Iterator[tuple[str, Any]]:
    component, joined = keyed
    joined_component = joined["joined"][0] if joined["joined"] else component
    for member in joined["member"]:
        yield joined_component, member


class _Resolve(beam.DoFn):
    """A component and its indexed matches -> final ``dedup`` fields, or ``duplicates``;
    indexed clusters to relabel go to ``merges`` as (old cluster id, canonical id)."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.exact_indexed = Metrics.counter("dedup", "exact_same_content_indexed")
        self.replacing = Metrics.counter("dedup", "replacing_indexed_copies")
        self.near_duplicates = Metrics.counter("dedup", "near_duplicates")
        self.joined = Metrics.counter("dedup", "joined_indexed_clusters")

    def process(self, keyed: tuple[str, Iterable[tuple[Article, tuple[IndexedMatch, ...]]]]) -> Iterator[Any]:
        group = sorted(keyed[1], key=lambda pair: pair[0].id)
        signed = [
            (a.id, *decode_signature(a.dedup["minhash"], self.config.num_perm)) for a, _ in group if a.dedup["minhash"]
        ]
        in_run = best_similarities(signed, self.config)
        members = [Member(a.id, a.published_at, in_run.get(a.id), matches) for a, matches in group]
        resolutions, merges = resolve_component(members)
        for old_cluster, canonical in merges.items():
            yield beam.pvalue.TaggedOutput(MERGES, (old_cluster, canonical))
        for article, matches in group:
            resolution = resolutions[article.id]
            if matches:
                self.joined.inc()
            dedup = {
                **article.dedup,
                "cluster_id": resolution.cluster_id,
                "duplicate_of": resolution.duplicate_of,
                "similarity": resolution.similarity,
                "is_canonical": resolution.duplicate_of is None,
            }
            if resolution.replaces:  # the sink deletes these; never part of the indexed document
                self.replacing.inc()
                dedup[REPLACES] = list(resolution.replaces)
            resolved = article.with_(dedup=dedup)
            if resolution.exact_of is not None:
                self.exact_indexed.inc()
                yield beam.pvalue.TaggedOutput(DUPLICATES, (resolved, "same_content_indexed", resolution.exact_of))
            elif resolution.duplicate_of is not None:
                self.near_duplicates.inc()
                if self.config.drop_near_duplicates:
                    yield beam.pvalue.TaggedOutput(DUPLICATES, (resolved, "near_duplicate", resolution.duplicate_of))
                else:
                    yield resolved
            else:
                yield resolved


class _ApplyMerges(_ElasticsearchDoFn):
    """Batches of (old cluster id, canonical id) -> the indexed documents of the old clusters
    relabelled: a search for them, then one bulk of partial updates (no scripts, so it
    also works on a server without the reindex and painless modules). Idempotent: relabelled
    documents no longer match the search. A document deleted meanwhile (an exact copy the
    sink replaces in the same run) is skipped. Failures go to ``dead``."""

    PAGE = 1000

    def __init__(self, es_config: Any) -> None:
        super().__init__(es_config)
        self.relabelled = Metrics.counter("dedup", "indexed_documents_relabelled")

    def _relabel(self, old_clusters: list[str], canonical: str) -> None:
        gone: set[str] = set()  # deleted between the search and the update
        while True:
            query: dict[str, Any] = {"terms": {"dedup.cluster_id": old_clusters}}
            if gone:
                query = {"bool": {"filter": [query], "must_not": [{"ids": {"values": sorted(gone)}}]}}
            response = _retrying(
                lambda query=query: self.client.search(
                    index=self.es_config.alias,
                    query=query,
                    size=self.PAGE,
                    source=False,
                    ignore_unavailable=True,
                )
            )
            hits = response["hits"]["hits"]
            if not hits:
                return
            operations: list[dict[str, Any]] = []
            for hit in hits:
                is_canonical = hit["_id"] == canonical
                dedup = {
                    "cluster_id": canonical,
                    "duplicate_of": None if is_canonical else canonical,
                    "is_canonical": is_canonical,
                }
                operations += [{"update": {"_index": hit["_index"], "_id": hit["_id"]}}, {"doc": {"dedup": dedup}}]
            result = _retrying(lambda operations=operations: self.client.bulk(operations=operations, refresh=True))
            failed = []
            for item in result["items"] if result.get("errors") else ():
                if item["update"].get("status") == 404:
                    gone.add(item["update"]["_id"])
                elif "error" in item["update"]:
                    failed.append(item["update"])
            if failed:
                raise RuntimeError(f"relabelling {len(failed)} documents failed, first: {failed[0]}")
            self.relabelled.inc(len(hits) - sum(1 for hit in hits if hit["_id"] in gone))

    def process(self, batch: list[tuple[str, str]]) -> Iterator[Any]:
        old_by_canonical: dict[str, set[str]] = {}
        for old_cluster, canonical in batch:
            old_by_canonical.setdefault(canonical, set()).add(old_cluster)
        for canonical, old_clusters in sorted(old_by_canonical.items()):
            try:
                self._relabel(sorted(old_clusters), canonical)
            except Exception as err:
                detail = "".join(traceback.format_exception_only(type(err), err)).strip()
                element = f"merge clusters {sorted(old_clusters)} into {canonical}"
                yield beam.pvalue.TaggedOutput(DEAD, DeadLetter("dedup_merge", "", detail, element, canonical))


class NearDedup(beam.PTransform):
    """PCollection[Article] -> {"articles", "duplicates", "dead"}: near duplicates within the
    run and against what is already indexed.

    Steps: fingerprint each article; group ids by LSH band key, join the signatures to the band
    keys several articles share, verify the pairs of each group; connected components of the
    verified edges (one global combine of the edge list); batched Elasticsearch lookup of the
    band keys (one msearch and one mget per batch of ``config.lookup_batch_size``) to find
    indexed near duplicates; join each component with the indexed clusters it matched (a second
    global combine); resolve each joined component (``resolve_component``: earliest published
    canonical) and relabel the indexed clusters it absorbed (a search and a bulk of partial
    updates per canonical). Output articles carry ``dedup`` = content_hash, cluster_id,
    duplicate_of (None for a canonical), similarity, is_canonical, bands, minhash, fold_version.
    ``duplicates``: ``(article, reason, kept_id)`` with reason ``same_content_indexed`` (always)
    or ``near_duplicate`` (when ``config.drop_near_duplicates``). ``es_config`` None skips the
    cross-run lookup.
    """

    def __init__(self, es_config: Any, config: DedupConfig | None = None) -> None:
        super().__init__()
        self.es_config = es_config
        self.config = config or load_config()

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        signed = articles | "Fingerprint" >> beam.ParDo(_Sign(self.config)).with_outputs(DEAD, main="articles")
        id_to_component = (
            {
                # Band keys travel with ids only; a signature (~700 characters) joins just the
                # bands that several articles share, not all `bands` copies of every article.
                "band": signed.articles
                | "KeyByBand" >> beam.FlatMap(_band_ids)
                | "GroupByBand" >> beam.GroupByKey()
                | "SharedBandsById" >> beam.FlatMap(_shared_band_ids),
                "minhash": signed.articles | "KeyMinhashById" >> beam.FlatMap(_signed_minhash),
            }
            | "JoinMinhash" >> beam.CoGroupByKey()
            | "KeyBySharedBand" >> beam.FlatMap(_bands_with_minhash)
            | "GroupSharedBand" >> beam.GroupByKey()
            | "VerifyBandPairs" >> beam.ParDo(_VerifyBand(self.config))
            | "ConnectedComponents" >> beam.CombineGlobally(_ComponentsFn()).without_defaults()
            | "ExplodeComponents" >> beam.FlatMap(lambda components: components.items())
        )
        component_to_article = (
            {"article": signed.articles | "KeyById" >> beam.Map(lambda a: (a.id, a)), "component": id_to_component}
            | "JoinComponents" >> beam.CoGroupByKey()
            | "KeyByComponent" >> beam.FlatMap(_key_by_component)
        )
        if self.es_config is None:
            with_matches = component_to_article | "NoLookup" >> beam.Map(lambda kv: (kv[0], (kv[1], ())))
            resolved = self._resolve(with_matches)
            return {"articles": resolved.articles, DUPLICATES: resolved[DUPLICATES], DEAD: signed[DEAD]}
        looked_up = (
            component_to_article
            | "BatchForLookup" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.config.lookup_batch_size)
            | "LookupIndexed"
            >> beam.ParDo(_LookupIndexed(self.es_config, self.config)).with_outputs(DEAD, main="matches")
        )
        component_to_joined = (
            looked_up.matches
            | "LinkIndexedClusters" >> beam.FlatMap(_cluster_links)
            | "JoinIndexedClusters" >> beam.CombineGlobally(_ComponentsFn()).without_defaults()
            | "ExplodeJoins" >> beam.FlatMap(lambda joined: joined.items())
        )
        with_matches = (
            {"member": looked_up.matches, "joined": component_to_joined}
            | "JoinWithIndexed" >> beam.CoGroupByKey()
            | "KeyByJoinedComponent" >> beam.FlatMap(_key_by_joined_component)
        )
        resolved = self._resolve(with_matches)
        merged = (
            resolved[MERGES]
            | "BatchMerges" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.config.lookup_batch_size)
            | "RelabelIndexedClusters" >> beam.ParDo(_ApplyMerges(self.es_config)).with_outputs(DEAD, main="done")
        )
        dead = (signed[DEAD], looked_up[DEAD], merged[DEAD]) | "FlattenDead" >> beam.Flatten()
        return {"articles": resolved.articles, DUPLICATES: resolved[DUPLICATES], DEAD: dead}

    def _resolve(self, with_matches: beam.PCollection) -> Any:
        return (
            with_matches
            | "GroupByComponent" >> beam.GroupByKey()
            | "ResolveClusters" >> beam.ParDo(_Resolve(self.config)).with_outputs(DUPLICATES, MERGES, main="articles")
        )
