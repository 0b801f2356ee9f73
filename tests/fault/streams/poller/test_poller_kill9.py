"""`kill -9` of a real `newswatch poll` mid-ingest, then a restart: nothing is lost, nothing is
published twice, and the restarted poller sends its stored validators again."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis
from aiohttp import web

from tests.support.daemon import Daemon, clean_environ
from tests.support.feeds import published_ids
from tests.support.http import serve_on_loopback

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.redis]

FEEDS = 20
ITEMS = 30
GROWTH = 0.25  # one new item per feed every 0.25 s until ITEMS


class GrowingFeeds:
    """Feeds whose item count grows with time; ETag per content, 304 when unchanged."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.requests: list[tuple[str, str | None]] = []  # (feed, If-None-Match)

    def count(self) -> int:
        return min(ITEMS, 1 + int((time.monotonic() - self.started) / GROWTH))

    async def handle(self, request: web.Request) -> web.Response:
        feed = request.match_info["feed"]
        self.requests.append((feed, request.headers.get("If-None-Match")))
        n = self.count()
        etag = f'"{feed}-{n}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        items = "".join(
            f"<item><title>{feed} item {k}</title><link>http://site.example/{feed}/{k}</link>"
            f"<guid>{feed}-{k}</guid><description>text {k}</description></item>"
            for k in range(n - 1, -1, -1)
        )
        body = f'<rss version="2.0"><channel><title>{feed}</title>{items}</channel></rss>'
        return web.Response(text=body, content_type="application/rss+xml", headers={"ETag": etag})


async def test_kill_9_and_restart(tansu, redis_url, tmp_path: Path) -> None:
    server = GrowingFeeds()
    app = web.Application()
    app.router.add_get("/{feed}.xml", server.handle)
    runner, port = await serve_on_loopback(app)

    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{id: f{i}, url: 'http://127.0.0.1:{port}/f{i}.xml'}}\n" for i in range(FEEDS)
        )
    )
    prefix = "kill9-" + uuid.uuid4().hex[:8]
    env = {
        **clean_environ(),
        "NEWSWATCH_KAFKA_SERVERS": tansu.bootstrap,
        "NEWSWATCH_REDIS_URL": redis_url,
        "NEWSWATCH_FEEDS_FILE": str(feeds_file),
        "NEWSWATCH_TOPIC_PREFIX": prefix,
        "NEWSWATCH_TOPIC_PARTITIONS": "2",
        "NEWSWATCH_POLLER__MIN_INTERVAL": "0.3",
        "NEWSWATCH_POLLER__DEFAULT_INTERVAL": "0.3",
        "NEWSWATCH_POLLER__MAX_INTERVAL": "0.5",
        "NEWSWATCH_POLLER__START_JITTER": "0",
        "NEWSWATCH_POLLER__PARSE_WORKERS": "1",
        "NEWSWATCH_POLLER__ALLOWED_NETWORKS": "127.0.0.1/32",  # SSRF guard: the feed server only
    }
    poller = Daemon("poller", "poll", env, tmp_path)
    try:
        poller.start()
        await poller.wait_ready(60)
        # Mid-ingest (items keep appearing until ITEMS * GROWTH s): once some feed state is
        # saved, kill at a moment the poller is busy publishing and committing.
        probe = redis.Redis.from_url(redis_url)
        for _ in range(200):
            if probe.exists(*(f"newswatch:poll:feed:f{i}" for i in range(FEEDS))) >= FEEDS // 2:
                break
            await asyncio.sleep(0.1)
        probe.close()
        await asyncio.sleep(random.uniform(0.0, 0.5))
        poller.kill9()
        killed_at = len(server.requests)

        client = redis.Redis.from_url(redis_url)
        etags = {}
        for i in range(FEEDS):
            etag = client.hget(f"newswatch:poll:feed:f{i}", "etag")
            if etag:
                etags[f"f{i}"] = etag.decode()
        client.close()
        assert etags, "no feed state was saved before the kill"

        poller.start()
        await poller.wait_ready(60)
        await asyncio.sleep(max(0.0, ITEMS * GROWTH - (time.monotonic() - server.started)) + 3)
        assert poller.stop(30) == 0, poller.tail()
    finally:
        if poller.running():
            poller.kill9()
        await runner.cleanup()

    # The restarted poller sent the validators it had stored, for every feed that had some.
    first_after: dict[str, str | None] = {}
    for feed, sent in server.requests[killed_at:]:
        first_after.setdefault(feed, sent)
    for feed, etag in etags.items():
        assert first_after[feed] == etag, (feed, first_after[feed], etag)

    ids = await published_ids(tansu.bootstrap, f"{prefix}.articles.v1")
    counts = Counter(ids)
    assert [i for i, c in counts.items() if c > 1] == []  # nothing published twice
    expected = {
        f"f{i}:" + hashlib.sha1(f"g:f{i}-{k}".encode()).hexdigest()[:16]
        for i in range(FEEDS)
        for k in range(ITEMS)
    }
    assert set(ids) - expected == set(), sorted(set(ids) - expected)[:5]
    assert expected - set(ids) == set(), sorted(expected - set(ids))[:5]  # nothing lost
