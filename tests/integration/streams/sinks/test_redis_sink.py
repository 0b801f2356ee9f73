"""The Redis alert sink and the API queries, on a real redis-server."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from redis.asyncio import Redis

from newswatch.streams.records import Alert
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.api import (
    QueryError,
    alert_stats,
    alerts_response,
    query_alerts,
    stats_response,
)
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from tests.support.sinks import alert

pytestmark = pytest.mark.redis


@pytest.fixture
def sink(redis: Redis, redis_url: str) -> RedisAlertSink:
    return RedisAlertSink(redis, load_settings(redis_url=redis_url))


async def test_same_alert_twice_is_one_stream_entry(redis: Redis, sink: RedisAlertSink) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.LIVE_CHANNEL)
    await pubsub.get_message(timeout=1)  # subscribe confirmation
    first = alert(1)
    assert await sink.write(first) is True
    assert await sink.write(first) is False
    assert await sink.write(Alert.loads(first.dumps())) is False

    entries = await redis.xrange(keys.STREAM)
    assert len(entries) == 1
    _, fields = entries[0]
    assert fields[b"id"] == first.id.encode()
    assert Alert.loads(fields[b"data"]) == first

    live = [await pubsub.get_message(ignore_subscribe_messages=True, timeout=1) for _ in range(2)]
    assert live[0] is not None and Alert.loads(live[0]["data"]) == first
    assert live[1] is None  # the duplicate was not published
    await pubsub.aclose()
    assert await redis.zcard(keys.entity_index("deepseek")) == 1
    assert (await alert_stats(redis))["total"] == 1


async def test_concurrent_replays_write_once(redis: Redis, sink: RedisAlertSink) -> None:
    alerts = [alert(n) for n in range(50)]
    results = await asyncio.gather(*(sink.write(a) for a in alerts * 3))
    assert sum(results) == 50
    assert await redis.xlen(keys.STREAM) == 50


async def test_script_reloaded_after_script_flush(redis: Redis, sink: RedisAlertSink) -> None:
    await sink.write(alert(1))
    await redis.script_flush()
    assert await sink.write(alert(2)) is True
    assert await redis.xlen(keys.STREAM) == 2


async def test_stream_is_trimmed_approximately(redis: Redis, redis_url: str) -> None:
    settings = load_settings(redis_url=redis_url, alerts={"stream_maxlen": 100})
    sink = RedisAlertSink(redis, settings)
    for n in range(400):
        await sink.write(alert(n))
    assert 100 <= await redis.xlen(keys.STREAM) < 400
    assert await redis.zcard(keys.INDEX_ALL) == 100
    assert await sink.write(alert(0)) is False  # the dedup key outlives the trimmed entry


async def test_dedup_key_has_the_configured_ttl(redis: Redis, redis_url: str) -> None:
    settings = load_settings(redis_url=redis_url, alerts={"dedup_ttl_days": 2})
    await RedisAlertSink(redis, settings).write(alert(1))
    ttl = await redis.ttl(keys.alert_key(alert(1).id))
    assert 2 * 86_400 - 5 < ttl <= 2 * 86_400


async def test_query_alerts_filters(redis: Redis, sink: RedisAlertSink) -> None:
    base = 1_800_000_000.0
    await sink.write(alert(1, created_at=base, severity="low"))
    await sink.write(alert(2, created_at=base + 10, entities=["qwen"], themes=["model_release"]))
    await sink.write(alert(3, created_at=base + 20, severity="critical"))
    await sink.write(alert(4, created_at=base + 30, entities=["deepseek", "qwen"]))

    def ids(found: list[dict]) -> list[str]:
        return [a["article_id"] for a in found]

    assert ids(await query_alerts(redis)) == ["article-4", "article-3", "article-2", "article-1"]
    assert ids(await query_alerts(redis, entity="qwen")) == ["article-4", "article-2"]
    assert ids(await query_alerts(redis, theme="model_release")) == ["article-2"]
    assert ids(await query_alerts(redis, entity="qwen", theme="export_controls")) == ["article-4"]
    assert ids(await query_alerts(redis, severity="high")) == [
        "article-4",
        "article-3",
        "article-2",
    ]
    assert ids(await query_alerts(redis, severity="critical")) == ["article-3"]
    assert ids(await query_alerts(redis, since=base + 15)) == ["article-4", "article-3"]
    assert ids(await query_alerts(redis, limit=1)) == ["article-4"]
    assert await query_alerts(redis, entity="nobody") == []


async def test_query_scans_past_filtered_out_alerts(redis: Redis, sink: RedisAlertSink) -> None:
    await sink.write(alert(0, created_at=1_800_000_000.0, severity="critical"))
    for n in range(1, 700):
        await sink.write(alert(n, created_at=1_800_000_000.0 + n, severity="low"))
    found = await query_alerts(redis, severity="critical", limit=5)
    assert [a["article_id"] for a in found] == ["article-0"]


@pytest.mark.parametrize(
    "kwargs",
    [{"entity": "Bad Id"}, {"theme": "x;y"}, {"severity": "urgent"}, {"limit": 0}, {"limit": 5000}],
)
async def test_query_rejects_bad_input(redis: Redis, kwargs: dict) -> None:
    with pytest.raises(QueryError):
        await query_alerts(redis, **kwargs)


async def test_alert_stats_counts_the_last_24_hours(redis: Redis, sink: RedisAlertSink) -> None:
    now = 1_800_000_000.0
    await sink.write(alert(1, created_at=now - 60))
    await sink.write(alert(2, created_at=now - 3 * 3600, entities=["qwen", "deepseek"]))
    await sink.write(alert(3, created_at=now - 5 * 3600, themes=[], severity="low"))
    await sink.write(alert(4, created_at=now - 30 * 3600))  # outside the window
    stats = await alert_stats(redis, now=now)
    assert stats["total"] == 3
    assert stats["entities"] == {"deepseek": 3, "qwen": 1}
    assert stats["themes"] == {"export_controls": 2}
    assert stats["severities"] == {"high": 2, "low": 1}
    assert stats["rules"] == {"test_rule": 3}
    assert orjson.dumps(stats)  # JSON-serialisable as is


async def test_write_many_is_pipelined_and_idempotent(redis: Redis, sink: RedisAlertSink) -> None:
    assert await sink.write(alert(3)) is True
    await redis.script_flush()  # the pipeline must load the script itself
    results = await sink.write_many([alert(n) for n in range(6)] + [alert(0)])
    assert results == [True, True, True, False, True, True, False]
    assert await redis.xlen(keys.STREAM) == 6
    assert await sink.write_many([]) == []


async def test_http_responses(redis: Redis, sink: RedisAlertSink) -> None:
    await sink.write(alert(1))
    status, body = await alerts_response(redis, {"entity": "deepseek", "limit": "5"})
    assert status == 200 and body["count"] == 1 and body["alerts"][0]["id"] == alert(1).id
    status, body = await alerts_response(redis, {"severity": "urgent"})
    assert status == 400 and "severity" in body["error"]
    status, body = await stats_response(redis)
    assert status == 200 and body["entities"] == {"deepseek": 1}


async def test_a_deterministic_redis_error_is_raised_not_retried_forever(
    redis: Redis, sink: RedisAlertSink
) -> None:
    """A key of the wrong type (WRONGTYPE in the script) fails the same way every time: the
    write raises at once, and the worker's fallback writes the other alerts one by one."""
    from dataclasses import dataclass, field

    from redis.exceptions import ResponseError

    from newswatch.agents import pipeline

    await redis.set(keys.entity_index("poisoned"), "not a zset")
    good = [alert(1), alert(2)]
    poisoned = Alert(id="p", rule="r", severity="low", title="t", entities=["poisoned"])
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await asyncio.wait_for(sink.write_many([good[0], poisoned, good[1]]), timeout=30)

    @dataclass
    class Event:
        key: bytes
        message: object = field(default=None)

    dead: list[str] = []

    async def record(app: object, deps: object, event: Event, reason: str, error: object) -> None:
        dead.append(f"{event.key.decode()}:{reason}")

    original = pipeline._send_dead_letter
    pipeline._send_dead_letter = record
    try:
        decoded = [(Event(a.id.encode()), a) for a in (good[0], poisoned, good[1])]
        written = await pipeline._write_or_dead_letter(
            None, None, decoded, sink.write_many, "redis sink"
        )
    finally:
        pipeline._send_dead_letter = original
    assert [a.id for a in written] == [good[0].id, good[1].id]
    assert dead == ["p:sink"]
    ids = [fields[b"id"].decode() for _, fields in await redis.xrange(keys.STREAM)]
    assert good[0].id in ids and good[1].id in ids
