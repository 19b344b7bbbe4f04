"""Bytes -> text for every input akhbar reads (files, HTTP bodies, feed documents).

Evidence is taken in this order; the first that yields text wins (``Decoded.method``):

1. ``"bom"``: a UTF-8, UTF-16 or UTF-32 byte-order mark.
2. ``"declared"``: the charset the transport declared (HTTP ``Content-Type``), passed in.
3. ``"xml-declaration"``: ``<?xml ... encoding="windows-1256"?>`` at the start.
4. ``"meta"``: ``<meta charset=...>`` or ``<meta http-equiv="Content-Type" content="...charset=...">``
   in the first bytes of an HTML document.
5. ``"utf-8"``: the bytes are valid UTF-8; ``"utf-8-damaged"``: they are UTF-8 but for a few
   broken bytes (at most 0.5% of the characters become U+FFFD).
6. ``"detected"``: the encodings Arabic text comes in (windows-1256, iso-8859-6, UTF-16LE/BE)
   that decode strictly to mostly Arabic letters, ranked by how Arabic each reading is (words
   with the article ال, no misplaced harakat or mixed-script words, share of Arabic letters),
   charset-normalizer's order breaking ties; failing that, windows-1252 (the WHATWG default
   for unlabelled legacy text) if it yields text.

A label (2-4) is used only if the bytes decode under it without error. Two labels are
distrusted because servers and CMSs emit them by default: a single-byte label when the
bytes are valid UTF-8 with multi-byte sequences (such bytes are UTF-8: legacy Arabic text
is practically never valid UTF-8), and a Latin label (iso-8859-1, windows-1252, ascii) that
yields no Arabic letter while a detected Arabic encoding yields text. Bytes that are not
text (NULs or control characters, known binary signatures) raise ``DecodeError`` so that
the caller can dead-letter them.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes


class DecodeError(ValueError):
    """The bytes are not text in any encoding akhbar accepts (binary, or undecodable)."""


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # WHATWG/IANA name: "utf-8", "windows-1256", "iso-8859-6", "utf-16le", ...
    method: str  # "bom", "declared", "xml-declaration", "meta", "utf-8", "utf-8-damaged" or "detected"


_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_BINARY_SIGNATURES = (
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"RIFF", "RIFF (WebP/WAV)"),
    (b"\x7fELF", "ELF"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

# Python codec name -> the name reported in ``Decoded.encoding``.
_REPORTED_NAMES = {
    "utf-8": "utf-8",
    "cp1256": "windows-1256",
    "iso8859-6": "iso-8859-6",
    "utf-16-le": "utf-16le",
    "utf-16-be": "utf-16be",
    "utf-16": "utf-16",
    "utf-32-le": "utf-32le",
    "utf-32-be": "utf-32be",
    "cp1252": "windows-1252",
    "iso8859-1": "iso-8859-1",
    "ascii": "us-ascii",
}
# Labels that cannot spell Arabic; WHATWG reads all of them as windows-1252.
_LATIN_CODECS = frozenset({"iso8859-1", "cp1252", "ascii", "iso8859-15"})
# What Arabic feeds and files come in when they are not UTF-8.
_ARABIC_CANDIDATES = ["cp1256", "iso8859-6", "utf-16-le", "utf-16-be"]

_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""",
    re.IGNORECASE,
)
_META_PRESCAN_BYTES = 4096
_CONTROL = re.compile("[\x01-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")  # Cc but tab, line breaks, NEL
_LETTER = re.compile(r"[^\W\d_]")
_ARABIC_LETTER = re.compile("[\u0620-\u064a\u066e-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06ff]")
_SAMPLE_CHARS = 100_000
_DEFINITE_ARTICLE = re.compile(r"(?<![^\W\d_])(?:[وفبكل]|وال|فال|بال|كال)?ال")
_MIXED_SCRIPT = re.compile("[\u0621-\u064a][A-Za-z\u00c0-\u00ff]|[A-Za-z\u00c0-\u00ff][\u0621-\u064a]")
# Harakat after no letter, and tanween inside a word (only fathatan may precede a final alef).
_MISPLACED_HARAKA = re.compile(
    "(?<![\u0620-\u064a\u064b-\u0652])[\u064b-\u0652]|[\u064c\u064d](?=[\u0621-\u064a])|\u064b(?=[\u0621-\u0626\u0628-\u0648\u064a])"
)
_MAX_CONTROL_SHARE = 0.01  # C0/C1 controls other than tab and line breaks, per character
_MIN_ARABIC_SHARE = 0.5  # of the letters in a detected decoding
_MAX_DAMAGED_UTF8_SHARE = 0.005  # replacement characters per character, for UTF-8 read despite damage


def _codec(label: str | None) -> str | None:
    """Python codec name for a charset label (or a whole Content-Type), None when unknown."""
    if not label:
        return None
    label = label.lower().rpartition("charset=")[2].split(";")[0].strip().strip("\"'")
    if label.startswith("x-"):
        label = label[2:]
    if label.startswith("iso-8859-6-"):  # -i / -e: bidi-handling variants, same bytes
        label = "iso-8859-6"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _is_text(text: str) -> bool:
    if "\x00" in text:
        return False
    return len(_CONTROL.findall(text)) <= _MAX_CONTROL_SHARE * len(text)


def _arabic_share(text: str) -> float:
    sample = text[:_SAMPLE_CHARS]
    letters = len(_LETTER.findall(sample))
    return len(_ARABIC_LETTER.findall(sample)) / letters if letters else 0.0


def _try(data: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        text = data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    return text if _is_text(text) else None


def _decoded(text: str, codec: str, method: str) -> Decoded:
    return Decoded(text, _REPORTED_NAMES.get(codec, codec), method)


def _labels(data: bytes, declared: str | None) -> list[tuple[str | None, str]]:
    xml = _XML_DECLARATION.match(data[:512])
    meta = _META_CHARSET.search(data[:_META_PRESCAN_BYTES])
    meta_codec = _codec(meta.group(1).decode("ascii")) if meta else None
    if meta_codec and meta_codec.startswith("utf-16"):
        meta_codec = "utf-8"  # a meta tag readable as ASCII cannot be in UTF-16 (WHATWG)
    return [
        (_codec(declared), "declared"),
        (_codec(xml.group(1).decode("ascii")) if xml else None, "xml-declaration"),
        (meta_codec, "meta"),
    ]


def _arabic_score(text: str) -> tuple[int, float]:
    """How Arabic a decoding reads: words with the article ال, minus impossible sequences
    (misplaced harakat, Arabic and Latin letters side by side); then the letter share.

    windows-1256 and iso-8859-6 read each other's bytes as other Arabic letters (and, for
    windows-1256, French ones), so the share alone cannot tell them apart; the definite
    article (bytes C7 E1 in windows-1256, C7 E4 in iso-8859-6) and those sequences can.
    """
    sample = text[:_SAMPLE_CHARS]
    impossible = len(_MISPLACED_HARAKA.findall(sample)) + len(_MIXED_SCRIPT.findall(sample))
    return len(_DEFINITE_ARTICLE.findall(sample)) - 2 * impossible, _arabic_share(sample)


def _detect_arabic(data: bytes) -> Decoded | None:
    """Best decoding among the Arabic candidates, charset-normalizer's ranking breaking ties."""
    ranked = [codecs.lookup(m.encoding).name for m in from_bytes(data, cp_isolation=_ARABIC_CANDIDATES)]
    candidates = ranked + [codec for codec in _ARABIC_CANDIDATES if codec not in ranked]
    plausible = []
    for rank, codec in enumerate(candidates):
        text = _try(data, codec)
        if text is not None and _arabic_share(text) >= _MIN_ARABIC_SHARE:
            plausible.append((_arabic_score(text), -rank, text, codec))
    if not plausible:
        return None
    _, _, text, codec = max(plausible)
    return _decoded(text, codec, "detected")


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode ``data`` (``declared``: the transport's charset label, if any); see the module doc."""
    for signature, kind in _BINARY_SIGNATURES:
        if data.startswith(signature):
            raise DecodeError(f"binary data ({kind} signature)")
    for bom, bom_codec in _BOMS:
        if data.startswith(bom) and (text := _try(data[len(bom) :], bom_codec)) is not None:
            return _decoded(text, bom_codec, "bom")

    data = data.removeprefix(codecs.BOM_UTF8)  # a UTF-8 BOM that did not decode above
    utf8 = _try(data, "utf-8")
    distrusted: Decoded | None = None
    for codec, method in _labels(data, declared):
        labelled = _try(data, codec)
        if codec is None or labelled is None:
            continue
        if utf8 is not None and not data.isascii() and not codec.startswith("utf"):
            continue
        if codec in _LATIN_CODECS and not data.isascii() and _arabic_share(labelled) == 0:
            distrusted = distrusted or _decoded(labelled, codec, method)
            continue
        return _decoded(labelled, codec, method)

    if utf8 is not None:
        return _decoded(utf8, "utf-8", "utf-8")
    damaged = data.decode("utf-8", errors="replace")
    if damaged.count("\ufffd") <= _MAX_DAMAGED_UTF8_SHARE * len(damaged) and _is_text(damaged):
        # UTF-8 with a few broken bytes (a truncated multi-byte character, transmission damage):
        # reading it in a legacy charset would turn every Arabic letter into mojibake.
        return _decoded(damaged, "utf-8", "utf-8-damaged")
    detected = _detect_arabic(data)
    if detected is not None:
        return detected
    if distrusted is not None:
        return distrusted
    western = _try(data, "cp1252")
    if western is not None:
        return _decoded(western, "cp1252", "detected")
    raise DecodeError(f"no text encoding fits these {len(data)} bytes")
