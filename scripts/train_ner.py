"""Train the Arabic entity CRF and derive its gazetteers (``make model``).

Steps, all deterministic:
1. ``gazetteers``: ANERGazet (``../shared/data/annotated/anercorp/ANERGazet``) plus Arabic country,
   region and city names from Babel's CLDR data and pycountry's Arabic ISO 3166 names ->
   ``config/gazetteers/{per,org,loc}.txt``. Hand-kept lists (``*_news.txt``, triggers,
   nationalities, variants) are not touched.
2. ``train``: features from ``transforms.entities_features`` on the ANERcorp CAMeL Lab *train*
   split only -> L-BFGS CRF (python-crfsuite, fixed parameters) -> ``transforms/models/ner.crfsuite``.

Usage: ``python scripts/train_ner.py [gazetteers|words|train|all]``.
"""

from __future__ import annotations

import gettext
import json
import sys
import time
from collections import Counter
from pathlib import Path

import babel
import numpy as np
import pycountry
import pycrfsuite
import scipy.sparse as sparse
from scipy.sparse.linalg import svds

from transforms.entities import repair_bio
from transforms.entities_features import (
    GAZETTEER_DIR,
    WORD_CLASSES_FILE,
    Lexicon,
    WordClasses,
    feature_form,
    read_lines,
    strip_article,
    tokenize,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data" / "annotated"
TRAIN_FILE = DATA / "anercorp-camel-split" / "ANERCorp_CamelLab_train.txt"
ANERGAZET = DATA / "anercorp" / "ANERGazet"
NEWS_ARTICLES = REPO / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"

# Word classes: vocabulary floor, context vocabulary, SVD rank, k-means sizes and seed.
MIN_FORM_COUNT = 3
MIN_CLUSTER_COUNT = 5
CONTEXT_WORDS = 5000
SVD_RANK = 100
CLUSTER_SIZES = (64, 256, 1024)
SEED = 0
MODEL_FILE = REPO / "transforms" / "models" / "ner.crfsuite"

# CLDR territory codes that name organisations or pseudo-regions, not places.
NON_PLACE_TERRITORIES = {"EU", "EZ", "UN", "QO", "ZZ", "001", "XA", "XB"}

CRF_PARAMS = {
    "c1": 0.1,
    "c2": 0.05,
    "max_iterations": 250,
    "feature.possible_transitions": True,
    "feature.minfreq": 1,
}

TAG_MAP = {"PERS": "PER", "PER": "PER", "ORG": "ORG", "LOC": "LOC", "MISC": "MISC"}


def read_training_sentences(path: Path) -> list[tuple[list[str], list[str]]]:
    """ANERcorp CoNLL (``token TAG`` lines, blank line between sentences) -> (words, BIO tags)."""
    sentences: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if words:
                sentences.append((words, repair_bio(tags)))
            words, tags = [], []
            continue
        word, tag = line.rsplit(" ", 1)
        if tag != "O":
            prefix, type_ = tag.split("-", 1)
            tag = f"{prefix}-{TAG_MAP[type_]}"
        words.append(word)
        tags.append(tag)
    if words:
        sentences.append((words, repair_bio(tags)))
    return sentences


def derived_place_names() -> list[str]:
    """Arabic country/region names (Babel CLDR, pycountry) and city names (CLDR time zones)."""
    locale = babel.Locale("ar")
    names = {name for code, name in locale.territories.items() if code not in NON_PLACE_TERRITORIES}
    names.discard("العالم")
    for zone in locale.time_zones.values():
        city = zone.get("city")
        if city and "،" not in city:
            names.add(city)
    translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ar"])
    for country in pycountry.countries:
        for english in (country.name, getattr(country, "common_name", None)):
            if english:
                arabic = translation.gettext(english)
                if arabic != english and "،" not in arabic and "," not in arabic:
                    names.add(arabic)
    return sorted(names)


def anergazet(kind: str) -> list[str]:
    """Entries of one ANERGazet list (``Loc``, ``Org``, ``Pers``); separator lines dropped."""
    lines = read_lines(ANERGAZET / f"Aligned{kind}Gazetteer" / "data")
    return [line for line in lines if not set(line) <= {"="}]


def build_gazetteers() -> None:
    """Write the derived ``{per,org,loc}.txt`` lists, one name a line, deduplicated by feature form."""
    sources = {
        "per": anergazet("Pers"),
        "org": anergazet("Org"),
        "loc": anergazet("Loc") + derived_place_names(),
    }
    for name, entries in sources.items():
        seen: set[str] = set()
        kept = []
        for entry in entries:
            key = feature_form(entry)
            has_arabic = any("\u0621" <= c <= "\u064a" for c in key)
            if has_arabic and len(key) > 1 and key not in seen:
                seen.add(key)
                kept.append(entry)
        header = (
            f"# Derived by scripts/train_ner.py from ANERGazet{' and Babel CLDR / pycountry' if name == 'loc' else ''};"
            " do not edit by hand.\n"
        )
        (GAZETTEER_DIR / f"{name}.txt").write_text(header + "\n".join(sorted(kept)) + "\n", encoding="utf-8")
        print(f"{name}.txt: {len(kept)} names")
    countries = derived_country_names()
    (GAZETTEER_DIR / "countries.txt").write_text(
        "# Derived by scripts/train_ner.py from Babel CLDR and pycountry; do not edit by hand.\n"
        + "\n".join(countries)
        + "\n",
        encoding="utf-8",
    )
    print(f"countries.txt: {len(countries)} names")
    counts = entity_word_counts(read_training_sentences(TRAIN_FILE))
    (GAZETTEER_DIR / "entity_words.tsv").write_text(
        "# Derived by scripts/train_ner.py: feature-form words inside ANERcorp train-split entities, with counts.\n"
        + "".join(f"{form}\t{count}\n" for form, count in sorted(counts.items())),
        encoding="utf-8",
    )
    print(f"entity_words.tsv: {len(counts)} words")


def derived_country_names() -> list[str]:
    """Arabic names of ISO 3166 countries: Babel CLDR territory names plus pycountry's."""
    names = {name for code, name in babel.Locale("ar").territories.items() if code.isalpha()}
    names -= {babel.Locale("ar").territories[code] for code in NON_PLACE_TERRITORIES if code.isalpha()}
    translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ar"])
    for country in pycountry.countries:
        arabic = translation.gettext(country.name)
        if arabic != country.name and "،" not in arabic:
            names.add(arabic)
    return sorted(names)


def entity_word_counts(sentences: list[tuple[list[str], list[str]]]) -> Counter[str]:
    """How often each feature-form word occurs inside a training entity."""
    counts: Counter[str] = Counter()
    for words, tags in sentences:
        for word, tag in zip(words, tags, strict=True):
            if tag != "O":
                counts[feature_form(word)] += 1
    return counts


def unlabelled_texts() -> list[list[str]]:
    """Token lists of the ANT news articles (not SaudiNewsNet: CC BY-NC-SA) and ANERcorp train."""
    texts = []
    with NEWS_ARTICLES.open(encoding="utf-8") as lines:
        for line in lines:
            article = json.loads(line)
            if article["id"].startswith("ant-"):
                body = f"{article['title'] or ''}\n{article['body'] or ''}"
                texts.append([token.text for token in tokenize(body)])
    texts.extend(words for words, _ in read_training_sentences(TRAIN_FILE))
    return texts


def derive_word_classes(path: Path = WORD_CLASSES_FILE) -> None:
    """Frequencies, article rates and PPMI-SVD k-means clusters of article-less word forms."""
    started = time.perf_counter()
    texts = [[feature_form(word) for word in words] for words in unlabelled_texts()]
    form_counts = Counter(strip_article(form) for words in texts for form in words)
    kept_counts = {
        form: count for form, count in form_counts.items() if count >= MIN_FORM_COUNT and form.strip() == form != ""
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{form}\t{count}\n" for form, count in sorted(kept_counts.items())), encoding="utf-8")
    keyer = WordClasses(path)
    key_cache: dict[str, tuple[str, str]] = {}
    keyed = [[key_cache.setdefault(form, keyer.key(form)) for form in words] for words in texts]
    key_counts = Counter(key for words in keyed for _, key in words)
    article_counts = Counter(key for words in keyed for prefix, key in words if prefix.endswith("ال"))
    vocabulary = [
        key for key, count in key_counts.most_common() if count >= MIN_CLUSTER_COUNT and key.strip() == key != ""
    ]
    clusters = cluster_words(vocabulary, [[key for _, key in words] for words in keyed])
    rows = []
    for form, count in sorted(kept_counts.items()):
        row = [form, str(count)]
        if form in clusters:
            rate = article_counts[form] / key_counts[form]
            row.append("al" + str(sum(rate >= cut for cut in (0.05, 0.5, 0.95))))
            row.extend(clusters[form])
        rows.append("\t".join(row))
    for key in clusters.keys() - kept_counts.keys():
        rate = article_counts[key] / key_counts[key]
        rows.append("\t".join([key, "0", "al" + str(sum(rate >= cut for cut in (0.05, 0.5, 0.95))), *clusters[key]]))
    path.write_text("\n".join(sorted(rows)) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - started
    print(f"{path.name}: {len(rows)} forms, {len(clusters)} clustered, {seconds:.0f}s")


def cluster_words(vocabulary: list[str], texts: list[list[str]]) -> dict[str, tuple[str, ...]]:
    """Cluster ids per word: k-means on SVD of the positive-PMI matrix of ±2 positional contexts."""
    index = {word: i for i, word in enumerate(vocabulary)}
    context_index = {word: i for i, word in enumerate(vocabulary[:CONTEXT_WORDS])}
    rows: list[int] = []
    columns: list[int] = []
    for words in texts:
        ids = [index.get(word, -1) for word in words]
        context_ids = [context_index.get(word, -1) for word in words]
        for i, word_id in enumerate(ids):
            if word_id < 0:
                continue
            for slot, offset in enumerate((-2, -1, 1, 2)):
                j = i + offset
                if 0 <= j < len(words) and context_ids[j] >= 0:
                    rows.append(word_id)
                    columns.append(slot * CONTEXT_WORDS + context_ids[j])
    shape = (len(vocabulary), 4 * CONTEXT_WORDS)
    counts = sparse.coo_matrix((np.ones(len(rows)), (rows, columns)), shape=shape).tocsr().tocoo()
    total = counts.data.sum()
    row_p = np.asarray(counts.sum(axis=1)).ravel() / total
    column_p = np.asarray(counts.sum(axis=0)).ravel() ** 0.75
    column_p /= column_p.sum()
    pmi = np.log(counts.data / total / row_p[counts.row] / column_p[counts.col])
    positive = pmi > 0
    ppmi = sparse.csr_matrix((pmi[positive], (counts.row[positive], counts.col[positive])), shape=shape)
    vectors, singular, _ = svds(ppmi, k=SVD_RANK, random_state=SEED)
    vectors = vectors * np.sqrt(singular)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    assignments = [kmeans(vectors, k) for k in CLUSTER_SIZES]
    return {
        word: tuple(f"k{k}:{labels[i]}" for k, labels in zip(CLUSTER_SIZES, assignments, strict=True))
        for i, word in enumerate(vocabulary)
    }


def kmeans(vectors: np.ndarray, k: int, iterations: int = 15) -> np.ndarray:
    """Spherical k-means with a fixed seed; returns the cluster id of every row."""
    rng = np.random.default_rng(SEED)
    centres = vectors[rng.choice(len(vectors), k, replace=False)].copy()
    labels = np.zeros(len(vectors), dtype=int)
    for _ in range(iterations):
        labels = np.argmax(vectors @ centres.T, axis=1)
        for cluster in range(k):
            members = vectors[labels == cluster]
            if len(members):
                centre = members.mean(axis=0)
                centres[cluster] = centre / (np.linalg.norm(centre) + 1e-9)
    return labels


def train(model_file: Path = MODEL_FILE) -> None:
    """Train the CRF on the ANERcorp train split and write ``model_file``."""
    started = time.perf_counter()
    lexicon = Lexicon()
    trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
    sentences = read_training_sentences(TRAIN_FILE)
    for words, tags in sentences:
        trainer.append(lexicon.sentence_features(words), tags)
    trainer.set_params(CRF_PARAMS)
    model_file.parent.mkdir(parents=True, exist_ok=True)
    trainer.train(str(model_file))
    seconds = time.perf_counter() - started
    size = model_file.stat().st_size
    print(f"trained on {len(sentences)} sentences in {seconds:.0f}s -> {model_file.name} ({size / 1e6:.1f} MB)")


def main(argv: list[str] | None = None) -> None:
    step = (argv if argv is not None else sys.argv[1:] or ["all"])[0]
    if step in ("gazetteers", "all"):
        build_gazetteers()
    if step in ("words", "all"):
        derive_word_classes()
    if step in ("train", "all"):
        train()


if __name__ == "__main__":
    main()
