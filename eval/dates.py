"""Date-tagger evaluation: span P/R/F1 and value accuracy, side by side with dateparser.

Four sets, all read from ``../shared/data`` except the gold set:

1. **recognizers**: Microsoft Recognizers-Text Arabic DateTime specs. Scored files are those
   with cases not marked ``NotSupported: dotnet`` (``RECOGNIZERS_FILES``; 12 files, 1,041
   cases); the anchor is each case's ``ReferenceDateTime``, or 2016-11-07 (the suite's usual
   reference) where a case has none. Spans: every result of every case. Values: results of
   the parser files whose case has ``IgnoreResolution`` not "true" and a non-empty ``Timex``.
2. **timeml-silver**: the HeidelTime-tagged TimeML news set; agreement only (no DCT is given,
   so it runs unanchored and values are compared where both sides are fully specified).
3. **wojood**: DATE spans of the Wojood sample (train+val+test), span scores only.
4. **gold**: ``tests/golden/dates/gold.jsonl`` (annotated by reading; ``GUIDELINES.md``),
   anchored at each article's ``published``; the tagger was tuned on it (a dev set).
5. **heldout**, **heldout2**: ``tests/golden/dates/heldout.jsonl`` and ``heldout2.jsonl``,
   annotated the same way later (see ``GUIDELINES.md`` for what each has been used for).

Span matching is one-to-one: *exact* needs identical offsets after trimming spaces and
punctuation at both ends; *exact w/o signal* also drops one leading preposition (في، عند، خلال،
بعد، قبل، من، إلى، بين، منذ، حتى) or proclitic ل/ب from both the reference and the prediction,
because corpora disagree on whether such signals belong to the span (TimeML leaves them out, the
Recognizers specs often keep them); *overlap* needs at least one shared character.

Value accuracy = reference values matched by a predicted annotation that overlaps the
reference span and whose value agrees, divided by all reference values (a missed expression
counts as wrong). Agreement rules (``value_matches``):

* equal strings agree; a season without year (``SU``) is read as ``XXXX-SU``;
* a reference with ``X`` placeholders agrees with a resolved value if every specified
  character agrees and, when the reference gives Future/Past resolutions, the value is one of
  them (``XXXX-10-02`` vs ``2016-10-02``; ``XXXX-WXX-5`` vs the Friday it resolves to);
* times: reference ``T07`` and value ``2016-11-07T07:00`` agree (clock part compared after
  padding to HH:MM);
* durations agree when equal in seconds (month = 30 days, year = 365 days);
* intervals ``(A,B,Pn)`` agree with ``A'/B'`` when starts agree and B falls within B' or on
  the day after it (the specs write end-exclusive years).

dateparser (``search_dates``, languages=["ar"], RELATIVE_BASE = anchor) returns a datetime
without granularity, so it is scored generously: its value agrees when the datetime falls
inside the reference period (or equals a reference time of day).

``python -m eval.dates`` prints the tables; ``evaluate_all()`` returns them as a dict;
``benchmark(texts)`` measures throughput.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transforms.dates import _period_bounds, tag_dates

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
RECOGNIZERS = DATA / "annotated" / "recognizers-datetime-arabic"
TIMEML = DATA / "annotated" / "arabic-news-timeml" / "Corpus_test"
WOJOOD = DATA / "annotated" / "wojood-sample"
ARTICLES = DATA / "arabic-news" / "articles.jsonl"
GOLD = ROOT / "tests" / "golden" / "dates" / "gold.jsonl"
HELDOUT = ROOT / "tests" / "golden" / "dates" / "heldout.jsonl"
HELDOUT2 = ROOT / "tests" / "golden" / "dates" / "heldout2.jsonl"
DEFAULT_REFERENCE = dt.datetime(2016, 11, 7)
RECOGNIZERS_FILES = (
    "DateExtractor.json",
    "DateParser.json",
    "DatePeriodExtractor.json",
    "DatePeriodParser.json",
    "DurationExtractor.json",
    "DurationParser.json",
    "HolidayExtractor.json",
    "HolidayParser.json",
    "TimeExtractor.json",
    "TimeParser.json",
    "TimePeriodExtractor.json",
    "TimePeriodParser.json",
)
_TRIM = " \t\n،,.:;()[]\"'«»-"


@dataclass
class Reference:
    start: int
    end: int
    value: str | None = None  # None: not scored for value
    resolutions: tuple[str, ...] = ()


@dataclass
class Item:
    """One text with its reference spans and the anchor to resolve against."""

    text: str
    anchor: dt.datetime | None
    refs: list[Reference] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Loading the sets
# ---------------------------------------------------------------------------------------------


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return start, end


def load_recognizers() -> list[Item]:
    items = []
    for name in RECOGNIZERS_FILES:
        for case in json.loads((RECOGNIZERS / name).read_text(encoding="utf-8")):
            if "dotnet" in case.get("NotSupported", ""):
                continue
            text = case["Input"]
            ref_time = case.get("Context", {}).get("ReferenceDateTime")
            anchor = dt.datetime.fromisoformat(ref_time[:19]) if ref_time else DEFAULT_REFERENCE
            score_value = name.endswith("Parser.json") and case.get("IgnoreResolution") != "true"
            refs = []
            for result in case["Results"]:
                start = result["Start"]
                end = start + result["Length"]
                if text[start:end] != result["Text"]:
                    continue
                start, end = _trim(text, start, end)
                value_block = result.get("Value") or {}
                timex = value_block.get("Timex") if score_value else None
                resolutions = tuple(
                    v
                    for key in ("FutureResolution", "PastResolution")
                    for v in (value_block.get(key) or {}).values()
                    if isinstance(v, str)
                )
                refs.append(Reference(start, end, timex or None, resolutions))
            items.append(Item(text, anchor, refs))
    return items


def load_timeml() -> list[Item]:
    items, seen = [], set()
    for path in sorted(TIMEML.glob("doc*.tml"), key=lambda p: int(re.sub(r"\D", "", p.stem))):
        root = ET.fromstring(path.read_bytes())
        text, refs = root.text or "", []
        for node in root:
            start = len(text)
            text += node.text or ""
            if node.tag == "TIMEX3":
                s, e = _trim(text, start, len(text))
                refs.append(Reference(s, e, node.get("value")))
            text += node.tail or ""
        if text in seen:  # doc7/doc8 and doc18/doc19 are identical
            continue
        seen.add(text)
        items.append(Item(text, None, refs))
    return items


def load_wojood() -> list[Item]:
    items = []
    for name in ("train.txt", "val.txt", "test.txt"):
        tokens: list[tuple[str, list[str]]] = []
        for line in [*(WOJOOD / name).read_text(encoding="utf-8").split("\n"), ""]:
            if line.strip():
                token, *tags = line.split(" ")
                if token != "$#$":
                    tokens.append((token, tags))
                continue
            if tokens:
                items.append(_wojood_item(tokens))
                tokens = []
    return items


def _wojood_item(tokens: list[tuple[str, list[str]]]) -> Item:
    text, refs = "", []
    open_start: int | None = None
    last_end = 0
    for token, tags in tokens:
        if text:
            text += " "
        start = len(text)
        text += token
        date_tag = next((t for t in tags if t.endswith("-DATE")), None)
        if date_tag is None or date_tag.startswith("B-"):
            if open_start is not None:
                refs.append(Reference(*_trim(text, open_start, last_end)))
            open_start = start if date_tag else None
        last_end = len(text)
    if open_start is not None:
        refs.append(Reference(*_trim(text, open_start, last_end)))
    return Item(text, None, [r for r in refs if r.end > r.start])


def load_gold(path: Path = GOLD) -> list[Item]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        anchor = dt.datetime.fromisoformat(record["published"]) if record.get("published") else None
        refs = [Reference(*_trim(record["text"], a["start"], a["end"]), a["value"]) for a in record["annotations"]]
        items.append(Item(record["text"], anchor, refs))
    return items


# ---------------------------------------------------------------------------------------------
# Systems
# ---------------------------------------------------------------------------------------------

Prediction = tuple[int, int, str | None]  # start, end, value


def akhbar_system(item: Item, types: frozenset[str] | None = None) -> list[Prediction]:
    preds = []
    for ann in tag_dates(item.text, item.anchor):
        if types is not None and ann["type"] not in types:
            continue
        start, end = _trim(item.text, ann["start"], ann["end"])
        preds.append((start, end, ann["value"]))
    return preds


def dateparser_system(item: Item) -> list[Prediction]:
    from dateparser.search import search_dates

    settings: dict[str, Any] = {}
    if item.anchor is not None:
        settings["RELATIVE_BASE"] = item.anchor
    try:
        found = search_dates(item.text, languages=["ar"], settings=settings) or []
    except Exception:  # dateparser raises on some inputs; that is a miss, not a crash
        found = []
    preds, cursor = [], 0
    for surface, when in found:
        index = item.text.find(surface, cursor)
        if index < 0:
            index = item.text.find(surface)
        if index < 0:
            continue
        cursor = index + len(surface)
        start, end = _trim(item.text, index, index + len(surface))
        if end > start:
            preds.append((start, end, when.isoformat()))
    return preds


# ---------------------------------------------------------------------------------------------
# Value agreement
# ---------------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"P(?:(?P<date>[\d.X]+(?:Y|M|W|D|DE|CE))*)(?:T(?P<time>(?:[\d.X]+[HMS])+))?$")
_DATE_UNITS = {"Y": 31536000, "M": 2592000, "W": 604800, "D": 86400, "DE": 315360000, "CE": 3153600000}
_TIME_UNITS = {"H": 3600, "M": 60, "S": 1}


def _duration_seconds(value: str) -> float | None:
    if not value.startswith("P") or "X" in value:
        return None
    date_part, _, time_part = value[1:].partition("T")
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(DE|CE|Y|M|W|D)", date_part):
        total += float(number) * _DATE_UNITS[unit]
    for number, unit in re.findall(r"([\d.]+)([HMS])", time_part):
        total += float(number) * _TIME_UNITS[unit]
    return total


def _clock(value: str) -> str | None:
    m = re.search(r"T(\d{2})(?::(\d{2}))?(?::(\d{2}))?$", value)
    if not m:
        return None
    return f"{m.group(1)}:{m.group(2) or '00'}" + (f":{m.group(3)}" if m.group(3) and m.group(3) != "00" else "")


def _interval(value: str) -> tuple[str, str] | None:
    m = re.fullmatch(r"\((?P<a>[^,]+),(?P<b>[^,]+),[^)]*\)", value)
    if m:
        return m.group("a"), m.group("b")
    if "/" in value:
        a, _, b = value.partition("/")
        return a, b
    return None


def _mask_agrees(reference: str, value: str) -> bool:
    if len(reference) != len(value):
        return False
    return all(r == "X" or r == v for r, v in zip(reference, value, strict=True))


def value_matches(reference: str, value: str | None, resolutions: Sequence[str] = ()) -> bool:
    """Does a predicted TIMEX3 value agree with a reference Timex (rules in the module docstring)?"""
    if value is None:
        return False
    if reference == value:
        return True
    if re.fullmatch(r"SP|SU|FA|WI", reference):
        reference = f"XXXX-{reference}"
    ref_interval, val_interval = _interval(reference), _interval(value)
    if ref_interval and not val_interval and _period_bounds(value) is not None:
        val_interval = (value, value)  # a quarter or decade value against a (start,end) reference
    if ref_interval and val_interval:
        start_bounds = _period_bounds(val_interval[0])
        start_ok = value_matches(ref_interval[0], val_interval[0]) or (
            start_bounds is not None and start_bounds[0].isoformat() == ref_interval[0]
        )
        end_bounds = _period_bounds(val_interval[1])
        ref_end = _period_bounds(ref_interval[1])
        if not start_ok or end_bounds is None or ref_end is None:
            return start_ok and value_matches(ref_interval[1], val_interval[1])
        return end_bounds[0] <= ref_end[0] <= end_bounds[1] + dt.timedelta(days=1)
    if reference.startswith("P"):
        ref_seconds, val_seconds = _duration_seconds(reference), _duration_seconds(value)
        return ref_seconds is not None and val_seconds is not None and abs(ref_seconds - val_seconds) < 1e-6
    if reference.startswith("T"):
        return _clock(reference) is not None and _clock(reference) == _clock(value)
    if "X" in reference:
        resolved_dates = [r for r in resolutions if re.fullmatch(r"\d{4}-\d{2}-\d{2}", r)]
        if _mask_agrees(reference, value):
            if not resolved_dates:
                return True
            bounds = _period_bounds(value)
            if bounds is not None and bounds[0].isoformat() in resolved_dates:
                return True
            # "نهاية شهر مارس": the specs resolve to the second half; the month itself agrees.
            return any(r.startswith(value) for r in resolved_dates)
        if resolved_dates and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) and "W" in reference:
            return value in resolved_dates
    return False


def datetime_matches(reference: str, when: str | None, resolutions: Sequence[str] = ()) -> bool:
    """Generous agreement for dateparser: its datetime lies in the reference period."""
    if when is None:
        return False
    moment = dt.datetime.fromisoformat(when)
    if reference.startswith("T"):
        return _clock(reference) == _clock(moment.strftime("T%H:%M"))
    interval = _interval(reference)
    if interval:
        return value_matches(interval[0], moment.date().isoformat()) or _inside(interval[0], moment.date())
    if "X" in reference:
        return moment.date().isoformat() in resolutions or _mask_agrees(
            reference, moment.date().isoformat()[: len(reference)]
        )
    return _inside(reference, moment.date())


def _inside(reference: str, day: dt.date) -> bool:
    bounds = _period_bounds(reference)
    return bounds is not None and bounds[0] <= day <= bounds[1]


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def _f1(tp: int, n_pred: int, n_ref: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _pair(refs: list[Reference], preds: list[Prediction], exact: bool) -> list[tuple[int, int]]:
    """One-to-one matching, references in order, each taking its best-overlapping free prediction."""
    used: set[int] = set()
    pairs = []
    for ri, ref in enumerate(refs):
        best, best_overlap = None, 0
        for pi, (ps, pe, _) in enumerate(preds):
            if pi in used:
                continue
            if exact:
                if (ps, pe) == (ref.start, ref.end):
                    best = pi
                    break
                continue
            overlap = min(pe, ref.end) - max(ps, ref.start)
            if overlap > best_overlap:
                best, best_overlap = pi, overlap
        if best is not None:
            used.add(best)
            pairs.append((ri, best))
    return pairs


def _drop_signal(text: str, start: int, end: int) -> tuple[int, int]:
    """Move ``start`` past one leading preposition (في، عند، خلال، بعد ...) or proclitic ل/ب."""
    m = re.match(r"(?:ما\s+)?(?:في|عند|خلال|بعد|قبل|من|الى|إلى|بين|منذ|حتى)\s+|[لب](?=ال)", text[start:end])
    return (start + m.end(), end) if m and start + m.end() < end else (start, end)


def _signal_free(item: Item, preds: list[Prediction]) -> tuple[list[Reference], list[Prediction]]:
    refs = [Reference(*_drop_signal(item.text, r.start, r.end), r.value, r.resolutions) for r in item.refs]
    return refs, [(*_drop_signal(item.text, s, e), v) for s, e, v in preds]


def score(
    items: Sequence[Item],
    system: Callable[[Item], list[Prediction]],
    matcher: Callable[[str, str | None, Sequence[str]], bool] = value_matches,
) -> dict[str, Any]:
    """Span P/R/F1 (exact, overlap) and value accuracy of ``system`` on ``items``."""
    n_ref = n_pred = tp_exact = tp_signal = tp_overlap = n_values = correct = 0
    for item in items:
        preds = system(item)
        n_ref += len(item.refs)
        n_pred += len(preds)
        tp_exact += len(_pair(item.refs, preds, exact=True))
        tp_signal += len(_pair(*_signal_free(item, preds), exact=True))
        overlap_pairs = _pair(item.refs, preds, exact=False)
        tp_overlap += len(overlap_pairs)
        matched = dict(overlap_pairs)
        for ri, ref in enumerate(item.refs):
            if ref.value is None:
                continue
            n_values += 1
            if ri in matched and matcher(ref.value, preds[matched[ri]][2], ref.resolutions):
                correct += 1
    return {
        "references": n_ref,
        "predictions": n_pred,
        "exact": _f1(tp_exact, n_pred, n_ref),
        "exact_signal_free": _f1(tp_signal, n_pred, n_ref),
        "overlap": _f1(tp_overlap, n_pred, n_ref),
        "values": n_values,
        "value_accuracy": round(correct / n_values, 4) if n_values else None,
    }


def _agreement(items: Sequence[Item]) -> dict[str, Any]:
    """Silver agreement: spans as usual, values where both sides are fully specified."""
    result = score(items, akhbar_system, matcher=lambda r, v, _: True)
    both = agree = 0
    for item in items:
        preds = akhbar_system(item)
        for ri, pi in _pair(item.refs, preds, exact=False):
            ref_value, value = item.refs[ri].value or "", preds[pi][2] or ""
            if "X" in ref_value or "X" in value or "REF" in ref_value:
                continue
            both += 1
            agree += value_matches(ref_value, value)
    result["value_accuracy"] = None
    result["value_pairs_fully_specified"] = both
    result["value_agreement"] = round(agree / both, 4) if both else None
    return result


def evaluate_set(name: str, with_dateparser: bool = True) -> dict[str, Any]:
    if name == "recognizers":
        items = load_recognizers()
    elif name == "gold":
        items = load_gold()
    elif name == "heldout":
        items = load_gold(HELDOUT)
    elif name == "heldout2":
        items = load_gold(HELDOUT2)
    elif name == "wojood":
        items = load_wojood()
    elif name == "timeml-silver":
        items = load_timeml()
    else:
        raise ValueError(name)
    if name == "timeml-silver":
        report = {"akhbar": _agreement(items)}
    elif name == "wojood":
        report = {"akhbar": score(items, lambda it: akhbar_system(it, frozenset({"DATE", "DURATION", "SET"})))}
    else:
        report = {"akhbar": score(items, akhbar_system)}
    if with_dateparser:
        matcher = datetime_matches if name != "timeml-silver" else (lambda r, v, _: True)
        report["dateparser"] = score(items, dateparser_system, matcher=matcher)
        if name in {"timeml-silver", "wojood"}:
            report["dateparser"]["value_accuracy"] = None
    return report


SETS = ("gold", "heldout", "heldout2", "recognizers", "timeml-silver", "wojood")


def evaluate_all(with_dateparser: bool = True) -> dict[str, Any]:
    """Scores of akhbar (and dateparser) on every set."""
    return {name: evaluate_set(name, with_dateparser) for name in SETS}


def benchmark(texts: list[str], published: dt.date | None = None, repeat: int = 1) -> dict[str, float]:
    """Throughput of ``tag_dates`` on ``texts`` (one core): articles/s, tokens/s, annotations."""
    tokens = sum(len(t.split()) for t in texts)
    annotations = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        for text in texts:
            annotations += len(tag_dates(text, published))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    runs = len(texts) * repeat
    return {
        "articles": len(texts),
        "seconds": round(elapsed, 3),
        "articles_per_s": round(runs / elapsed, 1) if elapsed else 0.0,
        "tokens_per_s": round(tokens * repeat / elapsed, 1) if elapsed else 0.0,
        "articles_per_cpu_s": round(runs / cpu, 1) if cpu else 0.0,
        "tokens_per_cpu_s": round(tokens * repeat / cpu, 1) if cpu else 0.0,
        "annotations_per_article": round(annotations / runs, 2) if runs else 0.0,
    }


def load_article_texts(limit: int | None = None) -> list[str]:
    texts = []
    with ARTICLES.open(encoding="utf-8") as handle:
        for line in handle:
            texts.append(json.loads(line)["body"])
            if limit is not None and len(texts) >= limit:
                break
    return texts


def format_tables(report: dict[str, Any]) -> str:
    lines = [
        "| set | system | refs | preds | exact P | exact R | exact F1 | exact F1 w/o signal | overlap P | overlap R "
        "| overlap F1 | values | value acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, systems in report.items():
        for system, s in systems.items():
            value = s.get("value_accuracy")
            if value is None and s.get("value_agreement") is not None:
                value_text = f"agree {s['value_agreement']:.3f} (n={s['value_pairs_fully_specified']})"
            else:
                value_text = "-" if value is None else f"{value:.3f}"
            lines.append(
                f"| {name} | {system} | {s['references']} | {s['predictions']} | "
                f"{s['exact']['precision']:.3f} | {s['exact']['recall']:.3f} | {s['exact']['f1']:.3f} | "
                f"{s['exact_signal_free']['f1']:.3f} | "
                f"{s['overlap']['precision']:.3f} | {s['overlap']['recall']:.3f} | {s['overlap']['f1']:.3f} | "
                f"{s['values'] if value is not None else '-'} | {value_text} |"
            )
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    with_dateparser = "--no-dateparser" not in args
    report = evaluate_all(with_dateparser)
    print(format_tables(report))
    texts = load_article_texts()
    print()
    print(f"throughput on {ARTICLES.name}: {json.dumps(benchmark(texts))}")


if __name__ == "__main__":
    main()
