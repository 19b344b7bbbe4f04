"""Light Arabic stemming of folded text, for the ``folded.stems`` search field.

The Elasticsearch core distribution has no Arabic analysis (its ``arabic`` analyzer lives in
a module that core-only builds leave out), so akhbar stems itself, the same way at index and
at query time: المسؤول، والمسؤولين and مسؤولون all meet at مسؤول. The rules are
Larkey's light10 stemmer as Lucene's ``ArabicStemmer`` implements it (strip one article or
conjunction prefix, then the common suffixes), applied to ``fold`` output, where ة is
already ه and ى is ي. Light stemming is written here rather than taken from a library
because the packaged ones are root stemmers (ISRI) that merge far more than search needs.
"""

from __future__ import annotations

from transforms import _native

# (prefix, minimum length of the word for it to be stripped), longest first.
PREFIXES: tuple[tuple[str, int], ...] = (
    ("وال", 6),
    ("بال", 6),
    ("كال", 6),
    ("فال", 6),
    ("لل", 5),
    ("ال", 4),
    ("و", 4),
)
SUFFIXES: tuple[str, ...] = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")

# The rules run in transforms._native (native/src/stem.rs): strip the first prefix of PREFIXES
# the word is long enough for, then each suffix of SUFFIXES in turn while three letters remain.
# Words are the matches of [\u0621-\u064a]+|[^\W\d_]+|\d+ (Arabic letters; other letters,
# which may run on into Arabic ones; digits). In Python the split and the per-word look-ups
# cost 0.10-0.12 ms per article; there, 0.025 ms.
_STEMMER = _native.Stemmer(list(PREFIXES), list(SUFFIXES))


def light_stem(word: str) -> str:
    """The light stem of one folded Arabic word (other words come back unchanged)."""
    return _STEMMER.stem(word)


def stem_text(folded: str) -> str:
    """The stems of every word of a folded text, space separated."""
    return _STEMMER.stem_text(folded)
