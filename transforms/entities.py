"""Arabic named entities (PER, ORG, LOC, MISC) with canonical names, for facets and highlighting.

Flow: ``EntityTagger.tag(text)`` hands the text to ``transforms._native`` (Rust, ``native/``),
which tokenizes with character offsets, splits sentences, labels each token with the shipped CRF
(``transforms/models/ner.crfsuite``; the features of ``transforms.entities_features``, as model
attribute ids, scored and decoded with crfsuite's exact arithmetic), applies two rules (grow an
entity to the multiword gazetteer name it is part of; propagate one-word names to their bare
repeats in the article) and gives each span a canonical name:

1. the first word loses proclitics (و ف ب ل ك, لل -> ال) unless they belong to the name; the
   reading kept is the one best attested as a name (gazetteers, ANERcorp entity words, other
   entities of the same article);
2. whole names and single words are mapped through ``config/gazetteers/variants.tsv``
   (ترمب -> ترامب), keys compared with ``transforms.normalize.fold``;
3. a short person or organization name maps to the full name of the same article that
   contains it (بوتين -> فلاديمير بوتين, شي -> شي جين بينغ, أتلتيكو -> أتلتيكو مدريد).

``facets(annotations, text)`` groups canonical names per type and adds ``countries_mentioned``
from nationality adjectives (الصيني -> الصين) and from locations that are countries. The rules
run in Rust (``native/src/ner.rs``, ``native/src/canon.rs``); this module loads their data and
adapts the results.
Training (``scripts/train_ner.py``) builds the same features as strings in Python
(``Lexicon.sentence_features``); ``tests/transforms/test_native_ner.py`` holds the native labels
to pycrfsuite's on those strings. Everything here is plain Python without Beam; a DoFn builds one
``EntityTagger`` per worker (``apache_beam.utils.shared.Shared``) and calls ``tag`` and ``facets``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transforms import _native
from transforms.entities_features import (
    GAZETTEER_DIR,
    MAX_SENTENCE_TOKENS,
    TYPES,
    WORD_CACHE_SIZE,
    Lexicon,
    read_lines,
    read_table,
)
from transforms.normalize import FOLD_TABLE

MODEL_FILE = Path(__file__).resolve().parent / "models" / "ner.crfsuite"

# Bare repeats of a name are not propagated for words seen more often in the unlabelled news.
PROPAGATE_MAX_COUNT = 2000
FACET_BY_TYPE = {"PER": "persons", "ORG": "organizations", "LOC": "locations", "MISC": "misc"}

Annotation = dict[str, Any]


def repair_bio(tags: list[str]) -> list[str]:
    """A stray ``I-X`` (not after ``B-X``/``I-X``) starts an entity, as CoNLL evaluation reads it."""
    fixed = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        fixed.append(tag)
        previous = tag
    return fixed


def bio_spans(labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """BIO labels -> ``(first, last_exclusive, type)``; a stray ``I-X`` starts a new span."""
    if labels.count("O") == len(labels):
        return []
    spans = []
    start, current = -1, ""
    for i, label in enumerate(labels):
        inside = label.startswith("I-") and label[2:] == current
        if inside:
            continue
        if current:
            spans.append((start, i, current))
        start, current = (i, label[2:]) if label != "O" else (-1, "")
    if current:
        spans.append((start, len(labels), current))
    return spans


def canonical_name_tables(
    lexicon: Lexicon, directory: Path = GAZETTEER_DIR
) -> tuple[list[tuple[str, str]], dict[str, int], list[str]]:
    """What canonical names are made from: (variant, canonical) pairs of ``variants.tsv``, how often
    each feature form is attested as a name (``entity_words.tsv``, plus 3 for each gazetteer name it
    starts) and the country names (``countries.txt`` and the countries of nationality adjectives)."""
    variants = [(variant, canonical) for variant, canonical in read_table(directory / "variants.tsv")]
    name_counts: Counter[str] = Counter()
    for name, count in read_table(directory / "entity_words.tsv"):
        name_counts[name] += int(count)
    for gazetteer in lexicon.gazetteers.values():
        for entry in gazetteer.entries:
            name_counts[entry[0]] += 3
    countries = [*read_lines(directory / "countries.txt"), *lexicon.nationalities.values()]
    return variants, dict(name_counts), countries


class EntityTagger:
    """CRF entity tagger plus canonicalizer; build once per process with ``EntityTagger.load``."""

    def __init__(self, model_path: Path, lexicon: Lexicon, threads: int = 0) -> None:
        """``threads``: of ``tag_later`` (0: one per core but one, at least one)."""
        self.model_path = model_path
        self.lexicon = lexicon
        classes = lexicon.word_classes
        gazetteers = [lexicon.gazetteers[type_] for type_ in TYPES]
        variants, name_counts, countries = canonical_name_tables(lexicon)
        self.core = _native.EntityCore(
            model_path.read_bytes(),
            classes.counts,
            classes.classes,
            [[list(name) for name in gazetteer.entries] for gazetteer in gazetteers],
            [gazetteer.tokens for gazetteer in gazetteers],
            lexicon.triggers,
            lexicon.nationalities,
            PROPAGATE_MAX_COUNT,
            MAX_SENTENCE_TOKENS,
            WORD_CACHE_SIZE,
            FOLD_TABLE,
            variants,
            name_counts,
            countries,
            threads,
        )

    @classmethod
    def load(cls, path: Path | None = None) -> EntityTagger:
        """Read the CRF model (default: the one shipped in ``transforms/models/``)."""
        return cls(Path(path) if path is not None else MODEL_FILE, Lexicon())

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        # A pickled tagger rereads its model file rather than carrying the weights and caches.
        return (EntityTagger.load, (self.model_path,))

    def label_words(self, words: Sequence[str], rules: bool = True) -> list[str]:
        """BIO labels (``B-PER`` ...) for one sentence of words; ``rules=False`` gives the bare CRF,
        ``rules`` grows entities to the gazetteer names they are part of."""
        return self.core.label_sentences([list(words)], rules, False)[0]

    def label_document(self, sentences: Sequence[Sequence[str]], rules: bool = True) -> list[list[str]]:
        """BIO labels for every sentence of one document; with ``rules``, entities also grow to
        gazetteer names and repeats are propagated."""
        return self.core.label_sentences([list(words) for words in sentences], rules, rules)

    def tag(self, text: str) -> list[Annotation]:
        """Entity annotations on ``text``: ``text[start:end] == ann["text"]``, with a canonical name."""
        return _annotations(text, self.core.tag(text))

    def tag_later(self, texts: Sequence[str]) -> Callable[[], list[list[Annotation]]]:
        """``tag`` of each text, started now on the tagger's own thread (Rust, no GIL): the caller
        runs other Python meanwhile and calls the result for the annotations (once)."""
        texts = list(texts)
        pending = self.core.tag_in_background(texts)
        return lambda: [_annotations(text, mentions) for text, mentions in zip(texts, pending.wait(), strict=True)]


def _annotations(text: str, mentions: list[tuple[int, int, str, str]]) -> list[Annotation]:
    return [
        {"text": text[start:end], "start": start, "end": end, "type": type_, "canonical": canonical}
        for start, end, type_, canonical in mentions
    ]


@functools.cache
def default_tagger() -> EntityTagger:
    """The shipped tagger, loaded on first use and then shared by the process."""
    return EntityTagger.load()


def tag_entities(text: str) -> list[Annotation]:
    """Annotations on ``text`` from the shipped model."""
    return default_tagger().tag(text)


def facets(
    annotations: list[Annotation], text: str | None = None, tagger: EntityTagger | None = None
) -> dict[str, list[str]]:
    """Unique canonical names per facet, in order of first mention, plus ``countries_mentioned``.

    Countries come from locations that are countries and, when ``text`` is given, from
    nationality adjectives outside person names (الرئيس الصيني -> الصين), in order of position.
    """
    result: dict[str, list[str]] = {facet: [] for facet in FACET_BY_TYPE.values()}
    for ann in annotations:
        names = result[FACET_BY_TYPE[ann["type"]]]
        if ann["canonical"] not in names:
            names.append(ann["canonical"])
    mentions = [(ann["type"], ann["canonical"], ann["start"], ann["end"]) for ann in annotations]
    result["countries_mentioned"] = (tagger or default_tagger()).core.countries(mentions, text)
    return result
