"""Light Arabic stemming of folded text, for the ``folded.stems`` search field.

The Elasticsearch core distribution has no Arabic analysis (its ``arabic`` analyzer lives in
a module that core-only builds leave out), so akhbar stems in Python, the same way at index
and at query time: المسؤول، والمسؤولين and مسؤولون all meet at مسؤول. The rules are
Larkey's light10 stemmer as Lucene's ``ArabicStemmer`` implements it (strip one article or
conjunction prefix, then the common suffixes), applied to ``fold`` output, where ة is
already ه and ى is ي. Light stemming is written here rather than taken from a library
because the packaged ones are root stemmers (ISRI) that merge far more than search needs.
"""

from __future__ import annotations

import re

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
_WORD = re.compile(r"[\u0621-\u064a]+|[^\W\d_]+|\d+", re.UNICODE)


def light_stem(word: str) -> str:
    """The light stem of one folded Arabic word (other words come back unchanged)."""
    for prefix, minimum in PREFIXES:
        if word.startswith(prefix) and len(word) >= minimum:
            word = word[len(prefix) :]
            break
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) >= len(suffix) + 3:
            word = word[: -len(suffix)]
    return word


# News vocabulary repeats (a 2,000-article slice has ~440k words but ~60k distinct ones), so
# stems are memoized in a dict whose ``__missing__`` computes the stem: a hit is one C-level
# look-up, cheaper than an lru_cache hit. It holds only pure results and is emptied when
# full, so it stays bounded.
_MEMO_SIZE = 1 << 17


class _StemMemo(dict[str, str]):
    def __missing__(self, word: str) -> str:
        if len(self) >= _MEMO_SIZE:
            self.clear()
        stem = self[word] = light_stem(word)
        return stem


_STEMS = _StemMemo()


def stem_text(folded: str) -> str:
    """The stems of every word of a folded text, space separated."""
    return " ".join(map(_STEMS.__getitem__, _WORD.findall(folded)))
