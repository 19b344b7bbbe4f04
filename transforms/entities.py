"""Arabic named entities (PER, ORG, LOC, MISC) with canonical names, for facets and highlighting.

Flow: ``EntityTagger.tag(text)`` tokenizes with character offsets, splits sentences, labels
each token with the shipped CRF (``transforms/models/ner.crfsuite``, features in
``transforms.entities_features``; ``transforms.crf_model`` scores all sentences of the text at
once and gives crfsuite's exact labels), applies two rules (grow an entity to the multiword
gazetteer name it is part of; propagate one-word names to their bare repeats in the article),
turns BIO labels into spans and gives each span a canonical name:

1. the first word loses proclitics (و ف ب ل ك, لل -> ال) unless they belong to the name; the
   reading kept is the one best attested as a name (gazetteers, ANERcorp entity words, other
   entities of the same article);
2. whole names and single words are mapped through ``config/gazetteers/variants.tsv``
   (ترمب -> ترامب), keys compared with ``transforms.normalize.fold``;
3. a short person or organization name maps to the full name of the same article that
   contains it (بوتين -> فلاديمير بوتين, شي -> شي جين بينغ, أتلتيكو -> أتلتيكو مدريد).

``facets(annotations, text)`` groups canonical names per type and adds ``countries_mentioned``
from nationality adjectives (الصيني -> الصين) and from locations that are countries.
Everything here is plain Python without Beam; a DoFn builds one ``EntityTagger`` per worker
(``apache_beam.utils.shared.Shared``) and calls ``tag`` and ``facets``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transforms.crf_model import CrfModel
from transforms.entities_features import (
    GAZETTEER_DIR,
    AnalysedSentence,
    IdFeatures,
    Lexicon,
    feature_form,
    proclitic_splits,
    read_lines,
    read_table,
    remember,
    sentence_bounds,
    strip_article,
    token_columns,
    token_starts,
    token_words,
)
from transforms.normalize import fold

MODEL_FILE = Path(__file__).resolve().parent / "models" / "ner.crfsuite"

SHORT_FORM_TYPES = ("PER", "ORG")
PROPAGATED_TYPES = ("PER", "ORG", "LOC")
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


def extend_to_gazetteer(sentence: AnalysedSentence, labels: list[str]) -> list[str]:
    """Grow a predicted entity to the multiword gazetteer name it is part of.

    The CRF often stops early on long names (منظمة شنغهاي | للتعاون). When a gazetteer name of
    two or more words covers predicted entities of its own type and only ``O`` words
    otherwise, the whole name becomes one entity of that type.
    """
    labels = list(labels)
    for first, last, type_ in sentence.gazetteer_spans():
        if last - first < 2:
            continue
        inside = [label for label in labels[first:last] if label != "O"]
        starts_inside = labels[first] == "O" or labels[first].startswith("B-")
        ends_inside = last == len(labels) or not labels[last].startswith("I-")
        if inside and starts_inside and ends_inside and all(label[2:] == type_ for label in inside):
            labels[first:last] = ["B-" + type_] + ["I-" + type_] * (last - first - 1)
    return labels


def propagate_in_document(lexicon: Lexicon, sentences: Sequence[AnalysedSentence], labels: list[list[str]]) -> None:
    """Tag later/earlier bare mentions of a one-word name the CRF found elsewhere in the article.

    The CRF sees one sentence at a time and misses repeats of a name in weaker contexts. A word
    left ``O``, standing alone between ``O`` words, whose key (clitics and article off) is a
    one-word PER/ORG/LOC entity or the last word of a person's name elsewhere in the document
    takes that entity's majority type (يوسف القرضاوي ... القرضاوي).
    Very frequent words (more than ``PROPAGATE_MAX_COUNT`` in the unlabelled news) are skipped.
    """
    votes: dict[str, Counter[str]] = {}
    for sentence, sentence_labels in zip(sentences, labels, strict=True):
        for first, last, type_ in bio_spans(sentence_labels):
            if last - first == 1 and type_ in PROPAGATED_TYPES:
                votes.setdefault(sentence.entries[first].key, Counter())[type_] += 1
            elif type_ == "PER":
                votes.setdefault(sentence.entries[last - 1].key, Counter())[type_] += 1
    if not votes:
        return
    counts = lexicon.word_classes.counts
    for sentence, sentence_labels in zip(sentences, labels, strict=True):
        voted = [(i, entry.key) for i, entry in enumerate(sentence.entries) if entry.key in votes]
        for i, key in voted:
            if sentence_labels[i] != "O" or len(key) < 3:
                continue
            if counts.get(key, 0) > PROPAGATE_MAX_COUNT:
                continue
            before_free = i == 0 or sentence_labels[i - 1] == "O"
            after_free = i + 1 == len(sentence_labels) or not sentence_labels[i + 1].startswith("I-")
            if before_free and after_free:
                sentence_labels[i] = "B-" + votes[key].most_common(1)[0][0]


class Canonicalizer:
    """Canonical display names: clitics off, variants merged, short forms resolved per article."""

    def __init__(self, lexicon: Lexicon, directory: Path = GAZETTEER_DIR) -> None:
        self.lexicon = lexicon
        self.variants = {fold(variant): canonical for variant, canonical in read_table(directory / "variants.tsv")}
        self.name_counts: Counter[str] = Counter()
        for form, count in read_table(directory / "entity_words.tsv"):
            self.name_counts[form] += int(count)
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
        form = self.lexicon.form(word)

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
                local_counts[self.lexicon.form(word)] += 1
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

    def __init__(self, model_path: Path, lexicon: Lexicon, model: CrfModel) -> None:
        self.model_path = model_path
        self.lexicon = lexicon
        self.model = model
        self.features = IdFeatures(lexicon, model.attributes, model.weights)
        self.canonicalizer = Canonicalizer(lexicon)

    @classmethod
    def load(cls, path: Path | None = None) -> EntityTagger:
        """Read the CRF model (default: the one shipped in ``transforms/models/``)."""
        model_path = Path(path) if path is not None else MODEL_FILE
        return cls(model_path, Lexicon(), CrfModel.load(model_path))

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        # A pickled tagger rereads its model file rather than carrying the weights and caches.
        return (EntityTagger.load, (self.model_path,))

    def label_words(self, words: Sequence[str], rules: bool = True) -> list[str]:
        """BIO labels (``B-PER`` ...) for one sentence of words; ``rules=False`` gives the bare CRF."""
        sentence = self.lexicon.analyse(words)
        labels = self._label([sentence])[0]
        return extend_to_gazetteer(sentence, labels) if rules else labels

    def label_document(self, sentences: Sequence[Sequence[str]], rules: bool = True) -> list[list[str]]:
        """BIO labels for every sentence of one document; with ``rules``, repeats are propagated."""
        analysed = [self.lexicon.analyse(words) for words in sentences]
        labels = self._label(analysed)
        if rules:
            labels = [extend_to_gazetteer(sentence, found) for sentence, found in zip(analysed, labels, strict=True)]
            propagate_in_document(self.lexicon, analysed, labels)
        return labels

    def _label(self, sentences: Sequence[AnalysedSentence]) -> list[list[str]]:
        """The CRF's labels of every sentence, scored together (empty sentences get none)."""
        tagged = [sentence for sentence in sentences if sentence.words]
        if not tagged:
            return [[] for _ in sentences]
        first, ids = self.features.document(tagged)
        found = iter(self.model.tag(first, ids, [len(sentence.words) for sentence in tagged]))
        return [next(found) if sentence.words else [] for sentence in sentences]

    def tag(self, text: str) -> list[Annotation]:
        """Entity annotations on ``text``: ``text[start:end] == ann["text"]``, with a canonical name."""
        annotations: list[Annotation] = []
        words, starts, ends = token_columns(text)
        bounds = sentence_bounds(text, words, starts, ends)
        labels = self.label_document([words[first:last] for first, last in bounds])
        for (offset, _), sentence_labels in zip(bounds, labels, strict=True):
            for first, last, type_ in bio_spans(sentence_labels):
                start, end = starts[offset + first], ends[offset + last - 1]
                annotations.append(
                    {"text": text[start:end], "start": start, "end": end, "type": type_, "canonical": ""}
                )
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
    canonicalizer = (tagger or default_tagger()).canonicalizer
    mentions: list[tuple[int, str]] = []
    for ann in annotations:
        names = result[FACET_BY_TYPE[ann["type"]]]
        if ann["canonical"] not in names:
            names.append(ann["canonical"])
        if ann["type"] == "LOC" and canonicalizer.fold(ann["canonical"]) in canonicalizer.countries:
            mentions.append((ann["start"], ann["canonical"]))
    if text is not None:
        person_spans = [(ann["start"], ann["end"]) for ann in annotations if ann["type"] == "PER"]
        found = canonicalizer.lexicon.countries_of(token_words(text))
        if found:
            starts = token_starts(text)
            for i, country in found:
                if not any(start <= starts[i] < end for start, end in person_spans):
                    mentions.append((starts[i], country))
    for _, country in sorted(mentions):
        if country not in result["countries_mentioned"]:
            result["countries_mentioned"].append(country)
    return result
