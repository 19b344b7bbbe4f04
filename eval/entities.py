"""Entity tagger evaluation: CoNLL entity-level scores, gazetteer baseline, cross-corpus, speed.

Data comes from ``../shared/data`` next to the repository:
- ANERcorp CAMeL Lab test split (never trained on): PER/ORG/LOC/MISC, scored with and without MISC;
- Wojood sample test file: outer nesting layer, PERS -> PER, ORG -> ORG, GPE and LOC -> LOC;
- NewsFANE gold: fine classes mapped to PER/ORG/LOC (``NEWSFANE_TYPES``). Its text is ANERcorp
  re-annotated, so most of its sentences were seen (with other labels) in training; the
  ``newsfane_heldout`` rows keep only sentences that share more 4-grams with the ANERcorp test
  split than with the train split.

A span counts only with the exact token boundaries and type (CoNLL). Predicted MISC spans are
dropped before scoring corpora without MISC. ``python -m eval.entities`` prints every table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from transforms.entities import EntityTagger, bio_spans, repair_bio
from transforms.entities_features import Lexicon, feature_form, longest_matches, tokenize

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ANNOTATED = DATA / "annotated"
ANERCORP_TEST = ANNOTATED / "anercorp-camel-split" / "ANERCorp_CamelLab_test.txt"
ANERCORP_TRAIN = ANNOTATED / "anercorp-camel-split" / "ANERCorp_CamelLab_train.txt"
WOJOOD_TEST = ANNOTATED / "wojood-sample" / "test.txt"
NEWSFANE = ANNOTATED / "newsfane-gold" / "NewsFANE_Gold_2014_170K.txt"
NEWS_ARTICLES = DATA / "arabic-news" / "articles.jsonl"

ANERCORP_TYPES = {"PERS": "PER", "ORG": "ORG", "LOC": "LOC", "MISC": "MISC"}
WOJOOD_TYPES = {"PERS": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC"}
NEWSFANE_TYPES = {
    **dict.fromkeys(
        (
            "Politician",
            "Athlete",
            "Artist",
            "Other_PER",
            "Religious_PER",
            "Scientist",
            "Businessperson",
            "Lawyer",
            "Engineer",
            "Police",
        ),
        "PER",
    ),
    **dict.fromkeys(
        (
            "Government",
            "Non-Governmental",
            "Commercial",
            "Educational",
            "Media",
            "Sports",
            "Religious_ORG",
            "Medical-Science",
            "Entertainment",
        ),
        "ORG",
    ),
    **dict.fromkeys(
        (
            "Nation",
            "Population-Center",
            "State-or-Province",
            "GPE-Cluster",
            "County-or-District",
            "Continent",
            "Water-Body",
            "Land-Region-Natural",
            "Celestial",
        ),
        "LOC",
    ),
}
# Fine classes deliberately left out (not PER/ORG/LOC in ANERcorp's sense): groups of people
# (العرب), facilities, vehicles, weapons and products.
NEWSFANE_UNMAPPED = {
    "Group",
    "Building-Grounds",
    "Airport",
    "Path",
    "Subarea-Facility",
    "Air",
    "Land",
    "Water",
    "Shooting",
    "Projectile",
    "Book",
    "Movie",
    "Software",
    "Hardware",
    "Food",
    "Drug",
    "Plant",
}

DOCUMENT_SENTENCES = 20
# The shipped tagger (CRF + sentence and document rules), CRF + sentence rules only, the bare
# CRF, and the gazetteer-only baseline.
SYSTEMS = ("crf+rules", "crf+sentence rules", "crf", "gazetteer")

Sentence = tuple[list[str], list[str]]
Scores = dict[str, dict[str, float]]


def read_conll(
    path: Path, split: Callable[[str], tuple[str, str]], types: dict[str, str], skip: Iterable[str] = ()
) -> list[Sentence]:
    """Sentences of (words, BIO tags) with types mapped; unmapped types become ``O``."""
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    skipped = set(skip)
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    for line in [*text.split("\n"), ""]:
        line = line.replace("\u200e", "").replace("\u200f", "")
        if not line.strip():
            if words:
                sentences.append((words, repair_bio(tags)))
            words, tags = [], []
            continue
        word, tag = split(line)
        if word in skipped:
            continue
        if tag != "O":
            prefix, fine = tag.split("-", 1)
            tag = f"{prefix}-{types[fine]}" if fine in types else "O"
        words.append(word)
        tags.append(tag)
    return sentences


def anercorp_test() -> list[Sentence]:
    return read_conll(ANERCORP_TEST, lambda line: _two_fields(line.rsplit(" ", 1)), ANERCORP_TYPES)


def wojood_test() -> list[Sentence]:
    """Outer layer of the nested Wojood tags; the ``$#$`` segment markers are dropped."""
    return read_conll(WOJOOD_TEST, lambda line: _two_fields(line.split(" ")[:2]), WOJOOD_TYPES, skip={"$#$"})


def newsfane_gold() -> list[Sentence]:
    def split(line: str) -> tuple[str, str]:
        word, tag = line.split("\t")
        fine = tag.split("-", 1)[1] if tag != "O" else ""
        if fine and fine not in NEWSFANE_TYPES and fine not in NEWSFANE_UNMAPPED:
            raise ValueError(f"unknown NewsFANE class {fine!r}")
        return word, tag

    return read_conll(NEWSFANE, split, NEWSFANE_TYPES)


def _two_fields(fields: Sequence[str]) -> tuple[str, str]:
    return fields[0], fields[1]


def heldout_newsfane(sentences: list[Sentence]) -> list[Sentence]:
    """NewsFANE sentences whose text lies in the ANERcorp test split rather than in train."""

    def grams(words: Sequence[str]) -> set[tuple[str, ...]]:
        forms = [feature_form(w) for w in words]
        return {tuple(forms[i : i + 4]) for i in range(len(forms) - 3)}

    def corpus_grams(path: Path) -> set[tuple[str, ...]]:
        result: set[tuple[str, ...]] = set()
        for words, _ in read_conll(path, lambda line: _two_fields(line.rsplit(" ", 1)), ANERCORP_TYPES):
            result |= grams(words)
        return result

    test, train = corpus_grams(ANERCORP_TEST), corpus_grams(ANERCORP_TRAIN)
    kept = []
    for words, tags in sentences:
        sentence_grams = grams(words)
        if len(sentence_grams & test) > len(sentence_grams & train):
            kept.append((words, tags))
    return kept


def conll_scores(gold: list[list[str]], predicted: list[list[str]], types: Sequence[str]) -> Scores:
    """Entity-level precision/recall/F1 per type and ``overall`` (micro) over ``types``."""
    counts = {type_: [0, 0, 0] for type_ in types}  # true positives, predicted, gold
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        gold_spans = {span for span in bio_spans(gold_tags) if span[2] in counts}
        predicted_spans = {span for span in bio_spans(predicted_tags) if span[2] in counts}
        for span in gold_spans:
            counts[span[2]][2] += 1
        for span in predicted_spans:
            counts[span[2]][1] += 1
            if span in gold_spans:
                counts[span[2]][0] += 1
    totals = [sum(c[k] for c in counts.values()) for k in range(3)]
    scores = {type_: _prf(*c) for type_, c in counts.items()}
    scores["overall"] = _prf(*totals)
    return scores


def _prf(true_positives: int, predicted: int, gold: int) -> dict[str, float]:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def gazetteer_labels(lexicon: Lexicon, words: Sequence[str]) -> list[str]:
    """Baseline: longest match on the tagger's own gazetteers, clitics allowed on the first word."""
    labels = ["O"] * len(words)
    for first, last, type_ in longest_matches(lexicon.gazetteers, [feature_form(w) for w in words]):
        labels[first] = "B-" + type_
        for i in range(first + 1, last):
            labels[i] = "I-" + type_
    return labels


def evaluate(
    tagger: EntityTagger, sentences: list[Sentence], types: Sequence[str], systems: Sequence[str] = SYSTEMS
) -> dict[str, Scores]:
    """Scores of the chosen ``systems`` (default: all of ``SYSTEMS``) on one corpus.

    The corpora have no document breaks, so the document rule sees blocks of
    ``DOCUMENT_SENTENCES`` consecutive sentences.
    """
    gold = [tags for _, tags in sentences]
    words_only = [words for words, _ in sentences]

    def with_rules() -> list[list[str]]:
        labels = []
        for block in range(0, len(words_only), DOCUMENT_SENTENCES):
            labels.extend(tagger.label_document(words_only[block : block + DOCUMENT_SENTENCES]))
        return labels

    labellers: dict[str, Callable[[], list[list[str]]]] = {
        "crf+rules": with_rules,
        "crf+sentence rules": lambda: [tagger.label_words(words) for words in words_only],
        "crf": lambda: [tagger.label_words(words, rules=False) for words in words_only],
        "gazetteer": lambda: [gazetteer_labels(tagger.lexicon, words) for words in words_only],
    }
    return {name: conll_scores(gold, labellers[name](), types) for name in systems}


def evaluate_all(tagger: EntityTagger | None = None) -> dict[str, dict[str, Scores]]:
    """Every corpus, CRF and baseline: ``{corpus: {system: {type: {precision, recall, f1, support}}}}``."""
    tagger = tagger or EntityTagger.load()
    newsfane = newsfane_gold()
    three = ("PER", "ORG", "LOC")
    return {
        "anercorp_test": evaluate(tagger, anercorp_test(), (*three, "MISC")),
        "anercorp_test_no_misc": evaluate(tagger, anercorp_test(), three),
        "wojood_test": evaluate(tagger, wojood_test(), three),
        "newsfane": evaluate(tagger, newsfane, three),
        "newsfane_heldout": evaluate(tagger, heldout_newsfane(newsfane), three),
    }


def benchmark(texts: Sequence[str], tagger: EntityTagger | None = None) -> dict[str, float]:
    """Tag ``texts`` one after another in this process (one core): tokens/s and articles/s.

    Wall-clock rates suffer when other jobs share the machine; the per-CPU-second rate does not.
    """
    tagger = tagger or EntityTagger.load()
    tokens = sum(len(tokenize(text)) for text in texts)
    started, started_cpu = time.perf_counter(), time.process_time()
    entities = sum(len(tagger.tag(text)) for text in texts)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    return {
        "articles": len(texts),
        "tokens": tokens,
        "entities": entities,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "tokens_per_second": tokens / seconds,
        "tokens_per_cpu_second": tokens / cpu_seconds,
        "articles_per_second": len(texts) / seconds,
    }


def news_bodies(limit: int = 500) -> list[str]:
    """The first ``limit`` non-empty article bodies of the Arabic news sample."""
    bodies = []
    with NEWS_ARTICLES.open(encoding="utf-8") as lines:
        for line in lines:
            body = json.loads(line)["body"]
            if body.strip():
                bodies.append(body)
            if len(bodies) == limit:
                break
    return bodies


def format_table(title: str, results: dict[str, Scores]) -> str:
    rows = [f"## {title}", "| system | type | P | R | F1 | gold |", "|---|---|---|---|---|---|"]
    for system, scores in results.items():
        for type_, s in scores.items():
            rows.append(
                f"| {system} | {type_} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
            )
    return "\n".join(rows)


def main() -> None:
    tagger = EntityTagger.load()
    for corpus, results in evaluate_all(tagger).items():
        print(format_table(corpus, results), end="\n\n")
    speed: dict[str, Any] = benchmark(news_bodies(), tagger)
    print("## speed (one core, news article bodies)")
    print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in speed.items()))


if __name__ == "__main__":
    main()
