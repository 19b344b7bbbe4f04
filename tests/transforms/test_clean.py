"""Tests for display-text cleaning (``transforms.clean``) on the seed and on real articles."""

import html
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.clean import CleanText, clean_html, clean_text
from transforms.decode import decode_bytes

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / ".." / "shared" / "seeds" / "000_c66fc04c14814b94.txt"
ARTICLES = ROOT / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"
FIXTURES = ROOT / "tests" / "fixtures" / "encodings"

REMOVED = set("\u00ad\u200b\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c\ufeff\u2060")
ARABIC_LETTER = re.compile("[\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06ff]")


def _letters(text: str) -> str:
    """What cleaning must never change: every character but white space and invisibles."""
    return "".join(c for c in text if not c.isspace() and c not in REMOVED and c != "\u200c")


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    with open(ARTICLES, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def test_seed_caption_is_split_off() -> None:
    cleaned = clean_text(SEED.read_text(encoding="utf-8"))
    assert cleaned.captions == (
        "الرئيس الصيني شي جين بينغ يجري محادثات مع نظيره الروسي فلاديمير بوتين عبر الفيديو (رويترز)",
    )
    paragraphs = cleaned.text.split("\n\n")
    assert any(p.startswith("وقال المستشار في الكرملين، يوري أوشاكوف،") for p in paragraphs)
    assert "(رويترز)" not in cleaned.text
    assert cleaned.removed_boilerplate == 0
    assert "قَبِل" in cleaned.text  # display text keeps its harakat


def test_caption_after_a_sentence_and_credit_variants() -> None:
    cleaned = clean_text("انتهى الاجتماع. جانب من الاجتماع في بكين (الفرنسية - أرشيف)وأضاف المتحدث أن...")
    assert cleaned.captions == ("جانب من الاجتماع في بكين (الفرنسية - أرشيف)",)
    assert cleaned.text == "انتهى الاجتماع.\n\nوأضاف المتحدث أن..."


def test_glued_parenthesis_that_is_not_a_credit_stays() -> None:
    # Real corpus text (ant-SK, ant-BB): a glued parenthesis that is content, not a photo credit.
    text = "قام جهاز الرقابة على الاتصالات (روسكومنادزور)بوقف الدخول أيضا إلى مجموعة من المواقع"
    assert clean_text(text) == CleanText(text, (), 0)


def test_boilerplate_lines_are_removed_and_counted() -> None:
    text = "\n".join(
        [
            "قال الوزير إن المحادثات ستستأنف.",
            "اقرأ أيضاً:",
            "للمزيد: وزير الخارجية الأمريكي الجديد مايك بومبيو.. من الجاسوسية إلى الدبلوماسية",
            "شارك",
            "شارك في المؤتمر أكثر من مئة خبير.",
            "تابعونا على تويتر",
            "تابعنا في الحلقة الماضية كيف تطورت الأزمة.",
            "تابعنا عبر صفحتنا على فيسبوك",
            "// انتهى //",
            "للتواصل مع الكاتب أرسل رسالة SMS",
            "88591 - Stc",
        ]
    )
    cleaned = clean_text(text)
    assert cleaned.text == (
        "قال الوزير إن المحادثات ستستأنف.\n\nشارك في المؤتمر أكثر من مئة خبير.\n\n"
        "تابعنا في الحلقة الماضية كيف تطورت الأزمة."
    )
    assert cleaned.removed_boilerplate == 8


def test_mojibake_is_repaired() -> None:
    sentence = "أعلن مؤسس تطبيق واتساب جان كوم استقالته"
    as_latin1 = sentence.encode("utf-8").decode("latin-1")
    as_cp1252 = sentence.encode("utf-8").decode("cp1252", errors="replace")
    as_cp1256 = sentence.encode("utf-8").decode("cp1256")
    assert clean_text(as_latin1).text == sentence
    assert clean_text(as_cp1256).text == sentence
    assert ARABIC_LETTER.search(clean_text(as_cp1252).text)


def test_mojibake_with_spaces_quotes_and_nbsp_is_repaired() -> None:
    sentence = 'قال «الرئيس»\u00a0العربية للأخبار – "نعم" و في'
    assert clean_text(sentence.encode("utf-8").decode("cp1256")).text == sentence.replace("\u00a0", " ")


def test_windows_1256_feed_read_by_feedparser_comes_out_as_arabic() -> None:
    # feedparser re-decodes a str by its XML declaration: the decoded windows-1256 feed comes
    # back as UTF-8-read-as-windows-1256 mojibake, which clean_text repairs.
    import feedparser

    feed = decode_bytes((FIXTURES / "feed.windows-1256.xml").read_bytes()).text
    entry = feedparser.parse(feed).entries[0]
    assert clean_text(entry.title).text == 'استقالة مؤسس واتساب من فيسبوك بسبب "البيانات الشخصية"'
    assert clean_text(clean_html(entry.summary)).text.startswith("أعلن مؤسس تطبيق واتساب جان كوم")


def test_correct_arabic_next_to_mojibake_lookalikes_is_kept() -> None:
    # ط or ع followed by an Arabic comma reads as one UTF-8 lead+continuation pair: not mojibake.
    text = "فقط، ثم ضغط، وبيع، ومنع، وذلك «مقتطع» والحروف ط، ظ، ع، غ»"
    assert clean_text(text).text == text


def test_entities_spaces_and_invisibles() -> None:
    raw = "\u200fقال&nbsp;الوزير\u00a0&quot;نعم&quot;\u2009اليوم\u202b\u200b\r\nسطر\u2028ثان\t\tهنا\u2029آخر"
    assert clean_text(raw).text == 'قال الوزير "نعم" اليوم\n\nسطر\n\nثان هنا\n\nآخر'


def test_zwnj_kept_only_inside_arabic_script_words() -> None:
    assert clean_text("می\u200cخواهم \u200cکه a\u200cb").text == "می\u200cخواهم که ab"


def test_clean_html_keeps_paragraphs_and_drops_noise() -> None:
    page = (
        "<div><h2>عنوان</h2><p>الفقرة &amp; الأولى<br>سطر ثان</p>"
        "<script>var x = '<p>لا</p>';</script><style>p{}</style>"
        "<figure><img src=a.jpg><figcaption>صورة</figcaption></figure>"
        "<ul><li>بند أول</li><li>بند <b>ثان</b></li></ul><!-- تعليق -->نص   أخير</div>"
    )
    assert clean_html(page) == "عنوان\n\nالفقرة & الأولى\nسطر ثان\n\nبند أول\n\nبند ثان\n\nنص أخير"


def test_clean_html_plain_text_passes_through() -> None:
    assert clean_html("سطر أول\n\nسطر &quot;ثان&quot; 3 < 4") == 'سطر أول\n\nسطر "ثان" 3 < 4'


def test_clean_text_keeps_every_letter_of_real_articles(corpus: list[dict]) -> None:
    changed = []
    for article in corpus[::7]:
        body = article["body"] or ""
        cleaned = clean_text(body)
        if cleaned.removed_boilerplate or cleaned.captions or "\x1a" in body:
            continue
        if _letters(cleaned.text) != _letters(body):
            changed.append(article["id"])
    assert changed == []


def test_boilerplate_removed_from_real_articles_is_boilerplate(corpus: list[dict]) -> None:
    removed = 0
    for article in corpus[::3]:
        body = article["body"] or ""
        cleaned = clean_text(body)
        removed += cleaned.removed_boilerplate
        lost = len(_letters(body)) - len(_letters(cleaned.text))
        assert lost <= 150 * cleaned.removed_boilerplate + body.count("\x1a"), article["id"]
    assert removed > 100


display_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
        st.sampled_from([*sorted(REMOVED), "\u200c", " ", "\n", "\r", "\t", "\xa0", "\u2028", "\u2029", "&", ";"]),
        st.characters(max_codepoint=0x2FFF),
    ),
    max_size=80,
)


@given(display_text)
@settings(max_examples=400)
def test_clean_text_output_is_tidy(text: str) -> None:
    cleaned = clean_text(text)
    for out in (cleaned.text, *cleaned.captions):
        assert not REMOVED & set(out)
        assert all(c in " \n" or not c.isspace() for c in out)
        for match in re.finditer("\u200c", out):
            assert 0 < match.start() < len(out) - 1
            assert ARABIC_LETTER.match(out[match.start() - 1]) and ARABIC_LETTER.match(out[match.end()])
    assert "\n\n\n" not in cleaned.text and "  " not in cleaned.text
    assert all(p and p == p.strip() and "\n" not in p for p in cleaned.text.split("\n\n") if cleaned.text)


def test_clean_html_of_real_articles_as_paragraph_markup(corpus: list[dict]) -> None:
    for article in corpus[::50]:
        body = article["body"] or ""
        markup = "".join(f"<p>{html.escape(line)}</p>\n  " for line in body.split("\n"))
        page = f"<article><h1>{html.escape(article['title'] or '')}</h1>{markup}<script>track()</script></article>"
        expected = clean_text(f"{article['title'] or ''}\n{body}").text
        assert clean_text(clean_html(page)).text == expected, article["id"]


arabic_display_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E).filter(lambda c: c != "&"),
        st.sampled_from([*sorted(REMOVED), "\u200c", "\n", "\r", "\t", "\xa0", "\u2028", "\u2029", "«", "»"]),
    ),
    max_size=80,
)


# Arabic, ASCII and invisibles: ftfy's heuristics are not idempotent on arbitrary Latin-1
# noise ("\xadßØ"), and input escaped twice ("&amp;amp;") keeps one level after a pass.
@given(arabic_display_text)
@settings(max_examples=400)
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text).text
    assert clean_text(once) == CleanText(once, (), 0)
