"""Find Arabic temporal expressions and resolve them to TIMEX3 values.

``tag_dates(text, published)`` returns annotations ``{text, start, end, type, value}`` (plus
``mod`` and, for Hijri dates, ``hijri``) whose offsets index ``text`` as given.
``date_ranges(annotations)`` turns the DATE annotations into calendar periods
``{gte, lte}`` for an Elasticsearch ``date_range`` field.

Data flow: the text is folded (alef/yaa variants, Arabic-Indic and Persian digits, diacritics
and tatweel; ta marbuta is kept) into a matching form with an offset map back to the display
text. Each rule is one regex compiled at import from the lexicon (Babel's CLDR month and
weekday names plus ``config/dates/lexicon.yaml``), the words its matches can begin with
(``Starts``), and a resolver that turns a match into a candidate. One scan finds the words any
rule can begin with; each rule is tried only there, which finds what its ``finditer`` would. A
rule with keywords yields matches only on texts holding one. Overlapping candidates are settled
longest-first, then modifier prefixes (أواخر، النصف الأول من ...) and ranges (من ... إلى ...)
are attached, and offsets are mapped back. Relative expressions resolve against ``published``;
without it, the parts that need an anchor are written as TIMEX3 ``X`` placeholders.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from babel import Locale
from hijridate import Gregorian, Hijri

LEXICON_PATH = Path(__file__).resolve().parents[1] / "config" / "dates" / "lexicon.yaml"
CLDR_LOCALES = ("ar", "ar_SY", "ar_LB", "ar_IQ", "ar_JO", "ar_PS", "ar_DZ", "ar_TN", "ar_MA")

Annotation = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# Folding with an offset map
# ---------------------------------------------------------------------------------------------

# No replacement is itself replaced, so the order of the replacements does not matter.
_ONE_TO_ONE = tuple(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ی": "ي",
        "ک": "ك",
        "٬": ",",
        "٫": ".",
        "\u00a0": " ",
        "\u200f": " ",
        "\u200e": " ",
        "\u200b": " ",
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
    }.items()
)
_REMOVED = "\u0610\u0611\u0612\u0613\u0614\u0615\u0616\u0617\u0618\u0619\u061a\u0640\u0670" + "".join(
    chr(c) for c in range(0x064B, 0x0660)
)
_REMOVED_SPLIT = re.compile(f"([{_REMOVED}]+)")
_REMOVED_SET = frozenset(_REMOVED)


class FoldedOffsets:
    """Folded index -> ``text`` index, kept as the shift after each run of removed characters.

    Removed characters are sparse and few indices are ever mapped (a match's ends), so a lookup
    bisects the runs instead of building a list as long as the text.
    """

    def __init__(self, length: int, run_starts: list[int], shifts: list[int]) -> None:
        self._length = length
        self._run_starts = run_starts  # folded index where each removed run was
        self._shifts = shifts  # characters removed up to and including that run

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> int:
        if not 0 <= index < self._length:
            raise IndexError(index)
        runs = bisect.bisect_right(self._run_starts, index)
        return index + self._shifts[runs - 1] if runs else index


def fold_with_offsets(text: str) -> tuple[str, FoldedOffsets | None]:
    """Fold ``text`` for matching, with the map from folded indices to ``text`` indices (None: identity)."""
    one = text
    for char, replacement in _ONE_TO_ONE:  # str.translate looks each character up in a dict: 20x slower
        if char in one:
            one = one.replace(char, replacement)
    pieces = _REMOVED_SPLIT.split(one)  # kept text and removed runs, alternately: one scan
    if len(pieces) == 1:
        return one, None
    run_starts: list[int] = []
    shifts: list[int] = []
    kept_length = removed = 0
    for kept, run in zip(pieces[0::2], pieces[1::2], strict=False):  # the last kept piece has no run
        kept_length += len(kept)
        run_starts.append(kept_length)
        removed += len(run)
        shifts.append(removed)
    return "".join(pieces[0::2]), FoldedOffsets(len(one) - removed, run_starts, shifts)


def fold_term(term: str) -> str:
    """Fold a lexicon term exactly as text is folded."""
    return fold_with_offsets(term)[0].strip()


# ---------------------------------------------------------------------------------------------
# Lexicon (CLDR + config/dates/lexicon.yaml), compiled once
# ---------------------------------------------------------------------------------------------


def _alt(terms: Iterable[str]) -> str:
    """Regex matching any of the folded terms, as a prefix trie (so a miss costs one character test).

    Spaces inside a term match any whitespace run; the longest term wins at a position.
    """
    trie: dict[str, Any] = {}
    for term in {fold_term(t) for t in terms if t}:
        node = trie
        for ch in re.sub(r"\s+", " ", term):
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_regex(trie)


_WORD_ENDS = "\x00"  # trie key: the text's word must end here (no \w character follows)


def _trie_regex(node: dict[str, Any]) -> str:
    branches = []
    for ch in sorted(k for k in node if k not in ("", _WORD_ENDS)):
        piece = r"\s+" if ch == " " else re.escape(ch)
        branches.append(piece + _trie_regex(node[ch]))
    optional = "" in node
    if _WORD_ENDS in node and not optional:
        branches.append(r"(?!\w)")
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if optional:
        return f"(?:{body})?"
    return body


class _Terms(dict[str, Any]):
    """Folded term -> meaning; a key matched across a line break or a space run finds its term."""

    def __missing__(self, key: str) -> Any:
        spaced = " ".join(key.split())
        if spaced == key:
            raise KeyError(key)
        return self[spaced]


def _table(mapping: dict[Any, list[str]]) -> dict[str, Any]:
    return _Terms((fold_term(term), key) for key, terms in mapping.items() for term in terms)


@dataclass(frozen=True)
class Lexicon:
    """Folded word -> meaning tables the rules are built from."""

    gregorian_months: dict[str, int]
    hijri_months: dict[str, int]
    ambiguous_months: frozenset[str]
    weekdays: dict[str, int]
    cardinals: dict[str, int]
    vague: frozenset[str]
    ordinals: dict[str, int]
    units: dict[str, tuple[str, int | None]]
    relative_adjectives: dict[str, int]
    period_units: dict[str, str]
    period_blockers: frozenset[str]
    modifiers: dict[str, str]
    halves: dict[str, str]
    relative_days: dict[str, int]
    dayparts: dict[str, str]
    pm_dayparts: frozenset[str]
    am_dayparts: frozenset[str]
    seasons: dict[str, str]
    decades: dict[str, int]
    centuries: dict[str, str]
    present_refs: dict[str, str]
    sets: dict[str, str]
    holidays: dict[str, tuple[str, int, int]]
    raw: dict[str, Any] = field(repr=False)


def _cldr_names() -> tuple[dict[str, int], dict[str, int]]:
    months: dict[str, int] = {}
    weekdays: dict[str, int] = {}
    for code in CLDR_LOCALES:
        locale = Locale.parse(code)
        for number, name in locale.months["format"]["wide"].items():
            months[fold_term(name)] = int(number)
        # Babel numbers weekdays from Monday = 0; TIMEX3 uses ISO Monday = 1.
        for number, name in locale.days["format"]["wide"].items():
            weekdays[fold_term(name)] = int(number) + 1
    return months, weekdays


def _ordinal_words(raw: dict[str, Any]) -> dict[str, int]:
    base = {int(k): v for k, v in raw["ordinals"].items()}
    words: dict[str, int] = {}
    for number, forms in base.items():
        for form in forms:
            words[form] = number
    ones = {1: raw["ordinal_one_compound"], **{n: base[n] for n in range(2, 10)}}
    for number, forms in ones.items():
        for form in forms:
            for teen in ("عشر", "عشرة"):
                words[f"{form} {teen}"] = 10 + number
    for tens, tens_forms in ((20, raw["ordinal_tens"][20]), (30, raw["ordinal_tens"][30])):
        for tens_form in tens_forms:
            words[tens_form] = tens
            for number, forms in ones.items():
                if tens + number > 31:
                    continue
                for form in forms:
                    words[f"{form} و{tens_form}"] = tens + number
                    words[f"{form} و {tens_form}"] = tens + number
    return {fold_term(w): n for w, n in words.items()}


@functools.cache
def lexicon() -> Lexicon:
    """Load and fold the lexicon once per process."""
    raw = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    months, weekdays = _cldr_names()
    months.update(_table({int(k): v for k, v in raw["gregorian_month_variants"].items()}))
    weekdays.update(_table({int(k): v for k, v in raw["weekday_variants"].items()}))
    units: dict[str, tuple[str, int | None]] = {}
    for unit, forms in raw["duration_units"].items():
        for form in forms["singular"]:
            units[fold_term(form)] = (unit, 1)
        for form in forms["plural"]:
            units[fold_term(form)] = (unit, None)
        for form in forms["dual"]:
            units[fold_term(form)] = (unit, 2)
    holidays = {fold_term(name): (cal, int(m), int(d)) for name, (cal, m, d) in raw["holidays"].items()}
    return Lexicon(
        gregorian_months=months,
        hijri_months=_table({int(k): v for k, v in raw["hijri_months"].items()}),
        ambiguous_months=frozenset(fold_term(m) for m in raw["ambiguous_months"]),
        weekdays=weekdays,
        cardinals={fold_term(w): int(n) for w, n in raw["cardinals"].items()},
        vague=frozenset(fold_term(w) for w in raw["vague_counts"]),
        ordinals=_ordinal_words(raw),
        units=units,
        relative_adjectives=_table({int(k): v for k, v in raw["relative_adjectives"].items()}),
        period_units=_table(raw["period_units"]),
        period_blockers=frozenset(fold_term(w) for w in raw["period_blockers"]),
        modifiers=_table(raw["modifiers"]),
        halves=_table({**raw["halves"], **raw["quarters"]}),
        relative_days=_table({int(k): v for k, v in raw["relative_days"].items()}),
        dayparts=_table(raw["dayparts"]),
        pm_dayparts=frozenset(fold_term(w) for w in raw["pm_dayparts"]),
        am_dayparts=frozenset(fold_term(w) for w in raw["am_dayparts"]),
        seasons=_table(raw["seasons"]),
        decades=_table({int(k): v for k, v in raw["decades"].items()}),
        centuries=_table(raw["centuries"]),
        present_refs=_table(raw["present_refs"]),
        sets=_table(raw["sets"]),
        holidays=holidays,
        raw=raw,
    )


# ---------------------------------------------------------------------------------------------
# Calendar arithmetic and TIMEX3 formatting
# ---------------------------------------------------------------------------------------------

_SEASON_MONTHS = {"SP": (3, 5), "SU": (6, 8), "FA": (9, 11), "WI": (12, 2)}


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _hijri_to_gregorian(year: int, month: int, day: int) -> dt.date | None:
    try:
        g = Hijri(year, month, day).to_gregorian()
    except (ValueError, OverflowError):
        return None
    return dt.date(g.year, g.month, g.day)


def _hijri_month_bounds(year: int, month: int) -> tuple[dt.date, dt.date] | None:
    first = _hijri_to_gregorian(year, month, 1)
    if first is None:
        return None
    try:
        length = Hijri(year, month, 1).month_length()
    except (ValueError, OverflowError):
        return None
    return first, first + dt.timedelta(days=length - 1)


def _to_hijri(day: dt.date) -> tuple[int, int, int] | None:
    try:
        h = Gregorian(day.year, day.month, day.day).to_hijri()
    except (ValueError, OverflowError):
        return None
    return h.year, h.month, h.day


def _hijri_year_to_gregorian(year: int) -> int:
    """The Gregorian year holding the middle of Hijri ``year`` (arithmetic outside Umm al-Qura range)."""
    middle = _hijri_to_gregorian(year, 7, 1)
    return middle.year if middle else round(year * 0.970229 + 621.5643)


# ---------------------------------------------------------------------------------------------
# Matching context and candidates
# ---------------------------------------------------------------------------------------------

_CLAUSE_BREAK = re.compile(r"[.!?؟؛;\n]")
_FUTURE_MARKERS = re.compile(
    r"(?<!\w)(?:سوف|المقرر|المزمع|المرتقب|المنتظر|اقتراب|قبيل|يعتزم|تعتزم|يزمع|تزمع|ينوي|تنوي|المقبل|القادم|المقبلة|القادمة"
    r"|علي\s+ان(?=\s+[يتن])"
    r"|[وف]?س(?!يا|يدة|يدا|يدي|يده|يطر|ينا|ينم|يما|يول|يوف|يرة|يرك|يرا|تاد|تار|تين|تمائ|تود|تي|ته|نة|نو|نين|نا|ني|نت|نغ|ند|نب|نس|نه"
    r"|اح|ار|اع|اق|ال|اد|ام|ان|اب|اف|ات|اس)[يتنا]\w{2,})"
)


_FUTURE_AFTER = re.compile(r"\s*(?:المقبل|القادم|المقبلة|القادمة)(?!\w)")
_SPACES = re.compile(r"\s+")
_DAY_VALUE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Candidate:
    """A match in folded coordinates, before modifiers and ranges are attached."""

    start: int
    end: int
    type: str
    value: str
    rule: int = 0
    mod: str | None = None
    hijri: str | None = None
    grain: str = "day"  # day, week, month, season, year, decade, century, other
    explicit_year: bool = False  # the year is written, not inferred from the anchor
    dateless_time: bool = False  # a clock time whose date came from the anchor only
    same_year: bool = False  # "من العام نفسه": take the year of the previous explicit date


@dataclass
class Context:
    folded: str
    anchor: dt.date | None
    original: str = ""
    offsets: FoldedOffsets | None = None

    def to_original(self, index: int) -> int:
        return index if self.offsets is None else self.offsets[index]

    def word_before(self, start: int) -> str:
        """The last whitespace-separated word of the 40 characters before ``start`` (maybe cut)."""
        words = self.folded[max(0, start - 40) : start].split()
        return words[-1] if words else ""

    def word_after(self, end: int) -> str:
        """The first whitespace-separated word of the 40 characters from ``end`` (maybe cut)."""
        words = self.folded[end : end + 40].split(maxsplit=1)
        return words[0] if words else ""

    def future(self, start: int, end: int) -> bool:
        """Does the clause around [start, end) speak of the future (سوف، سيزور، المقبل ...)?"""
        left = self.folded[max(0, start - 80) : start]
        breaks = list(_CLAUSE_BREAK.finditer(left))
        if breaks:
            left = left[breaks[-1].end() :]
        right = self.folded[end : end + 25]
        cut = _CLAUSE_BREAK.search(right)
        if cut:
            right = right[: cut.start()]
        return bool(_FUTURE_MARKERS.search(left)) or bool(_FUTURE_AFTER.match(right))


Resolver = Callable[[re.Match[str], Context], Candidate | None]


@dataclass(frozen=True)
class Starts:
    """The words a rule's matches can begin with, after the clitics ``_LEAD`` allows (و ف, then ب ل ك).

    A match begins with one of ``words`` or with a longer word that begins with one (عام begins
    عامين), with the whole first word of a longer term (بعد of بعد الظهر), with one of ``whole``
    as a whole word, or with digits that ``number`` matches (a regex that sees only that word),
    maybe glued to one of ``number_prefixes``; ``clitics`` is False for a rule whose regex takes
    none. They must cover every match: ``tag_dates`` tries a rule only there, and
    ``tests/transforms/test_dates_speedups.py`` reads each regex's first words to check them.
    """

    words: Collection[str] = ()
    whole: Collection[str] = ()
    number: str | None = None
    number_prefixes: Collection[str] = ()
    clitics: bool = True


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    resolve: Resolver
    starts: Starts
    keywords: tuple[str, ...] = ()  # run only if one of these occurs in the folded text
    trigger: re.Pattern[str] | None = None  # run only if this occurs in the folded text (every match holds it)


_CLITICS = r"[وف]?[بلك]?"
_LEAD = rf"(?<!\w)(?:{_CLITICS})"  # optional clitics before the expression (not in the span)
_END = r"(?!\w)"


def _first_words(starts: Collection[Starts], number: str | None) -> str:
    """Regex for the first word of a match of any of ``starts``, after the clitics.

    One trie holds their words (a whole word must end where its entry ends); a word of digits
    must match ``number``, maybe glued to a number prefix.
    """
    trie: dict[str, Any] = {}
    for start in starts:
        for term, whole in [*((t, False) for t in start.words), *((t, True) for t in start.whole)]:
            folded = fold_term(term)
            word = re.split(r"\W", folded, maxsplit=1)[0]
            if not word:
                raise ValueError(f"a first word must begin with a word character: {term!r}")
            node = trie
            for ch in word:
                node = node.setdefault(ch, {})
            node[_WORD_ENDS if whole or word != folded else ""] = {}
    alternatives = [_trie_regex(trie)] if trie else []
    if number:
        prefixes = [prefix for start in starts for prefix in start.number_prefixes]
        alternatives.append(f"(?:{_alt(prefixes)})?(?:{number})" if prefixes else number)
    return "|".join(alternatives)


# ---------------------------------------------------------------------------------------------
# Number parsing
# ---------------------------------------------------------------------------------------------


def _number(words: str) -> int | float | None:
    """Digits, decimal digits or a sum of number words ("خمسة وعشرين" = 25, "ألفين وثمانية عشر")."""
    lex = lexicon()
    words = words.strip()
    if re.fullmatch(r"\d+", words):
        return int(words)
    if re.fullmatch(r"\d+[.,]\d+", words):
        return float(words.replace(",", "."))
    total = 0
    for part in re.split(r"\s+و\s*|\s*،\s*|(?<=\S)\s+(?=\S)", words):
        part = part.strip()
        if part.startswith("و") and part[1:] in lex.cardinals:
            part = part[1:]
        if part in lex.cardinals:
            total += lex.cardinals[part]
        elif part in lex.ordinals:
            total += lex.ordinals[part]
        elif part:
            compound = next((k for k in lex.cardinals if " " in k and part == k), None)
            if compound is None:
                return None
            total += lex.cardinals[compound]
    return total or None


# ---------------------------------------------------------------------------------------------
# Resolution helpers
# ---------------------------------------------------------------------------------------------


def _resolve_month(month: int, ctx: Context, start: int, end: int, offset: int | None) -> str:
    anchor = ctx.anchor
    if anchor is None:
        return f"XXXX-{month:02d}"
    if offset is None:
        future = ctx.future(start, end)
        if future:
            year = anchor.year if month >= anchor.month else anchor.year + 1
        else:
            year = anchor.year if month <= anchor.month else anchor.year - 1
    elif offset < 0:
        year = anchor.year if month < anchor.month else anchor.year - 1
    elif offset > 0:
        year = anchor.year if month > anchor.month else anchor.year + 1
    else:
        year = anchor.year
    return f"{year:04d}-{month:02d}"


def _resolve_weekday(weekday: int, ctx: Context, start: int, end: int, offset: int | None) -> str:
    anchor = ctx.anchor
    if anchor is None:
        return f"XXXX-WXX-{weekday}"
    diff = weekday - anchor.isoweekday()
    if offset is None:
        if diff == 0:
            return anchor.isoformat()
        offset = 1 if ctx.future(start, end) else -1
    if offset < 0:
        days = diff if diff < 0 else diff - 7
    elif offset > 0:
        days = diff if diff > 0 else diff + 7
    else:
        days = diff
    return (anchor + dt.timedelta(days=days)).isoformat()


def _shift_period(grain: str, offset: int, anchor: dt.date | None) -> str:
    if grain == "week":
        return _iso_week(anchor + dt.timedelta(weeks=offset)) if anchor else "XXXX-WXX"
    if grain == "month":
        if anchor is None:
            return "XXXX-XX"
        year, month = _add_months(anchor.year, anchor.month, offset)
        return f"{year:04d}-{month:02d}"
    if grain == "year":
        return f"{anchor.year + offset:04d}" if anchor else "XXXX"
    if grain == "decade":
        return f"{(anchor.year // 10 + offset):03d}X" if anchor else "XXXX"
    if grain == "day":
        return (anchor + dt.timedelta(days=offset)).isoformat() if anchor else "XXXX-XX-XX"
    raise ValueError(grain)


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

_L = lexicon()
_GM = _alt(_L.gregorian_months)
_HM = _alt(_L.hijri_months)
_WD = _alt(_L.weekdays)
_WD_BARE = _alt({w[2:] for w in _L.weekdays if w.startswith("ال")})
_ORD = _alt(_L.ordinals)
_CARD = _alt(_L.cardinals)
_VAGUE = _alt(_L.vague)
_ADJ = _alt(_L.relative_adjectives)
_MOD = _alt(_L.modifiers)
_HALF = _alt(_L.halves)
_REL_DAY = _alt(_L.relative_days)
_DAYPART = _alt(_L.dayparts)
_UNITS = _alt(_L.units)
_HERA = _alt(_L.raw["hijri_era"])
_GERA = _alt(_L.raw["gregorian_era"])
_PM = _alt(_L.pm_dayparts | _L.am_dayparts)
_NUMWORDS = rf"(?:{_CARD})(?:\s+و\s*(?:{_CARD}))*"
_QTY = rf"(?:\d+(?:[.,]\d+)?|{_NUMWORDS}|{_VAGUE}|نصف|ربع)"
_YEAR_KW = r"(?:عام|العام|سنة|السنة|عامي|سنتي)"
_PREP_BEFORE = re.compile(
    r"(?:^|\s)[وف]?(?:في|منذ|خلال|حتى|من|قبل|بعد|مع|بين|الي|لغاية|اواخر|مطلع|اوائل|منتصف|نهاية|بداية|مستهل|اواسط|شهر|شهري)\s*$"
)
_NUMBER_BLOCK_BEFORE = frozenset(fold_term(w) for w in _L.raw["number_blockers_before"])
_NUMBER_BLOCK_AFTER = frozenset(fold_term(w) for w in _L.raw["number_blockers_after"])
_TODAY_BLOCK_BEFORE = frozenset(fold_term(w) for w in _L.raw["today_blockers_before"])
_TODAY_BLOCK_AFTER = frozenset(fold_term(w) for w in _L.raw["today_blockers_after"])
_SEASON_BLOCK = frozenset(fold_term(w) for w in _L.raw["season_blockers"])
_HOLIDAY_HONORIFIC = r"(?:\s+(?:المبارك|الكريم|الفضيل|المعظم|المجيد))?"


_CLITICS_BEFORE_ARTICLE = re.compile(r"^[وف]?[بلك]?(?=ال)")


def _strip_clitics(word: str) -> str:
    return _CLITICS_BEFORE_ARTICLE.sub("", word)


_YEAR_WORDS = rf"(?:الف|الفين|الفان|الفي)(?:\s+و\s*(?:{_CARD}))*"
_CAL_STARTS = Starts(
    words=[*_L.weekdays, *_L.ordinals, "اول", *_L.gregorian_months, *_L.hijri_months],
    whole=[*_L.dayparts, "منتصف", "هذا", "هذه", "اليوم", "يوم", "شهر"],
    number=r"\d{1,2}(?!\d)",
)
_CAL = re.compile(
    _LEAD
    + rf"""(?P<x>
    (?:(?P<part>{_DAYPART}|منتصف\s+ليل)\s+(?=\S*\s*\d|يوم))?
    (?:(?P<dem>هذا|هذه)\s+|اليوم\s+(?=\d))?
    (?:(?:يوم\s+)?(?P<wd>{_WD})\s*[،,]?\s*(?:في\s+)?)?
    (?:(?P<day>\d{{1,2}}|{_ORD}|اول)
        (?:\s*(?:-|–|الي|حتي|و)\s*(?P<day2>\d{{1,2}}|{_ORD}))?
        \s*(?:[-/.]\s*)?(?:من\s+)?)?
    (?P<shahr>شهر\s+)?
    (?:(?P<gm>{_GM})(?:\s*(?:/|\(|-|–)\s*(?P<gm2>{_GM})\s*\)?|\s+(?P<gm3>{_GM}))?|(?P<hm>{_HM}))
    {_HOLIDAY_HONORIFIC}
    (?:\s*-?\s*(?P<dayafter>{_ORD}|\d{{1,2}}(?=\s*(?:[،,]\s*\S|$))))?
    (?:\s*[،,.]?\s*(?:من\s+)?(?:{_YEAR_KW}\s+)?(?P<yp>\(\s*)?
        (?P<year>\d{{4}}|\d{{2,4}}(?=\s*(?:{_HERA}|{_GERA}){_END})|{_YEAR_WORDS})
        (?(yp)\s*\))(?:\s*(?P<era>{_HERA}|{_GERA}))?
     |\s+(?:من\s+|ل(?=ل))?(?P<ryear>(?:(?P<ydem>هذا)\s+)?(?:ال|(?<=ل)ل)(?:عام|سنة)(?:\s+(?P<yadj>{_ADJ})|\s+(?P<same>نفسه|ذاته))?)
     |\s+(?:من\s+)?(?P<same2>نفس\s+العام|ذات\s+العام|نفس\s+السنة)
     |\s+(?P<adj>{_ADJ}))?
    ){_END}""",
    re.VERBOSE,
)


def _cal_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    cand = _cal_candidate(m, ctx)
    if cand is None:
        return None
    if m.group("year") or (m.group("ryear") and (m.group("ydem") or m.group("yadj"))):
        cand.explicit_year = True  # written out, absolutely or relatively ("من العام الحالي")
    if m.group("wd") and cand.start < m.start("wd") and ctx.folded.startswith("يوم", cand.start):
        cand.start = m.start("wd")  # "يوم" before a weekday is outside the span
    if m.group("same") or m.group("same2"):
        cand.same_year = True
    if m.group("part") and _DAY_VALUE.fullmatch(cand.value):
        part = _SPACES.sub(" ", m.group("part"))
        code = "T00:00" if part == "منتصف ليل" else "T" + _L.dayparts[part]
        cand.type, cand.value = "TIME", cand.value + code
    elif m.group("part"):
        return None
    return cand


def _month_range(m: re.Match[str], ctx: Context, start: int, end: int) -> Candidate | None:
    """ "سبتمبر- نوفمبر": two different months joined by a dash are a range, not a pair."""
    first, last = _L.gregorian_months[m.group("gm")], _L.gregorian_months[m.group("gm2")]
    if m.group("day") or last < first:
        return None
    if m.group("year"):
        year = int(m.group("year")) if m.group("year").isdigit() else None
        if year is None:
            return None
        a, b = f"{year:04d}-{first:02d}", f"{year:04d}-{last:02d}"
    elif m.group("ryear") and ctx.anchor is not None:
        year = ctx.anchor.year + _L.relative_adjectives.get(m.group("yadj") or "", 0)
        a, b = f"{year:04d}-{first:02d}", f"{year:04d}-{last:02d}"
    else:
        a = _resolve_month(first, ctx, start, end, None)
        b = f"{a[:4]}-{last:02d}"
    return Candidate(start, end, "DATE", f"{a}/{b}", grain="range")


def _cal_candidate(m: re.Match[str], ctx: Context) -> Candidate | None:
    lex = _L
    start, end = m.span("x")
    # "الأسبوع الأول من أكتوبر": the ordinal counts weeks; the month is the expression here.
    week_of = bool(m.group("day") and not m.group("wd") and ctx.word_before(start) == "الاسبوع")
    if week_of:
        start = m.start("shahr") if m.group("shahr") else m.start("gm") if m.group("gm") else m.start("hm")
    gm, hm = m.group("gm"), m.group("hm")
    word = gm or hm or ""
    has_context = bool(
        m.group("day") or m.group("year") or m.group("gm2") or m.group("shahr") or m.group("adj") or m.group("dem")
    )
    if not has_context and (word in lex.ambiguous_months or hm):
        if not _PREP_BEFORE.search(ctx.folded, max(0, start - 14), start):
            return None
    if gm == "اب" and ctx.original[ctx.to_original(m.start("gm"))] != "آ":
        return None
    if hm == "صفر" and not (m.group("year") or m.group("shahr")):
        return None
    if m.group("gm3") and lex.gregorian_months[m.group("gm3")] != lex.gregorian_months[gm or ""]:
        return None
    if m.group("gm2") and lex.gregorian_months[m.group("gm2")] != lex.gregorian_months[gm or ""]:
        return _month_range(m, ctx, start, end)
    same_year = bool(m.group("same") or m.group("same2"))
    adj = lex.relative_adjectives.get(m.group("adj") or "", None)
    if m.group("dem"):
        adj = 0
    day = _day_number(m.group("dayafter") if week_of else m.group("day") or m.group("dayafter"))
    day2 = None if week_of else _day_number(m.group("day2"))
    year_text = m.group("year")
    if m.group("ryear") and hm:
        year_text = None
    elif m.group("ryear") and not same_year:
        if not (m.group("ydem") or m.group("yadj")):
            return None
        offset = lex.relative_adjectives.get(m.group("yadj") or "", 0)
        year_text = f"{ctx.anchor.year + offset:04d}" if ctx.anchor else None
        if year_text is None:
            value = f"XXXX-{lex.gregorian_months.get(gm or '', 0):02d}"
            return Candidate(start, end, "DATE", value, grain="month") if gm else None
    elif year_text and not year_text.isdigit():
        year_number = _number(year_text)
        if not isinstance(year_number, int):
            return None
        year_text = f"{year_number:04d}"
    era = m.group("era") or ""
    if hm:
        month = lex.hijri_months[hm]
        first = _hijri_candidate(ctx, start, end, month, day, year_text, adj)
        if day2 is None or first is None or day is None or not day < day2 <= 30:
            return first if day2 is None else None
        if first.hijri is None or first.hijri.startswith("X"):
            return None
        last = _hijri_candidate(ctx, start, end, month, day2, first.hijri[:4], adj)
        if last is None or last.hijri is None:
            return None
        opener = _RANGE_OPEN.search(ctx.folded, max(0, start - 24), start)
        return Candidate(
            opener.start("w") if opener else start,
            end,
            "DATE",
            f"{first.value}/{last.value}",
            hijri=f"{first.hijri}/{last.hijri}",
            grain="range",
        )
    month = lex.gregorian_months[gm]
    if year_text:
        year = int(year_text)
        if era and fold_term(era) in {fold_term(e) for e in _L.raw["hijri_era"]}:
            return None
        if len(year_text) == 2:
            year += 2000 if year < 50 else 1900
        prefix = f"{year:04d}-{month:02d}"
    else:
        if day is not None and ctx.anchor is not None and adj is None and not ctx.future(start, end):
            # A day-month without year is the nearest one (news announces dates weeks ahead).
            anchor = ctx.anchor
            options = [_safe_date(anchor.year + k, month, min(day, 28)) for k in (-1, 0, 1)]
            nearest = min((d for d in options if d), key=lambda d: abs((d - anchor).days))
            prefix = f"{nearest.year:04d}-{month:02d}"
        elif day is not None and ctx.anchor is not None and adj is None:
            year = ctx.anchor.year if (month, day) >= (ctx.anchor.month, ctx.anchor.day) else ctx.anchor.year + 1
            prefix = f"{year:04d}-{month:02d}"
        elif day is not None and ctx.anchor is not None and adj:
            # "26 مايو المقبل" / "17 مايو الماضي": compare the day, not only the month.
            after = (month, day) > (ctx.anchor.month, ctx.anchor.day)
            year = ctx.anchor.year + (0 if after == (adj > 0) else (1 if adj > 0 else -1))
            prefix = f"{year:04d}-{month:02d}"
        else:
            prefix = _resolve_month(month, ctx, start, end, adj)
    if day is None:
        return Candidate(start, end, "DATE", prefix, grain="month")
    if not 1 <= day <= 31 or (day2 is not None and not day < day2 <= 31):
        return None
    if day2 is not None:
        opener = _RANGE_OPEN.search(ctx.folded, max(0, start - 24), start)
        start = opener.start("w") if opener else start
        return Candidate(start, end, "DATE", f"{prefix}-{day:02d}/{prefix}-{day2:02d}", grain="range")
    if not prefix.startswith("X") and _safe_date(int(prefix[:4]), month, day) is None:
        return None
    return Candidate(start, end, "DATE", f"{prefix}-{day:02d}")


def _day_number(text: str | None) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if text == "اول":
        return 1
    return _L.ordinals.get(re.sub(r"\s+", " ", text))


def _hijri_candidate(
    ctx: Context, start: int, end: int, month: int, day: int | None, year_text: str | None, adj: int | None
) -> Candidate | None:
    if year_text:
        hyear = int(year_text)
        if hyear < 100:
            return None
    elif ctx.anchor is not None:
        today = _to_hijri(ctx.anchor)
        if today is None:
            return None
        hyear, hmonth, _ = today
        if adj is not None and adj < 0:
            hyear = hyear if month < hmonth else hyear - 1
        elif adj is not None and adj > 0:
            hyear = hyear if month > hmonth else hyear + 1
        elif adj is None and ctx.future(start, end):
            hyear = hyear if month >= hmonth else hyear + 1
        elif adj is None:
            # Hijri months are anticipated (رمضان، ذو الحجة): take the nearest occurrence.
            anchor = ctx.anchor
            hyear = min(
                (hyear - 1, hyear, hyear + 1),
                key=lambda y: abs(((_hijri_to_gregorian(y, month, 15) or anchor) - anchor).days),
            )
    else:
        value = "XXXX-XX-XX" if day else "XXXX-XX"
        hijri = f"XXXX-{month:02d}-{day:02d}" if day else f"XXXX-{month:02d}"
        return Candidate(start, end, "DATE", value, hijri=hijri, grain="day" if day else "month")
    if day is not None:
        if not 1 <= day <= 30:
            return None
        g = _hijri_to_gregorian(hyear, month, day)
        value = g.isoformat() if g else "XXXX-XX-XX"
        return Candidate(start, end, "DATE", value, hijri=f"{hyear:04d}-{month:02d}-{day:02d}")
    mid = _hijri_to_gregorian(hyear, month, 15)
    value = f"{mid.year:04d}-{mid.month:02d}" if mid else "XXXX-XX"
    return Candidate(start, end, "DATE", value, hijri=f"{hyear:04d}-{month:02d}", grain="month")


_YEAR_STARTS = Starts(
    words=[*_L.cardinals, "الف"],
    whole=["عام", "العام", "سنة", "السنة", "عامي", "سنتي"],
    number=r"\d{3,4}(?!\d)",
)
_YEAR = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<kw>{_YEAR_KW})\s+(?P<par>\(\s*)?)?
    (?P<y>\d{{3,4}}|(?<=عام\s)(?P<yw>{_NUMWORDS})|(?<=سنة\s)(?P<yw2>{_NUMWORDS})
       |(?P<yw3>{_YEAR_WORDS}))
    (?(par)\s*\))(?:\s*(?P<era>{_HERA}|{_GERA}))?){_END}""",
    re.VERBOSE,
)
_HIJRI_ERA = frozenset(fold_term(e) for e in _L.raw["hijri_era"])


_CLAUSE_OR_RANGE_ENDS = re.compile(r"\s*(?:[.،,؛!?]|الي|حتي|$)")


def _year_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    text = m.group("y")
    kw, era = m.group("kw"), m.group("era")
    if m.group("yw") or m.group("yw2") or m.group("yw3"):
        number = _number(m.group("yw") or m.group("yw2") or m.group("yw3"))
        if not isinstance(number, int) or number < 100 or (m.group("yw3") and number < 1000):
            return None
        if (
            m.group("yw3")
            and (
                m.group("kw")
                or ctx.word_before(start) not in {"في", "من", "الي", "حتي", "منذ", "مواليد"}
                or _number_context_blocked(ctx, start, end)
                # a lone "ألفي/ألفين" is a count ("أكثر من ألفي جريح") unless the clause or a range ends there
                or (" " not in m.group("yw3") and not _CLAUSE_OR_RANGE_ENDS.match(ctx.folded[end : end + 5]))
            )
        ):
            return None
        year = number
    else:
        year = int(text)
        if not kw and not era:
            if not 1900 <= year <= 2100 or len(text) != 4:
                return None
            if _number_context_blocked(ctx, start, end):
                return None
        elif len(text) == 3 and not kw:
            return None
    if kw and _strip_clitics(ctx.word_before(start)) in _NUMBER_BLOCK_BEFORE:
        return None
    if era and era in _HIJRI_ERA:
        return Candidate(
            start,
            end,
            "DATE",
            f"{_hijri_year_to_gregorian(year):04d}",
            hijri=f"{year:04d}",
            grain="year",
            explicit_year=True,
        )
    return Candidate(start, end, "DATE", f"{year:04d}", grain="year", explicit_year=True)


_NUMBER_GLUED_BEFORE = re.compile(r"\d[.,:/]$")
_NUMBER_GLUED_AFTER = re.compile(r"^[.,:/%]\d|^%")


def _number_context_blocked(ctx: Context, start: int, end: int) -> bool:
    before, after = ctx.word_before(start), ctx.word_after(end)
    if _strip_clitics(before) in _NUMBER_BLOCK_BEFORE or before in _NUMBER_BLOCK_BEFORE:
        return True
    if before[-1:].isdigit() or after[:1].isdigit():
        return True
    if after in _NUMBER_BLOCK_AFTER or _strip_clitics(after) in _NUMBER_BLOCK_AFTER:
        return True
    left = ctx.folded[max(0, start - 2) : start]
    right = ctx.folded[end : end + 2]
    return bool(_NUMBER_GLUED_BEFORE.search(left) or _NUMBER_GLUED_AFTER.match(right))


_NUMERIC_STARTS = Starts(words=_L.weekdays, whole=["من", "بين"], number=r"\d{1,4}(?!\d)", clitics=False)
_NUMERIC = re.compile(
    rf"(?<![\w./:-])(?P<x>(?:(?P<wd>{_WD})\s*[،,]?\s*(?:(?<=\s)(?:يوم|في)\s+)?)?"
    r"(?:(?P<ropen>من|بين)\s+(?P<d0>\d{1,2})\s*(?:-|حتي|الي|و)\s*)?"
    r"(?:(?P<a2>\d{1,2})\s*/\s*(?P<b2>\d{1,2})\s*,\s*(?P<c2>\d{2,4})"
    r"|(?P<a>\d{1,4})\s*(?P<sep>[/.-])\s*(?P<b>\d{1,4})(?:\s*(?P=sep)\s*(?P<c>\d{1,4}))?)"
    rf"(?:\s*(?P<era>{_HERA}|{_GERA})(?!\w))?)(?![\w/.:-]?\d)"
)
_NUMERIC_PREFIX = re.compile(r"(?:^|\s)[وف]?(?:في|يوم|بتاريخ|تاريخ|حتي|منذ|الي|الموافق|لغاية|اعتبارا\s+من)\s*$")


def _numeric_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    cand = _numeric_candidate(m, ctx)
    if cand is not None and m.group("wd") and (cand.grain != "day" or cand.type != "DATE"):
        cand.start = m.start("a") if m.group("a") else m.start("a2")
    if cand is not None and cand.grain == "day" and len(cand.value) == 10:
        cand.explicit_year = True
    if cand is not None and m.group("d0"):
        return _day_range(cand, int(m.group("d0")))
    return cand


def _day_range(cand: Candidate, first_day: int) -> Candidate | None:
    """ "من 1 حتى 26 / 11 / 1436 هـ": the range starts on day ``first_day`` of the same month."""
    if cand.grain != "day" or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", cand.value):
        return None
    if cand.hijri:
        year, month, day = (int(p) for p in cand.hijri.split("-"))
        first = _hijri_to_gregorian(year, month, first_day) if first_day < day else None
        hijri = f"{year:04d}-{month:02d}-{first_day:02d}/{cand.hijri}"
    else:
        last = dt.date.fromisoformat(cand.value)
        first = _safe_date(last.year, last.month, first_day) if first_day < last.day else None
        hijri = None
    if first is None:
        return None
    return Candidate(cand.start, cand.end, "DATE", f"{first.isoformat()}/{cand.value}", hijri=hijri, grain="range")


def _numeric_candidate(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    era = m.group("era") or ""
    hijri_era = era in _HIJRI_ERA
    if m.group("a2"):
        a, b, c = m.group("a2"), m.group("b2"), m.group("c2")
        sep = "/"
    else:
        a, b, c = m.group("a"), m.group("b"), m.group("c")
        sep = m.group("sep")
    if c is None and hijri_era:
        return None
    if c is None:
        if len(a) == 4 and len(b) == 4:
            y1, y2 = int(a), int(b)
            if 1900 <= y1 < y2 <= 2100 and sep in "-/" and not _number_context_blocked(ctx, start, end):
                return Candidate(start, end, "DATE", f"{y1}/{y2}", grain="range")
            return None
        if len(a) == 4 or len(b) == 4:
            year, month = (int(a), int(b)) if len(a) == 4 else (int(b), int(a))
            if 1 <= month <= 12 and 1900 <= year <= 2100 and not _number_context_blocked(ctx, start, end):
                return Candidate(start, end, "DATE", f"{year}-{month:02d}", grain="month")
            return None
        if len(a) > 2 or len(b) > 2 or not _NUMERIC_PREFIX.search(ctx.folded, max(0, start - 16), start):
            return None
        x, y = int(a), int(b)
        day, month = (x, y) if y <= 12 else (y, x)
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        if sep == "." and not (len(a) <= 2 and len(b) == 2):
            return None
        return Candidate(start, end, "DATE", _day_month_value(day, month, ctx, start, end))
    if len(a) == 4:
        year, month, day = int(a), int(b), int(c)
    elif len(c) == 4 and (hijri_era or 1300 <= int(c) <= 1500):
        day, month, hyear = int(a), int(b), int(c)
        g = _hijri_to_gregorian(hyear, month, day) if 1 <= month <= 12 and 1 <= day <= 30 else None
        if g is None:
            return None
        return Candidate(start, end, "DATE", g.isoformat(), hijri=f"{hyear:04d}-{month:02d}-{day:02d}")
    elif len(c) == 4 or len(c) == 2:
        x, y = int(a), int(b)
        day, month = (x, y) if y <= 12 else (y, x)
        if m.group("a2"):
            month, day = x, y
        year = int(c) if len(c) == 4 else 2000 + int(c)
    else:
        return None
    if _safe_date(year, month, day) is None or not 1800 <= year <= 2100:
        return None
    return Candidate(start, end, "DATE", f"{year:04d}-{month:02d}-{day:02d}")


def _day_month_value(day: int, month: int, ctx: Context, start: int, end: int) -> str:
    if ctx.anchor is None:
        return f"XXXX-{month:02d}-{day:02d}"
    if ctx.future(start, end):
        year = ctx.anchor.year if (month, day) >= (ctx.anchor.month, ctx.anchor.day) else ctx.anchor.year + 1
    else:
        year = ctx.anchor.year if (month, day) <= (ctx.anchor.month, ctx.anchor.day) else ctx.anchor.year - 1
    return f"{year:04d}-{month:02d}-{day:02d}"


_RELDAY_STARTS = Starts(words=_L.relative_days, whole=[*_L.dayparts, "يوم"])
_RELDAY = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<part>{_DAYPART})\s+(?:من\s+)?)?(?:يوم\s+)?(?P<rel>{_REL_DAY})
    (?:\s*[،,]?\s*(?:يوم\s+)?(?P<wd>{_WD}))?){_END}""",
    re.VERBOSE,
)


def _relday_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    rel = m.group("rel")
    offset = _L.relative_days[rel]
    if rel == "اليوم":
        quoted = ctx.folded[m.start("rel") - 1 : m.start("rel")] in {'"', "«", "“"} and ctx.folded[end : end + 1] in {
            '"',
            "»",
            "”",
        }
        if quoted and not (m.group("wd") or m.group("part")):
            return None  # «اليوم» is a newspaper
        before = ctx.word_before(m.start("rel"))
        after = ctx.word_after(end)
        if not m.group("wd") and not m.group("part"):
            if {before, before[1:], _strip_clitics(before)} & _TODAY_BLOCK_BEFORE:
                return None
            if (
                after in _TODAY_BLOCK_AFTER
                or after in _L.ordinals
                or (after.startswith("ال") and len(after) <= 3)
                or (before == "في" and not m.group("wd"))
            ):
                return None
    if (
        rel == "غد"
        and not (m.group("part") or m.group("wd"))
        and ctx.word_before(m.start("rel")) not in {"يوم", "صباح", "مساء"}
    ):
        return None
    if ctx.anchor is None:
        value = f"XXXX-WXX-{_L.weekdays[m.group('wd')]}" if m.group("wd") else "XXXX-XX-XX"
    else:
        day = ctx.anchor + dt.timedelta(days=offset)
        if m.group("wd"):
            # Published dates can lag a day: when the weekday disagrees with the offset, it wins.
            shift = (_L.weekdays[m.group("wd")] - day.isoweekday() + 3) % 7 - 3
            day += dt.timedelta(days=shift)
        value = day.isoformat()
    if m.group("part"):
        return Candidate(start, end, "TIME", f"{value}T{_L.dayparts[m.group('part')]}")
    return Candidate(start, end, "DATE", value)


_WEEKDAY_STARTS = Starts(words=_L.weekdays, whole=[*_L.dayparts, "هذا", "الاسبوع", "يوم", "يومي"])
_WEEKDAY = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<part>{_DAYPART})\s+)?
    (?:(?:(?P<pdem>هذا)\s+)?(?P<pwk>الاسبوع)(?:\s+(?P<padj>{_ADJ}))?\s+)?
    (?:(?:يوم|يومي)\s+)?(?P<wd>{_WD})
    (?:\s*[،,]?\s*(?P<fi>في\s+)?(?P<dn>\d{{1,2}}(?![\d/.:-])|{_ORD}|(?<=في\s)(?:{_NUMWORDS})))?
    (?:\s+(?:من\s+)?(?:(?P<wdem>هذا)\s+)?(?P<wk>الاسبوع)(?:\s+(?P<wadj>{_ADJ}))?|\s+(?P<adj>{_ADJ}))?){_END}""",
    re.VERBOSE,
)


def _weekday_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    if not m.group("part") and not m.group("pwk"):
        start = m.start("wd")
    if ctx.word_after(end) in {"عشر", "عشرة"}:
        return None
    weekday = _L.weekdays[m.group("wd")]
    if m.group("pwk") and not (m.group("pdem") or m.group("padj")):
        return None
    if m.group("wk") and not (m.group("wdem") or m.group("wadj")):
        end = m.end("dn") if m.group("dn") else m.end("wd")
    week_adj = m.group("padj") or m.group("wadj")
    week_offset = None
    if m.group("pdem") or m.group("wdem") or week_adj:
        week_offset = _L.relative_adjectives.get(week_adj or "", 0)
    adj = _L.relative_adjectives.get(m.group("adj") or "")
    dn = m.group("dn")
    if dn and _number_context_blocked(ctx, m.start("dn"), m.end("dn")) and dn.isdigit():
        end = m.end("wd")
        dn = None
    if dn and ctx.anchor is not None:
        value = _weekday_with_day(weekday, dn, bool(m.group("fi")), ctx.anchor)
        if value is None:
            return None
    elif dn:
        value = f"XXXX-WXX-{weekday}"
    elif week_offset is not None and ctx.anchor is not None:
        monday = ctx.anchor - dt.timedelta(days=ctx.anchor.isoweekday() - 1) + dt.timedelta(weeks=week_offset)
        value = (monday + dt.timedelta(days=weekday - 1)).isoformat()
    else:
        value = _resolve_weekday(weekday, ctx, start, end, adj)
    if m.group("part"):
        return Candidate(start, end, "TIME", f"{value}T{_L.dayparts[m.group('part')]}")
    return Candidate(start, end, "DATE", value)


def _weekday_with_day(weekday: int, dn: str, with_fi: bool, anchor: dt.date) -> str | None:
    """ "الجمعة 15" is the 15th that falls on a Friday nearest the anchor; "الأحد الثاني" the 2nd Sunday."""
    ordinal = None if dn.isdigit() or with_fi else _L.ordinals.get(re.sub(r"\s+", " ", dn))
    if ordinal is not None:
        if ordinal > 5:
            return None
        first = anchor.replace(day=1)
        shift = (weekday - first.isoweekday()) % 7
        return (first + dt.timedelta(days=shift + 7 * (ordinal - 1))).isoformat()
    day = int(dn) if dn.isdigit() else (_L.ordinals.get(re.sub(r"\s+", " ", dn)) or _number(dn))
    if not isinstance(day, int) or not 1 <= day <= 31:
        return None
    options = []
    for delta in (0, -1, 1, -2, 2):
        year, month = _add_months(anchor.year, anchor.month, delta)
        candidate = _safe_date(year, month, day)
        if candidate and candidate.isoweekday() == weekday:
            options.append(candidate)
    if not options:
        candidate = _safe_date(anchor.year, anchor.month, day)
        return candidate.isoformat() if candidate else None
    return min(options, key=lambda d: abs((d - anchor).days)).isoformat()


_MONTH_DAY_STARTS = Starts(words=_L.ordinals, whole=["ما", "من", "بين"], number=r"\d{1,2}(?!\d)")
_MONTH_DAY = re.compile(
    _LEAD
    + rf"""(?:ما\s+)?(?P<x>(?:(?P<open>من|بين)\s+)?(?P<day>\d{{1,2}}|{_ORD})
    (?:\s*(?:-|الي|حتي|و)\s*(?P<day2>\d{{1,2}}|{_ORD}))?
    \s+(?:من\s+|في\s+)?(?:(?P<dem>هذا)\s+)?الشهر(?:\s+(?P<adj>{_ADJ}))?){_END}""",
    re.VERBOSE,
)


def _month_day_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    if ctx.word_before(start) == "الاسبوع":
        return None
    if not (m.group("dem") or m.group("adj")):
        return None
    day, day2 = _day_number(m.group("day")), _day_number(m.group("day2"))
    if day is None or not 1 <= day <= 31 or (day2 is not None and not day < day2 <= 31):
        return None
    if day2 is None and m.group("open"):
        start = m.start("day")
    month = _shift_period("month", _L.relative_adjectives.get(m.group("adj") or "", 0), ctx.anchor)
    if day2 is not None:
        return Candidate(start, end, "DATE", f"{month}-{day:02d}/{month}-{day2:02d}", grain="range")
    return Candidate(start, end, "DATE", f"{month}-{day:02d}")


# Calendar units without their article: "اسبوع" -> "week" (the lexicon writes them with ال).
_UNIT_GRAIN = {word.removeprefix("ال"): grain for word, grain in _L.period_units.items()}
_PERIOD_STARTS = Starts(whole=["هذا", "هذه", *(article + unit for unit in _UNIT_GRAIN for article in ("ال", "ل"))])
_PERIOD = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<dem>هذا|هذه)\s+)?(?P<unit>(?:ال|(?<=ل)ل)(?:{_alt(_UNIT_GRAIN)}))
    (?:\s+(?P<adj>{_ADJ})|\s+(?P<dem2>هذا|هذه)(?!\s+\w))?){_END}""",
    re.VERBOSE,
)
_MOD_PREFIX = re.compile(
    rf"(?:(?P<mod>{_MOD})\s+|(?P<half>{_HALF})\s+(?:من\s+)?|(?P<week>الاسبوع\s+(?P<wn>{_ORD}|الاخير))\s+(?:من\s+)?)$"
)


def _period_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    unit = m.group("unit")
    grain = _UNIT_GRAIN[unit[2:] if unit.startswith("ال") else unit[1:]]
    adj_text = m.group("adj")
    offset = _L.relative_adjectives.get(adj_text or "", 0)
    if not (m.group("dem") or m.group("dem2") or adj_text):
        if not _MOD_PREFIX.search(ctx.folded, max(0, start - 30), start):
            return None
        if ctx.word_after(end) in _L.period_blockers:
            return None
    if m.group("dem") and not adj_text and ctx.word_after(end) in _L.period_blockers:
        return None
    return Candidate(start, end, "DATE", _shift_period(grain, offset, ctx.anchor), grain=grain)


_DURATION_STARTS = Starts(
    words=_L.units,
    whole=[*_L.raw["approx_words"], *_L.cardinals, *_L.vague, "نصف", "ربع"],
    number=r"\d+(?!\w)",
)
_DURATION = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<approx>{_alt(_L.raw["approx_words"])})\s+)?
    (?P<body>(?:{_QTY}\s+)?(?:{_UNITS})(?:\s+(?:كامل|كاملة|كاملا|كاملين|كاملتين|واحد|واحدة))?
      (?:(?:\s*(?:و|،|,)\s*(?:{_QTY}\s*)?|\s+{_QTY}\s*)(?:{_UNITS})(?:\s+(?:واحد|واحدة))?)*
      (?:\s+و\s*(?:نصف|ربع|النصف|الربع)(?:\s+(?:العام|السنة|الساعة|الشهر|اليوم))?)?)){_END}""",
    re.VERBOSE,
)
_DURATION_PART = re.compile(rf"(?:(?P<q>{_QTY})\s*)?(?<!\w)(?P<u>{_UNITS})(?P<one>\s+(?:واحد|واحدة))?(?!\w)")
_DURATION_TRIGGER = re.compile(rf"(?:^|\s)[وف]?[لب]?(?:{_alt(_L.raw['duration_triggers'])})\s*$")
_AGO_TRIGGER = re.compile(r"(?:^|\s)[وف]?(?P<w>قبل|منذ)\s*$")
_TIME_UNITS = {"S", "M", "H"}
_UNIT_AFTER_FRACTION = re.compile(r"\s+(?:العام|السنة|الساعة|الشهر|اليوم)$")
_AND_A_HALF = re.compile(r"و\s*(?:نصف|النصف)$")
_AND_A_QUARTER = re.compile(r"و\s*(?:ربع|الربع)$")
_FROM_NOW = re.compile(r"\s+من\s+الان(?!\w)")
_THEN_MIN = re.compile(r"\s*من(?!\w)")  # "قبل عامين من ...": before something else, not ago


def _duration_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    body = _UNIT_AFTER_FRACTION.sub("", m.group("body"))  # "عامين ونصف العام"
    parts: list[tuple[str, float | None]] = []
    explicit = False
    for part in _DURATION_PART.finditer(body):
        unit, count = _L.units[part.group("u")]
        q = part.group("q")
        if q:
            explicit = True
            if q in _L.vague:
                amount: float | None = None
            elif q == "نصف":
                amount = 0.5
            elif q == "ربع":
                amount = 0.25
            else:
                number = _number(q)
                if number is None:
                    return None
                amount = float(number) * (count or 1) if count == 2 else float(number)
        else:
            amount = float(count) if count else None
            explicit = explicit or count == 2 or bool(part.group("one"))
        parts.append((unit, amount))
    if not parts:
        return None
    if _AND_A_HALF.search(body):
        unit, amount = parts[-1]
        parts[-1] = (unit, (amount or 0) + 0.5 if amount is not None else None)
    elif _AND_A_QUARTER.search(body):
        unit, amount = parts[-1]
        parts[-1] = (unit, (amount or 0) + 0.25 if amount is not None else None)
    complete = "كامل" in body
    trigger = _DURATION_TRIGGER.search(ctx.folded, max(0, start - 20), start)
    if not (explicit or len(parts) > 1 or complete or m.group("approx") or trigger):
        return None
    if len(parts) == 1 and parts[0][1] is None and not trigger and not explicit:
        return None
    first_unit = _DURATION_PART.search(body)
    if (
        len(parts) == 1
        and first_unit
        and first_unit.group("u") in {"عام", "سنة", "يوم", "شهر"}
        and not (trigger or explicit or complete)
    ):
        return None
    if len(parts) == 1 and first_unit and not first_unit.group("q"):
        if first_unit.group("u") in {"عقد", "عقدا"}:
            return None  # عقد is also "holding" / "contract"
        after = ctx.word_after(end)
        if parts[0][1] is None and (
            after.startswith("ال") or after in _L.units or after in _L.gregorian_months or after[:1].isdigit()
        ):
            return None  # "سنوات الحرب", "أيام شهر رمضان": a construct, not a duration
    value = _duration_value(parts)
    from_now = _FROM_NOW.match(ctx.folded[end : end + 12])
    if from_now and ctx.anchor is not None and all(a is not None for _, a in parts):
        past = bool(_AGO_TRIGGER.search(ctx.folded, max(0, start - 8), start))
        return Candidate(start, end + from_now.end(), "DATE", _shifted_day(parts, ctx.anchor, -1 if past else 1))
    ago = _AGO_TRIGGER.search(ctx.folded, max(0, start - 8), start)
    if ago and ago.group("w") == "قبل" and not _THEN_MIN.match(ctx.folded[end : end + 6]) and len(parts) == 1:
        unit, amount = parts[0]
        if unit not in _TIME_UNITS:
            ago_start = ago.start("w")
            if amount is None:
                return Candidate(ago_start, end, "DATE", "PAST_REF", grain="other")
            return Candidate(ago_start, end, "DATE", _ago_value(unit, amount, ctx.anchor), grain="other")
    mod = "APPROX" if m.group("approx") else None
    return Candidate(start, end, "DURATION", value, mod=mod, grain="other")


def _shifted_day(parts: list[tuple[str, float | None]], anchor: dt.date, sign: int) -> str:
    """The anchor moved by a compound duration ("2 عام و 21 يوم من الآن")."""
    years = months = days = 0.0
    for unit, amount in parts:
        amount = amount or 0.0
        if unit == "Y":
            years += amount
        elif unit == "MO":
            months += amount
        elif unit == "W":
            days += 7 * amount
        elif unit == "D":
            days += amount
        elif unit == "DE":
            years += 10 * amount
    year, month = _add_months(anchor.year, anchor.month, sign * int(12 * years + months))
    day = _safe_date(year, month, min(anchor.day, calendar.monthrange(year, month)[1])) or anchor
    return (day + dt.timedelta(days=sign * int(days))).isoformat()


def _duration_value(parts: list[tuple[str, float | None]]) -> str:
    date_part, time_part = "", ""
    for unit, amount in parts:
        text = "X" if amount is None else (f"{amount:g}")
        letter = {"MO": "M", "DE": "DE", "CE": "CE"}.get(unit, unit)
        if unit in _TIME_UNITS:
            time_part += f"{text}{letter}"
        else:
            date_part += f"{text}{letter}"
    return "P" + date_part + (f"T{time_part}" if time_part else "")


def _ago_value(unit: str, amount: float, anchor: dt.date | None) -> str:
    n = int(amount)
    if anchor is None or n != amount:
        return {"D": "XXXX-XX-XX", "W": "XXXX-WXX", "MO": "XXXX-XX"}.get(unit, "XXXX")
    if unit == "D":
        return (anchor - dt.timedelta(days=n)).isoformat()
    if unit == "W":
        return _iso_week(anchor - dt.timedelta(weeks=n))
    if unit == "MO":
        year, month = _add_months(anchor.year, anchor.month, -n)
        return f"{year:04d}-{month:02d}"
    if unit == "Y":
        return f"{anchor.year - n:04d}"
    if unit == "DE":
        return f"{anchor.year // 10 - n:03d}X"
    return f"{anchor.year // 100 - n:02d}"


_UNITS_BARE_WORDS = [w for w in _L.units if not w.startswith("ال")]
_UNITS_BARE = _alt(_UNITS_BARE_WORDS)
_PLURAL_REL_STARTS = Starts(
    whole=[
        *(article + word for word in _L.cardinals for article in ("", "ال")),
        *(article + word for word in _UNITS_BARE_WORDS for article in ("", "ال", "ل")),
    ],
    number=r"\d+(?!\w)",
)
_PLURAL_REL = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<n0>\d+|{_NUMWORDS}|(?:ال)?(?:{_CARD}))\s+)?
    (?P<u>(?:ال|(?<=ل)ل)?(?:{_UNITS_BARE}))
    (?:\s+(?:ال)?(?P<n>\d+|{_NUMWORDS}|القليلة|الاخيرة))?
    \s+(?P<adj>الماضية|الماضيين|الماضي|المقبلة|المقبلين|القادمة|القادمين|الاخيرة|الاخيرين|المنصرمة|السابقة|الفائتة|المنصرمين)){_END}""",
    re.VERBOSE,
)


def _plural_rel_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    word = m.group("u")
    has_al = word.startswith("ال") or (word.startswith("ل") and word[1:] not in _L.units)
    word = word[2:] if word.startswith("ال") else (word[1:] if has_al else word)
    if word not in _L.units or not (has_al or m.group("n0")):
        return None
    unit, count = _L.units[word]
    n_text = m.group("n") or (m.group("n0") or "").removeprefix("ال")
    amount: float | None
    if n_text and n_text not in {"القليلة", "الاخيرة"}:
        number = _number(n_text)
        amount = float(number) if number else None
    else:
        amount = float(count) if count else None
    if count == 1 and amount is None:
        return None
    return Candidate(start, end, "DURATION", _duration_value([(unit, amount)]), grain="other")


_HOUR_WORDS = {w: n for w, n in _L.ordinals.items() if n <= 12 and (w.endswith("ة") or w.endswith("ي"))}
_HOUR_WORDS.update({"الواحدة": 1, "الحادية عشر": 11, "الثانية عشر": 12})
_BARE_HOUR_BEFORE = re.compile(r"(?:^|\s)[وف]?(?:في|عند)\s+$")
_CLAUSE_ENDS = re.compile(r"\s*(?:[.!؟?،,](?!\d)|$)")
_TIME_STARTS = Starts(words=_HOUR_WORDS, whole=["بعد", "الظهر", "مساء", "صباح", "الساعة"], number=r"\d{1,4}(?!\d)")
_TIME = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<pre>بعد\s+الظهر|الظهر|مساء|صباح)\s+)?(?P<sa>الساعة\s+(?:الـ?\s*)?)?
    (?:(?P<hhmm>\d{{3,4}})(?=\s*(?:{_PM})(?<![مص]))|(?P<h>\d{{1,2}})(?::(?P<mi>\d{{2}}))?(?::(?P<se>\d{{2}}))?|(?P<hw>{_alt(_HOUR_WORDS)}))
    (?:\s*(?:و\s*)?(?P<frac>النصف|نصف|الربع|ربع|الثلث|ثلث|ثلاثة\s+ارباع)
      |\s*و\s*(?P<mw>\d{{1,2}}|{_NUMWORDS})\s+دقيقة
      |\s*و\s*(?P<mw2>{_NUMWORDS})(?=\s*(?:{_PM})|\s*$)
      |\s+الا\s+(?P<minus>ربع|الربع|ثلث|الثلث))?
    (?:\s*(?P<part>{_PM}))?
    (?:\s*و\s*(?P<frac2>ثلاثة\s+ارباع|النصف|الربع))?
    (?:\s+(?:من\s+)?(?:(?P<relpart>{_DAYPART})\s+)?(?:يوم\s+)?(?P<rel>{_REL_DAY}|{_WD}))?){_END}""",
    re.VERBOSE,
)


def _time_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    part = m.group("part") or m.group("pre") or ""
    # A bare hour ("في السابعة", "عند 7") counts only at the end of a clause, after في/عند.
    bare_hour = bool(
        (m.group("hw") or ctx.word_before(start) == "عند")
        and _BARE_HOUR_BEFORE.search(ctx.folded, max(0, start - 6), start)
        and _CLAUSE_ENDS.match(ctx.folded[end : end + 3])
    )
    if not (m.group("sa") or m.group("mi") or part or m.group("frac") or m.group("mw") or bare_hour):
        return None
    if m.group("h") and not (m.group("sa") or m.group("mi") or bare_hour):
        if not part or (part in {"م", "ص"} and not m.group("mi")):
            return None
    if m.group("mw2") and not (part or m.group("sa")):
        return None
    if m.group("hhmm"):
        hour, minute = divmod(int(m.group("hhmm")), 100)
    else:
        hour = int(m.group("h")) if m.group("h") else _HOUR_WORDS[m.group("hw")]
        minute = int(m.group("mi")) if m.group("mi") else 0
    second = m.group("se")
    frac = m.group("frac") or m.group("frac2") or ""
    if "ارباع" in frac:
        minute = 45
        frac = ""
    if m.group("mw2"):
        number = _number(m.group("mw2"))
        if not isinstance(number, int) or not 1 <= number <= 59:
            return None
        minute = number
    if "نصف" in frac:
        minute = 30
    elif "ربع" in frac:
        minute = 15
    elif "ثلث" in frac:
        minute = 20
    if m.group("mw"):
        number = _number(m.group("mw"))
        minute = int(number) if isinstance(number, int) else minute
    if m.group("minus"):
        hour, minute = hour - 1, 60 - (15 if "ربع" in m.group("minus") else 20)
    if hour > 24 or minute > 59:
        return None
    if part in _L.pm_dayparts or part in {"مساء", "بعد الظهر", "الظهر"}:
        if hour < 12 and not ("ظهر" in part and hour >= 11):
            hour += 12
    elif part in _L.am_dayparts and hour == 12:
        hour = 0
    clock = f"{hour:02d}:{minute:02d}" + (f":{second}" if second else "")
    date = "XXXX-XX-XX"
    rel = m.group("rel")
    if rel and rel in _L.relative_days:
        date = _shift_period("day", _L.relative_days[rel], ctx.anchor)
    elif rel:
        date = _resolve_weekday(_L.weekdays[rel], ctx, start, end, None)
    elif ctx.anchor is not None:
        date = ctx.anchor.isoformat()
    return Candidate(start, end, "TIME", f"{date}T{clock}", dateless_time=not rel)


_FIXED_TIMES = _table(_L.raw["fixed_times"])
_FIXED_TIME_STARTS = Starts(whole=_FIXED_TIMES, number=r"\d{1,2}(?!\w)")
_FIXED_TIME = re.compile(_LEAD + rf"(?P<x>(?:(?P<h>\d{{1,2}}(?::\d{{2}})?)\s+)?(?P<t>{_alt(_FIXED_TIMES)})){_END}")


def _fixed_time_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    clock = _FIXED_TIMES[re.sub(r"\s+", " ", m.group("t"))]
    if m.group("h"):
        hour, _, minute = m.group("h").partition(":")
        clock = f"{int(hour) % 12 + (12 if clock == '12:00' else 0):02d}:{int(minute or 0):02d}"
    date = ctx.anchor.isoformat() if ctx.anchor else "XXXX-XX-XX"
    return Candidate(start, end, "TIME", f"{date}T{clock}")


_HOUR = rf"(?:(?:الـ?\s*)?\d{{1,2}}(?::\d{{2}})?|{_alt(_HOUR_WORDS)}|{_NUMWORDS})"
_TIME_RANGE_STARTS = Starts(
    words=[*_HOUR_WORDS, *_L.cardinals],
    whole=["من", "بين", "الساعة", "ال"],
    number=r"\d{1,2}(?!\d)",
    number_prefixes=["ال"],  # الـ12 folds to ال12
)
_TIME_RANGE = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<open>من|بين)\s+)?(?:الساعة\s+)?(?P<h1>{_HOUR})(?:\s*(?P<p1>{_PM}))?
    \s*(?P<sep>-|(?:و\s*)?الي|(?:و\s*)?حتي|و)\s*(?:الساعة\s+(?:الـ?\s*)?)?(?P<h2>{_HOUR})
    (?:\s*و\s*(?P<f2>النصف|الربع))?(?:\s*(?P<p2>{_PM}))?){_END}""",
    re.VERBOSE,
)


def _clock_value(hour_text: str, part: str) -> tuple[int, int] | None:
    hour_text = re.sub(r"^الـ?\s*", "", re.sub(r"\s+", " ", hour_text))
    if re.fullmatch(r"\d{1,2}(?::\d{2})?", hour_text):
        hour_s, _, minute_s = hour_text.partition(":")
        hour, minute = int(hour_s), int(minute_s or 0)
    else:
        number = _HOUR_WORDS.get(hour_text) or _number(hour_text)
        if not isinstance(number, int):
            return None
        hour, minute = number, 0
    if hour > 24 or minute > 59:
        return None
    if part and (part in _L.pm_dayparts) and hour < 12 and not ("ظهر" in part and hour >= 11):
        hour += 12
    return hour, minute


def _time_range_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    p1, p2 = m.group("p1") or "", m.group("p2") or ""
    colon = ":" in m.group("h1") or ":" in m.group("h2")
    if not (p1 or p2 or (m.group("open") and colon)):
        return None
    if (m.group("open") == "بين") != (m.group("sep") == "و"):
        return None
    first = _clock_value(m.group("h1"), p1 or (p2 if p2 in _L.pm_dayparts else ""))
    second = _clock_value(m.group("h2"), p2)
    if first is None or second is None:
        return None
    if m.group("f2"):
        second = (second[0], 30 if "نصف" in m.group("f2") else 15)
    if first[0] > second[0] and not p1 and first[0] >= 12:
        first = (first[0] - 12, first[1])
    if second[0] < first[0] and not p2 and second[0] < 12:
        second = (second[0] + 12, second[1])  # "من 1:30 بعد الظهر إلى 4"
    date = ctx.anchor.isoformat() if ctx.anchor else "XXXX-XX-XX"
    value = f"{date}T{first[0]:02d}:{first[1]:02d}/{date}T{second[0]:02d}:{second[1]:02d}"
    return Candidate(start, end, "TIME", value, grain="range")


_DAYPART_PHRASE_STARTS = Starts(
    whole=["الليلة", "ليلة", "وقت", "اواخر", "اول", "الصباح", "المساء", "الليل", "الامسيات", "الظهيرة", "بعد"]
)
_DAYPART_PHRASE = re.compile(
    _LEAD
    + r"""(?P<x>(?P<last>الليلة\s+(?:الماضية|البارحة)|ليلة\s+البارحة)
    |(?:(?:وقت\s+(?P<lm>متاخر|مبكر)\s+(?:من\s+)?)|(?:اواخر|اول)\s+)?
    (?P<p>الصباح|المساء|الليل|الامسيات|الظهيرة|بعد\s+الظهر)(?:\s+(?:الباكر|المبكر))?)(?!\w)""",
    re.VERBOSE,
)
_DAYPART_CODES = {"الصباح": "MO", "المساء": "EV", "الامسيات": "EV", "الليل": "NI", "الظهيرة": "MI", "بعد الظهر": "AF"}


def _daypart_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    """ "في الصباح", "بعد الظهر", "في وقت متأخر من الليل": a part of the reference day."""
    start, end = m.span("x")
    if m.group("last"):
        return Candidate(start, end, "TIME", f"{_shift_period('day', -1, ctx.anchor)}TNI")
    part = re.sub(r"\s+", " ", m.group("p"))
    if part != "بعد الظهر" and not re.search(
        r"(?:^|\s)[وف]?(?:في|خلال|عند|منذ)\s+$", ctx.folded[max(0, start - 6) : start]
    ):
        return None
    if ctx.word_after(end) in {"الماضي", "الماضية", "الذي", "التي"}:
        return None
    date = ctx.anchor.isoformat() if ctx.anchor else "XXXX-XX-XX"
    return Candidate(start, end, "TIME", f"{date}T{_DAYPART_CODES[part]}", dateless_time=True)


_ALL_OF_STARTS = Starts(whole=["طوال", "طيلة"])
_ALL_OF = re.compile(_LEAD + r"(?P<x>(?:طوال|طيلة)\s+(?P<u>(?:ال)?(?:يوم|اسبوع|شهر|عام|سنة)))" + _END)


def _all_of_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    unit = m.group("u")
    unit = unit[2:] if unit.startswith("ال") else unit
    return Candidate(start, end, "DURATION", _SET_UNIT[unit], grain="other")


_WEEKEND_STARTS = Starts(whole=["عطلة"])
_WEEKEND = re.compile(_LEAD + rf"(?P<x>عطلة\s+نهاية\s+(?:(?P<dem>هذا)\s+)?الاسبوع(?:\s+(?P<adj>{_ADJ}))?){_END}")


def _weekend_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    offset = _L.relative_adjectives.get(m.group("adj") or "", 0)
    return Candidate(start, end, "DATE", f"{_shift_period('week', offset, ctx.anchor)}-WE", grain="other")


_CENTURY_TERMS = [*_L.centuries, *(fold_term(w) for w in _L.raw["relative_century"])]
_CENTURY_WORDS = _alt(_CENTURY_TERMS)
_DECADE_STARTS = Starts(whole=[article + decade for decade in _L.decades for article in ("", "ال")])
_DECADE = re.compile(
    _LEAD + rf"""(?P<x>(?:ال)?(?P<d>{_alt(_L.decades)})(?:\s+(?:من\s+)?(?P<c>{_CENTURY_WORDS}))?){_END}""",
    re.VERBOSE,
)
_CENTURY_STARTS = Starts(whole=_CENTURY_TERMS)
_CENTURY = re.compile(
    _LEAD + rf"""(?P<x>(?P<c>{_CENTURY_WORDS})){_END}""",
    re.VERBOSE,
)


def _century_value(text: str, anchor: dt.date | None) -> str:
    if text in _L.centuries:
        return _L.centuries[text]
    if anchor is None:
        return "XX"
    offset = -1 if any(w in text for w in ("الماضي", "المنصرم")) else 0
    return f"{anchor.year // 100 + offset:02d}"


def _decade_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    digit = _L.decades[m.group("d")]
    if m.group("c"):
        century = _century_value(m.group("c"), ctx.anchor)
    else:
        reference = ctx.anchor.year if ctx.anchor else 1999
        century = "20" if 2000 + digit * 10 <= reference else "19"
    return Candidate(start, end, "DATE", f"{century}{digit}X", grain="decade")


def _century_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    return Candidate(start, end, "DATE", _century_value(m.group("c"), ctx.anchor), grain="century")


_SEASON_STARTS = Starts(words=_L.seasons, whole=["هذا", "هذه", "فصل"])
_SEASON = re.compile(
    _LEAD
    + rf"""(?P<x>(?:(?P<dem>هذا|هذه)\s+)?(?:فصل\s+)?(?P<s>{_alt(_L.seasons)})
    (?:\s+(?P<adj>{_ADJ})|\s*(?:[،,]\s*)?(?:(?:من\s+)?{_YEAR_KW}\s+)?(?P<y>\d{{4}}))?){_END}""",
    re.VERBOSE,
)


def _season_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    after = ctx.word_after(end)
    if after in _SEASON_BLOCK:
        return None
    season = _L.seasons[m.group("s")]
    adj = _L.relative_adjectives.get(m.group("adj") or "")
    has_context = m.group("dem") or m.group("adj") or m.group("y") or "فصل" in m.group("x")
    if not has_context and not _PREP_BEFORE.search(ctx.folded, max(0, start - 14), start):
        return None
    if m.group("y"):
        return Candidate(start, end, "DATE", f"{m.group('y')}-{season}", grain="season")
    if ctx.anchor is None:
        return Candidate(start, end, "DATE", f"XXXX-{season}", grain="season")
    first, last = _SEASON_MONTHS[season]
    month = ctx.anchor.month + (12 if season == "WI" and ctx.anchor.month <= 2 else 0)
    last += 12 if last < first else 0
    year = ctx.anchor.year - (1 if season == "WI" and ctx.anchor.month <= 2 else 0)
    if adj is not None and adj > 0 and month >= first:
        year += adj  # the coming one: this year's has started already
    elif adj is not None and adj > 0:
        year += adj - 1
    elif adj is not None and adj < 0:
        year += adj if month <= last else adj + 1  # the last one that has ended
    return Candidate(start, end, "DATE", f"{year:04d}-{season}", grain="season")


_PRESENT_STARTS = Starts(whole=_L.present_refs)
_PRESENT = re.compile(_LEAD + rf"(?P<x>{_alt(_L.present_refs)}){_END}")


def _present_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    if m.group("x") == "الان" and ctx.original[ctx.to_original(start)] != "ا":
        return None  # "ألان"/"آلان" is the name Alan; "الآن" starts with a bare alef
    return Candidate(start, end, "DATE", _L.present_refs[re.sub(r"\s+", " ", m.group("x"))], grain="other")


_SET_STARTS = Starts(whole=["كل", "ايام", "مرة", "مرتين", "مرتان", *_L.sets, *_L.cardinals], number=r"\d+(?!\w)")
_SET = re.compile(
    _LEAD
    + rf"""(?P<x>كل\s+(?:يوم\s+)?(?P<wd>{_WD}|{_WD_BARE})
    |(?P<fixed>{_alt(_L.sets)})
    |كل\s+(?:(?P<n>\d+|{_NUMWORDS})\s+)?(?P<u>{_UNITS})
    |ايام\s+(?P<wd2>{_WD})
    |(?P<freq>مرة|مرتين|مرتان|\d+\s+مرات|(?:{_CARD})\s+مرات)\s+(?:في|كل)\s+(?P<fu>(?:ال)?(?:يوم|اسبوع|شهر|عام|سنة))){_END}""",
    re.VERBOSE,
)
_SET_UNIT = {"يوم": "P1D", "اسبوع": "P1W", "شهر": "P1M", "عام": "P1Y", "سنة": "P1Y"}


def _set_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    if m.group("fixed"):
        value = _L.sets[re.sub(r"\s+", " ", m.group("fixed"))]
        if value.startswith("T"):
            value = f"XXXX-XX-XX{value}"
        return Candidate(start, end, "SET", value, grain="other")
    if m.group("u"):
        unit, count = _L.units[m.group("u")]
        n = _number(m.group("n")) if m.group("n") else (count or 1)
        if n is None:
            return None
        return Candidate(start, end, "SET", _duration_value([(unit, float(n))]), grain="other")
    wd = m.group("wd") or m.group("wd2")
    if wd:
        number = _L.weekdays.get(wd) or _L.weekdays.get("ال" + wd)
        if number is None:
            return None
        return Candidate(start, end, "SET", f"XXXX-WXX-{number}", grain="other")
    unit = m.group("fu")
    unit = unit[2:] if unit.startswith("ال") else unit
    return Candidate(start, end, "SET", _SET_UNIT[unit], grain="other")


_HOLIDAY_STARTS = Starts(whole=["عشية", "غداة", "يوم", *_L.holidays])
_HOLIDAY = re.compile(
    _LEAD + rf"(?P<x>(?:(?P<eve>عشية|غداة)\s+|يوم\s+(?=عيد))?(?P<h>{_alt(_L.holidays)}))(?:\s+(?P<y>\d{{4}}))?{_END}"
)


def _holiday_resolve(m: re.Match[str], ctx: Context) -> Candidate | None:
    start, end = m.span("x")
    if m.group("y"):
        end = m.end("y")
    calendar_name, month, day = _L.holidays[re.sub(r"\s+", " ", m.group("h"))]
    cand = _holiday_candidate(m, ctx, start, end, calendar_name, month, day)
    if cand is not None and m.group("eve") and re.fullmatch(r"\d{4}-\d{2}-\d{2}", cand.value):
        shift = -1 if m.group("eve") == "عشية" else 1
        cand.value = (dt.date.fromisoformat(cand.value) + dt.timedelta(days=shift)).isoformat()
        cand.hijri = None
    return cand


def _holiday_candidate(
    m: re.Match[str], ctx: Context, start: int, end: int, calendar_name: str, month: int, day: int
) -> Candidate | None:
    if calendar_name == "gregorian":
        if m.group("y"):
            return Candidate(start, end, "DATE", f"{m.group('y')}-{month:02d}-{day:02d}")
        if ctx.anchor is None:
            return Candidate(start, end, "DATE", f"XXXX-{month:02d}-{day:02d}")
        options = [_safe_date(ctx.anchor.year + k, month, day) for k in (-1, 0, 1)]
    else:
        if ctx.anchor is None:
            return Candidate(start, end, "DATE", "XXXX-XX-XX", hijri=f"XXXX-{month:02d}-{day:02d}")
        today = _to_hijri(ctx.anchor)
        if today is None:
            return None
        options = [_hijri_to_gregorian(today[0] + k, month, day) for k in (-1, 0, 1)]
    anchor = ctx.anchor
    best = min((d for d in options if d), key=lambda d: abs((d - anchor).days), default=None)
    if best is None:
        return None
    hijri = None
    if calendar_name == "hijri":
        h = _to_hijri(best)
        hijri = f"{h[0]:04d}-{h[1]:02d}-{h[2]:02d}" if h else None
    return Candidate(start, end, "DATE", best.isoformat(), hijri=hijri)


# Order is the tie-break when two candidates cover the same span (earlier wins).
RULES: tuple[Rule, ...] = (
    Rule("calendar", _CAL, _cal_resolve, _CAL_STARTS),
    Rule("numeric", _NUMERIC, _numeric_resolve, _NUMERIC_STARTS, trigger=re.compile(r"\d\s*[/.-]\s*\d")),
    Rule("relative_day", _RELDAY, _relday_resolve, _RELDAY_STARTS, ("اليوم", "امس", "البارحة", "غد", "بكرا")),
    Rule("time", _TIME, _time_resolve, _TIME_STARTS),
    Rule("weekday", _WEEKDAY, _weekday_resolve, _WEEKDAY_STARTS, tuple(w.removeprefix("ال") for w in _L.weekdays)),
    Rule("month_day", _MONTH_DAY, _month_day_resolve, _MONTH_DAY_STARTS, ("الشهر",)),
    Rule("fixed_time", _FIXED_TIME, _fixed_time_resolve, _FIXED_TIME_STARTS, ("منتصف", "الظهيرة")),
    Rule(
        "time_range",
        _TIME_RANGE,
        _time_range_resolve,
        _TIME_RANGE_STARTS,
        ("مساء", "صباح", "ظهر", "عصر", "ليل", "فجر", ":"),
    ),
    Rule("all_of", _ALL_OF, _all_of_resolve, _ALL_OF_STARTS, ("طوال", "طيلة")),
    Rule(
        "daypart",
        _DAYPART_PHRASE,
        _daypart_resolve,
        _DAYPART_PHRASE_STARTS,
        ("الصباح", "المساء", "الليل", "الامسيات", "الظهيرة", "الظهر", "البارحة"),
    ),
    Rule("weekend", _WEEKEND, _weekend_resolve, _WEEKEND_STARTS, ("عطلة",)),
    Rule("holiday", _HOLIDAY, _holiday_resolve, _HOLIDAY_STARTS, ("عيد", "عرفة", "راس السنة", "المولد")),
    Rule("period", _PERIOD, _period_resolve, _PERIOD_STARTS),
    Rule("year", _YEAR, _year_resolve, _YEAR_STARTS),
    Rule("decade", _DECADE, _decade_resolve, _DECADE_STARTS, ("ينات", "ينيات")),
    Rule("century", _CENTURY, _century_resolve, _CENTURY_STARTS, ("القرن",)),
    Rule("season", _SEASON, _season_resolve, _SEASON_STARTS, ("ربيع", "صيف", "خريف", "شتاء")),
    Rule("set", _SET, _set_resolve, _SET_STARTS, ("كل", "يا", "مر", "ايام", "بعد")),
    Rule(
        "plural_relative",
        _PLURAL_REL,
        _plural_rel_resolve,
        _PLURAL_REL_STARTS,
        ("الماضي", "المقبل", "القادم", "الاخير", "المنصرم", "السابق", "الفائت"),
    ),
    Rule("duration", _DURATION, _duration_resolve, _DURATION_STARTS),
    Rule("present", _PRESENT, _present_resolve, _PRESENT_STARTS, ("الان", "حالي", "الوقت", "مؤخر", "قريب", "مستقبل")),
)


# Where a rule can match: one scan finds the words any rule can begin with (clitics included, any
# digits for the numbers), and each such word, looked up once, names the rules to try there.
_ANY_FIRST_WORD = _first_words([rule.starts for rule in RULES], number=r"\d")
_WORD_THAT_CAN_BEGIN = rf"(?P<word>(?={_CLITICS}(?:{_ANY_FIRST_WORD}))\w+)"
_FIRST_WORD = re.compile(_WORD_THAT_CAN_BEGIN)  # at the start of the text
# Elsewhere a word follows a non-word character, which is never an Arabic letter: opening with that
# one-range class lets the regex engine skip letters in C instead of testing (?<!\w) at each.
_NEXT_FIRST_WORD = re.compile(r"[^\u0621-\u064a](?<!\w)" + _WORD_THAT_CAN_BEGIN)
_RULE_FIRST_WORDS = tuple(
    re.compile((_CLITICS if rule.starts.clitics else "") + f"(?:{_first_words([rule.starts], rule.starts.number)})")
    for rule in RULES
)


@functools.lru_cache(maxsize=1 << 16)
def _rules_beginning(word: str) -> tuple[int, ...]:
    """Indices of the rules whose matches can begin with ``word`` (a whole word of the folded text)."""
    return tuple(index for index, first_words in enumerate(_RULE_FIRST_WORDS) if first_words.match(word))


def _rule_matches(folded: str) -> Iterator[tuple[int, re.Match[str]]]:
    """Each rule's matches in rule order, as ``rule.pattern.finditer(folded)`` finds them.

    A rule is tried only at the words it can begin with, left to right, each try starting after the
    previous match: ``pattern.match(folded, start)`` is the attempt ``finditer`` makes at ``start``
    (lookbehinds still see the text before it), and no match can start anywhere else.
    """
    starts: defaultdict[int, list[int]] = defaultdict(list)
    for word in itertools.chain(filter(None, [_FIRST_WORD.match(folded)]), _NEXT_FIRST_WORD.finditer(folded)):
        start = word.start("word")
        for index in _rules_beginning(word.group("word")):
            starts[index].append(start)
    for index in sorted(starts):
        rule = RULES[index]
        if rule.trigger is not None and not rule.trigger.search(folded):
            continue
        # A keyword costs about one try to look for: look for them first only if that saves tries,
        # else at the first match (most tries find nothing).
        keywords_found = not rule.keywords
        if not keywords_found and len(starts[index]) > len(rule.keywords):
            if not any(k in folded for k in rule.keywords):
                continue
            keywords_found = True
        end = 0
        for start in starts[index]:
            if start >= end and (match := rule.pattern.match(folded, start)):
                if not keywords_found and not any(k in folded for k in rule.keywords):
                    break
                keywords_found = True
                yield index, match
                end = match.end()


# ---------------------------------------------------------------------------------------------
# Candidate selection, modifiers, ranges
# ---------------------------------------------------------------------------------------------


def _select(candidates: list[Candidate]) -> list[Candidate]:
    """Keep the longest candidates (earlier rule on ties) that do not overlap."""
    chosen: list[Candidate] = []
    taken = bytearray(max((c.end for c in candidates), default=0))  # 1 where a chosen span sits
    for cand in sorted(candidates, key=lambda c: (-(c.end - c.start), c.rule, c.start)):
        if taken.find(1, cand.start, cand.end) < 0:
            chosen.append(cand)
            taken[cand.start : cand.end] = b"\x01" * (cand.end - cand.start)
    return sorted(chosen, key=lambda c: c.start)


_MODIFIABLE = {"month", "year", "week", "season", "decade", "century"}


def _week_of(value: str, ordinal: str) -> str | None:
    """ "الأسبوع الثالث من أكتوبر": the ISO week holding day 1 + 7(n-1) of the month or year."""
    bounds = _period_bounds(value)
    if bounds is None or not re.fullmatch(r"\d{4}(?:-\d{2})?", value):
        return None
    if ordinal == "الاخير":
        return _iso_week(bounds[1])
    n = _L.ordinals.get(re.sub(r"\s+", " ", ordinal))
    if n is None or n > 53:
        return None
    day = bounds[0] + dt.timedelta(weeks=n - 1)
    return _iso_week(day) if day <= bounds[1] else None


def _attach_modifiers(cands: list[Candidate], ctx: Context) -> None:
    for cand in cands:
        if cand.type != "DATE" or cand.grain not in _MODIFIABLE:
            continue
        m = _MOD_PREFIX.search(ctx.folded, max(0, cand.start - 30), cand.start)
        if not m:
            continue
        if m.group("week"):
            week = _week_of(cand.value, m.group("wn"))
            if week is None:
                continue
            cand.value, cand.grain = week, "week"
        elif m.group("half"):
            if cand.grain != "year":
                continue
            half = _L.halves[re.sub(r"\s+", " ", m.group("half"))]
            cand.value = f"{cand.value}-{half}"
            cand.grain = "half"
        else:
            cand.mod = _L.modifiers[m.group("mod")]
        cand.start = m.start()


_RANGE_SEP = re.compile(r"[^\S\n]*(?:(?:و[^\S\n]*)?(?:الي|حتي|لغاية)|-|–|—|/|و)[^\S\n]*(?:[وف]?[بل]?)$")
_RANGE_OPEN = re.compile(
    r"(?:^|\s)[وف]?(?:ما\s+)?(?P<w>من|بين|منذ)\s+(?:(?:عامي|سنتي|شهري|الفترة\s+من|الفترة\s+بين)\s+)?$"
)


def _inherit_year(first: Candidate, last: Candidate) -> str:
    """ "بين 23 أبريل و 3 مايو عام 1991": the start takes the year written at the end."""
    if last.explicit_year and not first.explicit_year and re.match(r"\d{4}-\d{2}", first.value):
        candidate = last.value[:4] + first.value[4:]
        if _ordered(candidate, last.value):
            return candidate
    return first.value


def _ordered(first: str, last: str) -> bool:
    a, b = _period_bounds(first), _period_bounds(last)
    return a is None or b is None or a[0] <= b[1]


def _is_weekday_pair(first: Candidate, last: Candidate, ctx: Context) -> bool:
    """ "من الخميس إلى الأحد": both ends are bare weekdays resolved to days."""
    days = [c for c in (first, last) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", c.value)]
    words = [_strip_clitics(ctx.folded[c.start : c.end].split()[-1]) for c in (first, last)]
    return len(days) == 2 and all(w in _L.weekdays for w in words)


def _merge_ranges(cands: list[Candidate], ctx: Context) -> list[Candidate]:
    merged: list[Candidate] = []
    for cand in cands:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.type == cand.type
            and prev.type in {"DATE", "TIME"}
            and prev.grain != "range"
            and cand.grain != "range"
            and "/" not in prev.value
            and not prev.value.endswith("REF")
            and not cand.value.endswith("REF")
            and _RANGE_SEP.fullmatch(ctx.folded[prev.end : cand.start])
        ):
            opener = _RANGE_OPEN.search(ctx.folded, max(0, prev.start - 24), prev.start)
            between = ctx.folded[prev.end : cand.start].strip()
            if opener and opener.group("w") == "منذ":
                merged.append(cand)  # "منذ X وحتى Y" stays two expressions (ranges open with من/بين)
                continue
            first_value, last_value = _inherit_year(prev, cand), cand.value
            if not _ordered(first_value, last_value) and _is_weekday_pair(prev, cand, ctx):
                last_value = (dt.date.fromisoformat(last_value) + dt.timedelta(weeks=1)).isoformat()
            # Without من/بين a dash, إلى or حتى joins a range ("1997 - 1998", "2014 إلى 2016");
            # "X وحتى Y" without an opener stays two expressions.
            if (opener or re.fullmatch(r"[-–—]|الي|حتي", between)) and _ordered(first_value, last_value):
                start = opener.start("w") if opener else prev.start
                merged[-1] = Candidate(
                    start, cand.end, prev.type, f"{first_value}/{last_value}", prev.rule, grain="range"
                )
                continue
        merged.append(cand)
    return merged


def _attached_date(cand: Candidate, last_day: tuple[str, int] | None, following: list[Candidate], ctx: Context) -> str:
    """The date a clock time belongs to: a full date just before it in the sentence, else just after."""
    if last_day and cand.start - last_day[1] < 40 and not _CLAUSE_BREAK.search(ctx.folded, last_day[1], cand.start):
        return last_day[0]
    for other in following:
        if other.start >= cand.end and other.start - cand.end < 50 and _DAY_VALUE.fullmatch(other.value):
            if not _CLAUSE_BREAK.search(ctx.folded, cand.end, other.start):
                return other.value
            break
    return cand.value[:10]


_APPOSITION_GAP = re.compile(r"[\s«»()\"،,]*")
_FOUR_DIGITS = re.compile(r"\d{4}")
_YEAR_VALUE = re.compile(r"\d{4}(?!\d)")
_DAY_OR_TIME_VALUE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T|$)")


def _resolve_in_discourse(cands: list[Candidate], ctx: Context) -> list[Candidate]:
    """Use what the text said just before: apposed years, "من العام نفسه", a clock time after a date."""
    out: list[Candidate] = []
    last_year: str | None = None
    last_day: tuple[str, int] | None = None
    for index, cand in enumerate(cands):
        prev = out[-1] if out else None
        if (
            prev is not None
            and cand.grain == "year"
            and prev.grain == "year"
            and prev.value == cand.value
            and _APPOSITION_GAP.fullmatch(ctx.folded[prev.end : cand.start])
        ):
            prev.end, prev.explicit_year = cand.end, True  # "العام الماضي 2014"
            continue
        if cand.same_year and last_year and _FOUR_DIGITS.match(cand.value):
            cand.value = last_year + cand.value[4:]
        if cand.dateless_time:
            cand.value = _attached_date(cand, last_day, cands[index + 1 : index + 3], ctx) + cand.value[10:]
        if cand.type == "DATE" and _YEAR_VALUE.match(cand.value):
            last_year = cand.value[:4]
        if _DAY_OR_TIME_VALUE.match(cand.value):
            last_day = (cand.value[:10], cand.end)
        out.append(cand)
    return out


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _anchor(published: dt.date | dt.datetime | str | None) -> dt.date | None:
    if published is None:
        return None
    if isinstance(published, str):
        published = dt.datetime.fromisoformat(published.replace("Z", "+00:00"))
    if isinstance(published, dt.datetime):
        return published.date()
    return published


def tag_dates(text: str, published: dt.date | dt.datetime | None) -> list[Annotation]:
    """Annotate the temporal expressions in ``text``, resolved against ``published``."""
    folded, offsets = fold_with_offsets(text)
    ctx = Context(folded, _anchor(published), text, offsets)
    candidates: list[Candidate] = []
    for index, match in _rule_matches(folded):
        cand = RULES[index].resolve(match, ctx)
        if cand is not None and cand.end > cand.start:
            cand.rule = index
            candidates.append(cand)
    if not candidates:
        return []
    selected = _select(candidates)
    _attach_modifiers(selected, ctx)
    selected = _resolve_in_discourse(_merge_ranges(_select(selected), ctx), ctx)
    return [_to_annotation(c, text, offsets) for c in selected]


def _to_annotation(cand: Candidate, text: str, offsets: FoldedOffsets | None) -> Annotation:
    if offsets is None:
        start, end = cand.start, cand.end
    else:
        start, end = offsets[cand.start], offsets[cand.end - 1] + 1
        while end < len(text) and text[end] in _REMOVED_SET:
            end += 1
    ann: Annotation = {"text": text[start:end], "start": start, "end": end, "type": cand.type, "value": cand.value}
    if cand.mod:
        ann["mod"] = cand.mod
    if cand.hijri:
        ann["hijri"] = cand.hijri
    return ann


# ---------------------------------------------------------------------------------------------
# date_ranges: DATE values -> calendar periods for Elasticsearch
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # values recur across articles (2015, 2016-01, ...)
def _period_bounds(value: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of the calendar period a TIMEX3 DATE value denotes (None if unresolvable)."""
    value = value.split("T")[0] if re.match(r"\d{4}-\d{2}-\d{2}T", value) else value
    if "X" in value and not re.fullmatch(r"\d{3}X", value):
        return None
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value):
        day = _safe_date(*map(int, m.groups()))
        return (day, day) if day else None
    if m := re.fullmatch(r"(\d{4})-(\d{2})", value):
        year, month = map(int, m.groups())
        if not 1 <= month <= 12:
            return None
        return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
    if m := re.fullmatch(r"(\d{4})", value):
        year = int(value)
        return (dt.date(year, 1, 1), dt.date(year, 12, 31)) if year >= 1 else None
    if m := re.fullmatch(r"(\d{4})-W(\d{2})", value):
        try:
            monday = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            return None
        return monday, monday + dt.timedelta(days=6)
    if m := re.fullmatch(r"(\d{4})-([HQ])(\d)", value):
        year, kind, n = int(m.group(1)), m.group(2), int(m.group(3))
        months = 6 if kind == "H" else 3
        first = (n - 1) * months + 1
        last = first + months - 1
        if last > 12:
            return None
        return dt.date(year, first, 1), dt.date(year, last, calendar.monthrange(year, last)[1])
    if m := re.fullmatch(r"(\d{4})-(SP|SU|FA|WI)", value):
        year, (first, last) = int(m.group(1)), _SEASON_MONTHS[m.group(2)]
        last_year = year + 1 if last < first else year
        return dt.date(year, first, 1), dt.date(last_year, last, calendar.monthrange(last_year, last)[1])
    if m := re.fullmatch(r"(\d{3})X", value):
        decade = int(m.group(1)) * 10
        return (dt.date(decade, 1, 1), dt.date(decade + 9, 12, 31)) if decade >= 1 else None
    if m := re.fullmatch(r"(\d{2})", value):
        century = int(value) * 100
        return (dt.date(century, 1, 1), dt.date(century + 99, 12, 31)) if century >= 1 else None
    return None


@functools.lru_cache(maxsize=4096)
def _hijri_bounds(hijri: str) -> tuple[dt.date, dt.date] | None:
    if "X" in hijri:
        return None
    parts = [int(p) for p in hijri.split("-")]
    if len(parts) == 3:
        day = _hijri_to_gregorian(*parts)
        return (day, day) if day else None
    if len(parts) == 2:
        return _hijri_month_bounds(parts[0], parts[1])
    first = _hijri_month_bounds(parts[0], 1)
    last = _hijri_month_bounds(parts[0], 12)
    return (first[0], last[1]) if first and last else None


def date_ranges(annotations: list[Annotation]) -> list[dict[str, str]]:
    """Calendar periods ``{gte, lte}`` that the DATE (and dated TIME) annotations denote, deduplicated."""
    ranges: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for ann in annotations:
        value = str(ann.get("value", ""))
        if ann.get("type") == "TIME" and not re.match(r"\d{4}-\d{2}-\d{2}T", value):
            continue
        if ann.get("type") not in {"DATE", "TIME"} or ann.get("mod") in {"BEFORE", "AFTER"}:
            continue
        bounds: tuple[dt.date, dt.date] | None
        if ann.get("hijri") and "/" not in value:
            bounds = _hijri_bounds(str(ann["hijri"])) or _period_bounds(value)
        elif "/" in value:
            first, _, last = value.partition("/")
            a, b = _period_bounds(first), _period_bounds(last)
            bounds = (a[0], b[1]) if a and b and a[0] <= b[1] else None
        else:
            bounds = _period_bounds(value)
        if bounds is None:
            continue
        key = (bounds[0].isoformat(), bounds[1].isoformat())
        if key not in seen:
            seen.add(key)
            ranges.append({"gte": key[0], "lte": key[1]})
    return ranges
