"""A local feed server for the streaming tests: real Arabic articles, served as feeds that change.

``FeedServer`` is a ``ThreadingHTTPServer`` on 127.0.0.1 (a free port). Each feed is a
``ServedFeed`` whose items the test edits while the server runs (``add_items``, ``repeat``),
and whose misbehaviour it scripts:

* ``etag="honest"`` answers ``If-None-Match`` with 304; ``"random"`` sends a new ETag on every
  response and never answers 304 (validators that lie, so only a body hash sees "unchanged");
  ``"none"`` sends no validators.
* ``fail(status, count, retry_after=None)`` queues error answers (a 500 burst, a 429 with
  ``Retry-After``); ``failing = 500`` makes a feed fail on every request.
* ``encoding="windows-1256"`` with ``declare=False`` serves bytes in windows-1256 with neither
  an XML encoding declaration nor a charset in Content-Type.
* ``delay=seconds`` answers slowly (for timeouts).
* ``raw=bytes`` serves those bytes (not a feed at all); ``after={n: action}`` runs
  ``action()`` once the feed has answered its n-th request (scripted changes for TestStream).
* ``summary_only=True`` serves only each article's first sentence, with the link pointing at
  ``http://localhost:<port>/article/<n>.html`` (this server), which serves the whole article as an HTML page.

Every request is recorded in ``requests`` (path, time, status, request headers).
"""

from __future__ import annotations

import html
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ARTICLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "arabic-news" / "articles.jsonl"


def load_articles(count: int, offset: int = 0, source: str | None = None) -> list[dict[str, Any]]:
    """``count`` real articles from the shared corpus, each with a distinct URL and body."""
    chosen: list[dict[str, Any]] = []
    urls: set[str] = set()
    bodies: set[str] = set()
    skipped = 0
    with ARTICLES.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if source and record["source"] != source:
                continue
            if record["url"] in urls or record["body"] in bodies or len(record["body"]) < 200:
                continue
            if skipped < offset:
                skipped += 1
                continue
            urls.add(record["url"])
            bodies.add(record["body"])
            chosen.append(record)
            if len(chosen) == count:
                break
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} articles available from {ARTICLES}")
    return chosen


@dataclass(frozen=True)
class Request:
    path: str
    at: float
    status: int
    headers: dict[str, str]


@dataclass
class ServedFeed:
    title: str
    items: list[dict[str, Any]] = field(default_factory=list)  # newest first
    etag: str = "honest"  # honest | random | none
    encoding: str = "utf-8"
    declare: bool = True  # XML declaration and Content-Type charset
    summary_only: bool = False
    ttl_minutes: int | None = None
    failing: int | None = None  # answer every request with this status
    delay: float = 0.0  # seconds to wait before answering (a slow server)
    raw: bytes | None = None  # serve these bytes instead of a rendered feed
    after: dict[int, Any] = field(default_factory=dict)  # request number -> action(feed), run after answering
    served: int = 0
    queued: list[tuple[int, str | None]] = field(default_factory=list)  # (status, Retry-After)
    version: int = 0
    changed_at: float = field(default_factory=time.time)

    def render(self, base_url: str) -> bytes:
        entries = []
        for item in self.items:
            # Pages are linked by host name: canonical URLs (transforms.urls) refuse bare IP hosts.
            page = f"{base_url.replace('//127.0.0.1:', '//localhost:')}/article/{item['_n']}.html"
            link = page if self.summary_only else item["url"]
            text = item["body"].split("\n")[0][:300] if self.summary_only else item["body"]
            published = datetime.fromisoformat(item["published"])
            entries.append(
                "<item>"
                f"<title>{html.escape(item['title'])}</title>"
                f"<link>{html.escape(link)}</link>"
                f'<guid isPermaLink="false">{html.escape(item["id"])}</guid>'
                f"<pubDate>{format_datetime(published)}</pubDate>"
                f"<description>{html.escape(text)}</description>"
                "</item>"
            )
        declaration = f'<?xml version="1.0" encoding="{self.encoding}"?>' if self.declare else '<?xml version="1.0"?>'
        ttl = f"<ttl>{self.ttl_minutes}</ttl>" if self.ttl_minutes else ""
        document = (
            f'{declaration}\n<rss version="2.0"><channel><title>{html.escape(self.title)}</title>'
            f"<link>{base_url}</link><description>akhbar test feed</description>{ttl}"
            + "".join(entries)
            + "</channel></rss>\n"
        )
        return document.encode(self.encoding)


class FeedServer:
    """The server and the feeds it serves; use as a context manager."""

    def __init__(self) -> None:
        self.feeds: dict[str, ServedFeed] = {}
        self.pages: dict[int, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._counter = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="feedserver", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- editing feeds (from the test thread) ---------------------------------------------------

    def add_feed(self, path: str, items: list[dict[str, Any]] = (), **options: Any) -> str:  # type: ignore[assignment]
        with self.lock:
            self.feeds[path] = ServedFeed(title=options.pop("title", path.strip("/")), **options)
        self.add_items(path, list(items))
        return self.url(path)

    def add_items(self, path: str, items: list[dict[str, Any]]) -> float:
        """Put ``items`` on top of the feed; returns the time they became visible."""
        with self.lock:
            feed = self.feeds[path]
            numbered = []
            for item in items:
                self._counter += 1
                numbered.append({**item, "_n": self._counter})
                self.pages[self._counter] = item
            feed.items[:0] = list(reversed(numbered))
            feed.version += 1
            feed.changed_at = time.time()
            return feed.changed_at

    def repeat(self, path: str, position: int) -> None:
        """Move an item already in the feed back to the top (a republished old item)."""
        with self.lock:
            feed = self.feeds[path]
            feed.items.insert(0, feed.items.pop(position))
            feed.version += 1

    def fail(self, path: str, status: int, count: int = 1, retry_after: str | None = None) -> None:
        with self.lock:
            self.feeds[path].queued.extend([(status, retry_after)] * count)

    def set_failing(self, path: str, status: int | None) -> None:
        with self.lock:
            self.feeds[path].failing = status

    def requests_for(self, path: str) -> list[Request]:
        with self.lock:
            return [request for request in self.requests if request.path == path]

    # -- serving --------------------------------------------------------------------------------

    def _answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            if path.startswith("/article/") and path.endswith(".html"):
                return self._page(path)
            feed = self.feeds.get(path)
            if feed is None:
                return 404, {"Content-Type": "text/plain"}, b"no such feed"
            if feed.queued:
                status, retry_after = feed.queued.pop(0)
                extra = {"Retry-After": retry_after} if retry_after else {}
                return status, {"Content-Type": "text/plain", **extra}, b"scripted failure"
            if feed.failing:
                return feed.failing, {"Content-Type": "text/plain"}, b"always failing"
            body = feed.raw if feed.raw is not None else feed.render(self.base_url)
            content_type = f"application/rss+xml; charset={feed.encoding}" if feed.declare else "application/rss+xml"
            out = {"Content-Type": content_type}
            honest_etag = f'"v{feed.version}"'
            last_modified = format_datetime(datetime.fromtimestamp(int(feed.changed_at), UTC), usegmt=True)
            if feed.etag == "honest":
                out["ETag"] = honest_etag
                out["Last-Modified"] = last_modified
                if headers.get("if-none-match") == honest_etag:
                    return 304, {"ETag": honest_etag}, b""
            elif feed.etag == "random":
                out["ETag"] = f'"{uuid.uuid4().hex}"'
            return 200, out, body

    def _page(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            item = self.pages[int(path.removeprefix("/article/").removesuffix(".html"))]
        except (KeyError, ValueError):
            return 404, {"Content-Type": "text/plain"}, b"no such article"
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in item["body"].split("\n") if p.strip())
        page = (
            '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
            f"<title>{html.escape(item['title'])}</title></head><body>"
            "<nav><a href='/'>الرئيسية</a> | <a href='/world'>العالم</a></nav>"
            f"<article><h1>{html.escape(item['title'])}</h1>{paragraphs}</article>"
            "<footer>جميع الحقوق محفوظة</footer></body></html>"
        )
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode("utf-8")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                with server.lock:
                    feed = server.feeds.get(self.path)
                    delay = feed.delay if feed else 0.0
                if delay:
                    time.sleep(delay)
                status, out, body = server._answer(self.path, headers)
                with server.lock:
                    server.requests.append(Request(self.path, time.time(), status, headers))
                    action = None
                    if feed is not None:
                        feed.served += 1
                        action = feed.after.get(feed.served)
                if action is not None:
                    action()
                self.send_response(status)
                for name, value in out.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client stopped reading (the size cap does exactly that)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
