"""CPU cost of entity tagging (``EntityTagger.tag`` + ``facets``) on a fixed corpus sample.

Flow: the first ``--articles`` articles of the shared corpus (title and body as stored) ->
``tag`` on title and body and ``facets`` on the pair, as ``transforms.stages.with_entities``
calls them -> CPU ms per article and tokens per CPU second, median of ``--runs`` runs (the
machine is shared, so CPU time, not wall time). By default the sample is tagged once untimed so
every word is in the tagger's caches (a worker that has seen much news); ``--cold`` times one
pass with a fresh tagger instead, as a batch over new articles pays for its unseen words.

``--dump PATH`` writes every article's annotations and facets as JSON, and ``--features PATH``
a digest of the CRF features of the ANERcorp train split and of the sample's sentences: run
both before and after a speed change and diff the files, the output must not move.
``--profile N`` prints the top ``N`` cProfile rows of one run instead of timing.

Usage: ``python -m bench.entity_speed [--articles 1000] [--runs 3] [--dump out.json]``.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transforms.entities import EntityTagger, facets
from transforms.entities_features import sentences_of, tokenize

REPO = Path(__file__).resolve().parents[1]
ARTICLES = REPO / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"
TRAIN_FILE = REPO / ".." / "shared" / "data" / "annotated" / "anercorp-camel-split" / "ANERCorp_CamelLab_train.txt"


def load_articles(limit: int) -> list[tuple[str, str]]:
    """(title, body) of the first ``limit`` corpus articles, empty strings for missing fields."""
    articles = []
    with ARTICLES.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            articles.append((row.get("title") or "", row.get("body") or ""))
            if len(articles) == limit:
                break
    return articles


def tag_one(tagger: EntityTagger, title: str, body: str) -> dict[str, Any]:
    """Annotations of title and body and the article's facets, as the tag stage computes them."""
    entities = [{**ann, "field": name} for name, text in (("title", title), ("body", body)) for ann in tagger.tag(text)]
    return {"entities": entities, "facets": facets(entities, f"{title}\n\n{body}", tagger)}


def cpu_seconds(tagger: EntityTagger, articles: Sequence[tuple[str, str]]) -> float:
    started = time.process_time()
    for title, body in articles:
        tag_one(tagger, title, body)
    return time.process_time() - started


def feature_digest(tagger: EntityTagger, articles: Sequence[tuple[str, str]]) -> dict[str, str]:
    """SHA-256 of the CRF features (order kept) of the train split and of the sample's sentences."""
    from scripts.train_ner import read_training_sentences

    train = hashlib.sha256()
    for words, _ in read_training_sentences(TRAIN_FILE):
        train.update(json.dumps(tagger.lexicon.sentence_features(words), ensure_ascii=False).encode())
    sample = hashlib.sha256()
    for title, body in articles:
        for text in (title, body):
            for sentence in sentences_of(tokenize(text), text):
                words = [token.text for token in sentence]
                sample.update(json.dumps(tagger.lexicon.sentence_features(words), ensure_ascii=False).encode())
    return {"train": train.hexdigest(), "sample": sample.hexdigest()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000, help="how many corpus articles to tag")
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument("--dump", type=Path, help="write annotations and facets of every article here (JSON)")
    parser.add_argument("--features", type=Path, help="write the CRF feature digests here (JSON)")
    parser.add_argument("--profile", type=int, default=0, help="print this many cProfile rows instead of timing")
    parser.add_argument(
        "--cold", action="store_true", help="each run tags the sample once with a freshly loaded tagger (empty caches)"
    )
    args = parser.parse_args(argv)

    tagger = EntityTagger.load()
    articles = load_articles(args.articles)
    if args.dump:
        dumped = [tag_one(tagger, title, body) for title, body in articles]
        args.dump.write_text(json.dumps(dumped, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    if args.features:
        args.features.write_text(json.dumps(feature_digest(tagger, articles), indent=1) + "\n", encoding="utf-8")
    if args.dump or args.features:
        return
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(cpu_seconds, tagger, articles)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        return
    tokens = sum(len(tokenize(title)) + len(tokenize(body)) for title, body in articles)
    if args.cold:
        runs = [cpu_seconds(EntityTagger.load(), articles) for _ in range(args.runs)]
    else:
        cpu_seconds(tagger, articles)  # warm: every word of the sample is in the per-word caches
        runs = [cpu_seconds(tagger, articles) for _ in range(args.runs)]
    median = statistics.median(runs)
    print(
        json.dumps(
            {
                "articles": len(articles),
                "caches": "cold" if args.cold else "warm",
                "tokens": tokens,
                "runs_cpu_seconds": [round(run, 3) for run in runs],
                "cpu_ms_per_article": round(1000 * median / len(articles), 3),
                "tokens_per_cpu_second": round(tokens / median),
            }
        )
    )


if __name__ == "__main__":
    main()
