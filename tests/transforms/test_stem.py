"""Light stemming of folded text for the folded.stems search field."""

import pytest

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


def test_stem_memo_is_bounded_and_changes_nothing(monkeypatch):
    text = fold("وأعلنت الدولتان شراكة إستراتيجية قبل أيام من إرسال بوتين عشرات الآلاف من الجنود")
    monkeypatch.setattr(stem, "_MEMO_SIZE", 4)
    monkeypatch.setattr(stem, "_STEMS", stem._StemMemo())
    assert stem_text(text) == " ".join(light_stem(word) for word in text.split())
    assert 0 < len(stem._STEMS) <= 4
