"""Duplicate-detection evaluation: labelled pairs, threshold sweep, corpus clusters, cost.

The labelled pair set lives in ``tests/golden/dedup/`` (how it was built: its README.md):

* ``corpus_pairs.jsonl``: corpus pairs sampled across estimated-Jaccard buckets, labelled
  by reading both texts;
* ``topic_pairs.jsonl``: same source, same day, shared title words, labelled by reading;
* ``synthetic_pairs.jsonl``: an article id and an edit name; the edited copy is rebuilt here
  deterministically (``edit_article``), so no article text is stored in the repository.

A pair is predicted duplicate the way the pipeline decides it: the two texts share an LSH
band key and their similarity (``config.measure``) reaches ``config.threshold``.

``python -m eval.dedup`` prints everything; ``evaluate_all()`` returns it as a dict.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from transforms.dedup import (
    DedupConfig,
    Fingerprint,
    cluster,
    fingerprint,
    load_config,
    near_duplicate_pairs,
    pair_similarity,
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"
GOLDEN = ROOT / "tests" / "golden" / "dedup"
PAIR_FILES = ("corpus_pairs.jsonl", "topic_pairs.jsonl", "synthetic_pairs.jsonl")
SWEEP = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)

# Realistic edits a reprint goes through; applied deterministically (seeded by article id).
NEW_LEADS = (
    "وفي تطور جديد، أفادت مصادر مطلعة بأن الجهات المختصة تتابع الموضوع عن كثب.",
    "أكدت مصادر رسمية اليوم صحة ما تناقلته وسائل الإعلام خلال الساعات الماضية.",
    "في خطوة لاقت اهتماماً واسعاً، كشفت الجهات المعنية عن تفاصيل جديدة.",
    "تتواصل ردود الفعل على الخبر الذي أثار اهتمام المتابعين منذ مساء أمس.",
)
AGENCY_TAGS = (("الرياض - واس: ", ""), ("(رويترز) - ", ""), ("دبي - فرانس برس: ", ""), ("", " (واس)"))
# Spelling variants: (pattern, replacement) applied to a share of the matching words.
RESPELLINGS = (
    (re.compile("ؤ"), "ئ"),  # مسؤول -> مسئول
    (re.compile(r"(?<!\w)أ"), "ا"),
    (re.compile(r"(?<!\w)إ"), "ا"),
    (re.compile(r"ى(?!\w)"), "ي"),
)
DIACRITICS = ("\u064e", "\u064f", "\u0650", "\u0651")
EDITS = ("new_lead", "drop_paragraph", "agency_tag", "respell", "lead_drop_respell")


# --- data -------------------------------------------------------------------------------


def load_articles(path: Path = CORPUS) -> dict[str, dict[str, Any]]:
    """The shared corpus by id."""
    with path.open(encoding="utf-8") as lines:
        return {row["id"]: row for row in map(json.loads, lines)}


def load_pairs(directory: Path = GOLDEN) -> list[dict[str, Any]]:
    """All labelled pairs; each row gets ``set`` = the file it came from."""
    pairs = []
    for name in PAIR_FILES:
        with (directory / name).open(encoding="utf-8") as lines:
            pairs.extend({**json.loads(line), "set": name.removesuffix("_pairs.jsonl")} for line in lines)
    return pairs


# --- synthetic edits ----------------------------------------------------------------------


def _paragraphs(body: str) -> list[str]:
    return [part.strip() for part in body.split("\n") if part.strip()]


def _drop_paragraph(body: str, rng: random.Random) -> str:
    paragraphs = _paragraphs(body)
    if len(paragraphs) >= 3:
        del paragraphs[rng.randrange(1, len(paragraphs))]
        return "\n".join(paragraphs)
    sentences = [s for s in re.split(r"(?<=[.!؟])\s+", " ".join(paragraphs)) if s]
    if len(sentences) >= 3:
        del sentences[rng.randrange(1, len(sentences))]
    return " ".join(sentences)


def _respell(body: str, rng: random.Random) -> str:
    for pattern, replacement in RESPELLINGS:
        body = pattern.sub(lambda match, new=replacement: new if rng.random() < 0.7 else match.group(0), body)
    words = body.split(" ")
    for index, word in enumerate(words):
        if len(word) > 3 and rng.random() < 0.1:
            words[index] = word[:2] + rng.choice(DIACRITICS) + word[2:]
    return " ".join(words)


def edit_article(article: Mapping[str, Any], edit: str) -> dict[str, Any]:
    """A deterministic edited copy of ``article`` (new id ``{id}~{edit}``)."""
    rng = random.Random(f"{article['id']}:{edit}")
    body = article["body"] or ""
    title = article["title"] or ""
    if edit in {"new_lead", "lead_drop_respell"}:
        body = rng.choice(NEW_LEADS) + "\n" + body
    if edit in {"drop_paragraph", "lead_drop_respell"}:
        body = _drop_paragraph(body, rng)
    if edit in {"respell", "lead_drop_respell"}:
        body, title = _respell(body, rng), _respell(title, rng)
    if edit == "agency_tag":
        prefix, suffix = rng.choice(AGENCY_TAGS)
        body = prefix + body.strip() + suffix
    if edit not in EDITS:
        raise ValueError(f"unknown edit {edit!r}")
    return {**article, "id": f"{article['id']}~{edit}", "title": title, "body": body}


def select_synthetic(articles: Mapping[str, Mapping[str, Any]], count: int = 40, seed: int = 5) -> list[str]:
    """Ids of articles long enough (>= 80 words) for the synthetic edits, chosen reproducibly."""
    eligible = sorted(i for i, a in articles.items() if len(re.findall(r"\w+", a["body"] or "")) >= 80)
    return sorted(random.Random(seed).sample(eligible, count))


# --- scoring ------------------------------------------------------------------------------


def _texts(pair: Mapping[str, Any], articles: Mapping[str, Mapping[str, Any]]) -> tuple[Mapping, Mapping]:
    first = articles[pair["a"]]
    if "edit" in pair:
        return first, edit_article(first, pair["edit"])
    return first, articles[pair["b"]]


def score_pairs(
    pairs: Sequence[Mapping[str, Any]], articles: Mapping[str, Mapping[str, Any]], config: DedupConfig
) -> list[tuple[float, bool]]:
    """Per pair: (similarity, shares a band key) under ``config``."""
    scored = []
    for pair in pairs:
        first, second = _texts(pair, articles)
        fp_a = fingerprint(first["title"] or "", first["body"] or "", config)
        fp_b = fingerprint(second["title"] or "", second["body"] or "", config)
        if fp_a.content_hash == fp_b.content_hash:
            scored.append((1.0, True))
        elif fp_a.signature is None or fp_b.signature is None:
            scored.append((0.0, False))
        else:
            similarity = pair_similarity(fp_a.signature, fp_a.size, fp_b.signature, fp_b.size, config.measure)
            scored.append((similarity, bool(set(fp_a.bands) & set(fp_b.bands))))
    return scored


def precision_recall(scored: Sequence[tuple[float, bool]], labels: Sequence[int], threshold: float) -> dict[str, float]:
    """Pair precision, recall and F1 when "duplicate" = candidate and similarity >= threshold."""
    predicted = [candidate and score >= threshold for score, candidate in scored]
    tp = sum(p and bool(y) for p, y in zip(predicted, labels, strict=True))
    fp = sum(p and not y for p, y in zip(predicted, labels, strict=True))
    fn = sum(not p and bool(y) for p, y in zip(predicted, labels, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": threshold,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def evaluate_pairs(
    articles: Mapping[str, Mapping[str, Any]], config: DedupConfig, pairs: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Scores at ``config.threshold`` (all pairs and per set) and the sweep over ``SWEEP``."""
    pairs = list(pairs if pairs is not None else load_pairs())
    scored = score_pairs(pairs, articles, config)
    labels = [int(p["label"]) for p in pairs]
    by_set: dict[str, Any] = {}
    for name in sorted({p["set"] for p in pairs}):
        index = [i for i, p in enumerate(pairs) if p["set"] == name]
        by_set[name] = {
            "pairs": len(index),
            "duplicates": sum(labels[i] for i in index),
            **precision_recall([scored[i] for i in index], [labels[i] for i in index], config.threshold),
        }
    return {
        "pairs": len(pairs),
        "duplicates": sum(labels),
        "at_threshold": precision_recall(scored, labels, config.threshold),
        "by_set": by_set,
        "sweep": [precision_recall(scored, labels, t) for t in SWEEP],
    }


# --- whole-corpus dedup and its cost ----------------------------------------------------------


def dedup_corpus(articles: Iterable[Mapping[str, Any]], config: DedupConfig) -> dict[str, Any]:
    """The dedup computation on a batch, in memory: exact keys, then MinHash + LSH + union-find."""
    by_hash: dict[str, str] = {}
    exact = no_text = 0
    published: dict[str, str | None] = {}
    fingerprints: dict[str, Fingerprint] = {}
    started = time.process_time()
    for article in articles:
        if not ((article["body"] or "").strip() or (article["title"] or "").strip()):
            no_text += 1
            continue
        fp = fingerprint(article["title"] or "", article["body"] or "", config)
        if fp.content_hash in by_hash:
            exact += 1
            continue
        by_hash[fp.content_hash] = article["id"]
        fingerprints[article["id"]] = fp
        published[article["id"]] = article.get("published")
    fingerprinted = time.process_time()
    pairs = near_duplicate_pairs(fingerprints, config)
    clusters = cluster(pairs, published)
    clustered = time.process_time()
    sizes: dict[str, int] = {}
    for cluster_id, _ in clusters.values():
        sizes[cluster_id] = sizes.get(cluster_id, 0) + 1
    multi = [size for size in sizes.values() if size > 1]
    return {
        "articles": len(published) + exact + no_text,
        "without_text": no_text,
        "exact_duplicates": exact,
        "near_edges": len(pairs),
        "clusters": len(sizes),
        "multi_article_clusters": len(multi),
        "articles_in_multi_clusters": sum(multi),
        "largest_cluster": max(multi, default=1),
        "cpu_seconds_fingerprint": round(fingerprinted - started, 2),
        "cpu_seconds_lsh_and_clusters": round(clustered - fingerprinted, 2),
    }


def repeat_with_edits(articles: Sequence[Mapping[str, Any]], times: int) -> list[dict[str, Any]]:
    """The corpus ``times`` over: the original, then copies under the synthetic edits."""
    copies = [dict(a) for a in articles]
    for round_index in range(1, times):
        edit = EDITS[(round_index - 1) % len(EDITS)]
        copies.extend(edit_article(a, edit) for a in articles)
    return copies


def benchmark(articles: Sequence[Mapping[str, Any]], config: DedupConfig | None = None) -> dict[str, Any]:
    """Cost of ``dedup_corpus`` on 1x and 4x the articles (4x: ``repeat_with_edits``), best of
    two runs each. CPU seconds of this process are reported beside wall seconds because the
    machines are shared: the ratio of CPU seconds is the one that shows how the cost grows.
    """
    config = config or load_config()
    result: dict[str, Any] = {}
    for times in (1, 4):
        batch = repeat_with_edits(articles, times)
        best_cpu = best_wall = float("inf")
        for _ in range(2):
            cpu, wall = time.process_time(), time.perf_counter()
            summary = dedup_corpus(batch, config)
            best_cpu = min(best_cpu, time.process_time() - cpu)
            best_wall = min(best_wall, time.perf_counter() - wall)
        result[f"{times}x"] = {
            "articles": len(batch),
            "cpu_seconds": round(best_cpu, 2),
            "wall_seconds": round(best_wall, 2),
            "articles_per_cpu_second": round(len(batch) / best_cpu),
            "cpu_seconds_fingerprint": summary["cpu_seconds_fingerprint"],
            "cpu_seconds_lsh_and_clusters": summary["cpu_seconds_lsh_and_clusters"],
            "near_edges": summary["near_edges"],
            "multi_article_clusters": summary["multi_article_clusters"],
        }
    result["cpu_ratio_4x_1x"] = round(result["4x"]["cpu_seconds"] / result["1x"]["cpu_seconds"], 2)
    result["wall_ratio_4x_1x"] = round(result["4x"]["wall_seconds"] / result["1x"]["wall_seconds"], 2)
    return result


def evaluate_all(config: DedupConfig | None = None, with_benchmark: bool = True) -> dict[str, Any]:
    """Pair scores, sweep, corpus clusters and (optionally) the 1x/4x benchmark."""
    config = config or load_config()
    articles = load_articles()
    report: dict[str, Any] = {"config": config.__dict__, **evaluate_pairs(articles, config)}
    report["corpus"] = dedup_corpus(articles.values(), config)
    if with_benchmark:
        report["benchmark"] = benchmark(list(articles.values()), config)
    return report


def compare_settings(articles: Mapping[str, Mapping[str, Any]], settings: Iterable[DedupConfig]) -> list[dict]:
    """Best-F1 threshold of the sweep for each setting (used to choose the defaults)."""
    rows = []
    pairs = load_pairs()
    for config in settings:
        result = evaluate_pairs(articles, config, pairs)
        best = max(result["sweep"], key=lambda row: (row["f1"], row["threshold"]))
        rows.append(
            {
                "shingle_size": config.shingle_size,
                "bands": config.bands,
                "rows": config.rows,
                "measure": config.measure,
                **best,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    config = load_config()
    if "--compare" in argv:
        articles = load_articles()
        settings = [
            replace(config, shingle_size=n, bands=b, rows=r, measure=m)
            for n in (2, 3, 4, 5)
            for b, r in ((32, 4), (42, 3), (64, 2))
            for m in ("jaccard", "containment")
        ]
        for row in compare_settings(articles, settings):
            print(json.dumps(row))
        return 0
    report = evaluate_all(config, with_benchmark="--no-bench" not in argv)
    at = report["at_threshold"]
    print(f"config: {report['config']}")
    print(f"pairs: {report['pairs']} ({report['duplicates']} duplicates)")
    print(f"at threshold {at['threshold']}: P={at['precision']:.3f} R={at['recall']:.3f} F1={at['f1']:.3f}")
    for name, row in report["by_set"].items():
        print(
            f"  {name:>9}: {row['pairs']:3} pairs ({row['duplicates']} dup)  P={row['precision']:.3f} "
            f"R={row['recall']:.3f} F1={row['f1']:.3f}"
        )
    print("sweep:")
    for row in report["sweep"]:
        print(
            f"  t={row['threshold']:.2f}  P={row['precision']:.3f} R={row['recall']:.3f} F1={row['f1']:.3f}"
            f"  (tp={row['tp']} fp={row['fp']} fn={row['fn']})"
        )
    print(f"corpus: {report['corpus']}")
    if "benchmark" in report:
        print(f"benchmark: {report['benchmark']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
