"""A deterministic corpus of broken inputs derived from real feeds and articles.

Each case is a file an ingestion run may meet in the wild: truncated or malformed XML, entity
expansion attacks, undeclared legacy encodings, binary files named ``.xml``, empty and huge
bodies, impossible dates, non-Arabic text, duplicates, byte-level damage. Used by the fault
tests (every input must be accounted for) and kept out of the package.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + ']>\n<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>\n'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    '<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title><description>x</description></item>'
    "</channel></rss>\n"
)


def load_articles(corpus: Path, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    with corpus.open(encoding="utf-8") as handle:
        lines = handle.readlines()
    return [json.loads(line) for line in rng.sample(lines, count)]


def feed_xml(articles: list[dict], encoding: str = "utf-8", declare: bool = True, pub: str | None = None) -> str:
    items = []
    for a in articles:
        published = pub or (
            format_datetime(datetime.fromisoformat(a["published"]))
            if a.get("published") and "T" in a["published"]
            else ""
        )
        items.append(
            "<item>"
            f"<title>{escape(a['title'])}</title>"
            f"<link>{escape(a['url'] or 'https://example.org/' + a['id'])}</link>"
            f"<guid>{escape(a['id'])}</guid>"
            + (f"<pubDate>{published}</pubDate>" if published else "")
            + f"<description>{escape(a['body'])}</description></item>"
        )
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if declare else ""
    return f'{declaration}<rss version="2.0"><channel><title>fuzz</title>{"".join(items)}</channel></rss>\n'


Mutation = Callable[[random.Random, list[dict]], tuple[str, bytes]]


def truncated_xml(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    data = feed_xml(arts[:3]).encode()
    return ".xml", data[: rng.randrange(1, len(data))]


def flipped_bytes(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    data = bytearray(feed_xml(arts[:2]).encode())
    for _ in range(rng.randrange(1, 40)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return ".xml", bytes(data)


def undeclared_cp1256(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    return ".xml", feed_xml(arts[:2], declare=False).encode("cp1256", errors="replace")


def declared_legacy(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    encoding = rng.choice(["windows-1256", "iso-8859-6"])
    return ".xml", feed_xml(arts[:2], encoding=encoding).encode(encoding, errors="replace")


def utf16(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    return ".xml", feed_xml(arts[:1], encoding="utf-16").encode("utf-16")


def binary_named_xml(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    header = rng.choice([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"PK\x03\x04", b"\x00\x00\x01\x00"])
    return ".xml", header + bytes(rng.randrange(256) for _ in range(rng.randrange(10, 3000)))


def empty_file(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    return rng.choice([".xml", ".jsonl", ".txt"]), rng.choice([b"", b"\n\n", b"   ", b"\xef\xbb\xbf"])


def empty_bodies(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    items = [{**a, "body": "", "title": rng.choice(["", a["title"]])} for a in arts[:2]]
    return ".xml", feed_xml(items).encode()


def huge_body(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    record = {**arts[0], "body": arts[0]["body"] * (400_000 // max(len(arts[0]["body"]), 1) + 1)}
    return ".jsonl", json.dumps(record, ensure_ascii=False).encode()


def odd_dates(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    published = rng.choice(
        ["0000-01-01T00:00:00Z", "0001-01-01", "2999-12-31T00:00:00+00:00", "yesterday", "31/02/2020"]
    )
    records = [{**a, "published": published} for a in arts[:2]]
    return ".jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


def rss_future_date(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    return ".xml", feed_xml(arts[:1], pub="Fri, 31 Dec 2999 23:59:59 GMT").encode()


def non_arabic(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    text = rng.choice(
        [
            "The central bank raised interest rates on Tuesday, citing persistent inflation.",
            "Le gouvernement a annoncé mardi de nouvelles mesures pour soutenir l'emploi.",
            "Правительство объявило о новых мерах поддержки.",
        ]
    )
    return ".txt", f"title: foreign\n date 2024-03-05 {text}".encode()


def duplicated_items(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    return ".xml", feed_xml([arts[0], arts[0], arts[1]]).encode()


def broken_jsonl(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    lines = [json.dumps(a, ensure_ascii=False) for a in arts[:3]]
    victim = rng.randrange(len(lines))
    lines[victim] = lines[victim][: rng.randrange(1, len(lines[victim]))]
    lines.append(rng.choice(["[1, 2, 3]", "null", '"just a string"', "{}"]))
    return ".jsonl", "\n".join(lines).encode()


def entity_attack(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    return ".xml", rng.choice([BILLION_LAUGHS, EXTERNAL_ENTITY]).encode()


def html_in_seed(rng: random.Random, arts: list[dict]) -> tuple[str, bytes]:
    body = "".join(
        f"<p onclick='x()'>{escape(p)}</p><script>alert(1)</script>" for p in arts[0]["body"].split("\n")[:3]
    )
    return ".txt", f"title: {arts[0]['title']}\n date 2018-05-01 {body}".encode()


MUTATIONS: list[Mutation] = [
    truncated_xml,
    flipped_bytes,
    undeclared_cp1256,
    declared_legacy,
    utf16,
    binary_named_xml,
    empty_file,
    empty_bodies,
    odd_dates,
    rss_future_date,
    non_arabic,
    duplicated_items,
    broken_jsonl,
    entity_attack,
    html_in_seed,
]


def build(directory: Path, corpus: Path, count: int = 1000, seed: int = 20261125) -> list[Path]:
    """Write ``count`` broken inputs into ``directory`` (plus one huge body); return their paths."""
    rng = random.Random(seed)
    pool = load_articles(corpus, 200, seed)
    paths = []
    for number in range(count):
        mutation = MUTATIONS[number % len(MUTATIONS)]
        arts = rng.sample(pool, 3)
        suffix, data = mutation(rng, arts)
        path = directory / f"case-{number:04d}-{mutation.__name__}{suffix}"
        path.write_bytes(data)
        paths.append(path)
    suffix, data = huge_body(rng, pool[:1])
    path = directory / f"case-huge{suffix}"
    path.write_bytes(data)
    return [*paths, path]


def cases(directory: Path) -> Iterator[Path]:
    return iter(sorted(directory.glob("case-*")))
