"""Tokens with character offsets and CRF features for the Arabic entity tagger.

Flow: ``tokenize(text)`` -> ``Token`` spans (``text[start:end] == token.text``) ->
``Lexicon.analyse(words)``: a cached ``WordEntry`` per distinct word (feature form, key, the
gazetteer entries it may start) and one pass over the gazetteers -> ``CrfFeatures.items`` -> one
feature list per token (``Lexicon.sentence_features``); ``scripts/train_ner.py`` trains on them.
Tagging runs the same features in ``transforms._native`` (Rust, ``native/src/ner.rs``), as model
attribute ids: a new feature goes into ``Lexicon.word_features`` (per word) or
``CrfFeatures.items`` (per sentence) and into ``native/src/ner.rs`` (``Tagger::analyse_word``,
``Tagger::crf_labels``); ``tests/transforms/test_native_ner.py`` checks that the native labels
are pycrfsuite's on these features, so training and tagging cannot drift apart. Caches belong to
the ``Lexicon``/``CrfFeatures`` instance and are bounded (``WORD_CACHE_SIZE``).

Feature forms use ``feature_form`` (a fixed letter folding owned by this module, not
``transforms.normalize.fold``): a trained model is tied to the exact folding it was trained with.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

GAZETTEER_DIR = Path(__file__).resolve().parents[1] / "config" / "gazetteers"
WORD_CLASSES_FILE = Path(__file__).resolve().parent / "models" / "ner_words.tsv"

TYPES = ("PER", "ORG", "LOC")

_HARAKAT = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u200c\u200d]")
_FEATURE_LETTERS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ک": "ك",
        "ی": "ي",
        "ھ": "ه",
        "،": ",",
        "؛": ";",
        "؟": "?",
        "٪": "%",
        "٫": ".",
        "«": '"',
        "»": '"',
        "“": '"',
        "”": '"',
        "„": '"',
        "″": '"',
        "‘": "'",
        "’": "'",
        "–": "-",
        "—": "-",
        "ـ": "",
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
    }
)

# Numbers (with decimal/thousand separators), words (letters, digits, combining marks), or any
# other single visible character. Direction marks, BOM and zero-width spaces separate tokens.
_TOKEN_RE = re.compile(
    r"[0-9\u0660-\u0669\u06f0-\u06f9]+(?:[.,\u066b\u066c][0-9\u0660-\u0669\u06f0-\u06f9]+)*[%\u066a]?"
    r"|[^\W_][\w\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u200c\u200d]*"
    r"(?:(?<=\d)[.,\u066b\u066c][0-9\u0660-\u0669\u06f0-\u06f9]+)*(?:(?<=\d)[%\u066a])?"
    r"|[^\s\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)

# Proclitic strings (feature form) in the order they are tried: conjunction, preposition,
# article. "لل" is ل + ال with the alef dropped.
CONJUNCTIONS = ("و", "ف")
PREPOSITIONS = ("ب", "ل", "ك")
ARTICLE = "ال"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its text and its character offsets in the original string."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, punctuation separate, keeping character offsets."""
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def feature_form(word: str) -> str:
    """Fold a token for features: NFKC, no diacritics/tatweel, one alef/yaa/haa, ASCII digits."""
    word = unicodedata.normalize("NFKC", word)
    return _HARAKAT.sub("", word).translate(_FEATURE_LETTERS).lower()


@functools.lru_cache(maxsize=100_000)
def proclitic_splits(form: str, min_stem: int = 2) -> tuple[tuple[str, str], ...]:
    """All ``(prefix, rest)`` readings of a feature-form word, unsplit reading first.

    ``rest`` keeps the article, so "وللأمم" gives ("و", "للامم"), ("ول", "الامم") and
    ("وال"...) style readings; the caller chooses among them.
    """
    splits = [("", form)]
    for conj in ("", *CONJUNCTIONS):
        if conj and not form.startswith(conj):
            continue
        after_conj = form[len(conj) :]
        if conj and len(after_conj) >= min_stem:
            splits.append((conj, after_conj))
        for prep in PREPOSITIONS:
            if not after_conj.startswith(prep):
                continue
            rest = after_conj[1:]
            if prep == "ل" and rest.startswith("ل") and len(rest) > min_stem:
                splits.append((conj + "ل", "ا" + rest))
            elif len(rest) >= min_stem:
                splits.append((conj + prep, rest))
    return tuple(splits)


def strip_article(form: str, min_stem: int = 2) -> str:
    """``form`` without a leading article when enough of a word remains."""
    if form.startswith(ARTICLE) and len(form) - 2 >= min_stem:
        return form[2:]
    return form


def bare_stem(form: str) -> tuple[str, str]:
    """Greedy clitic stripping for features: (proclitics, stem without article)."""
    prefix = ""
    rest = form
    if len(rest) > 3 and rest[0] in CONJUNCTIONS:
        prefix, rest = rest[0], rest[1:]
    if len(rest) > 3 and rest[0] in PREPOSITIONS:
        if rest[0] == "ل" and rest[1] == "ل":
            prefix, rest = prefix + "لل", rest[2:]
            return prefix, rest
        prefix, rest = prefix + rest[0], rest[1:]
    if rest.startswith(ARTICLE) and len(rest) > 3:
        prefix, rest = prefix + ARTICLE, rest[2:]
    return prefix, rest


class WordClasses:
    """Unlabelled-news statistics per article-less word form: frequency, article rate, clusters.

    Rows of ``ner_words.tsv`` (written by ``scripts/train_ner.py``): ``form, count, article
    rate bucket, cluster ids`` at several granularities. Unknown words get no class features.
    """

    def __init__(self, path: Path = WORD_CLASSES_FILE) -> None:
        self.counts: dict[str, int] = {}
        self.classes: dict[str, tuple[str, ...]] = {}
        for row in read_table(path):
            form, count, *classes = row
            self.counts[form] = int(count)
            self.classes[form] = tuple(classes)

    def key(self, form: str) -> tuple[str, str]:
        """(proclitics, article-less word) for a feature-form word, by corpus frequency.

        A reading that strips more is taken only when it is clearly better attested, so
        بريطانيا and واشنطن keep their first letter while وروسيا and بالصين lose their clitics.
        """
        best_prefix, best = _article_split(form)
        best_count = self.counts.get(best, 0)
        for prefix, rest in proclitic_splits(form)[1:]:
            article, key = _article_split(rest)
            count = self.counts.get(key, 0)
            if count > 2 * best_count + 2:
                best_prefix, best, best_count = prefix + article, key, count
        return best_prefix, best


def _article_split(form: str) -> tuple[str, str]:
    stripped = strip_article(form)
    return form[: len(form) - len(stripped)], stripped


def read_lines(path: Path) -> list[str]:
    """Non-empty, non-comment lines of a UTF-8 data file."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def read_table(path: Path) -> list[list[str]]:
    """Tab-separated rows of a UTF-8 data file (comments and blank lines skipped)."""
    return [line.split("\t") for line in read_lines(path)]


@dataclass
class Gazetteer:
    """Multiword names of one type, matched longest-first on feature forms."""

    entries: set[tuple[str, ...]] = field(default_factory=set)
    max_len: dict[str, int] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)

    def add(self, name: str) -> None:
        words = tuple(feature_form(t.text) for t in tokenize(name))
        if not words:
            return
        self.entries.add(words)
        self.max_len[words[0]] = max(self.max_len.get(words[0], 0), len(words))
        self.tokens.update(strip_article(w) for w in words if len(w) > 1)

    def match_at(self, forms: Sequence[str], i: int) -> int:
        """Length of the longest entry starting at ``forms[i]`` (0 if none).

        The first word may carry proclitics (وروسيا، بالصين، للأمم); the later words must match as
        they are.
        """
        starts = tuple((first, self.max_len[first]) for _, first in proclitic_splits(forms[i]) if first in self.max_len)
        return _match_length(self.entries, starts, forms, i)


def longest_matches(gazetteers: dict[str, Gazetteer], forms: Sequence[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping longest gazetteer matches as ``(first, last_exclusive, type)``."""
    spans = []
    i = 0
    while i < len(forms):
        best_len, best_type = 0, ""
        for type_, gazetteer in gazetteers.items():
            length = gazetteer.match_at(forms, i)
            if length > best_len:
                best_len, best_type = length, type_
        if best_len:
            spans.append((i, i + best_len, best_type))
            i += best_len
        else:
            i += 1
    return spans


SENTENCE_ENDS = frozenset((".", "!", "?", "؟"))
MAX_SENTENCE_TOKENS = 120
# Context offsets of the CRF features, in the order they are emitted.
OFFSETS = (-2, -1, 1, 2)
# Distinct words whose entries and rendered features are kept; a full cache is emptied and refilled.
WORD_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class WordEntry:
    """The lookups of one word that features and rules share, computed once per distinct word."""

    form: str
    prefix: str  # greedy proclitics (``bare_stem``)
    stem: str
    key_prefix: str  # proclitics by corpus frequency (``WordClasses.key``)
    key: str
    nationality: str | None
    # Per type (``TYPES``): (first word, longest entry) of every gazetteer entry the word may start.
    gazetteer_starts: tuple[tuple[tuple[str, int], ...], ...]


@dataclass(frozen=True, slots=True)
class AnalysedSentence:
    """The words of one sentence with their entries and gazetteer matches."""

    words: Sequence[str]
    entries: list[WordEntry]
    forms: list[str]
    # position -> length of the longest gazetteer entry of each type (``TYPES``) starting there
    matches: dict[int, tuple[int, ...]]

    def gazetteer_tags(self) -> dict[int, list[str]]:
        """Per position, ``gaz=T-B``/``gaz=T-I``/``gazm=T`` of each type's greedy longest matches."""
        tags: dict[int, list[str]] = {}
        for t, type_ in enumerate(TYPES):
            next_free = 0
            for i, lengths in self.matches.items():
                length = lengths[t]
                if not length or i < next_free:
                    continue
                tags.setdefault(i, []).append(f"gaz={type_}-B")
                for j in range(i + 1, i + length):
                    tags.setdefault(j, []).append(f"gaz={type_}-I")
                if length > 1:
                    tags[i].append(f"gazm={type_}")
                next_free = i + length
        return tags


class Lexicon:
    """Gazetteers, trigger words and nationality stems: everything the features look up."""

    def __init__(self, directory: Path = GAZETTEER_DIR, word_classes: Path = WORD_CLASSES_FILE) -> None:
        self.word_classes = WordClasses(word_classes)
        self.gazetteers = {type_: Gazetteer() for type_ in TYPES}
        for type_ in TYPES:
            for path in sorted(directory.glob(f"{type_.lower()}*.txt")):
                for name in read_lines(path):
                    self.gazetteers[type_].add(name)
        self.triggers: dict[str, str] = {}
        for word, kind in read_table(directory / "triggers.tsv"):
            self.triggers[feature_form(word)] = kind
        self.nationalities: dict[str, str] = {}
        for adjective, country in read_table(directory / "nationalities.tsv"):
            self.nationalities[feature_form(adjective)] = country
        # first word of a gazetteer entry -> longest entry of each type starting with it
        self._first_words: dict[str, tuple[int, ...]] = {}
        for word in {first for gazetteer in self.gazetteers.values() for first in gazetteer.max_len}:
            self._first_words[word] = tuple(gazetteer.max_len.get(word, 0) for gazetteer in self.gazetteers.values())
        self.features = CrfFeatures(self)
        self._entries: dict[str, WordEntry] = {}

    def nationality_stem(self, form: str) -> str | None:
        """The nationality adjective stem in a feature-form word (الروسية -> روسي), if any."""
        _, stem = bare_stem(form)
        for suffix in ("يين", "يون", "يان", "يه", "ي"):
            if stem.endswith(suffix):
                candidate = stem[: len(stem) - len(suffix)] + "ي"
                if candidate in self.nationalities:
                    return candidate
        return None

    def entry(self, word: str) -> WordEntry:
        """The cached ``WordEntry`` of ``word``."""
        entry = self._entries.get(word)
        if entry is None:
            entry = remember(self._entries, word, self._new_entry(word))
        return entry

    def _new_entry(self, word: str) -> WordEntry:
        form = feature_form(word)
        prefix, stem = bare_stem(form)
        key_prefix, key = self.word_classes.key(form)
        starts: tuple[list[tuple[str, int]], ...] = ([], [], [])
        for _, first in proclitic_splits(form):
            longest = self._first_words.get(first)
            if longest:
                for t, length in enumerate(longest):
                    if length:
                        starts[t].append((first, length))
        return WordEntry(
            form=form,
            prefix=prefix,
            stem=stem,
            key_prefix=key_prefix,
            key=key,
            nationality=self.nationality_stem(form),
            gazetteer_starts=tuple(map(tuple, starts)) if any(starts) else (),
        )

    def word_features(self, word: str, entry: WordEntry) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """The features of ``word`` alone, and per ``OFFSETS`` those it gives the token that far away."""
        form, stem, key = entry.form, entry.stem, entry.key
        feats = [
            "w=" + form,
            "stem=" + stem,
            "pre=" + entry.prefix,
            "suf1=" + form[-1:],
            "suf2=" + form[-2:],
            "suf3=" + form[-3:],
            "sp1=" + stem[:1],
            "sp2=" + stem[:2],
            "sp3=" + stem[:3],
            "ss2=" + stem[-2:],
            "len=" + str(min(len(stem), 8)),
            "shape=" + _shape(word),
        ]
        classes = self.word_classes.classes.get(key, ())
        count = self.word_classes.counts.get(key, 0)
        feats.extend(("key=" + key, "kpre=" + entry.key_prefix, "fq=" + str(count.bit_length() // 2), *classes))
        for type_, gazetteer in self.gazetteers.items():
            if stem in gazetteer.tokens or form in gazetteer.tokens or key in gazetteer.tokens:
                feats.append("gtok=" + type_)
        kind = self.triggers.get(form) or self.triggers.get(stem) or self.triggers.get("ال" + stem)
        if kind:
            feats.append("trig=" + kind)
        if entry.nationality:
            feats.append("nat")
        neighbour = ("stem=" + stem, "key=" + key, *(c for c in classes if c.startswith("k")))
        neighbour_kind = self.triggers.get(form) or self.triggers.get(stem)
        as_neighbour = tuple(
            (
                f"w[{offset}]={form}",
                *(f"{offset}:{feature}" for feature in neighbour),
                *((f"trig[{offset}]={neighbour_kind}",) if neighbour_kind else ()),
            )
            for offset in OFFSETS
        )
        return tuple(feats), as_neighbour

    def analyse(self, words: Sequence[str]) -> AnalysedSentence:
        """Entries and gazetteer matches of one sentence."""
        cached = self._entries
        entries = [cached.get(word) or self.entry(word) for word in words]
        forms = [entry.form for entry in entries]
        matches: dict[int, tuple[int, ...]] = {}
        for i, entry in enumerate(entries):
            if entry.gazetteer_starts:
                lengths = tuple(
                    _match_length(gazetteer.entries, starts, forms, i)
                    for gazetteer, starts in zip(self.gazetteers.values(), entry.gazetteer_starts, strict=True)
                )
                if any(lengths):
                    matches[i] = lengths
        return AnalysedSentence(words, entries, forms, matches)

    def sentence_features(self, words: Sequence[str]) -> list[list[str]]:
        """CRF features for every word of one sentence (all of them: what training sees)."""
        return [list(item) for item in self.features.items(self.analyse(words))]


def _match_length(
    entries: set[tuple[str, ...]], starts: tuple[tuple[str, int], ...], forms: Sequence[str], i: int
) -> int:
    """``Gazetteer.match_at`` from precomputed (first word, longest entry) starts."""
    best = 0
    for first, longest in starts:
        for n in range(min(longest, len(forms) - i), best, -1):
            if (first, *forms[i + 1 : i + n]) in entries:
                best = n
                break
    return best


_V = TypeVar("_V")


def remember(cache: dict[str, _V], word: str, value: _V) -> _V:
    """Store ``value`` in a per-instance word cache, emptied when it holds ``WORD_CACHE_SIZE`` words."""
    if len(cache) >= WORD_CACHE_SIZE:
        cache.clear()
    cache[word] = value
    return value


BIGRAMS = ("w[-1:0]=", "w[0:1]=")


class CrfFeatures:
    """CRF items (one feature list per token) of analysed sentences.

    Item of token i: ``bias``, the word's own features, its gazetteer tags, then per offset in
    ``OFFSETS`` the neighbour's features (``w[-2]=<pad>`` outside the sentence) with, for -1 and +1,
    the neighbour's gazetteer tags, then the word bigrams ``w[-1:0]`` and ``w[0:1]``. Training
    depends on this order (attribute ids follow first appearance), and so does the score the
    native tagger adds up (crfsuite adds the weights in item order).
    """

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._parts: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._pads = [(f"w[{offset}]=<pad>",) for offset in OFFSETS]
        self._gazetteer_parts: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}

    def _word_parts(self, word: str, entry: WordEntry) -> tuple[tuple[str, ...], ...]:
        """(``bias`` + own features, then the features given to each offset of ``OFFSETS``)."""
        own, as_neighbour = self.lexicon.word_features(word, entry)
        return remember(self._parts, word, (("bias", *own), *as_neighbour))

    def _gazetteer_features(self, tags: list[str]) -> tuple[tuple[str, ...], ...]:
        """(tags of the word itself, seen from the token after it, seen from the token before it)."""
        key = tuple(tags)
        parts = self._gazetteer_parts.get(key)
        if parts is None:
            parts = (key, tuple(f"{g}@-1" for g in tags), tuple(f"{g}@1" for g in tags))
            self._gazetteer_parts[key] = parts
        return parts

    def items(self, sentence: AnalysedSentence) -> list[tuple[str, ...]]:
        """The CRF items of one sentence (tuples: concatenating them is the cheapest way to build them)."""
        cached = self._parts
        parts = [
            cached.get(word) or self._word_parts(word, entry)
            for word, entry in zip(sentence.words, sentence.entries, strict=True)
        ]
        n = len(parts)
        heads = [p[0] for p in parts]
        # The neighbour two before, one before, one after and two after every token.
        before2 = [self._pads[0]] * 2 + [p[1] for p in parts]
        before1 = [self._pads[1]] + [p[2] for p in parts]
        after1 = [p[3] for p in parts[1:]] + [self._pads[2]]
        after2 = [p[4] for p in parts[2:]] + [self._pads[3]] * 2
        empty: tuple[str, ...] = ()
        # The gazetteer tags of every token, of the token before it and of the token after it.
        own, before1_tags, after1_tags = [empty] * n, [empty] * (n + 1), [empty] * (n + 1)
        for i, tags in sentence.gazetteer_tags().items():
            own[i], before1_tags[i + 1], as_after = self._gazetteer_features(tags)
            if i:
                after1_tags[i - 1] = as_after
        items = [
            h + g + b2 + b1 + gb1 + a1 + ga1 + a2
            for h, g, b2, b1, gb1, a1, ga1, a2 in zip(
                heads, own, before2, before1, before1_tags, after1, after1_tags, after2, strict=False
            )
        ]
        forms = sentence.forms
        for i in range(1, n):
            pair = f"{forms[i - 1]}|{forms[i]}"
            items[i] += (BIGRAMS[0] + pair,)
            items[i - 1] += (BIGRAMS[1] + pair,)
        return items


def _shape(word: str) -> str:
    """Coarse word shape: arabic, latin, digit, punct, mixed."""
    if word.isdigit() or _is_number(word):
        return "num"
    if all(_is_arabic(c) for c in word):
        return "ar"
    if word.isascii() and word.isalpha():
        return "Lat" if word[0].isupper() else "lat"
    if len(word) == 1 and not word.isalnum():
        return "p" + word.translate(_FEATURE_LETTERS)
    return "mix"


def _is_number(word: str) -> bool:
    return any(c.isdigit() for c in word) and all(c.isdigit() or c in ".,%٫٬" for c in word)


def _is_arabic(char: str) -> bool:
    return "\u0600" <= char <= "\u06ff" or "\u0750" <= char <= "\u077f"


def sentences_of(tokens: Iterable[Token], text: str) -> list[list[Token]]:
    """Group tokens into sentences: break after . ! ? ؟ and at blank lines or line breaks."""
    tokens = list(tokens)
    words, starts, ends = [t.text for t in tokens], [t.start for t in tokens], [t.end for t in tokens]
    return [tokens[first:last] for first, last in sentence_bounds(text, words, starts, ends)]


def sentence_bounds(
    text: str, words: Sequence[str], starts: Sequence[int], ends: Sequence[int]
) -> list[tuple[int, int]]:
    """``sentences_of`` on token columns: (first, last_exclusive) token indices of each sentence."""
    bounds = []
    first = previous_end = 0
    for i, word in enumerate(words):
        if i > first and "\n" in text[previous_end : starts[i]]:
            bounds.append((first, i))
            first = i
        previous_end = ends[i]
        if word in SENTENCE_ENDS or i + 1 - first >= MAX_SENTENCE_TOKENS:
            bounds.append((first, i + 1))
            first = i + 1
    if first < len(words):
        bounds.append((first, len(words)))
    return bounds
