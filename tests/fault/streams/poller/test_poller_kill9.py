"""`kill -9` of a real `newswatch poll` mid-ingest, then a restart: nothing is lost, nothing is
published twice, and the restarted poller sends its stored validators again."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
import redis
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from newswatch.streams.embedded import free_port
from newswatch.streams.records import Article

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


def start_poller(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "newswatch.streams.cli", "poll"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("poller not ready:\n" + log.read_text()[-3000:])


async def test_kill_9_and_restart(tansu, redis_url, tmp_path: Path) -> None:
    server = GrowingFeeds()
    app = web.Application()
    app.router.add_get("/{feed}.xml", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{id: f{i}, url: 'http://127.0.0.1:{port}/f{i}.xml'}}\n" for i in range(FEEDS)
        )
    )
    prefix = "kill9-" + uuid.uuid4().hex[:8]
    web_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")},
        "NEWSWATCH_KAFKA_SERVERS": tansu.bootstrap,
        "NEWSWATCH_REDIS_URL": redis_url,
        "NEWSWATCH_FEEDS_FILE": str(feeds_file),
        "NEWSWATCH_TOPIC_PREFIX": prefix,
        "NEWSWATCH_TOPIC_PARTITIONS": "2",
        "NEWSWATCH_WEB_PORT": str(web_port),
        "NEWSWATCH_POLLER__MIN_INTERVAL": "0.3",
        "NEWSWATCH_POLLER__DEFAULT_INTERVAL": "0.3",
        "NEWSWATCH_POLLER__MAX_INTERVAL": "0.5",
        "NEWSWATCH_POLLER__START_JITTER": "0",
        "NEWSWATCH_POLLER__PARSE_WORKERS": "1",
        "NEWSWATCH_POLLER__ALLOWED_NETWORKS": "127.0.0.1/32",  # SSRF guard: the feed server only
    }
    log = tmp_path / "poller.log"
    try:
        proc = start_poller(env, log)
        await wait_ready(web_port, proc, log)
        # Mid-ingest (items keep appearing until ITEMS * GROWTH s): once some feed state is
        # saved, kill at a moment the poller is busy publishing and committing.
        probe = redis.Redis.from_url(redis_url)
        for _ in range(200):
            if probe.exists(*(f"newswatch:poll:feed:f{i}" for i in range(FEEDS))) >= FEEDS // 2:
                break
            await asyncio.sleep(0.1)
        probe.close()
        await asyncio.sleep(random.uniform(0.0, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        killed_at = len(server.requests)

        client = redis.Redis.from_url(redis_url)
        etags = {}
        for i in range(FEEDS):
            etag = client.hget(f"newswatch:poll:feed:f{i}", "etag")
            if etag:
                etags[f"f{i}"] = etag.decode()
        client.close()
        assert etags, "no feed state was saved before the kill"

        proc = start_poller(env, log)
        await wait_ready(web_port, proc, log)
        await asyncio.sleep(max(0.0, ITEMS * GROWTH - (time.monotonic() - server.started)) + 3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        await runner.cleanup()

    # The restarted poller sent the validators it had stored, for every feed that had some.
    first_after: dict[str, str | None] = {}
    for feed, sent in server.requests[killed_at:]:
        first_after.setdefault(feed, sent)
    for feed, etag in etags.items():
        assert first_after[feed] == etag, (feed, first_after[feed], etag)

    ids = await read_ids(tansu.bootstrap, f"{prefix}.articles.v1")
    counts = Counter(ids)
    assert [i for i, c in counts.items() if c > 1] == []  # nothing published twice
    expected = {
        f"f{i}:" + hashlib.sha1(f"g:f{i}-{k}".encode()).hexdigest()[:16]
        for i in range(FEEDS)
        for k in range(ITEMS)
    }
    assert set(ids) - expected == set(), sorted(set(ids) - expected)[:5]
    assert expected - set(ids) == set(), sorted(expected - set(ids))[:5]  # nothing lost


async def read_ids(bootstrap: str, topic: str) -> list[str]:
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
                assert record.key == article.id.encode()
                ids.append(article.id)
    finally:
        await consumer.stop()
    return ids
