"""Arabic named entities (PER, ORG, LOC, MISC) with canonical names, for facets and highlighting.

Flow: ``EntityTagger.tag(text)`` hands the text to ``transforms._native`` (Rust, ``native/``),
which tokenizes with character offsets, splits sentences, labels each token with the shipped CRF
(``transforms/models/ner.crfsuite``; the features of ``transforms.entities_features``, as model
attribute ids, scored and decoded with crfsuite's exact arithmetic), applies two rules (grow an
entity to the multiword gazetteer name it is part of; propagate one-word names to their bare
repeats in the article) and returns the spans. Each span then gets a canonical name here:

1. the first word loses proclitics (و ف ب ل ك, لل -> ال) unless they belong to the name; the
   reading kept is the one best attested as a name (gazetteers, ANERcorp entity words, other
   entities of the same article);
2. whole names and single words are mapped through ``config/gazetteers/variants.tsv``
   (ترمب -> ترامب), keys compared with ``transforms.normalize.fold``;
3. a short person or organization name maps to the full name of the same article that
   contains it (بوتين -> فلاديمير بوتين, شي -> شي جين بينغ, أتلتيكو -> أتلتيكو مدريد).

``facets(annotations, text)`` groups canonical names per type and adds ``countries_mentioned``
from nationality adjectives (الصيني -> الصين) and from locations that are countries.
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
    feature_form,
    proclitic_splits,
    read_lines,
    read_table,
    remember,
    strip_article,
)
from transforms.normalize import fold

MODEL_FILE = Path(__file__).resolve().parent / "models" / "ner.crfsuite"

SHORT_FORM_TYPES = ("PER", "ORG")
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


class Canonicalizer:
    """Canonical display names: clitics off, variants merged, short forms resolved per article."""

    def __init__(self, lexicon: Lexicon, form: Callable[[str], str], directory: Path = GAZETTEER_DIR) -> None:
        self.lexicon = lexicon
        self.form = form  # ``feature_form``, cached
        self.variants = {fold(variant): canonical for variant, canonical in read_table(directory / "variants.tsv")}
        self.name_counts: Counter[str] = Counter()
        for name, count in read_table(directory / "entity_words.tsv"):
            self.name_counts[name] += int(count)
        for gazetteer in lexicon.gazetteers.values():
            for entry in gazetteer.entries:
                self.name_counts[entry[0]] += 3
        self.countries = {fold(name) for name in read_lines(directory / "countries.txt")}
        self.countries.update(fold(country) for country in lexicon.nationalities.values())
        self._folded: dict[str, str] = {}

    def fold(self, text: str) -> str:
        """``transforms.normalize.fold``, cached."""
        folded = self._folded.get(text)
        if folded is None:
            folded = remember(self._folded, text, fold(text))
        return folded

    def strip_first_word(self, word: str, local_counts: Counter[str]) -> tuple[int, str]:
        """(characters of ``word`` to drop from the span, canonical first word)."""
        form = self.form(word)

        def score(candidate: str) -> int:
            return self.name_counts[candidate] + 5 * local_counts[candidate]

        best, best_score = form, score(form)
        for _, rest in proclitic_splits(form)[1:]:
            for reading in (rest, strip_article(rest)):
                if score(reading) > best_score:
                    best, best_score = reading, score(reading)
        if best == form:
            return 0, word
        if form.endswith(best):
            cut = _display_offset(word, len(form) - len(best))
            return cut, word[cut:]
        # للأمم: the preposition ل swallowed the alef of the article; give it back, and keep
        # the ل in the span since it is now the article's.
        letters = len(form) - len(best) + 1
        return _display_offset(word, letters - 1), "ا" + word[_display_offset(word, letters) :]

    def variant(self, name: str) -> str:
        """Whole-name variant first, else word by word."""
        key = self.fold(name)
        if key in self.variants:
            return self.variants[key]
        words = [self.variants.get(self.fold(w), w) for w in name.split(" ")]
        joined = " ".join(words)
        return self.variants.get(self.fold(joined), joined)

    def canonicalize(self, text: str, annotations: list[Annotation]) -> None:
        """Set ``canonical`` (and trim ``start``/``text`` of proclitics) on ``annotations`` in place."""
        local_counts: Counter[str] = Counter()
        for ann in annotations:
            for word in ann["text"].split():
                local_counts[self.form(word)] += 1
        for ann in annotations:
            words = ann["text"].split(" ")
            cut, first = self.strip_first_word(words[0], local_counts)
            if cut:
                ann["start"] += cut
                ann["text"] = text[ann["start"] : ann["end"]]
            ann["canonical"] = self.variant(" ".join([first, *words[1:]]))
        self._resolve_short_forms(annotations)

    def _resolve_short_forms(self, annotations: list[Annotation]) -> None:
        """A person or organization name inside a longer one of the same type and article takes it."""
        for type_ in SHORT_FORM_TYPES:
            mentions = [ann for ann in annotations if ann["type"] == type_]
            full_names = [(i, self.fold(ann["canonical"]).split(" ")) for i, ann in enumerate(mentions)]
            for i, ann in enumerate(mentions):
                words = self.fold(ann["canonical"]).split(" ")
                candidates = [
                    (j, mentions[j]["canonical"])
                    for j, longer in full_names
                    if len(longer) > len(words) and _contains(longer, words)
                ]
                earlier = [name for j, name in candidates if j < i]
                if earlier:
                    ann["canonical"] = earlier[-1]
                elif len({name for _, name in candidates}) == 1:
                    ann["canonical"] = candidates[0][1]


def _contains(longer: list[str], words: list[str]) -> bool:
    n = len(words)
    return any(longer[k : k + n] == words for k in range(len(longer) - n + 1))


def _display_offset(word: str, letters: int) -> int:
    """Index in ``word`` after its first ``letters`` feature-form letters (diacritics skipped)."""
    if letters <= 0:
        return 0
    seen = 0
    for index, char in enumerate(word):
        if feature_form(char):
            seen += 1
            if seen == letters:
                return index + 1
    return len(word)


class EntityTagger:
    """CRF entity tagger plus canonicalizer; build once per process with ``EntityTagger.load``."""

    def __init__(self, model_path: Path, lexicon: Lexicon) -> None:
        self.model_path = model_path
        self.lexicon = lexicon
        classes = lexicon.word_classes
        gazetteers = [lexicon.gazetteers[type_] for type_ in TYPES]
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
        )
        self.canonicalizer = Canonicalizer(lexicon, self.core.form)

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
        annotations: list[Annotation] = [
            {"text": text[start:end], "start": start, "end": end, "type": type_, "canonical": ""}
            for start, end, type_ in self.core.spans(text)
        ]
        self.canonicalizer.canonicalize(text, annotations)
        return annotations


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
    nationality adjectives outside person names (الرئيس الصيني -> الصين).
    """
    result: dict[str, list[str]] = {facet: [] for facet in (*FACET_BY_TYPE.values(), "countries_mentioned")}
    tagger = tagger or default_tagger()
    canonicalizer = tagger.canonicalizer
    mentions: list[tuple[int, str]] = []
    for ann in annotations:
        names = result[FACET_BY_TYPE[ann["type"]]]
        if ann["canonical"] not in names:
            names.append(ann["canonical"])
        if ann["type"] == "LOC" and canonicalizer.fold(ann["canonical"]) in canonicalizer.countries:
            mentions.append((ann["start"], ann["canonical"]))
    if text is not None:
        person_spans = [(ann["start"], ann["end"]) for ann in annotations if ann["type"] == "PER"]
        for at, country in tagger.core.nationality_mentions(text):
            if not any(start <= at < end for start, end in person_spans):
                mentions.append((at, country))
    for _, country in sorted(mentions):
        if country not in result["countries_mentioned"]:
            result["countries_mentioned"].append(country)
    return result
