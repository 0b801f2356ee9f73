"""Story alerts in the Redis sink: an update overwrites the alert key and adds a stream entry;
a replayed update changes nothing."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio import Redis

from newswatch.streams.records import Alert
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.redis_sink import RedisAlertSink

pytestmark = pytest.mark.redis

BASE = {"rule": "r", "severity": "high", "title": "t", "story_id": "st-1", "entities": ["zhipu"]}


def update(n: int, sources: int) -> Alert:
    return Alert(
        id=f"u{n}",
        kind="story_update",
        update_of="c1",
        sequence=n,
        sources=sources,
        reasons=[f"sources:{sources}"],
        **BASE,
    )


async def test_updates_keep_the_latest_state_and_one_entry_each(
    redis: Redis, redis_url: str
) -> None:
    sink = RedisAlertSink(redis, load_settings(redis_url=redis_url))
    created = Alert(id="c1", kind="story", sources=1, **BASE)
    assert await sink.write_many([created, update(1, 5)]) == [True, True]
    assert await sink.write_many([update(2, 10), created, update(1, 5)]) == [True, False, False]
    latest = orjson.loads(await redis.get(keys.alert_key("c1")))
    assert latest["id"] == "c1" and latest["kind"] == "story" and latest["update_of"] is None
    assert latest["sequence"] == 2 and latest["sources"] == 10
    entries = [f[b"id"].decode() for _, f in await redis.xrange(keys.STREAM)]
    assert entries == ["c1", "u1", "u2"]
    # Indexes and stats count the alert once.
    assert await redis.zrange(keys.INDEX_ALL, 0, -1) == [b"c1"]
    assert await redis.ttl(keys.alert_key("c1")) > 0
