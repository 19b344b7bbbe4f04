"""Build samples/feed.xml, the bundled RSS 2.0 sample, from real articles of the shared corpus.

Deterministic: the first articles (in file order) of each ANT source that mention Russia or
China, plus one item served twice, as feeds do. Run from the repo root:
    .venv/bin/python scripts/make_sample_feed.py ../shared/data/arabic-news/articles.jsonl
"""

import html
import json
import sys
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

PER_SOURCE = 2
KEYWORDS = ("بوتين", "روسيا", "الصين")


def pick(path: Path) -> list[dict]:
    chosen: dict[str, list[dict]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            article = json.loads(line)
            if not article["id"].startswith("ant-") or not any(k in article["body"] for k in KEYWORDS):
                continue
            bucket = chosen.setdefault(article["source"], [])
            if len(bucket) < PER_SOURCE and len(article["body"]) < 2500:
                bucket.append(article)
    items = [a for source in sorted(chosen) for a in chosen[source]]
    return [*items, items[0]]  # the first item again: a feed re-serving an entry


def item_xml(article: dict) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in article["body"].split("\n") if p.strip())
    published = format_datetime(datetime.fromisoformat(article["published"]))
    return (
        "    <item>\n"
        f"      <title>{html.escape(article['title'])}</title>\n"
        f"      <link>{html.escape(article['url'])}?utm_source=rss&amp;utm_medium=feed</link>\n"
        f'      <guid isPermaLink="false">{article["id"]}</guid>\n'
        f"      <pubDate>{published}</pubDate>\n"
        f'      <source url="{html.escape(article["url"])}">{article["source"]}</source>\n'
        f"      <description><![CDATA[{paragraphs}]]></description>\n"
        "    </item>\n"
    )


def main(corpus: str) -> None:
    items = "".join(item_xml(a) for a in pick(Path(corpus)))
    feed = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0">\n  <channel>\n'
        "    <title>akhbar sample feed</title>\n    <link>https://example.org/akhbar-sample</link>\n"
        "    <description>Real articles from the ANT corpus (see samples/README.md)</description>\n"
        f"    <language>ar</language>\n{items}  </channel>\n</rss>\n"
    )
    Path("samples/feed.xml").write_text(feed, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
