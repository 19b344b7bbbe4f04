"""Unit tests for transforms.dates: the seed passage, each expression family, offsets, date_ranges."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.dates import date_ranges, fold_with_offsets, tag_dates

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SEED = SHARED / "seeds" / "000_c66fc04c14814b94.txt"
PUBLISHED = dt.date(2026, 2, 4)


def _found(text: str, published: dt.date | None = PUBLISHED) -> dict[str, dict]:
    return {a["text"]: a for a in tag_dates(text, published)}


def test_seed_passage_expressions_found_and_resolved() -> None:
    text = SEED.read_text(encoding="utf-8").removeprefix(" date 2026-02-04 ")
    found = _found(text)
    expected = {
        "اليوم الأربعاء": ("2026-02-04", None),
        "فبراير/شباط 2022": ("2022-02", None),
        "النصف الأول من هذا العام": ("2026-H1", None),
        "سبتمبر/أيلول": ("2025-09", None),
        "هذا الأسبوع": ("2026-W06", None),
        "أمس الثلاثاء": ("2026-02-03", None),
        "أواخر نوفمبر/تشرين الثاني": ("2025-11", "END"),
        "العام الماضي": ("2025", None),
        "أكتوبر/تشرين الأول": ("2025-10", None),
    }
    for surface, (value, mod) in expected.items():
        assert surface in found, surface
        assert found[surface]["value"] == value, surface
        assert found[surface].get("mod") == mod, surface
    assert found["ساعة و25 دقيقة"]["value"] == "PT1H25M"
    for ann in tag_dates(text, PUBLISHED):
        assert text[ann["start"] : ann["end"]] == ann["text"]


@pytest.mark.parametrize(
    ("text", "surface", "type_", "value", "extra"),
    [
        ("صام المسلمون في 15 رمضان 1447 هـ", "15 رمضان 1447 هـ", "DATE", "2026-03-04", {"hijri": "1447-09-15"}),
        ("عام 1436هـ", "عام 1436هـ", "DATE", "2015", {"hijri": "1436"}),
        ("وصل في 12 جانفي 2024", "12 جانفي 2024", "DATE", "2024-01-12", {}),
        ("انخفضت الأسعار في فيفري الماضي", "فيفري الماضي", "DATE", "2025-02", {}),
        ("في ٢٠ مايو ٢٠١٨", "٢٠ مايو ٢٠١٨", "DATE", "2018-05-20", {}),
        ("في ۲۰ مايو ۲۰۱۸", "۲۰ مايو ۲۰۱۸", "DATE", "2018-05-20", {}),
        ("تحدثا لمدة ساعة و25 دقيقة", "ساعة و25 دقيقة", "DURATION", "PT1H25M", {}),
        ("استمرت نحو ساعتين", "نحو ساعتين", "DURATION", "PT2H", {"mod": "APPROX"}),
        ("يجتمع المجلس كل أسبوع", "كل أسبوع", "SET", "P1W", {}),
        ("تصدر النشرة أسبوعيا", "أسبوعيا", "SET", "P1W", {}),
        ("ينتج مليون برميل يوميا", "يوميا", "SET", "P1D", {}),
        ("يبدأ الحفل في الساعة الخامسة مساء", "الساعة الخامسة مساء", "TIME", "2026-02-04T17:00", {}),
        ("صرح صباح اليوم", "صباح اليوم", "TIME", "2026-02-04TMO", {}),
        ("في التسعينيات", "التسعينيات", "DATE", "199X", {}),
        ("الربع الثالث من عام 2016", "الربع الثالث من عام 2016", "DATE", "2016-Q3", {}),
        ("قبل عامين", "قبل عامين", "DATE", "2024", {}),
        ("اجتمعوا الخميس الماضي", "الخميس الماضي", "DATE", "2026-01-29", {}),
        ("سيلتقي الوزيران الأحد", "الأحد", "DATE", "2026-02-08", {}),
        ("غادر الوفد سنغافورة السبت", "السبت", "DATE", "2026-01-31", {}),
        ("سيزور الرئيس موسكو في مارس", "مارس", "DATE", "2026-03", {}),
        ("منتصف الشهر المقبل", "منتصف الشهر المقبل", "DATE", "2026-03", {"mod": "MID"}),
        ("من 2014 إلى 2018", "من 2014 إلى 2018", "DATE", "2014/2018", {}),
    ],
)
def test_expression_families(text: str, surface: str, type_: str, value: str, extra: dict) -> None:
    found = _found(text)
    assert surface in found, list(found)
    ann = found[surface]
    assert (ann["type"], ann["value"]) == (type_, value)
    for key, expected in extra.items():
        assert ann.get(key) == expected


@pytest.mark.parametrize(
    "text",
    [
        "طالب بتطبيق القرار 2254 الصادر عن مجلس الأمن",
        "وقع الحادث على الطريق 30 قرب المدينة",
        "قتل 2015 شخصا في الهجمات",
        "مارس الضغط على الحكومة",
        "قال المدير العام للشركة",
        "ذكرت صحيفة عين اليوم",
        "وفي نفس اليوم وصل الوفد",
        "بدأ العام الدراسي",
        "انطلقت ثورات الربيع العربي",
        "فاز الفريق 2-1 على منافسه",
        "سقط 52 قتيلا وأكثر من ألفي جريح",
        "قال المحامي آلان غارتن",
        "وفقا لصحيفة «اليوم» السعودية",
        "تدرب على ملعب سنغافورة",
    ],
)
def test_not_dates(text: str) -> None:
    assert tag_dates(text, PUBLISHED) == []


def test_without_published_relative_values_use_placeholders() -> None:
    found = _found("التقى الوزيران أمس الثلاثاء وسيلتقيان العام المقبل في سبتمبر/أيلول", None)
    assert found["أمس الثلاثاء"]["value"] == "XXXX-WXX-2"
    assert found["العام المقبل"]["value"] == "XXXX"
    assert found["سبتمبر/أيلول"]["value"] == "XXXX-09"


def test_datetime_published_is_accepted() -> None:
    anns = tag_dates("وصل أمس", dt.datetime(2018, 5, 1, 1, 1, 41, tzinfo=dt.UTC))
    assert anns[0]["value"] == "2018-04-30"


def test_offsets_survive_diacritics_and_tatweel() -> None:
    text = "وأعلنَ الوزيرُ أمسِ الثلاثاءَ أنّ القمة ستعقد في فبرايـــر/شباط ٢٠٢٢"
    for ann in tag_dates(text, PUBLISHED):
        assert text[ann["start"] : ann["end"]] == ann["text"]
    values = {a["value"] for a in tag_dates(text, PUBLISHED)}
    assert {"2026-02-03", "2022-02"} <= values


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["أمس", "الثلاثاء", "فبراير/شباط", "2022", "ــ", "َ", "ّ", "٢٠١٨", "منذ", "عامين", " ", "،", "هـ", "x", "\n"]
        ),
        max_size=25,
    )
)
def test_spans_always_index_the_input(parts: list[str]) -> None:
    text = " ".join(parts)
    folded, offsets = fold_with_offsets(text)
    assert offsets is None or len(offsets) == len(folded)
    for ann in tag_dates(text, PUBLISHED):
        assert 0 <= ann["start"] < ann["end"] <= len(text)
        assert text[ann["start"] : ann["end"]] == ann["text"]


def test_date_ranges_cover_each_period_kind() -> None:
    anns = [
        {"type": "DATE", "value": "2022-02"},
        {"type": "DATE", "value": "2026-H1"},
        {"type": "DATE", "value": "2026-W06"},
        {"type": "DATE", "value": "2025-Q4"},
        {"type": "DATE", "value": "199X"},
        {"type": "DATE", "value": "2024"},
        {"type": "DATE", "value": "2014/2018"},
        {"type": "DATE", "value": "2026-03", "hijri": "1447-09"},
        {"type": "TIME", "value": "2026-02-04TMO"},
        {"type": "DATE", "value": "XXXX-09"},
        {"type": "DATE", "value": "PRESENT_REF"},
        {"type": "DURATION", "value": "P3Y"},
    ]
    assert date_ranges(anns) == [
        {"gte": "2022-02-01", "lte": "2022-02-28"},
        {"gte": "2026-01-01", "lte": "2026-06-30"},
        {"gte": "2026-02-02", "lte": "2026-02-08"},
        {"gte": "2025-10-01", "lte": "2025-12-31"},
        {"gte": "1990-01-01", "lte": "1999-12-31"},
        {"gte": "2024-01-01", "lte": "2024-12-31"},
        {"gte": "2014-01-01", "lte": "2018-12-31"},
        {"gte": "2026-02-18", "lte": "2026-03-19"},
        {"gte": "2026-02-04", "lte": "2026-02-04"},
    ]


_FUZZ_WORDS = [
    "أمس",
    "اليوم",
    "الثلاثاء",
    "فبراير/شباط",
    "2022",
    "١٤٣٦",
    "هـ",
    "رمضان",
    "ذي القعدة",
    "2 - 5",
    "من",
    "إلى",
    "بين",
    "و",
    "الساعة",
    "الخامسة",
    "مساء",
    "قبل",
    "عامين",
    "منذ",
    "العام",
    "الماضي",
    "المقبل",
    "النصف الأول",
    "الأسبوع",
    "الأول",
    "هذا",
    "كل",
    "أسبوع",
    "يوميا",
    "التسعينيات",
    "القرن",
    "12/10/2015",
    "صفر",
    "نهاية",
    "عيد الفطر",
    "عشية",
    "الصيف",
    "نفس العام",
    "من الآن",
    "ساعة",
    "و25",
    "دقيقة",
    "-",
    "/",
    "،",
    "\n",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FUZZ_WORDS), max_size=30), st.sampled_from([None, PUBLISHED, dt.date(2015, 8, 9)]))
def test_never_raises_and_ranges_are_ordered(words: list[str], published: dt.date | None) -> None:
    text = " ".join(words)
    anns = tag_dates(text, published)
    for ann in anns:
        assert text[ann["start"] : ann["end"]] == ann["text"]
    for period in date_ranges(anns):
        assert period["gte"] <= period["lte"]


def test_multiword_term_across_a_line_break_resolves() -> None:
    # Found by hypothesis: the regex lets a space in a term match any whitespace run.
    tags = tag_dates("أمس \n الأول", dt.date(2026, 2, 4))
    assert [t["value"] for t in tags] == ["2026-02-02"]
