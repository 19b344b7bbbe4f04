"""Tokens with character offsets and CRF features for the Arabic entity tagger.

Flow: ``tokenize(text)`` -> ``Token`` spans (``text[start:end] == token.text``) ->
``Lexicon.sentence_features(words)`` -> one list of feature strings per token, the input of the
CRF in ``transforms.entities``. The same functions build the training features in
``scripts/train_ner.py``, so training and tagging cannot drift apart.

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

    def match_at(self, forms: Sequence[str], i: int) -> tuple[int, str]:
        """Length of the longest entry starting at ``forms[i]`` (0 if none), with the prefix stripped.

        The first word may carry proclitics (وروسيا، بالصين، للأمم); the later words must match as
        they are.
        """
        best, best_prefix = 0, ""
        for prefix, first in proclitic_splits(forms[i]):
            longest = self.max_len.get(first, 0)
            for n in range(min(longest, len(forms) - i), best, -1):
                if (first, *forms[i + 1 : i + n]) in self.entries:
                    best, best_prefix = n, prefix
                    break
        return best, best_prefix


def longest_matches(gazetteers: dict[str, Gazetteer], forms: Sequence[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping longest gazetteer matches as ``(first, last_exclusive, type)``."""
    spans = []
    i = 0
    while i < len(forms):
        best_len, best_type = 0, ""
        for type_, gazetteer in gazetteers.items():
            length, _ = gazetteer.match_at(forms, i)
            if length > best_len:
                best_len, best_type = length, type_
        if best_len:
            spans.append((i, i + best_len, best_type))
            i += best_len
        else:
            i += 1
    return spans


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
        self._word_cache: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}

    def nationality_stem(self, form: str) -> str | None:
        """The nationality adjective stem in a feature-form word (الروسية -> روسي), if any."""
        _, stem = bare_stem(form)
        for suffix in ("يين", "يون", "يان", "يه", "ي"):
            if stem.endswith(suffix):
                candidate = stem[: len(stem) - len(suffix)] + "ي"
                if candidate in self.nationalities:
                    return candidate
        return None

    def word_features(self, word: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """(feature form, features passed to neighbours, features of the word alone); cached."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        form = feature_form(word)
        prefix, stem = bare_stem(form)
        feats = [
            "w=" + form,
            "stem=" + stem,
            "pre=" + prefix,
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
        key_prefix, key = self.word_classes.key(form)
        classes = self.word_classes.classes.get(key, ())
        count = self.word_classes.counts.get(key, 0)
        feats.extend(("key=" + key, "kpre=" + key_prefix, "fq=" + str(count.bit_length() // 2), *classes))
        for type_, gazetteer in self.gazetteers.items():
            if stem in gazetteer.tokens or form in gazetteer.tokens or key in gazetteer.tokens:
                feats.append("gtok=" + type_)
        kind = self.triggers.get(form) or self.triggers.get(stem) or self.triggers.get("ال" + stem)
        if kind:
            feats.append("trig=" + kind)
        if self.nationality_stem(form):
            feats.append("nat")
        neighbour = ("stem=" + stem, "key=" + key, *(c for c in classes if c.startswith("k")))
        result = (form, neighbour, tuple(feats))
        if len(self._word_cache) < 200_000:
            self._word_cache[word] = result
        return result

    def sentence_features(self, words: Sequence[str]) -> list[list[str]]:
        """CRF features for every word of one sentence."""
        per_word = [self.word_features(w) for w in words]
        forms = [f for f, _, _ in per_word]
        neighbours = [n for _, n, _ in per_word]
        stems = [n[0][5:] for n in neighbours]
        kinds = [self.triggers.get(f) or self.triggers.get(s) or "" for f, s in zip(forms, stems, strict=True)]
        gaz_tags: list[list[str]] = [[] for _ in words]
        for type_, gazetteer in self.gazetteers.items():
            i = 0
            while i < len(forms):
                length, _ = gazetteer.match_at(forms, i)
                if length:
                    gaz_tags[i].append(f"gaz={type_}-B")
                    for j in range(i + 1, i + length):
                        gaz_tags[j].append(f"gaz={type_}-I")
                    if length > 1:
                        gaz_tags[i].append(f"gazm={type_}")
                    i += length
                else:
                    i += 1
        n = len(words)
        sentence = []
        for i in range(n):
            feats = ["bias", *per_word[i][2], *gaz_tags[i]]
            for offset in (-2, -1, 1, 2):
                j = i + offset
                if 0 <= j < n:
                    feats.append(f"w[{offset}]={forms[j]}")
                    feats.extend(f"{offset}:{n}" for n in neighbours[j])
                    if kinds[j]:
                        feats.append(f"trig[{offset}]={kinds[j]}")
                    if offset in (-1, 1):
                        feats.extend(f"{g}@{offset}" for g in gaz_tags[j])
                else:
                    feats.append(f"w[{offset}]=<pad>")
            if i > 0:
                feats.append(f"w[-1:0]={forms[i - 1]}|{forms[i]}")
            if i + 1 < n:
                feats.append(f"w[0:1]={forms[i]}|{forms[i + 1]}")
            sentence.append(feats)
        return sentence


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
    sentences: list[list[Token]] = []
    current: list[Token] = []
    previous_end = 0
    for token in tokens:
        if current and "\n" in text[previous_end : token.start]:
            sentences.append(current)
            current = []
        current.append(token)
        previous_end = token.end
        if token.text in (".", "!", "?", "؟") or len(current) >= 120:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences
