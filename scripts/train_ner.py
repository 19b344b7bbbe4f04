"""Train the Arabic entity CRF and derive its gazetteers (``make model``).

Steps, all deterministic:
1. ``gazetteers``: ANERGazet (``../shared/data/annotated/anercorp/ANERGazet``) plus Arabic country,
   region and city names from Babel's CLDR data and pycountry's Arabic ISO 3166 names ->
   ``config/gazetteers/{per,org,loc}.txt``. Hand-kept lists (``*_news.txt``, triggers,
   nationalities, variants) are not touched.
2. ``train``: features from ``transforms.entities_features`` on the ANERcorp CAMeL Lab *train*
   split only -> L-BFGS CRF (python-crfsuite, fixed parameters) -> ``transforms/models/ner.crfsuite``.

Usage: ``python scripts/train_ner.py [gazetteers|train|all]``.
"""

from __future__ import annotations

import gettext
import sys
import time
from collections import Counter
from pathlib import Path

import babel
import pycountry
import pycrfsuite

from transforms.entities_features import GAZETTEER_DIR, Lexicon, feature_form, read_lines

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data" / "annotated"
TRAIN_FILE = DATA / "anercorp-camel-split" / "ANERCorp_CamelLab_train.txt"
ANERGAZET = DATA / "anercorp" / "ANERGazet"
MODEL_FILE = REPO / "transforms" / "models" / "ner.crfsuite"

# CLDR territory codes that name organisations or pseudo-regions, not places.
NON_PLACE_TERRITORIES = {"EU", "EZ", "UN", "QO", "ZZ", "001", "XA", "XB"}

CRF_PARAMS = {
    "c1": 0.05,
    "c2": 0.01,
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


def repair_bio(tags: list[str]) -> list[str]:
    """Turn a stray ``I-X`` (not after ``B-X``/``I-X``) into ``B-X``, as CoNLL evaluation reads it."""
    fixed = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        fixed.append(tag)
        previous = tag
    return fixed


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
        + "\n".join(countries) + "\n",
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
    if step in ("train", "all"):
        train()


if __name__ == "__main__":
    main()
