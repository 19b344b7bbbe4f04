"""Light stemming of folded text for the folded.stems search field."""

import json
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_CORPUS
from transforms import stem
from transforms.normalize import fold
from transforms.stem import light_stem, stem_text


@pytest.mark.parametrize(
    "variants",
    [
        ["المسؤول", "والمسؤولين", "مسؤولون", "مسئولة", "بالمسؤول"],
        ["الشاطئ", "شاطىء", "للشاطئ"],
        ["المدارس", "والمدارس"],
    ],
)
def test_inflected_and_respelled_forms_meet(variants):
    assert len({stem_text(fold(word)) for word in variants}) == 1


def test_short_words_keep_their_letters():
    assert light_stem("ولد") == "ولد"  # too short for the و prefix
    assert light_stem("الي") == "الي"
    assert stem_text(fold("في 2026 ABC")) == "في 2026 abc"


def test_one_stem_per_word():
    text = fold("وأعلنت الدولتان شراكة إستراتيجية قبل أيام من إرسال بوتين عشرات الآلاف من الجنود")
    assert len(stem_text(text).split()) == len(text.split())
    assert light_stem(fold("وبوتين")) == light_stem(fold("بوتين"))


WORD = re.compile(r"[\u0621-\u064a]+|[^\W\d_]+|\d+")


def reference_light_stem(word: str) -> str:
    """light10 as the Python the native stemmer replaced wrote it."""
    for prefix, minimum in stem.PREFIXES:
        if word.startswith(prefix) and len(word) >= minimum:
            word = word[len(prefix) :]
            break
    for suffix in stem.SUFFIXES:
        if word.endswith(suffix) and len(word) >= len(suffix) + 3:
            word = word[: -len(suffix)]
    return word


def reference_stem_text(folded: str) -> str:
    return " ".join(reference_light_stem(word) for word in WORD.findall(folded))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*" \nوالبكفلهاتنيa1٢_.ٱ", "وال", "ات", "ين", "لل"]), max_size=30).map("".join))
def test_stems_are_the_python_rules(text):
    assert stem_text(text) == reference_stem_text(text)
    assert [light_stem(word) for word in text.split()] == [reference_light_stem(word) for word in text.split()]


def test_corpus_and_every_code_point_stem_as_the_python_rules():
    with SHARED_CORPUS.open(encoding="utf-8") as lines:
        texts = [fold(f"{row['title'] or ''}\n{row['body'] or ''}") for row in map(json.loads, list(lines)[:500])]
    every = " ".join(chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF)
    for text in [*texts, every, every.replace(" ", "x")]:
        assert stem_text(text) == reference_stem_text(text)
