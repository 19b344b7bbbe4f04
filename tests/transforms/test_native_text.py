"""The native tagger's text primitives against the Python they reproduce, code point by code point.

Tokens, sentence bounds, feature forms, word shapes, and the ``fold`` of canonical-name keys.

``transforms._native`` splits and folds words in Rust with tables generated from this Python's
Unicode database (``scripts/gen_pychars.py``); these tests check every code point, random texts
and the corpus against ``transforms.entities_features``.
"""

import json
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_CORPUS
from transforms import _native
from transforms.entities import default_tagger
from transforms.entities_features import MAX_SENTENCE_TOKENS, _shape, feature_form, sentence_bounds, tokenize
from transforms.normalize import fold

EVERY_CHARACTER = [chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF]
TRICKY = [*"ابتثج ـًّٰ.،؟!\n\u200b\u200c\u200e1٢۳,.٫٬%٪_|aZİΣ", "\u0627\u0653", "\ufef5", "²"]


def python_tokens(text: str) -> list[tuple[int, int]]:
    return [(token.start, token.end) for token in tokenize(text)]


def python_bounds(text: str) -> list[tuple[int, int]]:
    tokens = tokenize(text)
    words, starts, ends = [t.text for t in tokens], [t.start for t in tokens], [t.end for t in tokens]
    return sentence_bounds(text, words, starts, ends)


def test_every_code_point_tokenizes_as_in_python():
    # Each character alone, and after a digit and a letter (the number groups and word marks).
    for context in ("", "1", "ب"):
        text = "\n".join(context + char for char in EVERY_CHARACTER)
        assert _native.tokenize(text) == python_tokens(text)


def test_every_code_point_folds_and_shapes_as_in_python():
    assert [_native.feature_form(char) for char in EVERY_CHARACTER] == [feature_form(c) for c in EVERY_CHARACTER]
    assert [_native.shape(char) for char in EVERY_CHARACTER] == [_shape(char) for char in EVERY_CHARACTER]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), max_size=200).map("".join))
def test_random_texts_split_and_fold_as_in_python(text):
    assert _native.tokenize(text) == python_tokens(text)
    assert _native.sentence_bounds(text, MAX_SENTENCE_TOKENS) == python_bounds(text)
    assert _native.feature_form(text) == feature_form(text)
    assert _native.shape(text) == _shape(text)


def corpus_texts(count: int) -> list[str]:
    with SHARED_CORPUS.open(encoding="utf-8") as lines:
        rows = [json.loads(next(lines)) for _ in range(count)]
    return [text for row in rows for text in (row["title"] or "", row["body"] or "")]


def test_corpus_tokens_sentences_and_forms_are_pythons():
    for text in corpus_texts(300):
        assert _native.tokenize(text) == python_tokens(text)
        assert _native.sentence_bounds(text, MAX_SENTENCE_TOKENS) == python_bounds(text)
        for token in tokenize(text):
            assert _native.feature_form(token.text) == feature_form(token.text)


def test_the_canonical_names_fold_as_python_folds():
    # The native canonicalizer folds names with transforms.normalize's table and rules.
    core = default_tagger().core
    assert [core.fold(char) for char in EVERY_CHARACTER] == [fold(char) for char in EVERY_CHARACTER]
    for text in corpus_texts(300):
        assert core.fold(text) == fold(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*" \n\t\xa0يءئوؤاأإآىةهـًّ٠١Σσ İaA.,\u200c\u0653ﻷ"]), max_size=20).map("".join))
def test_random_texts_fold_as_in_python(text):
    assert default_tagger().core.fold(text) == fold(text)
