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
from re import _constants as sre

import pytest
from hypothesis import HealthCheck, given, settings
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


# Every word a rule can begin with, read off its regex, is one its Starts name. The parse tree of
# the pattern is walked from the start, each character class stood for by a few characters (a
# digit, letters, a space), until the first word ends (at a non-word character or (?!\w)), grows
# longer than _LONGEST, or is accepted by the rule's first-word regex whatever follows. Lookarounds
# other than (?!\w) are skipped, which can only add words.

_LONGEST = 12  # characters of a first word (clitics included) the walk follows
_WORD_ENDS = " "


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


_CATEGORIES = {
    sre.CATEGORY_DIGIT: str.isdecimal,
    sre.CATEGORY_NOT_DIGIT: lambda char: not char.isdecimal(),
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_NOT_SPACE: lambda char: not char.isspace(),
    sre.CATEGORY_WORD: is_word_char,
    sre.CATEGORY_NOT_WORD: lambda char: not is_word_char(char),
}


def in_class(char: str, items: list) -> bool:
    found = any(
        (op is sre.LITERAL and char == chr(av))
        or (op is sre.RANGE and av[0] <= ord(char) <= av[1])
        or (op is sre.CATEGORY and _CATEGORIES[av](char))
        for op, av in items
    )
    return found != any(op is sre.NEGATE for op, _ in items)


def class_samples(items: list) -> set[str]:
    chars = {"7", "x", "ا", " "}
    chars |= {chr(av) for op, av in items if op is sre.LITERAL}
    chars |= {chr(end) for op, av in items if op is sre.RANGE for end in av}
    return {char for char in chars if in_class(char, items)}


class FirstWords:
    """The beginnings of the texts a parsed regex matches, up to where ``first_word`` has decided."""

    def __init__(self, first_word: re.Pattern[str]) -> None:
        self.first_word = first_word

    def open(self, text: str) -> bool:
        """Is the first word of ``text`` unfinished, and can what follows change ``first_word``'s verdict?"""
        if len(text) > _LONGEST or (text and not is_word_char(text[-1])):
            return False
        accepted = self.first_word.match(text)
        return accepted is None or accepted.end() == len(text)  # else it looked at a character past the match

    def walk(self, texts: set[str], items: list) -> set[str]:
        for op, av in items:
            going = {text for text in texts if self.open(text)}
            if going:
                texts = (texts - going) | self.step(going, op, av)
            assert len(texts) < 200_000, "words glued without end: is a word missing from the rule's Starts?"
        return texts

    def step(self, texts: set[str], op: object, av: object) -> set[str]:
        if op is sre.LITERAL:
            chars = {chr(av)}
        elif op is sre.IN:
            chars = class_samples(av)
        elif op in (sre.ANY, sre.NOT_LITERAL, sre.GROUPREF):
            chars = {"7", "x", " ", "/"} - ({chr(av)} if op is sre.NOT_LITERAL else set())
        elif op is sre.ASSERT_NOT and av[0] == 1 and list(av[1]) == [(sre.IN, [(sre.CATEGORY, sre.CATEGORY_WORD)])]:
            return {text + _WORD_ENDS for text in texts}
        elif op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            return texts
        elif op is sre.BRANCH:
            return set().union(*(self.walk(texts, list(branch)) for branch in av[1]))
        elif op is sre.SUBPATTERN:
            return self.walk(texts, list(av[3]))
        elif op is sre.GROUPREF_EXISTS:
            return self.walk(texts, list(av[1])) | (self.walk(texts, list(av[2])) if av[2] else texts)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            least, most, item = av
            found, current = set(), texts
            for count in range(_LONGEST + 2):
                found |= current if count >= least else set()
                if count == most or not any(self.open(text) for text in current):
                    break
                current = self.walk(current, list(item))
            return found
        else:
            raise NotImplementedError(op)
        return {text + char for text in texts for char in chars}


@pytest.mark.parametrize("index", range(len(dates.RULES)), ids=[rule.name for rule in dates.RULES])
def test_starts_name_every_first_word(index: int) -> None:
    rule, first_word = dates.RULES[index], dates._RULE_FIRST_WORDS[index]
    walker = FirstWords(first_word)
    texts = walker.walk({""}, list(re._parser.parse(rule.pattern.pattern, rule.pattern.flags)))
    words = {re.match(r"\w*", text).group() for text in texts if not set(text) & dates._REMOVED_SET}
    assert len(words) > 1
    assert [word for word in sorted(words) if word and not first_word.match(word)] == []
    assert all(dates._FIRST_WORD.match(word) for word in words if word)


# Random texts: strings each rule's regex matches (hypothesis builds them from the regex), between
# the text that can come before and after a word, and corpus passages around real matches with
# words glued, split and prefixed.


@pytest.mark.parametrize("rule", dates.RULES, ids=[rule.name for rule in dates.RULES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_same_matches_where_the_rules_match(rule: dates.Rule, data: st.DataObject) -> None:
    around = st.sampled_from(["", " ", "\n", "في ", "و", "ال", "12 ", "1", "-", " و"])
    matching = st.from_regex(rule.pattern, fullmatch=True)
    pieces = [data.draw(around), data.draw(matching), data.draw(around), data.draw(matching), data.draw(around)]
    assert_same_matches("".join(pieces) + " " + " ".join(rule.keywords))


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


@settings(max_examples=1000, deadline=None)
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
