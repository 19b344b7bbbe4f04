"""The shortcuts of transforms.dates change no output: first-word dispatch, numeric trigger, folding by replace.

``tag_dates`` tries each rule only at the words its ``Starts`` name (``_rule_matches``). The
reference here is what the rules meant before that shortcut: every rule's ``finditer`` over the
whole folded text, and the numeric rule without its trigger. (Keywords are part of what the rules
mean: without them a few rules would find more, so the reference keeps them.)
"""

import datetime as dt
import functools
import json
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transforms.dates as dates
from tests.conftest import SHARED_DATA


def plain_matches(folded: str) -> Iterator[tuple[int, re.Match[str]]]:
    for index, rule in enumerate(dates.RULES):
        if rule.keywords and not any(k in folded for k in rule.keywords):
            continue
        yield from ((index, match) for match in rule.pattern.finditer(folded))


def spans(matches: Iterator[tuple[int, re.Match[str]]]) -> list[tuple[int, tuple[int, int], dict]]:
    return [(index, match.span(), match.groupdict()) for index, match in matches]


def assert_same_matches(text: str) -> int:
    folded = dates.fold_with_offsets(text)[0]
    expected = spans(plain_matches(folded))
    assert spans(dates._rule_matches(folded)) == expected, folded
    return len(expected)


def test_rules_cannot_match_nothing() -> None:
    """A match ends after it starts, so trying a rule only after its previous match is what finditer does."""
    for rule in dates.RULES:
        assert re._parser.parse(rule.pattern.pattern, rule.pattern.flags).getwidth()[0] > 0, rule.name


def test_rules_declare_first_words() -> None:
    assert all(rule.starts.words or rule.starts.whole for rule in dates.RULES)
    assert [rule.name for rule in dates.RULES if rule.trigger is not None] == ["numeric"]


def test_same_matches_on_the_corpus(corpus: dict[str, dict]) -> None:
    found = 0
    for key in sorted(corpus)[:1000]:
        for text in (corpus[key]["title"] or "", corpus[key]["body"] or ""):
            found += assert_same_matches(text)
    assert found > 10_000  # the texts exercise the rules


def test_same_annotations_as_without_shortcuts(corpus: dict[str, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [corpus[key] for key in sorted(corpus)[:300]]
    cases = []
    for row in rows:
        published = dt.date.fromisoformat(row["published"][:10]) if row.get("published") else None
        cases += [(text, anchor) for text in (row["title"] or "", row["body"] or "") for anchor in (published, None)]
    ours = [dates.tag_dates(text, anchor) for text, anchor in cases]
    monkeypatch.setattr(dates, "_rule_matches", plain_matches)
    assert ours == [dates.tag_dates(text, anchor) for text, anchor in cases]
    assert sum(map(len, ours)) > 1000


def test_same_annotations_on_the_evaluation_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    from eval.dates import GOLD, HELDOUT, load_gold, load_recognizers, load_timeml

    items = [*load_gold(GOLD), *load_gold(HELDOUT), *load_recognizers(), *load_timeml()]
    ours = [dates.tag_dates(item.text, item.anchor) for item in items]
    monkeypatch.setattr(dates, "_rule_matches", plain_matches)
    assert ours == [dates.tag_dates(item.text, item.anchor) for item in items]
    assert len(items) > 1000 and sum(map(len, ours)) > 1000


# Random texts: lexicon terms, numbers and the small words rules start with, glued by clitics and
# separators (an empty separator joins two words into one), and corpus passages around real
# matches with words glued, split and prefixed. They reach first words the corpus rarely shows.

_LEX = dates._L
_TERMS = sorted(
    {
        term
        for table in (
            _LEX.gregorian_months,
            _LEX.hijri_months,
            _LEX.weekdays,
            _LEX.cardinals,
            _LEX.ordinals,
            _LEX.units,
            _LEX.relative_adjectives,
            _LEX.period_units,
            _LEX.modifiers,
            _LEX.halves,
            _LEX.relative_days,
            _LEX.dayparts,
            _LEX.seasons,
            _LEX.decades,
            _LEX.centuries,
            _LEX.present_refs,
            _LEX.sets,
            _LEX.holidays,
            dates._FIXED_TIMES,
            dates._HOUR_WORDS,
            _LEX.vague,
            {dates.fold_term(w) for w in _LEX.raw["approx_words"] + _LEX.raw["hijri_era"] + _LEX.raw["gregorian_era"]},
        )
        for term in table
    }
    | set("في من الي حتي بين منذ ما يوم يومي هذا هذه شهر الشهر عام العام سنة الساعة ال كل ايام مرة مرات".split())
    | set("فصل عطلة نهاية الاسبوع طوال طيلة عشية غداة وقت اواخر اول منتصف ليل نفس نفسه الان مساء صباح".split())
)
_WORDS = st.one_of(
    st.sampled_from(_TERMS),
    st.integers(0, 2100).map(str),
    st.integers(0, 24).map(lambda hour: f"{hour}:{hour * 7 % 60:02d}"),
)
_CLITIC = st.sampled_from(["", "", "و", "ف", "ب", "ل", "ك", "وب", "ول", "ال"])
_SEPARATOR = st.sampled_from(["", " ", " ", "  ", "\n", "/", "-", " - ", "،", ", ", ".", ":", " (", ") ", "«", "»"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.tuples(_CLITIC, _WORDS, _SEPARATOR), min_size=1, max_size=10))
def test_same_matches_on_lexicon_texts(pieces: list[tuple[str, str, str]]) -> None:
    assert_same_matches("".join(clitic + word + separator for clitic, word, separator in pieces))


@functools.cache
def passages() -> list[str]:
    """Folded corpus passages around the rules' matches."""
    found = []
    with (SHARED_DATA / "arabic-news" / "articles.jsonl").open(encoding="utf-8") as lines:
        for line, _ in zip(lines, range(300), strict=False):
            folded = dates.fold_with_offsets(json.loads(line)["body"] or "")[0]
            found += [folded[max(0, m.start() - 30) : m.end() + 30] for _, m in plain_matches(folded)]
    return found


_INSERTS = ["", " ", "\n", "و", "ب", "ل", "ال", "-", "/", "1", "12", "2015"]


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_same_matches_on_edited_corpus_passages(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(passages()))
    for _ in range(data.draw(st.integers(0, 4))):  # glue, split, prefix, renumber
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(st.sampled_from(_INSERTS)) + text[at + data.draw(st.integers(0, 2)) :]
    assert_same_matches(text)


_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوية 0123456789\n"
_ALPHABET = "".join(char for char, _ in dates._ONE_TO_ONE) + dates._REMOVED + _LETTERS


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=60))
def test_fold_is_the_translation_table(text: str) -> None:
    table = str.maketrans(dict(dates._ONE_TO_ONE))
    folded, offsets = dates.fold_with_offsets(text)
    expected = "".join(char for char in text.translate(table) if char not in dates._REMOVED_SET)
    assert folded == expected
    if offsets is not None:
        assert [text.translate(table)[i] for i in offsets] == list(folded)
