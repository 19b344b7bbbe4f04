"""Exact and near-duplicate detection, within a run and across runs.

Pure functions do the work and are unit-tested without Beam:

* keys: ``canonical_url`` (``transforms.urls``), ``content_hash`` of the folded body;
* near-duplicate fingerprints: ``fingerprint`` folds once and gives the content hash,
  ``shingles`` (word n-grams of ``fold`` tokens) -> ``minhash_signature`` (numpy
  reproduction of datasketch's ``MinHash(num_perm, seed)``, affine32 scheme; ``fingerprint``
  computes the same signature in ``transforms._native``, ``native/src/minhash.rs``) -> ``band_keys``
  (LSH: ``bands`` bands of ``rows`` rows); ``shared_band_groups`` finds the distinct sets of
  articles sharing a band key, ``verify_band_group`` verifies one (``pair_similarity``:
  estimated containment or Jaccard); ``encode_signature`` / ``decode_signature`` store a
  signature in Elasticsearch (``dedup.minhash``);
* ``cluster``: union-find over verified pairs, canonical = earliest published, ties by id;
* ``candidate_hits`` / ``match_indexed`` / ``join_components`` / ``resolve_component``: join
  a run's clusters to clusters already in the index, electing one canonical across runs.

The Beam composite ``Dedup`` only adapts these. Data flow: Article -> fingerprint (once) ->
``DedupKey`` (ids, dates, hash, signature, band digests; no text) -> ``ExactDedup`` (one
survivor per id and per content hash) -> ``NearDedup`` (batched Elasticsearch lookup, band
keys grouped by shard, verified groups, components joined with the indexed clusters matched,
resolution, relabelling of indexed clusters a run absorbs) -> one ``Decision`` per key ->
joined back to its Article, which gets ``dedup`` filled. Losers leave through the
``duplicates`` output as ``(article, reason, kept_id)``; failures through ``dead`` as
``DeadLetter``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import pickle
import re
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import apache_beam as beam
import numpy as np
import yaml
from apache_beam.metrics import Metrics

from transforms import _native
from transforms.normalize import FOLD_VERSION, fold
from transforms.records import Article, DeadLetter

CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "dedup.yaml"

# datasketch's affine32 scheme (MinHash default since 2.0): sha1 -> 32 bits -> murmur3
# finaliser -> h * a + b mod 2**32 with odd a. Reproduced here so that signatures are plain
# arrays and identical to datasketch's for the same num_perm and seed.
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_MAX_HASH32 = np.uint32(0xFFFFFFFF)
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
    band_shards: int = 4

    def __post_init__(self) -> None:
        names = (
            "shingle_size",
            "num_perm",
            "bands",
            "rows",
            "lookup_batch_size",
            "lookup_hits_per_article",
            "band_shards",
        )
        for name in names:
            if getattr(self, name) < 1:
                raise ValueError(f"dedup config: {name} must be at least 1")
        if self.bands * self.rows > self.num_perm:
            raise ValueError("dedup config: bands * rows must not exceed num_perm")
        # One lookup search per batch: its terms and hits must stay within Elasticsearch's
        # defaults (index.max_terms_count 65,536, index.max_result_window 10,000).
        if self.lookup_batch_size * self.bands > 65_536:
            raise ValueError("dedup config: lookup_batch_size * bands must not exceed 65536")
        if self.lookup_batch_size * (self.lookup_hits_per_article + 1) >= 10_000:
            raise ValueError("dedup config: lookup_batch_size * (lookup_hits_per_article + 1) must stay under 10000")
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
    """murmur3's finaliser, in place on an array this module owns."""
    s1, m1, s2, m2, s3 = _FMIX32
    values ^= values >> s1
    values *= m1
    values ^= values >> s2
    values *= m2
    values ^= values >> s3
    return values


def minhash_signature(shingle_set: Iterable[str], num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """MinHash signature (uint32[num_perm]) of a set of shingles; deterministic everywhere.

    Equal to ``datasketch.MinHash(num_perm, seed).update_batch(s.encode())`` hash values.
    An empty set gives the all-max signature (similar to nothing but another empty set).
    """
    a, b = _permutations(num_perm, seed)
    # The first 4 bytes of each SHA-1 digest (word 0 of every 5) are datasketch's sha1_hash32.
    digests = b"".join(hashlib.sha1(shingle.encode()).digest() for shingle in shingle_set)
    if not digests:
        return np.full(num_perm, _MAX_HASH32, dtype=np.uint32)
    hashed = _fmix32(np.frombuffer(digests, dtype="<u4")[::5].astype(np.uint32))
    # One row per permutation: the minimum then runs along contiguous memory.
    permuted = a[:, None] * hashed
    permuted += b[:, None]
    return permuted.min(axis=1)


@functools.lru_cache(maxsize=8)  # a constant per parameter set: built once, only read
def _minhasher(num_perm: int, seed: int, shingle_size: int) -> _native.MinHasher:
    """``minhash_signature(shingles(text, shingle_size), num_perm, seed)`` with its size, natively:
    0.04 ms per article against 0.2 ms for the numpy path (``native/src/minhash.rs``)."""
    a, b = _permutations(num_perm, seed)
    return _native.MinHasher(a.tolist(), b.tolist(), shingle_size)


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
    return list(band_key_strings(_band_digests(signature, config)))


def _band_digests(signature: np.ndarray, config: DedupConfig) -> bytes:
    """The 8-byte digest of each band's rows, concatenated in band order."""
    values = signature.astype("<u4", copy=False).tobytes()
    keyed = _band_hasher(config)
    step = 4 * config.rows
    digests = []
    for start in range(0, config.bands * step, step):
        hasher = keyed.copy()
        hasher.update(values[start : start + step])
        digests.append(hasher.digest())
    return b"".join(digests)


def band_key_strings(band_digests: bytes) -> tuple[str, ...]:
    """The band keys (as indexed in ``dedup.bands``) of concatenated 8-byte band digests."""
    hexed = band_digests.hex()
    return tuple(f"{band}:{hexed[16 * band : 16 * band + 16]}" for band in range(len(band_digests) // 8))


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
    band_digests: bytes = b""  # the 8-byte digests behind ``bands``, concatenated (for grouping)


def fingerprint(title: str, body: str, config: DedupConfig = DedupConfig()) -> Fingerprint:
    """Content hash, MinHash signature and band keys of an article's text (folded once)."""
    folded = _key_text(title, body)
    digest = _digest(folded)
    found = _minhasher(config.num_perm, config.seed, config.shingle_size).signature(folded, config.min_tokens)
    if found is None:  # fewer than ``min_tokens`` tokens
        return Fingerprint(digest, None, 0, ())
    raw, size = found
    signature = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
    digests = _band_digests(signature, config)
    return Fingerprint(digest, signature, size, band_key_strings(digests), digests)


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


def shared_band_groups(
    ids: Sequence[str], rows: np.ndarray, bands: np.ndarray, values: np.ndarray
) -> list[tuple[str, ...]]:
    """The distinct sets of two or more ids that share an LSH band key, as sorted tuples.

    Entry ``i`` says: article ``ids[rows[i]]`` has the band digest ``values[i]`` (uint64) in
    band ``bands[i]``; a band key is a (band, digest) pair. A reprint shares most of its
    bands with the original, so many band keys have the same members: each set is returned
    once, and verifying it once (``verify_band_group``) gives the edges every copy would.
    """
    if len(rows) == 0:
        return []
    order = np.lexsort((rows, values, bands))  # by band key, then row
    sorted_bands, sorted_values, sorted_rows = bands[order], values[order], rows[order]
    starts = np.flatnonzero(
        np.concatenate(([True], (sorted_bands[1:] != sorted_bands[:-1]) | (sorted_values[1:] != sorted_values[:-1])))
    )
    stops = np.append(starts[1:], len(order))
    shared = stops - starts > 1
    member_sets: dict[bytes, np.ndarray] = {}
    for start, stop in zip(starts[shared].tolist(), stops[shared].tolist(), strict=True):
        members = sorted_rows[start:stop]
        member_sets.setdefault(members.tobytes(), members)
    groups = {tuple(sorted({ids[row] for row in members.tolist()})) for members in member_sets.values()}
    return sorted(group for group in groups if len(group) > 1)


def near_duplicate_pairs(
    fingerprints: Mapping[str, Fingerprint], config: DedupConfig = DedupConfig()
) -> dict[tuple[str, str], float]:
    """In-memory LSH: the groups of ids sharing a band key (``shared_band_groups``), each
    verified (``verify_band_group``); returns the verified edges, each once. The Beam composite
    does the same on shards of the band keys; this is for evaluation and tests.
    """
    signed = {
        article_id: (fp.signature, fp.size, fp.band_digests)
        for article_id, fp in fingerprints.items()
        if fp.signature is not None
    }
    if not signed:
        return {}
    ids = list(signed)
    values = np.frombuffer(b"".join(digests for _, _, digests in signed.values()), dtype="<u8").reshape(len(ids), -1)
    rows, bands = np.nonzero(np.ones(values.shape, dtype=bool))
    pairs: dict[tuple[str, str], float] = {}
    for group in shared_band_groups(ids, rows, bands, values.ravel()):
        members = [(article_id, *signed[article_id][:2]) for article_id in group]
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


def join_components(edges: Iterable[tuple[str, str]], links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The component each article of a run is resolved in: ``{id: component id}``.

    ``edges`` are verified pairs of the run's articles: connected articles form a run
    component, named by its smallest id. ``links`` are ``(article id, indexed cluster id)``,
    one per indexed match: a run component and the indexed clusters its members matched are
    joined, named by the smallest of their names (an article of the run named like a matched
    cluster joins it too). An id the result does not name is alone.
    """
    run = {node: component for node, (component, _) in cluster(sorted(edges), {}).items()}
    joined_links = sorted((run.get(article, article), cluster_id) for article, cluster_id in links)
    joined = {node: component for node, (component, _) in cluster(joined_links, {}).items()}
    result = {}
    for node in run.keys() | joined.keys():
        component = run.get(node, node)
        result[node] = joined.get(component, component)
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


def candidate_hits(
    articles: Sequence[tuple[str, str, Sequence[str]]], hits: Iterable[Mapping[str, Any]]
) -> list[list[Mapping[str, Any]]]:
    """For each article ``(id, content hash, band keys)``, the hits that share its content
    hash or one of its band keys, its own document left out: what a query for that article
    alone matches. Hits carry ``dedup.content_hash`` and ``dedup.bands`` in ``_source``.
    """
    hits = list(hits)
    found: list[list[Mapping[str, Any]]] = [[] for _ in articles]
    if not hits:  # the common case, and then nothing needs indexing
        return found
    by_hash: dict[str, list[int]] = {}
    by_band: dict[str, list[int]] = {}
    for position, hit in enumerate(hits):
        dedup = (hit.get("_source") or {}).get("dedup") or {}
        by_hash.setdefault(dedup.get("content_hash") or "", []).append(position)
        bands = dedup.get("bands") or []
        for band in [bands] if isinstance(bands, str) else bands:
            by_band.setdefault(band, []).append(position)
    for index, (article_id, digest, bands) in enumerate(articles):
        matched = set(by_hash.get(digest, ()))
        for band in bands:
            matched.update(by_band.get(band, ()))
        found[index] = [hits[position] for position in sorted(matched) if hits[position].get("_id") != article_id]
    return found


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


class _ExactKeys(Protocol):
    """What ``choose_survivor`` reads: an ``Article`` or a ``DedupKey``."""

    @property
    def id(self) -> str: ...
    @property
    def content_hash(self) -> str | None: ...
    @property
    def published_at(self) -> str | None: ...
    @property
    def fetched_at(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def guid(self) -> str | None: ...


_Keys = TypeVar("_Keys", bound=_ExactKeys)


def choose_survivor(group: Sequence[_Keys], reason: str) -> tuple[_Keys, list[_Keys]]:
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


# --- the records dedup decides on ---------------------------------------------------------


class DedupKey(NamedTuple):
    """One article as dedup decides on it: its keys and fingerprint, without its text."""

    element: str  # joins the decision back to the article (``element_key``)
    id: str
    content_hash: str
    published_at: str | None
    fetched_at: str
    origin: str
    guid: str | None
    signature: bytes  # little-endian uint32 values; b"" under min_tokens
    size: int  # distinct shingles
    band_digests: bytes  # 8 bytes per band (``Fingerprint.band_digests``); b"" without a signature


class Decision(NamedTuple):
    """What dedup decided for one article, applied when the article is joined back."""

    cluster_id: str | None  # None: an exact duplicate, dropped before clustering
    duplicate_of: str | None
    similarity: float | None
    replaces: tuple[str, ...] = ()  # indexed exact copies the sink deletes when it indexes the article
    dropped: tuple[str, str] | None = None  # (reason, kept id): the article leaves through ``duplicates``
    notes: tuple[str, ...] = ()  # appended to the article's notes


def element_key(article: Article, digest: str) -> str:
    """The key that joins an article with its decision. Two articles share it only when
    everything dedup decides on is the same (id, content hash, dates, origin, guid): they
    are then interchangeable, and either may take either decision."""
    fields = (article.id, digest, article.published_at, article.fetched_at, article.origin, article.guid)
    return hashlib.blake2b(repr(fields).encode("utf-8"), digest_size=16).hexdigest()


def dedup_key(article: Article, fp: Fingerprint) -> DedupKey:
    signature = fp.signature.astype("<u4", copy=False).tobytes() if fp.signature is not None else b""
    return DedupKey(
        element_key(article, fp.content_hash),
        article.id,
        fp.content_hash,
        article.published_at,
        article.fetched_at,
        article.origin,
        article.guid,
        signature,
        fp.size,
        fp.band_digests,
    )


def apply_decision(article: Article, decision: Decision) -> Article:
    """The article as dedup leaves it: the cluster fields join the fingerprint fields in
    ``dedup`` (in the order of the indexed document), the decision's notes are appended. An
    exact duplicate dropped before clustering is returned as it is."""
    if decision.cluster_id is None:
        return article
    fields = article.dedup
    dedup = {
        "content_hash": fields["content_hash"],
        "cluster_id": decision.cluster_id,
        "duplicate_of": decision.duplicate_of,
        "similarity": decision.similarity,
        "is_canonical": decision.duplicate_of is None,
        "bands": fields["bands"],
        "minhash": fields["minhash"],
        "fold_version": fields["fold_version"],
    }
    if decision.replaces:  # the sink deletes these; never part of the indexed document
        dedup[REPLACES] = list(decision.replaces)
    if decision.notes:
        return article.with_(dedup=dedup, notes=(*article.notes, *decision.notes))
    return article.with_(dedup=dedup)


# --- Beam composites ----------------------------------------------------------------------
# DoFns only adapt the functions above. Nothing is kept between elements except what
# setup() builds (the Elasticsearch client), so the same code runs on any runner.
#
# Only ``Dedup`` handles whole articles: it fingerprints each one, ``ExactDedup`` and
# ``NearDedup`` decide on its ``DedupKey``, and one shuffle joins every article with its
# ``Decision``. Records cross shuffles as plain tuples: Beam's default coder writes tuples of
# strings, bytes and numbers itself but pickles a NamedTuple, which costs twice the CPU.

DUPLICATES = "duplicates"
DEAD = "dead"
MERGES = "merges"
DECISIONS = "decisions"
REPLACES = "replaces"  # Article.dedup key: indexed exact copies the sink deletes when it indexes the article
_ARTICLE = "article"
_EDGE, _LINK = "edge", "link"  # kinds of pairs ``_ComponentsFn`` joins
_SIGNATURE, _GROUP = "signature", "group"  # kinds of values ``_signed_members`` reads
_LOOKED, _COMPONENT = "looked", "component"  # kinds of values ``_RouteToComponent`` reads
_BAND_BATCH = 1024  # signed keys per band block: a few large shuffle elements instead of one per band


class _Looked(NamedTuple):
    """A ``DedupKey`` and what the index lookup found for it."""

    key: DedupKey
    matches: tuple[IndexedMatch, ...] = ()
    notes: tuple[str, ...] = ()

    def plain(self) -> tuple[tuple[Any, ...], tuple[IndexedMatch, ...], tuple[str, ...]]:
        return tuple(self.key), self.matches, self.notes

    @classmethod
    def from_plain(cls, values: Sequence[Any]) -> _Looked:
        key, matches, notes = values
        return cls(DedupKey._make(key), matches, notes)


def _dead(step: str, article: Article, err: BaseException) -> beam.pvalue.TaggedOutput:
    detail = "".join(traceback.format_exception_only(type(err), err)).strip()
    return beam.pvalue.TaggedOutput(DEAD, DeadLetter(step, article.origin, detail, repr(article)[:20_000], article.id))


class _Fingerprint(beam.DoFn):
    """Article -> its ``DedupKey``; the article itself, with its content hash and the
    fingerprint fields of ``dedup``, keyed for the join and pickled (``_ARTICLE``); an article
    without any text to ``dead`` (it must not collapse into another one).

    The article crosses the join as pickle bytes because the in-process runner materializes
    the Flatten before the join's GroupByKey, decoding and encoding every element once more:
    for bytes that is a copy, for an ``Article`` an unpickling and a pickling (35 of 41 us
    per article, measured).
    """

    def __init__(self, config: DedupConfig) -> None:
        self.config = config

    def process(self, article: Article) -> Iterator[Any]:
        try:
            fp = fingerprint(article.title, article.body, self.config)
        except ValueError as err:
            yield _dead("dedup_hash", article, err)
        else:
            minhash = encode_signature(fp.signature, fp.size) if fp.signature is not None else None
            fields = {"content_hash": fp.content_hash, "bands": list(fp.bands), "minhash": minhash}
            key = dedup_key(article, fp)
            signed = article.with_(content_hash=fp.content_hash, dedup={**fields, "fold_version": FOLD_VERSION})
            yield beam.pvalue.TaggedOutput(_ARTICLE, (key.element, pickle.dumps(signed, pickle.HIGHEST_PROTOCOL)))
            yield key


class _KeepOne(beam.DoFn):
    """One survivor per key (``choose_survivor``); the others get a ``Decision`` that drops
    them with ``(reason, kept_id)``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.duplicates = Metrics.counter("dedup", f"exact_{reason}")

    def process(self, keyed: tuple[str, Iterable[Sequence[Any]]]) -> Iterator[Any]:
        kept, losers = choose_survivor([DedupKey._make(values) for values in keyed[1]], self.reason)
        yield kept
        for loser in losers:
            self.duplicates.inc()
            decision = Decision(None, None, None, dropped=(self.reason, kept.id))
            yield beam.pvalue.TaggedOutput(DECISIONS, (loser.element, tuple(decision)))


class ExactDedup(beam.PTransform):
    """PCollection[DedupKey] -> {"keys", "decisions"}.

    Keeps one key per id (same canonical URL: the latest fetched version, an update), then one
    per content hash (same folded body under another URL: the earliest published, then the
    smallest id). The others get ``(element, Decision)`` dropping them with reason ``same_id``
    or ``same_content``.
    """

    def expand(self, keys: beam.PCollection) -> dict[str, beam.PCollection]:
        per_id = (
            keys
            | "KeyById" >> beam.Map(lambda key: (key.id, tuple(key)))
            | "GroupById" >> beam.GroupByKey()
            | "OnePerId" >> beam.ParDo(_KeepOne("same_id")).with_outputs(DECISIONS, main="keys")
        )
        per_hash = (
            per_id.keys
            | "KeyByContentHash" >> beam.Map(lambda key: (key.content_hash, tuple(key)))
            | "GroupByContentHash" >> beam.GroupByKey()
            | "OnePerContentHash" >> beam.ParDo(_KeepOne("same_content")).with_outputs(DECISIONS, main="keys")
        )
        decisions = (per_id[DECISIONS], per_hash[DECISIONS]) | "FlattenDecisions" >> beam.Flatten()
        return {"keys": per_hash.keys, DECISIONS: decisions}


def _band_blocks(batch: list[DedupKey], shards: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Signed keys -> their band keys split by shard (digest modulo ``shards``), one block per
    shard: ``(ids, rows, bands, digests)``, entry ``i`` being band ``bands[i]`` of
    ``ids[rows[i]]``."""
    ids = tuple(key.id for key in batch)
    digests = np.frombuffer(b"".join(key.band_digests for key in batch), dtype="<u8").reshape(len(batch), -1)
    shard_of = digests % np.uint64(shards)
    for shard in range(shards):
        rows, bands = np.nonzero(shard_of == shard)
        if len(rows):
            yield shard, (ids, rows.astype(np.int32), bands.astype(np.int16), digests[rows, bands])


def _group_memberships(keyed: tuple[int, Iterable[tuple[Any, ...]]]) -> Iterator[tuple[str, tuple[str, bytes]]]:
    """A shard's band blocks -> ``(id, (_GROUP, group digest))`` for each member of each set of
    ids sharing a band key (``shared_band_groups``). A set found in several shards has the same
    digest in each, so its members meet it once (``_signed_members``)."""
    ids: list[str] = []
    rows, bands, digests = [], [], []
    for block_ids, block_rows, block_bands, block_digests in keyed[1]:
        rows.append(block_rows + len(ids))
        ids.extend(block_ids)
        bands.append(block_bands)
        digests.append(block_digests)
    for group in shared_band_groups(ids, np.concatenate(rows), np.concatenate(bands), np.concatenate(digests)):
        group_digest = hashlib.blake2b(repr(group).encode("utf-8"), digest_size=16).digest()
        for article_id in group:
            yield article_id, (_GROUP, group_digest)


def _signed_members(
    keyed: tuple[str, Iterable[tuple[Any, ...]]],
) -> Iterator[tuple[bytes, tuple[str, bytes, int]]]:
    """An id's signature and the groups it belongs to -> ``(group digest, (id, signature,
    size))``, once per group."""
    article_id = keyed[0]
    signature, size, groups = b"", 0, set()
    for value in keyed[1]:
        if value[0] == _SIGNATURE:
            _, signature, size = value
        else:
            groups.add(value[1])
    for group_digest in sorted(groups):
        yield group_digest, (article_id, signature, size)


class _VerifyGroup(beam.DoFn):
    """A group of ids sharing a band key, with their signatures -> its spanning edges
    (``verify_band_group``) as ``(_EDGE, id_a, id_b)``."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config

    def process(self, keyed: tuple[bytes, Iterable[tuple[str, bytes, int]]]) -> Iterator[tuple[str, str, str]]:
        members = [
            (article_id, np.frombuffer(signature, dtype="<u4"), size) for article_id, signature, size in keyed[1]
        ]
        for id_a, id_b, _ in verify_band_group(members, self.config):
            yield _EDGE, id_a, id_b


class _ComponentsFn(beam.CombineFn):
    """``(_EDGE, id, id)`` verified pairs and ``(_LINK, id, indexed cluster id)`` matches ->
    ``{id: component}`` (``join_components``).

    A global combine: band groups emit spanning edges only (fewer than the articles in the
    run) and links are as many as indexed matches, so one worker holds them easily at news
    scale.
    """

    def create_accumulator(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        return set(), set()

    def add_input(
        self, accumulator: tuple[set[tuple[str, str]], set[tuple[str, str]]], pair: tuple[str, str, str]
    ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        kind, first, second = pair
        accumulator[0 if kind == _EDGE else 1].add((first, second))
        return accumulator

    def merge_accumulators(
        self, accumulators: Iterable[tuple[set[tuple[str, str]], set[tuple[str, str]]]]
    ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        edges: set[tuple[str, str]] = set()
        links: set[tuple[str, str]] = set()
        for more_edges, more_links in accumulators:
            edges |= more_edges
            links |= more_links
        return edges, links

    def extract_output(self, accumulator: tuple[set[tuple[str, str]], set[tuple[str, str]]]) -> dict[str, str]:
        return join_components(*accumulator)


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
    """Batches of ``DedupKey`` -> ``_Looked``: the indexed near duplicates of each key.

    One search per batch finds the indexed documents that share a content hash or a band key
    with any key of the batch (filter context, no scoring), and each key gets those its own
    query would match (``candidate_hits``; the content hash lets texts too short for a
    signature meet their indexed exact copies). A key with more candidates than
    ``lookup_hits_per_article``, or every key of a batch with more candidates than the search
    returned, is looked up with its own scored query instead, which keeps the best
    ``lookup_hits_per_article`` as Elasticsearch ranks them. One mget fetches the
    published_at of the matched clusters' canonicals. A batch Elasticsearch cannot answer
    goes on without indexed matches (noted).
    """

    SOURCE = ("dedup.minhash", "dedup.cluster_id", "dedup.content_hash", "published_at")

    def __init__(self, es_config: Any, config: DedupConfig) -> None:
        super().__init__(es_config)
        self.config = config
        self.failures = Metrics.counter("dedup", "lookup_failures")

    def _candidates(self, keys: list[DedupKey]) -> list[list[Mapping[str, Any]]]:
        bands = [band_key_strings(key.band_digests) for key in keys]
        # Every key's candidates fit in this many hits when none has more than it keeps (its own
        # document aside); one hit more tells that some were left out.
        limit = len(keys) * (self.config.lookup_hits_per_article + 1)
        hits = self._search_batch(keys, bands, limit + 1)
        if len(hits) > limit:
            return self._search_each(keys, bands)
        found = candidate_hits([(key.id, key.content_hash, b) for key, b in zip(keys, bands, strict=True)], hits)
        crowded = [i for i, hits_of_key in enumerate(found) if len(hits_of_key) > self.config.lookup_hits_per_article]
        if crowded:
            ranked = self._search_each([keys[i] for i in crowded], [bands[i] for i in crowded])
            for i, hits_of_key in zip(crowded, ranked, strict=True):
                found[i] = hits_of_key
        return found

    def _search_batch(self, keys: list[DedupKey], bands: list[tuple[str, ...]], size: int) -> list[Mapping[str, Any]]:
        should = [
            {"terms": {"dedup.content_hash": list({key.content_hash for key in keys})}},
            {"terms": {"dedup.bands": list(itertools.chain.from_iterable(bands))}},  # Elasticsearch dedupes
        ]
        response = _retrying(
            lambda: self.client.search(
                index=self.es_config.alias,
                query={"constant_score": {"filter": {"bool": {"should": should, "minimum_should_match": 1}}}},
                size=size,
                source=[*self.SOURCE, "dedup.bands"],
                track_total_hits=False,
                ignore_unavailable=True,
            )
        )
        hits: list[Mapping[str, Any]] = response["hits"]["hits"]
        return hits

    def _search_each(self, keys: list[DedupKey], bands: list[tuple[str, ...]]) -> list[list[Mapping[str, Any]]]:
        searches: list[dict[str, Any]] = []
        for key, key_bands in zip(keys, bands, strict=True):
            searches.append({"index": self.es_config.alias, "ignore_unavailable": True})
            searches.append(
                {
                    "size": self.config.lookup_hits_per_article,
                    "_source": list(self.SOURCE),
                    "query": {
                        "bool": {
                            "should": [
                                {"term": {"dedup.content_hash": key.content_hash}},
                                *({"term": {"dedup.bands": band}} for band in key_bands),
                            ],
                            "minimum_should_match": 1,
                            "must_not": [{"ids": {"values": [key.id]}}],
                        }
                    },
                }
            )
        response = _retrying(lambda: self.client.msearch(searches=searches))
        results: list[list[Mapping[str, Any]]] = []
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

    def process(self, batch: list[DedupKey]) -> Iterator[_Looked]:
        try:
            matches_by_id: dict[str, tuple[IndexedMatch, ...]] = {}
            for key, hits in zip(batch, self._candidates(batch), strict=True):
                signature = np.frombuffer(key.signature, dtype="<u4") if key.signature else None
                matches_by_id[key.id] = match_indexed(key.id, signature, key.size, key.content_hash, hits, self.config)
            missing = {m.cluster_id for ms in matches_by_id.values() for m in ms if m.cluster_id != m.id}
            dates = self._canonical_dates(missing)
        except Exception as err:
            # Elasticsearch unreachable or failing: the articles are still good. They go on with
            # in-run dedup only (noted), and the sink indexes them or keeps them pending for
            # --resume; dead-lettering them here would lose them to a passing outage.
            self.failures.inc(len(batch))
            note = f"cross-run dedup skipped: {type(err).__name__}: {err}"[:300]
            yield from (_Looked(key, (), (note,)) for key in batch)
        else:
            for key in batch:
                matches = tuple(
                    replace(m, canonical_published_at=dates.get(m.cluster_id)) if m.cluster_id in dates else m
                    for m in matches_by_id[key.id]
                )
                yield _Looked(key, matches)


def _cluster_links(looked: _Looked) -> Iterator[tuple[str, str, str]]:
    for match in looked.matches:
        yield _LINK, looked.key.id, match.cluster_id


class _RouteToComponent(beam.DoFn):
    """An id's ``_Looked`` record and its component, if it has one -> ``(component, record)``
    for ``_Resolve``; a record in no component is alone, and its decision is made here (its
    own canonical). Component entries of ids that are not articles of the run (indexed
    cluster ids) meet no record and end here."""

    def process(self, keyed: tuple[str, Iterable[tuple[str, Any]]]) -> Iterator[Any]:
        article_id, values = keyed
        looked, component = None, None
        for kind, value in values:
            if kind == _LOOKED:
                looked = value
            else:
                component = value
        if looked is not None and component is not None:
            yield component, looked
        elif looked is not None:
            record = _Looked.from_plain(looked)
            decision = Decision(article_id, None, None, notes=record.notes)
            yield beam.pvalue.TaggedOutput(DECISIONS, (record.key.element, tuple(decision)))


class _Resolve(beam.DoFn):
    """A component's ``_Looked`` records -> a ``Decision`` for each (``resolve_component``);
    indexed clusters to relabel go to ``merges`` as (old cluster id, canonical id)."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.exact_indexed = Metrics.counter("dedup", "exact_same_content_indexed")
        self.replacing = Metrics.counter("dedup", "replacing_indexed_copies")
        self.near_duplicates = Metrics.counter("dedup", "near_duplicates")
        self.joined = Metrics.counter("dedup", "joined_indexed_clusters")

    def process(self, keyed: tuple[str, Iterable[Sequence[Any]]]) -> Iterator[Any]:
        group = sorted(map(_Looked.from_plain, keyed[1]), key=lambda looked: looked.key.id)
        signed = [
            (looked.key.id, np.frombuffer(looked.key.signature, dtype="<u4"), looked.key.size)
            for looked in group
            if looked.key.signature
        ]
        in_run = best_similarities(signed, self.config)
        members = [Member(lk.key.id, lk.key.published_at, in_run.get(lk.key.id), lk.matches) for lk in group]
        resolutions, merges = resolve_component(members)
        for old_cluster, canonical in merges.items():
            yield beam.pvalue.TaggedOutput(MERGES, (old_cluster, canonical))
        for looked in group:
            resolution = resolutions[looked.key.id]
            if looked.matches:
                self.joined.inc()
            if resolution.replaces:
                self.replacing.inc()
            dropped = None
            if resolution.exact_of is not None:
                self.exact_indexed.inc()
                dropped = ("same_content_indexed", resolution.exact_of)
            elif resolution.duplicate_of is not None:
                self.near_duplicates.inc()
                if self.config.drop_near_duplicates:
                    dropped = ("near_duplicate", resolution.duplicate_of)
            decision = Decision(
                resolution.cluster_id,
                resolution.duplicate_of,
                resolution.similarity,
                resolution.replaces,
                dropped,
                looked.notes,
            )
            yield looked.key.element, tuple(decision)


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


class _ApplyDecisions(beam.DoFn):
    """An element key's article (pickled by ``_Fingerprint``) and decision -> the article with
    its ``dedup`` fields (``apply_decision``), or ``(article, reason, kept_id)`` to
    ``duplicates``. Articles that share an element key are interchangeable, so they pair with
    its decisions in any order."""

    def process(self, keyed: tuple[str, Iterable[Any]]) -> Iterator[Any]:
        articles, decisions = [], []
        for value in keyed[1]:
            if isinstance(value, bytes):
                articles.append(pickle.loads(value))
            else:
                decisions.append(Decision._make(value))
        if len(articles) != len(decisions):  # every key gets exactly one decision
            raise RuntimeError(f"dedup: {len(articles)} articles but {len(decisions)} decisions for {keyed[0]}")
        for article, decision in zip(articles, decisions, strict=True):
            decided = apply_decision(article, decision)
            if decision.dropped is None:
                yield decided
            else:
                yield beam.pvalue.TaggedOutput(DUPLICATES, (decided, *decision.dropped))


class NearDedup(beam.PTransform):
    """PCollection[DedupKey] (one per id and per content hash) -> {"decisions", "dead"}: near
    duplicates within the run and against what is already indexed.

    Steps: look each key up in Elasticsearch (batched, ``_LookupIndexed``); split the band
    keys of signed keys into ``config.band_shards`` shards, batched, and find in each shard
    the sets of ids sharing a band key; join each set with its members' signatures and verify
    it; connected components of the verified edges, joined with the indexed clusters their
    members matched (one global combine, ``join_components``); resolve each component
    (``resolve_component``: earliest published canonical) and relabel the indexed clusters it
    absorbed (a search and a bulk of partial updates per canonical). ``decisions``:
    ``(element, Decision)`` for every key, with reason ``same_content_indexed`` (always) or
    ``near_duplicate`` (when ``config.drop_near_duplicates``) for the dropped ones.
    ``es_config`` None skips the cross-run lookup.
    """

    def __init__(self, es_config: Any, config: DedupConfig | None = None) -> None:
        super().__init__()
        self.es_config = es_config
        self.config = config or load_config()

    def expand(self, keys: beam.PCollection) -> dict[str, beam.PCollection]:
        looked = self._lookup(keys)
        signed = keys | "KeepSigned" >> beam.Filter(lambda key: bool(key.signature))
        band_group_memberships = (
            signed
            | "BatchForBands" >> beam.BatchElements(min_batch_size=_BAND_BATCH, max_batch_size=_BAND_BATCH)
            | "SplitBandsByShard" >> beam.FlatMap(_band_blocks, self.config.band_shards)
            | "GroupBandShards" >> beam.GroupByKey()
            | "SharedBandGroups" >> beam.FlatMap(_group_memberships)
        )
        id_to_signature = signed | "KeySignatureById" >> beam.Map(lambda k: (k.id, (_SIGNATURE, k.signature, k.size)))
        edges = (
            (id_to_signature, band_group_memberships)
            | "FlattenSignatures" >> beam.Flatten()
            | "GroupSignaturesById" >> beam.GroupByKey()
            | "SignedMembers" >> beam.FlatMap(_signed_members)
            | "GroupCandidates" >> beam.GroupByKey()
            | "VerifyCandidates" >> beam.ParDo(_VerifyGroup(self.config))
        )
        id_to_component = (
            (edges, looked | "LinkIndexedClusters" >> beam.FlatMap(_cluster_links))
            | "FlattenLinks" >> beam.Flatten()
            | "ConnectedComponents" >> beam.CombineGlobally(_ComponentsFn()).without_defaults()
            | "ExplodeComponents" >> beam.FlatMap(lambda components: components.items())
        )
        routed = (
            (
                looked | "KeyLookedById" >> beam.Map(lambda record: (record.key.id, (_LOOKED, record.plain()))),
                id_to_component | "TagComponents" >> beam.MapTuple(lambda node, c: (node, (_COMPONENT, c))),
            )
            | "FlattenComponents" >> beam.Flatten()
            | "GroupWithComponent" >> beam.GroupByKey()
            | "RouteToComponent" >> beam.ParDo(_RouteToComponent()).with_outputs(DECISIONS, main="members")
        )
        resolved = (
            routed.members
            | "GroupByComponent" >> beam.GroupByKey()
            | "ResolveClusters" >> beam.ParDo(_Resolve(self.config)).with_outputs(MERGES, main=DECISIONS)
        )
        decisions = (routed[DECISIONS], resolved[DECISIONS]) | "FlattenDecisions" >> beam.Flatten()
        return {DECISIONS: decisions, DEAD: self._relabel(resolved[MERGES])}

    def _lookup(self, keys: beam.PCollection) -> beam.PCollection:
        if self.es_config is None:
            return keys | "NoLookup" >> beam.Map(_Looked)
        return (
            keys
            | "BatchForLookup" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.config.lookup_batch_size)
            | "LookupIndexed" >> beam.ParDo(_LookupIndexed(self.es_config, self.config))
        )

    def _relabel(self, merges: beam.PCollection) -> beam.PCollection:
        if self.es_config is None:  # nothing indexed was looked up, so nothing is merged
            return () | "NoRelabelling" >> beam.Flatten(pipeline=merges.pipeline)
        relabelled = (
            merges
            | "BatchMerges" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.config.lookup_batch_size)
            | "RelabelIndexedClusters" >> beam.ParDo(_ApplyMerges(self.es_config)).with_outputs(DEAD, main="done")
        )
        return relabelled[DEAD]


class Dedup(beam.PTransform):
    """PCollection[Article] -> {"articles", "duplicates", "dead"}: exact and near duplicates,
    within the run and against what is already indexed.

    Steps: fingerprint each article once (``_Fingerprint``: content hash, signature, band
    keys); ``ExactDedup`` and ``NearDedup`` decide on the small ``DedupKey`` records; one
    shuffle joins each article with its ``Decision``. Output articles carry ``content_hash``
    and ``dedup`` = content_hash, cluster_id, duplicate_of (None for a canonical), similarity,
    is_canonical, bands, minhash, fold_version (and ``replaces``, for the sink only).
    ``duplicates``: ``(article, reason, kept_id)`` with reason ``same_id``, ``same_content``,
    ``same_content_indexed`` or ``near_duplicate`` (when ``config.drop_near_duplicates``).
    ``dead``: ``DeadLetter`` with step ``dedup_hash`` (no text at all) or ``dedup_merge``
    (relabelling an absorbed indexed cluster failed). ``es_config`` (the sink's picklable
    ``EsConfig``) None skips the cross-run lookup.
    """

    def __init__(self, es_config: Any, config: DedupConfig | None = None) -> None:
        super().__init__()
        self.es_config = es_config
        self.config = config or load_config()

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        signed = articles | "Fingerprint" >> beam.ParDo(_Fingerprint(self.config)).with_outputs(
            _ARTICLE, DEAD, main="keys"
        )
        exact = signed.keys | "ExactDedup" >> ExactDedup()
        near = exact["keys"] | "NearDedup" >> NearDedup(self.es_config, self.config)
        decided = (
            (signed[_ARTICLE], exact[DECISIONS], near[DECISIONS])
            | "FlattenWithDecisions" >> beam.Flatten()
            | "JoinDecisions" >> beam.GroupByKey()
            | "ApplyDecisions" >> beam.ParDo(_ApplyDecisions()).with_outputs(DUPLICATES, main="articles")
        )
        dead = (signed[DEAD], near[DEAD]) | "FlattenDead" >> beam.Flatten()
        return {"articles": decided.articles, DUPLICATES: decided[DUPLICATES], DEAD: dead}
