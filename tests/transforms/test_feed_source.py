"""Streaming logic of the feed source with TestStream: polls keyed by host, new-item detection.

The ticks come from a TestStream (the real periodic source runs in the end-to-end test on
Prism); the polls go over real HTTP to the local feed server, which changes its feeds after
given requests, so each tick sees a scripted state of the feeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from tests.feedserver import FeedServer, load_articles
from transforms.feed_source import DetectNewItems, PollFeeds, health_document, page_candidates
from transforms.feeds import FeedsConfig, FeedSpec, FeedState, HttpResult, Response, feeds_config_from_dict
from transforms.records import Article


def streaming_pipeline() -> TestPipeline:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return TestPipeline(options=options)


def ticks(count: int) -> TestStream:
    stream = TestStream()
    for tick in range(count):
        stream = stream.add_elements([TimestampedValue(float(tick), tick)]).advance_watermark_to(tick + 1)
    return stream.advance_watermark_to_infinity()


def article(origin: str, url: str | None, title: str, body: str, guid: str | None = None) -> Article:
    return Article(
        id=f"u-{url or title}",
        source="test",
        title=title,
        body=body,
        origin=origin,
        fetched_at="2026-11-25T08:00:00+00:00",
        url=url,
        guid=guid,
    )


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def fast(url: str, **extra: object) -> dict[str, object]:
    """A feed due at every tick (tiny intervals), so each TestStream tick polls it."""
    return {"url": url, "interval": 0.001, "min_interval": 0.001, "max_interval": 0.001, "max_backoff": 0.001, **extra}


def test_polls_follow_the_scripted_feeds(server: FeedServer) -> None:
    corpus = load_articles(12)
    news = server.add_feed("/news.xml", corpus[:3])
    server.feeds["/news.xml"].after[1] = lambda: server.add_items("/news.xml", corpus[3:5])
    liar = server.add_feed("/liar.xml", corpus[5:7], etag="random")
    legacy = server.add_feed("/cp1256.xml", corpus[7:9], encoding="windows-1256", declare=False)
    broken = server.add_feed("/broken.xml", corpus[9:10])
    server.fail("/broken.xml", 500, count=1)
    garbage = server.add_feed("/garbage.xml", raw=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR binary, not a feed")
    # A second host (same server): its 429 blocks only this host, for 60 s.
    busy = server.add_feed("/busy.xml", corpus[10:12]).replace("127.0.0.1", "localhost")
    server.fail("/busy.xml", 429, retry_after="60")
    config = feeds_config_from_dict(
        {
            "host_min_interval": 0,
            "feeds": [
                fast(news, name="news"),
                fast(liar, name="liar"),
                fast(legacy, name="legacy"),
                fast(broken, name="broken"),
                fast(garbage, name="garbage"),
                fast(busy, name="busy"),
            ],
        }
    )

    with streaming_pipeline() as p:
        polled = p | ticks(3) | PollFeeds(config)
        outcomes = polled["health"] | "Outcome" >> beam.Map(lambda doc: (doc["feed"], doc["polls"], doc["outcome"]))
        assert_that(
            outcomes,
            equal_to(
                [
                    ("news", 1, "changed"),
                    ("news", 2, "changed"),
                    ("news", 3, "not_modified"),
                    ("liar", 1, "changed"),
                    ("liar", 2, "unchanged"),
                    ("liar", 3, "unchanged"),
                    ("legacy", 1, "changed"),
                    ("legacy", 2, "not_modified"),
                    ("legacy", 3, "not_modified"),
                    ("broken", 1, "error"),
                    ("broken", 2, "changed"),
                    ("broken", 3, "not_modified"),
                    ("garbage", 1, "changed"),
                    ("garbage", 2, "not_modified"),
                    ("garbage", 3, "not_modified"),
                    ("busy", 1, "throttled"),
                ]
            ),
            label="OutcomesPerPoll",
        )
        new_counts = polled["health"] | "NewCounts" >> beam.Map(lambda d: (d["feed"], d["polls"], d["new_items"]))
        assert_that(
            new_counts | "OnlyNews" >> beam.Filter(lambda row: row[0] == "news"),
            equal_to([("news", 1, 3), ("news", 2, 2), ("news", 3, 0)]),
            label="NewItemsPerPoll",
        )
        titles = polled["articles"] | "Titles" >> beam.Map(lambda a: (a.source, a.title))
        expected_titles = (
            [("news", a["title"]) for a in corpus[:3]] * 2  # the first body, then the body with 2 more items
            + [("news", a["title"]) for a in corpus[3:5]]
            + [("liar", a["title"]) for a in corpus[5:7]]
            + [("legacy", a["title"]) for a in corpus[7:9]]  # windows-1256 without any declaration
            + [("broken", a["title"]) for a in corpus[9:10]]
        )
        assert_that(titles, equal_to(expected_titles), label="EveryItemOfChangedBodies")
        dead = polled["dead"] | "DeadSteps" >> beam.Map(lambda d: (d.step, d.origin))
        assert_that(dead, equal_to([("decode", garbage)]), label="BinaryBodyIsDeadLettered")

    busy_requests = server.requests_for("/busy.xml")
    assert [r.status for r in busy_requests] == [429]  # Retry-After honoured: not asked again
    news_requests = server.requests_for("/news.xml")
    assert [r.status for r in news_requests] == [200, 200, 304]
    assert news_requests[2].headers["if-none-match"] == '"v2"'


def test_new_item_detection_keeps_first_sight_and_changed_text() -> None:
    feed = "http://feeds.example/rss"
    first = [
        article(f"{feed}#0", "https://a.example/1", "أول", "نص أول"),
        article(f"{feed}#1", "https://a.example/2", "ثان", "نص ثان"),
    ]
    again = [*first, article(f"{feed}#0", "https://a.example/3", "ثالث", "نص ثالث")]
    edited = [article(f"{feed}#0", "https://a.example/1", "أول", "نص أول مصحح"), again[2]]
    guid_only = [
        article(f"{feed}#0", None, "بلا رابط", "نص", guid="g-1"),
        article("http://other.example/rss#0", None, "بلا رابط", "نص", guid="g-1"),
    ]
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements(first)
        .advance_watermark_to(10)
        .add_elements(again)
        .advance_watermark_to(20)
        .add_elements(edited)
        .advance_watermark_to(30)
        .add_elements(guid_only + guid_only)
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        new = p | stream | DetectNewItems() | beam.Map(lambda a: (a.url or a.origin, a.body))
        assert_that(
            new,
            equal_to(
                [
                    ("https://a.example/1", "نص أول"),
                    ("https://a.example/2", "نص ثان"),
                    ("https://a.example/3", "نص ثالث"),
                    ("https://a.example/1", "نص أول مصحح"),  # changed text: emitted again (the sink updates it)
                    (f"{feed}#0", "نص"),
                    ("http://other.example/rss#0", "نص"),  # guids are scoped to their feed
                ]
            ),
        )


def test_seen_state_expires_after_the_retention_since_the_last_sighting() -> None:
    feed = "http://feeds.example/rss"
    stays = article(f"{feed}#0", "https://a.example/stays", "باق", "خبر باق في الخلاصة")
    gone = article(f"{feed}#1", "https://a.example/gone", "غائب", "خبر خرج من الخلاصة")

    def at(moment: int, *articles: Article) -> list[TimestampedValue]:
        return [TimestampedValue(a, moment) for a in articles]

    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements(at(0, stays, gone))
        .advance_watermark_to(600)
        .add_elements(at(600, stays))
        .advance_watermark_to(900)  # gone's last sighting: 0
        .add_elements(at(900, stays))
        .advance_watermark_to(1500)  # gone expired at 1000
        .add_elements(at(1500, stays, gone))
        .advance_watermark_to_infinity()  # stays lives until 1900
    )
    with streaming_pipeline() as p:
        new = p | stream | DetectNewItems(retention=1000) | beam.Map(lambda a: a.url)
        assert_that(new, equal_to(["https://a.example/stays", "https://a.example/gone", "https://a.example/gone"]))


def test_seen_retention_must_be_positive() -> None:
    with pytest.raises(ValueError, match="seen_retention"):
        feeds_config_from_dict({"feeds": ["http://feeds.example/rss"], "seen_retention": 0})
    assert feeds_config_from_dict({"feeds": ["http://feeds.example/rss"], "seen_retention": 60}).seen_retention == 60


def test_health_document_has_exactly_the_mapped_fields() -> None:
    import json

    from config import config_path

    mapping = json.loads(config_path("feed_health_mapping.json").read_text())
    spec = FeedSpec("https://a.example/rss", name="a")
    state = FeedState(interval=60.0, polls=4, errors=1, consecutive_errors=0)
    doc = health_document(
        spec,
        state,
        HttpResult(200, elapsed_ms=12.5),
        Response("changed"),
        1_800_000_000.0,
        5,
        2,
        "2027-01-15T07:59:00+00:00",
    )
    assert set(doc) == set(mapping["properties"])
    assert doc["freshness_s"] == 60.0 and doc["seen_items"] == 3 and doc["host"] == "a.example"


def test_page_candidates_try_http_when_the_feed_is_http() -> None:
    assert page_candidates("https://a.example/x", "http://a.example/rss") == [
        "https://a.example/x",
        "http://a.example/x",
    ]
    assert page_candidates("https://a.example/x", "https://a.example/rss") == ["https://a.example/x"]


def test_full_page_fetch_replaces_the_summary(server: FeedServer) -> None:
    from transforms.feed_source import _FetchFullPage
    from transforms.sources import parse_input

    corpus = load_articles(2, offset=20)
    url = server.add_feed("/summaries.xml", corpus, summary_only=True)
    config = FeedsConfig(feeds=(FeedSpec(url, fetch_full_page=True),), host_min_interval=0.05)
    body = server.feeds["/summaries.xml"].render(server.base_url)
    summaries = [a for a in parse_input(url, body, "2026-11-25T08:00:00+00:00") if isinstance(a, Article)]
    assert len(summaries) == 2 and all(len(a.body) <= 300 for a in summaries)
    fetch = _FetchFullPage(config)
    fetch.setup()
    try:
        full = [out for a in summaries for out in fetch.process(a)]
    finally:
        fetch.teardown()
    by_title = {a["title"]: a for a in corpus}
    for item in full:
        original = by_title[item.title]["body"]
        assert len(item.body) > 300 and item.body.split("\n\n")[0] == original.split("\n")[0].strip()
        assert "الرئيسية" not in item.body and "جميع الحقوق محفوظة" not in item.body  # page chrome left out
        assert any(note.startswith("body extracted from http://localhost:") for note in item.notes)
    assert Counter(r.status for r in server.requests_for("/article/1.html")) == Counter({200: 1})
