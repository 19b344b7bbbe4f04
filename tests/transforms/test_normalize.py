"""Tests for the folded key/search form (``transforms.normalize``)."""

import hashlib
import json
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_SEED as SEED
from transforms.normalize import FOLD_VERSION, UNICODE_WHITESPACE, fold, fold_tokens

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "normalize"

# sha256 of the folded golden texts, per FOLD_VERSION. A change of fold's output must come
# with a new FOLD_VERSION (and a new line here), never with a silent edit of the digest.
OUTPUT_DIGESTS = {2: "c9e0d52ab72e23fbe5974247a0b0d5b39001e0d7286f886382c0d8120d148c9c"}

BIDI_AND_ZERO_WIDTH = set(
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c\ufeff\u2060"
)
# Arabic-script letters no rule touches (all but the folded classes of docs/normalization.md
# and their targets): every one of them in the NFKC form of the input is in the output.
FOLDED_CLASSES = "ءآأؤإئاةهىيكـ" + "ٱٲٳیېےۓکڪہھەۀۂۃ" + "ٴ"  # high hamza: deleted
UNFOLDED_LETTERS = {
    chr(c)
    for c in [*range(0x0620, 0x0700), *range(0x0750, 0x0780), *range(0x08A0, 0x08CA)]
    if unicodedata.category(chr(c)) == "Lo"
} - set(FOLDED_CLASSES)

arabic_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
        st.characters(min_codepoint=0x0750, max_codepoint=0x077F),
        st.characters(min_codepoint=0x08A0, max_codepoint=0x08FF),
        st.characters(min_codepoint=0xFB50, max_codepoint=0xFDFF),
        st.characters(min_codepoint=0xFE70, max_codepoint=0xFEFF),
        st.sampled_from([*sorted(BIDI_AND_ZERO_WIDTH), " ", "\n", "\t", "\r", "\xa0", "\u2028", "\u3000", "A", "é"]),
    ),
    max_size=60,
)
any_text = st.one_of(arabic_text, st.text(max_size=60))


def _golden(name: str) -> list[dict]:
    with open(GOLDEN / name, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


@given(any_text)
@settings(max_examples=600)
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(any_text)
@settings(max_examples=600)
def test_fold_keeps_exactly_the_line_breaks(text: str) -> None:
    assert fold(text).count("\n") == text.count("\n")


@given(any_text)
def test_fold_output_has_no_bidi_zero_width_or_stray_spaces(text: str) -> None:
    folded = fold(text)
    assert not BIDI_AND_ZERO_WIDTH & set(folded)
    assert all(not c.isspace() for c in folded if c not in " \n")
    assert "  " not in folded
    assert all(line == line.strip(" ") for line in folded.split("\n"))


@given(arabic_text)
@settings(max_examples=600)
def test_fold_loses_no_letter_outside_the_folded_classes(text: str) -> None:
    def kept(s: str) -> Counter[str]:
        return Counter(c for c in s if c in UNFOLDED_LETTERS)

    assert kept(fold(text)) == kept(unicodedata.normalize("NFKC", text))


@given(any_text)
def test_fold_tokens_are_the_words_of_the_folded_text(text: str) -> None:
    tokens = fold_tokens(text)
    assert all(token and all(c.isalnum() for c in token) for token in tokens)
    assert fold_tokens(" ".join(tokens)) == tokens


def test_unicode_whitespace_is_complete() -> None:
    assert set(UNICODE_WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}


def test_fold_is_idempotent_on_every_code_point() -> None:
    for code_point in range(sys.maxunicode + 1):
        if 0xD800 <= code_point < 0xE000:
            continue
        folded = fold(chr(code_point))
        assert fold(folded) == folded, hex(code_point)


@pytest.mark.parametrize("record", _golden("variants.jsonl"), ids=lambda r: f"{r['a']}~{r['b']}")
def test_variants_meet_and_distinct_words_stay_apart(record: dict) -> None:
    assert (fold(record["a"]) == fold(record["b"])) is record["same"], record["why"]


@pytest.mark.parametrize("record", _golden("corpus.jsonl"), ids=lambda r: r["source_id"])
def test_golden_corpus_sentences(record: dict) -> None:
    assert fold(record["text"]) == record["folded"]


def test_fold_version_matches_its_output() -> None:
    texts = [r["text"] for r in _golden("corpus.jsonl")] + [r[k] for r in _golden("variants.jsonl") for k in "ab"]
    digest = hashlib.sha256("\n".join(fold(t) for t in texts).encode()).hexdigest()
    assert OUTPUT_DIGESTS.get(FOLD_VERSION) == digest, "fold's output changed: bump FOLD_VERSION"


def test_seed_folds_line_by_line_and_is_stable() -> None:
    seed = SEED.read_text(encoding="utf-8")
    folded = fold(seed)
    assert fold(folded) == folded
    assert [fold(line) for line in seed.split("\n")] == folded.split("\n")
    assert "مسؤولتين" in folded  # دولتين كبيرتين مسؤولتين
    assert "ترمب" in folded and "الامريكي" in folded and "قبل دعوه" in folded  # قَبِل: harakat gone


def test_fold_examples() -> None:
    assert fold("  أحمد \t و\u00a0إيمان\r\n\n  فى   المدرسة  ") == "احمد و ايمان\n\nفي المدرسه"
    assert fold("Sports Centre ١٢٣ ۴۵۶") == "sports centre 123 456"
    assert fold("a\u2028b\u2029c\x85d\x0be\x0cf") == "a b c d e f"
    assert fold("\ufdf2 \ufefb") == "الله لا"


def test_fold_tokens_drop_punctuation() -> None:
    assert fold_tokens("قال: «الشؤون» (رويترز)، 25٪ - e-mail_x") == [
        "قال",
        "الشؤون",
        "رويترز",
        "25",
        "e",
        "mail",
        "x",
    ]
