"""Exact and near-duplicate detection, within a run and across runs.

Pure functions do the work and are unit-tested without Beam:

* keys: ``canonical_url`` (``transforms.urls``), ``content_hash`` of the folded body;
* near-duplicate fingerprints: ``shingles`` (word n-grams of ``fold`` tokens) ->
  ``minhash_signature`` (numpy reproduction of datasketch's ``MinHash(num_perm, seed)``,
  affine32 scheme) -> ``band_keys`` (LSH: ``bands`` bands of ``rows`` rows);
  ``estimated_similarity`` verifies a candidate pair, ``encode_signature`` /
  ``decode_signature`` store a signature in Elasticsearch (``dedup.minhash``);
* ``cluster``: union-find over verified pairs, canonical = earliest published, ties by id;
* ``match_indexed`` / ``resolve_component``: join a run's clusters to clusters already in
  the index.

The Beam composites ``ExactDedup`` and ``NearDedup`` only adapt these. Data flow:
Article -> ExactDedup (one survivor per id and per content hash) -> NearDedup (sign,
group by band key, verify pairs, connected components, batched Elasticsearch lookup of
band keys, join existing clusters) -> Article with ``dedup`` filled. Losers leave through
the ``duplicates`` output as ``(article, reason, kept_id)``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from transforms.normalize import FOLD_VERSION, fold

CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "dedup.yaml"

# datasketch's affine32 scheme (MinHash default since 2.0): sha1 -> 32 bits -> murmur3
# finaliser -> h * a + b mod 2**32 with odd a. Reproduced here so that signatures are plain
# arrays and identical to datasketch's for the same num_perm and seed.
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_MAX_HASH32 = np.uint32(0xFFFFFFFF)
_TOKEN = re.compile(r"\w+")
MEASURES = frozenset({"jaccard", "containment"})


@dataclass(frozen=True)
class DedupConfig:
    """Domain config for duplicate detection (``config/dedup.yaml``)."""

    shingle_size: int = 3
    num_perm: int = 128
    seed: int = 1
    bands: int = 32
    rows: int = 4
    threshold: float = 0.5
    measure: str = "jaccard"  # "jaccard" or "containment" (of the smaller text in the larger)
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


def load_config(path: str | Path = CONFIG_PATH) -> DedupConfig:
    """Read and validate a dedup YAML file; unknown keys are an error, missing ones default."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
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
    text = " ".join(fold(body or "").split()) or " ".join(fold(title or "").split())
    if not text:
        raise ValueError("article has neither body nor title text")
    return hashlib.blake2b(text.encode("utf-8"), digest_size=20).hexdigest()


# --- MinHash and LSH --------------------------------------------------------------------


def shingles(folded_text: str, size: int = 3) -> set[str]:
    """Word ``size``-grams of the folded text's tokens; a text shorter than ``size`` tokens
    is one shingle, an empty text none."""
    tokens = _TOKEN.findall(folded_text)
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


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
    digests = b"".join(hashlib.sha1(s.encode("utf-8")).digest()[:4] for s in shingle_set)
    if not digests:
        return np.full(num_perm, _MAX_HASH32, dtype=np.uint32)
    hashed = _fmix32(np.frombuffer(digests, dtype="<u4").astype(np.uint32)).reshape(-1, 1)
    with np.errstate(over="ignore"):
        permuted = hashed * a + b
    return permuted.min(axis=0)


def estimated_similarity(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of positions where the signatures agree."""
    if sig_a.shape != sig_b.shape:
        raise ValueError(f"signature lengths differ: {sig_a.shape} vs {sig_b.shape}")
    return float(np.count_nonzero(sig_a == sig_b)) / float(len(sig_a))


def _band_salt(config: DedupConfig) -> bytes:
    # Keys from signatures made with other parameters must never collide with these.
    return f"f{FOLD_VERSION}n{config.shingle_size}p{config.num_perm}s{config.seed}r{config.rows}".encode()[:16]


def band_keys(signature: np.ndarray, config: DedupConfig = DedupConfig()) -> list[str]:
    """LSH band keys ``"{band_index}:{hash of the band's rows}"``, one per band."""
    rows = signature.astype("<u4", copy=False)
    salt = _band_salt(config)
    keys = []
    for band in range(config.bands):
        chunk = rows[band * config.rows : (band + 1) * config.rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, salt=salt).hexdigest()
        keys.append(f"{band}:{digest}")
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
    sig_a: np.ndarray, size_a: int, sig_b: np.ndarray, size_b: int, measure: str = "jaccard"
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
    """Content hash, MinHash signature and band keys of an article's text."""
    digest = content_hash(title, body)
    folded = fold(body or "") or fold(title or "")
    if len(_TOKEN.findall(folded)) < max(config.min_tokens, 1):
        return Fingerprint(digest, None, 0, ())
    shingle_set = shingles(folded, config.shingle_size)
    signature = minhash_signature(shingle_set, config.num_perm, config.seed)
    return Fingerprint(digest, signature, len(shingle_set), tuple(band_keys(signature, config)))


def verify_band_group(
    members: Sequence[tuple[str, np.ndarray, int]], config: DedupConfig = DedupConfig()
) -> list[tuple[str, str, float]]:
    """Verified pairs ``(id_a, id_b, similarity)`` (id_a < id_b) among articles sharing a band key.

    ``members`` are ``(id, signature, shingle count)``. All pairs are compared at once with
    numpy; a group is as large as the number of articles sharing that band, which at news
    scale is the size of a reprint cluster.
    """
    unique = {article_id: (signature, size) for article_id, signature, size in members}
    if len(unique) < 2:
        return []
    ids = sorted(unique)
    signatures = np.stack([unique[article_id][0] for article_id in ids])
    sizes = np.array([unique[article_id][1] for article_id in ids], dtype=np.float64)
    agree = (signatures[:, None, :] == signatures[None, :, :]).mean(axis=2)
    if config.measure == "containment":
        smaller = np.minimum(sizes[:, None], sizes[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.where(
                smaller > 0, agree * (sizes[:, None] + sizes[None, :]) / ((1.0 + agree) * smaller), 0.0
            )
        scores = np.minimum(scores, 1.0)
    else:
        scores = agree
    first, second = np.nonzero(np.triu(scores >= config.threshold, k=1))
    return [(ids[i], ids[j], round(float(scores[i, j]), 4)) for i, j in zip(first, second, strict=True)]


def near_duplicate_pairs(
    fingerprints: Mapping[str, Fingerprint], config: DedupConfig = DedupConfig()
) -> dict[tuple[str, str], float]:
    """In-memory LSH: group ids by band key, verify each group, keep each pair once.

    The Beam composite does the same with a GroupByKey; this is for evaluation and tests.
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


def cluster(
    pairs: Iterable[Sequence[str]], published_by_id: Mapping[str, str | None]
) -> dict[str, tuple[str, str]]:
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
