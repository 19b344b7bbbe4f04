"""The shortcuts of transforms.dates change no output: folding by replace, leading lookaheads, numeric trigger.

The reference is a second copy of the module built without them: ``_begins`` returns an empty
lookahead and the numeric rule has no trigger. (Keywords are part of what the rules mean:
without them a few rules would find more, so the reference keeps them.)
"""

import dataclasses
import datetime as dt
import importlib.util
import sys
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transforms.dates as dates

_LOOKAHEAD = 'return "(?=" + "|".join([*patterns, _alt(words)]) + ")"'


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    path = dates.__file__
    source = open(path, encoding="utf-8").read()
    assert source.count(_LOOKAHEAD) == 1, "_begins changed: update this test's reference"
    spec = importlib.util.spec_from_loader("transforms.dates_reference", loader=None, origin=path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = path
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        exec(compile(source.replace(_LOOKAHEAD, 'return ""'), path, "exec"), module.__dict__)
    finally:
        del sys.modules[spec.name]
    module.RULES = tuple(
        dataclasses.replace(rule, trigger=None) if rule.name == "numeric" else rule for rule in module.RULES
    )
    assert all("(?=" + dates._alt(["عام"]) + ")" not in rule.pattern.pattern for rule in module.RULES)
    return module


def test_rules_have_shortcuts() -> None:
    guarded = [rule.name for rule in dates.RULES if "(?=" in rule.pattern.pattern[:40]]
    assert {"calendar", "time", "year", "duration", "period"} <= set(guarded)
    assert [rule.name for rule in dates.RULES if rule.trigger is not None] == ["numeric"]


def test_same_annotations_as_without_shortcuts(reference: ModuleType, corpus: dict[str, dict]) -> None:
    rows = [corpus[key] for key in sorted(corpus)[:400]]
    compared = found = 0
    for row in rows:
        published = dt.date.fromisoformat(row["published"][:10]) if row.get("published") else None
        for text in (row["title"] or "", row["body"] or ""):
            for anchor in (published, None):
                ours = dates.tag_dates(text, anchor)
                assert ours == reference.tag_dates(text, anchor), (row["id"], text[:80])
                compared += 1
                found += len(ours)
    assert compared == 4 * len(rows)
    assert found > 1000  # the texts exercise the rules


def test_same_annotations_on_the_evaluation_sets(reference: ModuleType) -> None:
    from eval.dates import GOLD, HELDOUT, load_gold, load_recognizers, load_timeml

    items = [*load_gold(GOLD), *load_gold(HELDOUT), *load_recognizers(), *load_timeml()]
    found = 0
    for item in items:
        ours = dates.tag_dates(item.text, item.anchor)
        assert ours == reference.tag_dates(item.text, item.anchor), item.text[:80]
        found += len(ours)
    assert len(items) > 1000 and found > 1000


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
