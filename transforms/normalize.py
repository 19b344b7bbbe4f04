"""The one Arabic normalizer behind dedup keys, fingerprints and search fields.

``fold(text)`` maps display text to its folded key/search form; ``fold_tokens(text)`` splits
that form into word tokens for shingling. Data flow inside ``fold``:

    NFKC (presentation forms, ligatures, compatibility digits)
    -> lowercase
    -> one character table (marks, tatweel and invisible format characters deleted;
       alef, yeh, heh, kaf and digit variants mapped; every white space but "\\n" to " "),
       applied as ``str.replace`` for the five frequent letter variants and as
       ``str.translate`` on the runs of the other, rare, characters
    -> the two context rules for hamza carriers (see ``docs/normalization.md``)
    -> runs of spaces to one, lines stripped; "\\n" kept, so a line never becomes two.

The rules, with examples and what is deliberately not folded, are in
``docs/normalization.md``. The form is versioned (``FOLD_VERSION``): anything persisted from
it (content hashes, MinHash signatures, the ``*.folded`` index fields) records the version
that produced it, and the version is bumped whenever the output of ``fold`` changes.
"""

import re
import unicodedata
from collections.abc import Iterable

from pyarabic import araby

FOLD_VERSION = 2

# Marks deleted: pyarabic's DIACRITICS (harakat, shadda, sukun, superscript alef, the
# combining hamza and madda, Quranic marks U+0610-061A / U+06D6-06ED) plus what it leaves
# out: tatweel, the small Quranic waw/yeh, the high hamza that NFKC splits off ٵ ٶ ٷ ٸ,
# the Arabic Extended-A Quranic marks and the end-of-ayah and rub-el-hizb signs.
_ARABIC_MARKS = frozenset(araby.DIACRITICS) | {
    araby.TATWEEL,
    "\u0674",  # high hamza
    "\u06dd",  # end of ayah
    "\u06de",  # rub el hizb
    "\u06e5",  # small waw
    "\u06e6",  # small yeh
    "\u06e9",  # place of sajdah
    *map(chr, range(0x08D3, 0x0900)),  # Arabic Extended-A combining marks (Quranic)
}

# Invisible characters deleted: bidi controls, zero-width characters (ZWNJ included:
# it changes shaping only, never the word), soft hyphen, word joiners, Arabic number signs
# that only decorate the following digits, variation selectors, C0/C1 controls.
_INVISIBLE = frozenset(
    {"\u00ad", "\u034f", "\u061c", "\u180e", "\ufeff"}
    | set(map(chr, range(0x0600, 0x0606)))
    | set(map(chr, range(0x200B, 0x2010)))
    | set(map(chr, range(0x202A, 0x202F)))
    | set(map(chr, range(0x2060, 0x2065)))
    | set(map(chr, range(0x2066, 0x2070)))
    | set(map(chr, range(0xFE00, 0xFE10)))
    | set(map(chr, range(0xFFF9, 0xFFFC)))
    | {chr(c) for c in range(0x20) if not chr(c).isspace()}
    | {chr(c) for c in range(0x7F, 0xA0) if not chr(c).isspace()}
)

# Letters that are the same letter under another code point, or folded as Lucene's
# ArabicNormalizer does (alef forms, alef maksura, teh marbuta).
_LETTERS = {
    "ا": "أإآٱٲٳ",  # alef with hamza above/below, madda, wasla, wavy hamza
    "ي": "ىیېے",  # alef maksura (as Lucene); Farsi, Pashto and Urdu (barree) yeh
    "ئ": "ۓ",  # yeh barree with hamza
    "ه": "ةہھەۀۂۃ",  # teh marbuta (as Lucene); heh goal, doachashmee, ae, with yeh/hamza, teh goal
    "ك": "کڪ",  # keheh, swash kaf
}

_DIGITS = {
    **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic
    **{chr(0x06F0 + i): str(i) for i in range(10)},  # Extended (Persian, Urdu)
    "٫": ".",  # Arabic decimal separator
    "٬": ",",  # Arabic thousands separator
    "٪": "%",  # Arabic percent sign
}

# Every character str.isspace() accepts (a test checks the list is complete).
UNICODE_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# Only "\n" stays a line break, so one input line always folds to one output line.
_SPACES = {c: " " for c in UNICODE_WHITESPACE if c not in " \n"}

# The character table of ``fold``; ``transforms._native`` folds canonical-name keys with it too.
FOLD_TABLE = str.maketrans(
    {
        **dict.fromkeys(_ARABIC_MARKS | _INVISIBLE, None),
        **{variant: letter for letter, variants in _LETTERS.items() for variant in variants},
        **_DIGITS,
        **_SPACES,
    }
)

# Speed: str.translate pays a dict look-up for every character. The few letters frequent
# enough to matter go through str.replace; every other entry of the table is rare in news
# text and is translated only where a regex finds a run of such characters.
_FREQUENT_VARIANTS = "أإآىة"
_FREQUENT = [(v, letter) for letter, variants in _LETTERS.items() for v in variants if v in _FREQUENT_VARIANTS]


def char_runs(chars: Iterable[str]) -> re.Pattern[str]:
    """A regex matching runs of ``chars``, written "[c][c]*" rather than "[c]+": a pattern that
    starts with a character class lets the search skip to the characters it can start at, one
    that starts with a repeat makes it attempt a match at every character (twice the time)."""
    char_class = "[{}]".format("".join(f"\\U{ord(c):08x}" for c in sorted(chars)))
    return re.compile(f"{char_class}{char_class}*")


_RARE = char_runs(chr(c) for c in FOLD_TABLE if chr(c) not in _FREQUENT_VARIANTS)


def _translate(match: re.Match[str]) -> str:
    return match.group().translate(FOLD_TABLE)


# Hamza carriers: the seat of a hamza before waw varies by orthography (مسؤول / مسئول,
# شؤون / شئون, جاءوا / جاؤوا), and at the end of a word ئ alternates with yeh + hamza on
# the line (شاطئ / شاطىء / شاطيء, سيئ / سيء). Everywhere else the seat tells words apart
# (بئر well / بؤر hotspots), so it is kept.
_HAMZA_BEFORE_WAW = (("ءو", "ؤو"), ("ئو", "ؤو"))
# Written "يي*" rather than "ي+" so that the regex starts with a literal, which the search skips
# to; a leading repeat makes it try a match at every character.
_FINAL_YEH_HAMZA = re.compile(r"يي*[ءئ](?![^\W\d_])")

_SPACE_RUN = re.compile(" {2,}")
_WORD = re.compile(r"[^\W_]+")


def _fold_once(text: str) -> str:
    # NBSP is the commonest character NFKC rewrites; replacing it first keeps most texts on
    # NFKC's quick-check path.
    text = unicodedata.normalize("NFKC", text.replace("\xa0", " ")).lower()
    for variant, letter in _FREQUENT:
        text = text.replace(variant, letter)
    text = _RARE.sub(_translate, text)
    for variant, canonical in _HAMZA_BEFORE_WAW:
        text = text.replace(variant, canonical)
    text = _FINAL_YEH_HAMZA.sub("ئ", text)
    # The regex would try every space; a substring test (fast search) skips it in most texts.
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    return text.replace(" \n", "\n").replace("\n ", "\n").strip(" ")


def fold(text: str) -> str:
    """Fold ``text`` to the key/search form: idempotent, one output line per input line."""
    folded = _fold_once(text)
    # Deleting a mark can let two neighbours compose under NFKC; fold again until stable.
    while not unicodedata.is_normalized("NFKC", folded):
        folded = _fold_once(folded)
    return folded


def fold_tokens(text: str) -> list[str]:
    """Folded word tokens of ``text`` (letters and digits; punctuation and "_" dropped)."""
    return _WORD.findall(fold(text))
