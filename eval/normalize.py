"""Speed and agreement numbers for the normalizer (``transforms.normalize``, ``transforms.clean``).

``benchmark(texts)`` times ``fold`` and ``clean_text`` over all ``texts`` on one core, several
runs, and reports the median as MB/s, MB being 10^6 bytes of UTF-8: of fold's output (the
folded form) and of clean_text's input. Time is the CPU time of this (single-threaded)
process, so other load on a shared machine does not skew the number. ``variant_agreement()`` scores the golden variant
pairs (``tests/golden/normalize/variants.jsonl``): pairs that must meet and pairs that must
stay apart. ``decode_accuracy(texts)`` encodes real texts in windows-1256, iso-8859-6 and
UTF-16LE and counts how often ``decode_bytes`` without a declared charset gets them back.
``python -m eval.normalize [articles.jsonl]`` prints all three as JSON for the shared corpus
(title and body of every article); ``make bench`` calls ``benchmark``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from transforms.clean import clean_text
from transforms.decode import DecodeError, decode_bytes
from transforms.normalize import FOLD_VERSION, fold

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"
VARIANTS = ROOT / "tests" / "golden" / "normalize" / "variants.jsonl"


def _median_seconds(function: Callable[[str], object], texts: list[str], runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.process_time()
        for text in texts:
            function(text)
        timings.append(time.process_time() - start)
    return statistics.median(timings)


def benchmark(texts: list[str], runs: int = 5) -> dict[str, float | int]:
    """MB/s of fold (folded output) and clean_text (input) over ``texts``, median of ``runs``."""
    folded_mb = sum(len(fold(text).encode("utf-8")) for text in texts) / 1e6
    input_mb = sum(len(text.encode("utf-8")) for text in texts) / 1e6
    fold_seconds = _median_seconds(fold, texts, runs)
    clean_seconds = _median_seconds(clean_text, texts, runs)
    return {
        "fold_version": FOLD_VERSION,
        "texts": len(texts),
        "runs": runs,
        "input_mb": round(input_mb, 3),
        "folded_mb": round(folded_mb, 3),
        "fold_mb_per_s": round(folded_mb / fold_seconds, 1),
        "clean_text_mb_per_s": round(input_mb / clean_seconds, 1),
    }


def variant_agreement(path: Path = VARIANTS) -> dict[str, int]:
    """How many golden variant pairs fold as they should (meet, or stay apart)."""
    with open(path, encoding="utf-8") as lines:
        pairs = [json.loads(line) for line in lines]
    meet = [p for p in pairs if p["same"]]
    apart = [p for p in pairs if not p["same"]]
    return {
        "pairs_to_meet": len(meet),
        "met": sum(fold(p["a"]) == fold(p["b"]) for p in meet),
        "pairs_to_keep_apart": len(apart),
        "kept_apart": sum(fold(p["a"]) != fold(p["b"]) for p in apart),
    }


def decode_accuracy(
    texts: list[str], encodings: tuple[str, ...] = ("windows-1256", "iso-8859-6", "utf-16le")
) -> dict[str, dict[str, int | float]]:
    """Per encoding: texts it can encode, and how many ``decode_bytes`` restores undeclared."""
    scores = {}
    for encoding in encodings:
        encodable = correct = 0
        for text in texts:
            try:
                data = text.lstrip("\ufeff").encode(encoding)
            except UnicodeEncodeError:
                continue
            encodable += 1
            try:
                correct += decode_bytes(data).text == text.lstrip("\ufeff")
            except DecodeError:
                pass
        scores[encoding] = {"texts": encodable, "correct": correct, "accuracy": round(correct / encodable, 4)}
    return scores


def load_texts(path: Path = CORPUS) -> list[str]:
    """Title and body of every article in a JSON Lines file."""
    texts: list[str] = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            article = json.loads(line)
            texts.extend(article.get(field) or "" for field in ("title", "body"))
    return texts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=CORPUS, help="articles as JSON Lines")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per function (median reported)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the numbers claim
    texts = load_texts(args.corpus)
    short_texts = [text[:300] for text in texts[::7] if text.strip()]  # titles and body openings
    result = {
        **benchmark(texts, args.runs),
        **variant_agreement(),
        "decode_undeclared": decode_accuracy(short_texts),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
