"""Feed documents, a local feed server and poller builders for the poller tests.

The fixtures `feed_server` and `make_poller` are registered for tests/integration/streams/poller
by its conftest.py."""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate

import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.fetcher import FetchResult, make_session
from newswatch.streams.poller.parsepool import bound_parse
from newswatch.streams.poller.parser import ParsedFeed, parse_feed
from newswatch.streams.poller.scheduler import Poller
from newswatch.streams.poller.state import StateStore, connect
from newswatch.streams.records import Article
from newswatch.streams.settings import PollerSettings
from tests.support.http import serve_on_loopback

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def rss(items: list[tuple[str, str]], title: str = "Test feed", extra: str = "") -> bytes:
    """An RSS 2.0 document; items are (guid, title), newest first, one hour apart."""
    base = 1_780_000_000
    parts = [
        f"<item><title>{t}</title><link>http://site.example/{g}</link><guid>{g}</guid>"
        f"<pubDate>{formatdate(base - i * 3600, usegmt=True)}</pubDate>"
        f"<description>Body of {t}</description></item>"
        for i, (g, t) in enumerate(items)
    ]
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{extra}<rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://site.example/</link>{''.join(parts)}"
        "</channel></rss>"
    ).encode()


@dataclass
class FeedServer:
    """Routes are set per test; every request is recorded (path, headers)."""

    port: int = 0
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def static(self, path: str, body: bytes, etag: str | None = None, **headers: str) -> None:
        """A feed that honours If-None-Match / If-Modified-Since with 304."""
        etag = etag or '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
        last_modified = "Tue, 10 Jun 2025 08:00:00 GMT"

        async def handler(request: web.Request) -> web.Response:
            if request.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in request.headers
                and request.headers.get("If-Modified-Since") == last_modified
            ):
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(
                body=body,
                content_type="application/rss+xml",
                headers={"ETag": etag, "Last-Modified": last_modified, **headers},
            )

        self.routes[path] = handler

    def status(self, path: str, status: int, **headers: str) -> None:
        async def handler(_: web.Request) -> web.Response:
            return web.Response(status=status, headers=headers)

        self.routes[path] = handler

    def redirect(self, path: str, target: str, status: int = 301) -> None:
        self.status(path, status, Location=target)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404)
        return await handler(request)


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._dispatch)
    runner, server.port = await serve_on_loopback(app)
    yield server
    await runner.cleanup()


def gzip_bomb(expanded: int) -> bytes:
    """A gzip member that expands to `expanded` zero bytes (~1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    parts = [compressor.compress(chunk) for _ in range(expanded >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


class RecordingPublisher:
    """Stands in for Kafka where a test is about fetching; can be told to fail."""

    def __init__(self) -> None:
        self.published: list[Article] = []
        self.fail = False

    async def publish(self, articles: list[Article]) -> None:
        from newswatch.streams.poller.publisher import PublishError

        if self.fail and articles:
            raise PublishError("broker down (test)")
        self.published.extend(articles)


async def inline_parse(body: bytes, spec: FeedSpec, result: FetchResult, now: float) -> ParsedFeed:
    return await asyncio.to_thread(bound_parse(parse_feed, body, spec, result, now))


@pytest.fixture
async def make_poller(redis_url: str):
    """Build Pollers on a clean Redis with small, test-friendly limits."""
    made: list[tuple[Poller, object]] = []

    async def build(
        feeds: list[FeedSpec], parse=inline_parse, **overrides
    ) -> tuple[Poller, RecordingPublisher]:
        options = {
            "min_interval": 1.0,
            "default_interval": 1.0,
            "max_interval": 60.0,
            "total_timeout": 3.0,
            "connect_timeout": 1.0,
            "max_body_bytes": 1 << 20,
            "start_jitter": 0.0,
            "allowed_networks": ["127.0.0.1/32"],  # the SSRF guard allows the feed server only
            **overrides,
        }
        settings = PollerSettings(**options)
        client = connect(redis_url)
        publisher = RecordingPublisher()
        poller = Poller(
            settings,
            feeds,
            StateStore(client, 3600),
            publisher,
            make_session(settings),
            parse,
        )
        await poller.load_state()
        made.append((poller, client))
        return poller, publisher

    yield build
    for poller, client in made:
        await poller.session.close()
        await client.aclose()


async def published_ids(bootstrap: str, topic: str) -> list[str]:
    """The ids of every article on `topic`, in order, duplicates kept; each record must be keyed
    by its article id. Reads until the topic has been quiet for three seconds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    ids: list[str] = []
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            records = [r for rs in batch.values() for r in rs]
            idle = 0 if records else idle + 1
            for record in records:
                article = Article.loads(record.value)
                assert record.key == article.id.encode(), (record.key, article.id)
                ids.append(article.id)
    finally:
        await consumer.stop()
    return ids
