"""The scheduler loop: due feeds, isolation of hostile hosts, feed-set changes, shutdown."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from newswatch.streams.poller.feeds import FeedSpec
from tests.support.feeds import gzip_bomb, rss

pytestmark = pytest.mark.redis

# Fixtures shared by the poller tests (a conftest.py here would clash with tests/conftest.py).


async def run_for(poller, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_hostile_feeds_never_stall_healthy_ones(feed_server, make_poller) -> None:
    feed_server.static("/ok.xml", rss([("o1", "ok")]))

    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def bomb(_: web.Request) -> web.Response:
        return web.Response(body=gzip_bomb(32 << 20), headers={"Content-Encoding": "gzip"})

    async def dribble(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(100):
            await response.write(b" ")
            await asyncio.sleep(0.3)
        return response

    feed_server.routes.update({"/hang": hang, "/bomb": bomb, "/drip": dribble})
    hostile_base = f"http://localhost:{feed_server.port}"  # another host name, same server
    hostile = [
        FeedSpec(id=f"hostile-{i}", url=f"{hostile_base}/{path}")
        for i, path in enumerate(["hang", "bomb", "drip"] * 4)
    ]
    healthy = [FeedSpec(id=f"ok-{i}", url=feed_server.url("/ok.xml"), interval=1) for i in range(3)]
    poller, published = await make_poller(
        hostile + healthy, concurrency=8, per_host=4, total_timeout=20.0, max_body_bytes=1 << 20
    )
    started = time.monotonic()
    await run_for(poller, 4.5)
    assert time.monotonic() - started < 15  # shutdown cancelled the hung fetches promptly
    # interval 1 s over 4.5 s: each healthy feed polled about 4 times despite 12 hostile feeds
    assert len(feed_server.hits("/ok.xml")) >= 2 * len(healthy)
    assert poller.states["ok-0"].error_count == 0
    assert {a.feed_id for a in published.published} == {"ok-0", "ok-1", "ok-2"}


async def test_a_poll_slower_than_its_interval_is_polled_again(feed_server, make_poller) -> None:
    """A poll that outlasts its interval schedules a next poll that is already due. The feed
    must have left the running set by then: the loop skips due entries of running feeds, so
    the feed would otherwise never be polled again (found by the chaos harness)."""
    feed_server.static("/slow.xml", rss([("s1", "slow")]))
    poller, _ = await make_poller([FeedSpec(id="slow", url=feed_server.url("/slow.xml"))])
    real_poll, real_schedule = poller.poll, poller._schedule
    scheduled_while_running: list[bool] = []

    async def slow_poll(spec):
        outcome = await real_poll(spec)
        await asyncio.sleep(1.3)  # as a publish waiting out a broker failover: past the 1 s
        return outcome

    def schedule(feed_id: str, due: float) -> None:
        scheduled_while_running.append(feed_id in poller._tasks)
        real_schedule(feed_id, due)

    poller.poll, poller._schedule = slow_poll, schedule
    await run_for(poller, 4.5)
    assert scheduled_while_running and not any(scheduled_while_running)
    assert len(feed_server.hits("/slow.xml")) >= 3  # about every 1.3 s, never dropped


async def test_every_feed_is_due_at_start_and_new_feeds_join(feed_server, make_poller) -> None:
    for i in range(5):
        feed_server.static(f"/f{i}.xml", rss([(f"g{i}", f"title {i}")]))
    feeds = [FeedSpec(id=f"f{i}", url=feed_server.url(f"/f{i}.xml")) for i in range(3)]
    poller, published = await make_poller(feeds, min_interval=30, default_interval=30)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    await asyncio.sleep(1.0)
    assert {a.feed_id for a in published.published} == {"f0", "f1", "f2"}
    more = [*feeds[1:], *(FeedSpec(id=f"f{i}", url=feed_server.url(f"/f{i}.xml")) for i in (3, 4))]
    await poller.replace_feeds(more)  # f0 removed, f3 and f4 added
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert {a.feed_id for a in published.published} == {"f0", "f1", "f2", "f3", "f4"}
    assert len(published.published) == 5  # nothing polled twice: intervals are 30 s


async def test_state_in_redis_decides_the_first_due_time(feed_server, make_poller) -> None:
    feed_server.static("/f.xml", rss([("g", "t")]))
    feed = FeedSpec(id="f", url=feed_server.url("/f.xml"))
    poller, _ = await make_poller([feed], min_interval=30, default_interval=30)
    await run_for(poller, 0.8)
    assert len(feed_server.hits("/f.xml")) == 1
    restarted, _ = await make_poller([feed], min_interval=30, default_interval=30)
    assert restarted._heap[0][0] > time.time() + 20  # not due again right after a restart
    await run_for(restarted, 0.8)
    assert len(feed_server.hits("/f.xml")) == 1


async def test_write_behind_state_reaches_redis(feed_server, make_poller) -> None:
    feed_server.static("/f.xml", rss([("g", "t")]))
    feed_server.status("/down.xml", 500)
    feeds = [
        FeedSpec(id="f", url=feed_server.url("/f.xml"), interval=1),
        FeedSpec(id="down", url=feed_server.url("/down.xml")),
    ]
    poller, _ = await make_poller(feeds)
    await run_for(poller, 2.5)
    assert len(feed_server.hits("/f.xml")) >= 2  # 200, then 304s (deferred saves)
    reloaded, _ = await make_poller(feeds)
    assert reloaded.states["f"].last_status == 304
    assert reloaded.states["down"].error_count >= 1
    assert reloaded.states["down"].error_kind == "http"
