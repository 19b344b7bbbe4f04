"""Polling logic (transforms.feeds) against the local feed server: real HTTP, real articles, no Beam."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from tests.conftest import REPO
from tests.feedserver import FeedServer, load_articles
from transforms.feeds import (
    GROWTH,
    FeedsConfig,
    FeedSpec,
    FeedState,
    HostState,
    adapt_interval,
    after_items,
    after_response,
    conditional_headers,
    declared_interval,
    feeds_config_from_dict,
    host_wait,
    http_get,
    initial_state,
    item_key,
    load_feeds,
    retry_after_seconds,
)

TIMEOUT = (2.0, 5.0)
MAX_BYTES = 1_000_000


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers["User-Agent"] = FeedsConfig(feeds=(FeedSpec("http://x/"),)).user_agent
        yield http


def poll(session: requests.Session, spec: FeedSpec, state: FeedState, now: float, max_bytes: int = MAX_BYTES):
    result = http_get(session, spec.url, conditional_headers(state), TIMEOUT, max_bytes)
    return result, *after_response(spec, state, result, now, max_retry_after=3600)


# -- config ------------------------------------------------------------------------------------


def test_example_feeds_file_loads() -> None:
    config = load_feeds(REPO / "config" / "feeds.yaml")
    assert len(config.feeds) >= 3
    assert all(spec.url.startswith("https://") for spec in config.feeds)
    assert any(spec.fetch_full_page for spec in config.feeds)
    assert config.host_min_interval > 0 and "akhbar" in config.user_agent


def test_feeds_file_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        feeds_config_from_dict({"feeds": [{"url": "https://a.example/rss", "intervall": 5}]})
    with pytest.raises(ValueError, match="needs a url"):
        feeds_config_from_dict({"feeds": [{"name": "no url"}]})
    with pytest.raises(ValueError, match="http"):
        feeds_config_from_dict({"feeds": ["ftp://a.example/rss"]})
    with pytest.raises(ValueError, match="twice"):
        feeds_config_from_dict({"feeds": ["https://a.example/rss", "https://a.example/rss"]})
    with pytest.raises(ValueError, match="no feeds"):
        feeds_config_from_dict({"feeds": []})


def test_interval_only_feed_keeps_its_interval_inside_its_bounds() -> None:
    config = feeds_config_from_dict({"feeds": [{"url": "https://a.example/rss", "interval": 5}, "https://b.example/"]})
    fast, default = config.feeds
    assert (fast.min_interval, fast.interval) == (5, 5)
    assert default.interval == 300 and default.min_interval == 60
    assert set(config.by_host()) == {"a.example", "b.example"}


# -- conditional GET, body hash, politeness ----------------------------------------------------


def test_conditional_get_gets_304_and_sends_user_agent(server: FeedServer, session: requests.Session) -> None:
    url = server.add_feed("/honest.xml", load_articles(3))
    spec = FeedSpec(url, interval=10, min_interval=5, max_interval=60)
    state = initial_state(spec, now=0.0)
    first, state, response = poll(session, spec, state, now=0.0)
    assert response.outcome == "changed" and first.status == 200
    assert state.etag == '"v1"' and state.last_modified
    state, new = after_items(spec, state, ["a", "b", "c"], hint=None, now=0.0)
    assert new == 3 and state.interval == pytest.approx(10 / GROWTH)

    second, state, response = poll(session, spec, state, now=100.0)
    assert second.status == 304 and response.outcome == "not_modified"
    sent = server.requests_for("/honest.xml")[-1].headers
    assert sent["if-none-match"] == '"v1"' and "if-modified-since" in sent
    assert sent["user-agent"].startswith("akhbar-stream/")
    assert state.not_modified == 1 and state.polls == 2
    assert state.next_due == pytest.approx(100.0 + state.interval)

    server.add_items("/honest.xml", load_articles(1, offset=3))
    third, state, response = poll(session, spec, state, now=200.0)
    assert third.status == 200 and response.outcome == "changed" and state.etag == '"v2"'


def test_lying_etag_is_caught_by_the_body_hash(server: FeedServer, session: requests.Session) -> None:
    url = server.add_feed("/liar.xml", load_articles(3), etag="random")
    spec = FeedSpec(url, interval=10, min_interval=5, max_interval=60)
    _, state, response = poll(session, spec, initial_state(spec, 0.0), now=0.0)
    state, _ = after_items(spec, state, ["a", "b", "c"], hint=None, now=0.0)
    interval_before = state.interval
    result, state, response = poll(session, spec, state, now=50.0)
    assert result.status == 200  # the server ignored If-None-Match: new ETag, same bytes
    assert response.outcome == "unchanged" and response.body is None
    assert state.unchanged == 1
    assert state.interval == pytest.approx(min(60, interval_before * GROWTH))


def test_500_burst_backs_off_exponentially_then_recovers(server: FeedServer, session: requests.Session) -> None:
    url = server.add_feed("/flaky.xml", load_articles(2))
    server.fail("/flaky.xml", 500, count=3)
    spec = FeedSpec(url, interval=10, min_interval=10, max_interval=60, max_backoff=50)
    state = initial_state(spec, 0.0)
    delays = []
    now = 0.0
    for _ in range(3):
        result, state, response = poll(session, spec, state, now)
        assert result.status == 500 and response.outcome == "error" and response.error == "HTTP 500"
        delays.append(state.next_due - now)
        now = state.next_due
    assert delays == [20.0, 40.0, 50.0]  # interval * 2**errors, capped by max_backoff
    assert state.consecutive_errors == 3 and state.errors == 3
    result, state, response = poll(session, spec, state, now)
    assert response.outcome == "changed" and state.consecutive_errors == 0 and state.errors == 3


def test_429_retry_after_seconds_and_http_date(server: FeedServer, session: requests.Session) -> None:
    url = server.add_feed("/busy.xml", load_articles(2))
    spec = FeedSpec(url, interval=5, min_interval=5, max_interval=60)
    server.fail("/busy.xml", 429, retry_after="120")
    result, state, response = poll(session, spec, initial_state(spec, 0.0), now=1000.0)
    assert result.status == 429 and response.outcome == "throttled"
    assert response.retry_after == 120.0 and state.next_due == 1120.0

    later = datetime.now(UTC) + timedelta(seconds=30)
    server.fail("/busy.xml", 429, retry_after=format_datetime(later, usegmt=True))
    now = time.time()
    _, state, response = poll(session, spec, state, now=now)
    assert response.outcome == "throttled" and 28 <= response.retry_after <= 31

    server.fail("/busy.xml", 429)  # no Retry-After: ordinary backoff
    _, state, response = poll(session, spec, state, now=now)
    assert response.retry_after is None and state.next_due == now + 5 * 2**3


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7", 0.0) == 7.0
    assert retry_after_seconds(None, 0.0) is None
    assert retry_after_seconds("soon", 0.0) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 0.0) == pytest.approx(1445412480.0)


def test_size_cap_and_timeout_are_errors_not_exceptions(server: FeedServer, session: requests.Session) -> None:
    url = server.add_feed("/big.xml", load_articles(20))
    result = http_get(session, url, {}, TIMEOUT, max_bytes=4096)
    assert result.body is None and "larger than 4096" in result.error
    slow = server.add_feed("/slow.xml", load_articles(1), delay=2.0)
    started = time.monotonic()
    result = http_get(session, slow, {}, (1.0, 0.3), MAX_BYTES)
    assert result.status is None and "Timeout" in result.error
    assert time.monotonic() - started < 1.5
    refused = http_get(session, "http://127.0.0.1:9/feed.xml", {}, (1.0, 1.0), MAX_BYTES)
    assert refused.status is None and "ConnectionError" in refused.error


def test_host_wait_enforces_gap_and_retry_after() -> None:
    assert host_wait(HostState(), now=10.0, min_gap=2.0) == 0.0
    assert host_wait(HostState(last_request=9.5), now=10.0, min_gap=2.0) == pytest.approx(1.5)
    assert host_wait(HostState(last_request=5.0, blocked_until=40.0), now=10.0, min_gap=2.0) == 30.0


# -- adaptive interval -------------------------------------------------------------------------


def test_adaptive_interval_follows_the_share_of_new_items() -> None:
    assert adapt_interval(60, 1.0, 10, 600) == pytest.approx(40)  # all new: sooner
    assert adapt_interval(60, 0.5, 10, 600) == pytest.approx(60)
    assert adapt_interval(60, 0.0, 10, 600) == pytest.approx(90)  # all repeats: later
    assert adapt_interval(12, 1.0, 10, 600) == 10  # bounded below
    assert adapt_interval(500, 0.0, 10, 600) == 600  # and above


def test_seen_share_from_the_feeds_recent_items() -> None:
    spec = FeedSpec("https://a.example/rss", interval=60, min_interval=10, max_interval=600)
    state = initial_state(spec, 0.0)
    state, new = after_items(spec, state, ["a", "b", "c", "d"], hint=None, now=0.0)
    assert new == 4 and state.seen_share == 0.0 and state.interval == pytest.approx(40)
    state, new = after_items(spec, state, ["e", "a", "b", "c"], hint=None, now=40.0)
    assert new == 1 and state.seen_share == 0.75 and state.next_due == pytest.approx(40 + state.interval)
    assert state.interval == pytest.approx(40 * GROWTH**0.5)
    assert state.recent[-4:] == ("e", "a", "b", "c") and state.new_items == 5


def test_declared_ttl_and_update_period_raise_the_floor() -> None:
    assert declared_interval(b"<rss><channel><ttl>15</ttl></channel></rss>") == 900
    sy = b"<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>"
    assert declared_interval(sy) == 900
    assert declared_interval(b"<sy:updatePeriod>daily</sy:updatePeriod>") == 86400
    assert declared_interval(b"<rss><channel><title>x</title></channel></rss>") is None
    spec = FeedSpec("https://a.example/rss", interval=60, min_interval=30, max_interval=600)
    state, _ = after_items(spec, initial_state(spec, 0.0), ["a"], hint=900.0, now=0.0)
    assert state.interval == 900 and state.hint == 900
    ignoring = FeedSpec(
        "https://a.example/rss", interval=60, min_interval=30, max_interval=600, respect_feed_hints=False
    )
    state, _ = after_items(ignoring, initial_state(ignoring, 0.0), ["a"], hint=900.0, now=0.0)
    assert state.interval == 40


def test_item_key_prefers_canonical_url_then_feed_scoped_guid() -> None:
    assert item_key("https://f/rss", "https://a.example/1", "g1", "c1") == "url:https://a.example/1"
    assert item_key("https://f/rss", None, "g1", "c1") == "guid:https://f/rss|g1"
    assert item_key("https://f/rss", None, None, "c1") == "id:c1"
