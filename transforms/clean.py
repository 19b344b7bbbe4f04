"""Display text: faithful to what the outlet published, but clean.

Two steps, used by the sources and by the ``CleanText`` stage:

``clean_html(html_or_text)``: feed and page HTML -> text with a real parser (selectolax):
block elements (``<p>``, ``<div>``, ``<li>``, headings, ...) become paragraphs ("\\n\\n"),
``<br>`` a line break, script/style/figure and other non-text elements are dropped, entities
are decoded. Plain text (no tags) passes through with its entities decoded.

``clean_text(text)`` -> ``CleanText``:

1. HTML entities decoded (a second level, for feeds that escape twice);
2. mojibake repaired: ftfy, configured to leave correct text alone (no NFKC, no quote or
   width changes), then the Arabic-specific UTF-8-read-as-windows-1256 mojibake
   (``ط§ظ„ط¹ط±ط¨ظٹط©`` -> ``العربية``) that ftfy does not know;
3. bidi controls and zero-width characters removed; ZWNJ kept only between two
   Arabic-script letters, where it is spelling (Persian ``می‌خواهم``) rather than noise;
4. every Unicode space made a plain space, every line break "\\n";
5. paragraphs: each non-empty line is one paragraph, paragraphs separated by a blank line;
6. photo captions glued to the next sentence (``... عبر الفيديو (رويترز)وقال ...``) split off
   into ``captions``;
7. boilerplate lines (share / follow / read-also prompts, wire end markers) removed and
   counted.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import ftfy
from selectolax.lexbor import LexborHTMLParser, LexborNode

from transforms.normalize import UNICODE_WHITESPACE, char_runs, fold


@dataclass(frozen=True)
class CleanText:
    """Display text of one field, and what was taken out of it."""

    text: str  # paragraphs separated by "\n\n"
    captions: tuple[str, ...] = ()  # photo captions split off the body, with their credit
    removed_boilerplate: int = 0  # boilerplate lines removed


# --- HTML ------------------------------------------------------------------------------

_DROPPED_ELEMENTS = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "svg", "canvas", "math",
        "figure", "figcaption", "picture", "video", "audio", "object", "embed",
        "form", "button", "select", "nav", "head", "title",
    }
)  # fmt: skip
_BLOCK_ELEMENTS = frozenset(
    {
        "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "pre", "section", "article", "aside", "header", "footer", "main",
        "address", "table", "tr", "caption", "hr", "details", "summary",
    }
)  # fmt: skip
_CELL_ELEMENTS = frozenset({"td", "th"})
_HTML_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]*)?/?|/[a-zA-Z][a-zA-Z0-9:-]*\s*|!--.*?--)>", re.S)
_HTML_WHITESPACE = re.compile(r"[ \t\n\r\f]+")  # HTML's white space: NBSP is content


def _html_pieces(root: LexborNode) -> list[str]:
    """Text of ``root`` in document order, "\\n\\n" around blocks and "\\n" for ``<br>``."""
    pieces: list[str] = []
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            pieces.append("\n\n" if node.tag in _BLOCK_ELEMENTS else " ")
            continue
        if node.is_text_node:
            pieces.append(_HTML_WHITESPACE.sub(" ", node.text_content or ""))
            continue
        tag = node.tag
        if not node.is_element_node or tag in _DROPPED_ELEMENTS:
            continue
        if tag == "br":
            pieces.append("\n")
            continue
        if tag in _BLOCK_ELEMENTS:
            pieces.append("\n\n")
            stack.append((node, True))
        elif tag in _CELL_ELEMENTS:
            stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(node.iter(include_text=True))))
    return pieces


def clean_html(html_or_text: str) -> str:
    """HTML (or plain text) -> text; paragraphs separated by "\\n\\n", ``<br>`` kept as "\\n"."""
    if not _HTML_TAG.search(html_or_text):
        return html.unescape(html_or_text)
    tree = LexborHTMLParser(html_or_text)
    root = tree.body or tree.root
    if root is None:
        return ""
    text = "".join(_html_pieces(root))
    text = _SPACE_RUN.sub(" ", text)
    text = _SPACES_AROUND_BREAK.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


# --- characters --------------------------------------------------------------------------

# ftfy repairs mojibake but must not touch correct text: no compatibility normalization
# (it would rewrite Arabic presentation forms and ligatures the outlet chose), no quote
# uncurling, no width folding; entities and line breaks are handled here.
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    normalization="NFC",
)

# UTF-8 Arabic read as windows-1256: each letter becomes a lead ط ظ ع غ (bytes D8-DB)
# followed by the windows-1256 reading of a continuation byte (80-BF), which is never a core
# Arabic letter. A stretch of such units (other 2- and 3-byte sequences such as NBSP "آ " and
# curly quotes "â€œ" included, ASCII between them) with at least three Arabic-block leads,
# two of them in one word, does not occur in correct text (there a unit is a letter followed
# by punctuation, "فقط،"); it is re-decoded only if its bytes are valid UTF-8.
_CP1256_CONTINUATION = re.escape(bytes(range(0x80, 0xC0)).decode("cp1256"))
_CP1256_LEAD2 = re.escape(bytes(range(0xC2, 0xE0)).decode("cp1256"))
_CP1256_LEAD3 = re.escape(bytes(range(0xE0, 0xF0)).decode("cp1256"))
_CP1256_UNIT = f"(?:[{_CP1256_LEAD2}][{_CP1256_CONTINUATION}]|[{_CP1256_LEAD3}][{_CP1256_CONTINUATION}]{{2}})"
_CP1256_MOJIBAKE = re.compile(f"{_CP1256_UNIT}(?:[ -~]{{0,30}}{_CP1256_UNIT})+")
_CP1256_ARABIC_LEAD = re.compile("[طظعغ]")
_CP1256_WORD = re.compile(f"{_CP1256_UNIT}{{2}}")
_CP1256_MIN_LEADS = 3
# Each of those leads is followed by a continuation: a text with fewer such pairs has no
# repairable stretch, and this short pattern rules that out far faster than the full one. It
# looks for the continuation first and then behind it for the lead: in correct text
# continuations (mostly "،") are rarer than the leads (ع is a common letter).
_CP1256_LEAD_PAIR = re.compile(f"[{_CP1256_CONTINUATION}](?<={_CP1256_ARABIC_LEAD.pattern}[{_CP1256_CONTINUATION}])")

_LINE_BREAKS = {"\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n\n"}
_INVISIBLE = (
    "\u061c\u200b\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff\u00ad\u180e"
)
_CONTROLS = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if not chr(c).isspace())
_CHARACTERS = str.maketrans(
    {
        **dict.fromkeys(_INVISIBLE + _CONTROLS, None),
        **_LINE_BREAKS,
        **{c: " " for c in UNICODE_WHITESPACE if c not in " \n" + "".join(_LINE_BREAKS)},
    }
)
# str.translate pays a dict look-up per character; translate only the runs that need it.
_CHARACTER_RUN = char_runs(map(chr, _CHARACTERS))
# ftfy is slow, so it runs only on text holding what mojibake is made of: Latin-1 letters
# from UTF-8 lead bytes (Ø§Ù„), C1 controls, Cyrillic (windows-1251 readings), surrogates.
_MOJIBAKE_HINT = re.compile("[\x80-\x9f\u00c2-\u00f4\u0400-\u045f\ud800-\udfff\ufffd]")
_ARABIC_SCRIPT_LETTER = "\u0620-\u064a\u066e-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06ff\u0750-\u077f\u08a0-\u08c9"
_STRAY_ZWNJ = re.compile(f"\u200c(?![{_ARABIC_SCRIPT_LETTER}])|(?<![{_ARABIC_SCRIPT_LETTER}])\u200c")
_SPACE_RUN = re.compile(" {2,}")
_SPACES_AROUND_BREAK = re.compile(" *\n *")
_BLANK_LINES = re.compile("\n{3,}")


def _repair_cp1256_mojibake(text: str) -> str:
    if len(_CP1256_LEAD_PAIR.findall(text)) < _CP1256_MIN_LEADS:
        return text

    def repair(match: re.Match[str]) -> str:
        span = match.group()
        if len(_CP1256_ARABIC_LEAD.findall(span)) < _CP1256_MIN_LEADS or not _CP1256_WORD.search(span):
            return span
        try:
            return span.encode("cp1256").decode("utf-8")
        except UnicodeError:
            return span

    return _CP1256_MOJIBAKE.sub(repair, text)


def _translate_run(match: re.Match[str]) -> str:
    return match.group().translate(_CHARACTERS)


def _characters(text: str) -> str:
    text = html.unescape(text) if "&" in text else text
    if _MOJIBAKE_HINT.search(text):
        text = ftfy.fix_text(text, _FTFY)
    text = _repair_cp1256_mojibake(text)
    text = _CHARACTER_RUN.sub(_translate_run, text.replace("\r\n", "\n"))
    return _STRAY_ZWNJ.sub("", text) if "\u200c" in text else text


# --- captions ----------------------------------------------------------------------------

# Photo credits as they appear in parentheses after a caption; compared folded, so spelling
# variants (أ/ا, ة/ه) need no entries of their own. Several may be joined by - / ، or و.
PHOTO_CREDITS = (
    "رويترز", "الفرنسية", "فرانس برس", "أ ف ب", "أ.ف.ب", "الأوروبية", "أسوشيتد برس",
    "أسوشيتدبرس", "الأناضول", "غيتي", "غيتي إيميجز", "شترستوك", "الجزيرة", "الجزيرة نت",
    "مواقع التواصل", "مواقع التواصل الاجتماعي", "وكالات", "أرشيف", "د ب أ", "شينخوا", "سبوتنيك",
    "تاس", "واس", "إيبا", "وكالة الأنباء الفرنسية", "الصحافة الفرنسية", "الصحافة الأوروبية",
    "منصة إكس", "إكس", "تويتر", "فيسبوك", "إنستغرام", "يوتيوب", "بيكساباي", "أسوشيتد برس - أرشيف",
    "reuters", "afp", "ap", "epa", "getty", "getty images", "shutterstock", "anadolu", "dpa",
    "xinhua", "social media", "archive", "pixabay",
)  # fmt: skip
_CREDIT_PREFIX = re.compile(r"^(?:الصوره|صوره|تصوير|المصدر|photo|credit)\s*:\s*")
_CREDIT_SEPARATOR = re.compile(r"\s*(?:[-–/،,|]|\bو)\s*")
_FOLDED_CREDITS = frozenset(fold(credit) for credit in PHOTO_CREDITS)
# A parenthesis glued to the next word (no space): what is left when a caption element and
# the following paragraph lose the markup between them.
_GLUED_PARENTHESIS = re.compile(r"\(([^()\n]{1,60})\)(?=[^\W\d_])")
_SENTENCE_END = re.compile(r"[.!?؟…](?=\s)")


def _is_credit(inside_parentheses: str) -> bool:
    folded = _CREDIT_PREFIX.sub("", fold(inside_parentheses).strip())
    parts = [part for part in _CREDIT_SEPARATOR.split(folded) if part]
    return bool(parts) and all(part in _FOLDED_CREDITS for part in parts)


def _split_captions(paragraph: str) -> tuple[list[str], list[str]]:
    """(paragraphs, captions): each glued "caption (credit)" taken out of ``paragraph``."""
    paragraphs: list[str] = []
    captions: list[str] = []
    rest = paragraph
    while match := next((m for m in _GLUED_PARENTHESIS.finditer(rest) if _is_credit(m.group(1))), None):
        before = rest[: match.start()]
        sentence_ends = list(_SENTENCE_END.finditer(before))
        start = sentence_ends[-1].end() if sentence_ends else 0
        if rest[:start].strip():
            paragraphs.append(rest[:start].strip())
        captions.append(rest[start : match.end()].strip())
        rest = rest[match.end() :]
    if rest.strip():
        paragraphs.append(rest.strip())
    return paragraphs, captions


# --- boilerplate -------------------------------------------------------------------------

# Whole lines that are prompts rather than content, matched against the folded line without
# surrounding punctuation. A long line is never boilerplate, whatever it starts with:
# "شارك" alone is a share button, "شارك في المؤتمر ..." is news.
_SOCIAL = r"(?:فيسبوك|فيس بوك|تويتر|اكس|واتساب|واتس اب|تلغرام|تليجرام|لينكد ان|البريد الالكتروني)"
BOILERPLATE_LINES = (
    r"(?:اقرا|اقرء|طالع|شاهد|انظر) (?:ايضا|المزيد)\b.*",
    r"المزيد",
    r"للمزيد(?: من (?:الاخبار|التفاصيل|المعلومات))?(?: .*)?",
    r"(?:اضغط|انقر) هنا\b.*",
    rf"شارك(?:ها|ه)?(?: (?:هذا )?(?:الخبر|المقال|المقاله|الصفحه|الموضوع))?(?: (?:علي|عبر) {_SOCIAL})?",
    # "تابعنا" is also "we followed": only a bare prompt or one naming a network or "our ...".
    rf"(?:تابعونا|تابعنا)(?: (?:علي|عبر|في) (?:{_SOCIAL}|\w+نا\b).*)?",
    r"انتهي|يتبع",  # wire-service end / continuation markers: // انتهى //
    r"للتواصل مع الكاتب\b.*",
    r"\d+ (?:stc|mobily|zain)",  # SMS short codes under "للتواصل مع الكاتب"
    r"(?:share|tweet|follow us|read more|read also|see also)\b.*",
)
_BOILERPLATE = re.compile("|".join(f"(?:{pattern})" for pattern in BOILERPLATE_LINES))
_BOILERPLATE_MAX_WORDS = 12
_PUNCTUATION = re.compile(r"[^\w\s]+|_")


def _is_boilerplate(line: str) -> bool:
    words = _PUNCTUATION.sub(" ", fold(line)).split()
    return 0 < len(words) <= _BOILERPLATE_MAX_WORDS and bool(_BOILERPLATE.fullmatch(" ".join(words)))


def clean_text(text: str) -> CleanText:
    """Display text of ``text`` (already free of HTML markup); see the module docstring."""
    text = _characters(text)
    paragraphs: list[str] = []
    captions: list[str] = []
    removed = 0
    for line in text.split("\n"):
        line = (_SPACE_RUN.sub(" ", line) if "  " in line else line).strip()
        if not line:
            continue
        if line.count(" ") < _BOILERPLATE_MAX_WORDS and _is_boilerplate(line):
            removed += 1
            continue
        if "(" not in line:  # no parenthesis, no glued caption: most lines, spared the search
            paragraphs.append(line)
            continue
        line_paragraphs, line_captions = _split_captions(line)
        paragraphs.extend(line_paragraphs)
        captions.extend(line_captions)
    return CleanText("\n\n".join(paragraphs), tuple(captions), removed)
