"""Parsing inputs into Article records: seed files, JSON Lines, feeds."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLE_FEED, SEED
from transforms.records import Article, DeadLetter
from transforms.sources import (
    _letter_classes,
    article_id,
    bounded_published,
    language_of,
    parse_input,
    parse_published,
    parse_seed,
    sniff_format,
)

FETCHED = "2026-02-05T10:00:00+00:00"


def test_seed_header_becomes_published_date_and_leaves_the_body():
    article = parse_seed(SEED.read_text(encoding="utf-8"), str(SEED), FETCHED)
    assert article.published_at == "2026-02-04"
    assert article.date_source == "header"
    assert article.body.startswith("دعا الرئيس الصيني")
    assert "date" not in article.body[:20]
    assert article.title.startswith("دعا الرئيس الصيني، شي جين بينغ")
    assert article.url is None and article.id.startswith("c")
    assert article.language == "ar"


def test_seed_header_lines():
    text = (
        "title: عنوان الخبر\nurl: https://Example.com/a/1?utm_source=x#top\nsource: الجزيرة\n"
        " date 2025-01-02 نص الخبر هنا."
    )
    article = parse_seed(text, "x.txt", FETCHED)
    assert (article.title, article.source, article.published_at) == ("عنوان الخبر", "الجزيرة", "2025-01-02")
    assert article.url == "https://example.com/a/1"
    assert article.id == article_id("https://example.com/a/1", "", "")
    assert article.body == "نص الخبر هنا."


def test_id_is_stable_and_content_based_without_url():
    a = parse_seed(" date 2026-02-04 نص", "a.txt", FETCHED)
    b = parse_seed(" date 2026-02-04 نص", "b.txt", "2027-01-01T00:00:00+00:00")
    assert a.id == b.id


def test_jsonl_records_and_bad_lines():
    lines = [
        json.dumps(
            {
                "id": "ant-1",
                "source": "bbc-arabic",
                "url": "https://www.bbc.com/arabic/x",
                "title": "خبر",
                "published": "2018-05-01T01:01:41+00:00",
                "category": "culture",
                "body": "نص",
            },
            ensure_ascii=False,
        ),
        "{broken",
        json.dumps(
            {
                "id": "snn-1",
                "source": "was",
                "url": None,
                "title": "عنوان",
                "published": None,
                "body": " نص آخر",
            },
            ensure_ascii=False,
        ),
    ]
    items = list(parse_input("articles.jsonl", "\n".join(lines).encode(), FETCHED))
    assert [type(i) for i in items] == [Article, DeadLetter, Article]
    first, dead, third = items
    assert first.guid == "ant-1" and first.published_at == "2018-05-01T01:01:41+00:00" and first.category == "culture"
    assert dead.step == "parse" and dead.origin == "articles.jsonl:2"
    assert third.published_at is None and third.date_source is None


def test_feed_items_become_articles():
    items = list(parse_input(str(SAMPLE_FEED), SAMPLE_FEED.read_bytes(), FETCHED))
    assert len(items) == 11 and all(isinstance(i, Article) for i in items)
    assert items[0].id == items[-1].id  # the re-served entry has the same id
    assert all("utm_" not in (i.url or "") for i in items)
    assert all("<p>" not in i.body and i.body for i in items)
    assert all(i.published_at and i.date_source == "feed" for i in items)


def test_sniffing():
    assert sniff_format("a.jsonl", "") == "jsonl"
    assert sniff_format("feed", "\ufeff <?xml version='1.0'?><rss/>") == "feed"
    assert sniff_format("a.txt", " date 2026-01-01 نص") == "seed"


def test_published_dates_are_bounded():
    assert parse_published("Tue, 01 May 2018 01:01:41 +0400") == "2018-05-01T01:01:41+04:00"
    assert bounded_published("2030-01-01", FETCHED) == (
        FETCHED,
        "published_at 2030-01-01 is in the future: replaced by fetch time",
    )
    assert bounded_published("0001-01-01T00:00:00+00:00", FETCHED)[0] is None
    assert bounded_published("2026-02-05T12:00:00+00:00", FETCHED)[0] == "2026-02-05T12:00:00+00:00"


def test_binary_input_is_a_dead_letter():
    items = list(parse_input("image.xml", bytes(range(256)) * 20, FETCHED))
    assert len(items) == 1 and isinstance(items[0], DeadLetter) and items[0].step == "decode"


@pytest.mark.parametrize(
    ("codec", "declared"),
    [("cp1256", None), ("cp1256", "windows-1256"), ("iso-8859-6", "iso-8859-6"), ("utf-8", None)],
)
def test_feed_in_legacy_arabic_encodings(codec, declared):
    feed = SAMPLE_FEED.read_text(encoding="utf-8")
    if declared:
        feed = feed.replace('encoding="utf-8"', f'encoding="{declared}"')
    else:
        feed = feed.replace('<?xml version="1.0" encoding="utf-8"?>\n', "")
    expected = [a.title for a in parse_input("feed.xml", SAMPLE_FEED.read_bytes(), FETCHED)]
    items = list(parse_input("feed.xml", feed.encode(codec, errors="replace"), FETCHED))
    assert [a.title for a in items] == expected


def test_entity_expansion_is_refused():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        '<rss version="2.0"><channel><title>&b;</title><item><title>&b;</title></item></channel></rss>'
    )
    items = list(parse_input("bomb.xml", bomb.encode(), FETCHED))
    assert len(items) == 1 and isinstance(items[0], DeadLetter) and "unsafe XML" in items[0].error


@pytest.mark.parametrize("published", ["yesterday", "31/02/2020", "0000-01-01T00:00:00Z", "0001-01-01"])
def test_unreadable_or_impossible_dates_are_dropped_not_fatal(published):
    line = json.dumps({"source": "x", "title": "عنوان", "body": "نص", "published": published}, ensure_ascii=False)
    (article,) = parse_input("a.jsonl", line.encode(), FETCHED)
    assert isinstance(article, Article) and article.published_at is None and article.notes


def language_by_definition(text: str) -> str:
    """``language_of`` as the docstring defines it, one character at a time."""
    letters = [ch for ch in text[:4000] if ch.isalpha()]
    arabic = sum(1 for ch in letters if "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f")
    return "ar" if letters and arabic / len(letters) >= 0.5 else "und"


@given(
    st.text(
        alphabet=st.one_of(
            st.characters(min_codepoint=0x0600, max_codepoint=0x077F),
            st.characters(),  # any code point, surrogates and astral planes included
        ),
        max_size=80,
    )
)
@settings(max_examples=600)
def test_language_of_follows_its_definition(text: str) -> None:
    assert language_of(text) == language_by_definition(text)


def test_language_of_classifies_every_code_point_as_str_isalpha_does():
    every_code_point = "".join(map(chr, range(sys.maxunicode + 1)))
    letters = np.frombuffer(bytes(map(str.isalpha, every_code_point)), dtype=np.uint8)
    arabic_blocks = np.zeros(sys.maxunicode + 1, dtype=bool)
    arabic_blocks[0x0600:0x0700] = arabic_blocks[0x0750:0x0780] = True
    expected = np.where(letters & arabic_blocks, 2, letters)  # 0 not a letter, 1 a letter, 2 an Arabic letter
    classes = np.take(_letter_classes(), np.arange(sys.maxunicode + 1), mode="clip")
    assert np.array_equal(classes, expected)


def test_language_of_looks_at_the_first_4000_characters_only():
    assert language_of("x" * 4000 + "ب" * 5000) == "und"
    assert language_of("ب" * 2000 + "x" * 1999 + "y" * 5000) == "ar"
