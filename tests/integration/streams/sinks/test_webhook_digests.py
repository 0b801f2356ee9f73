"""Digest deliveries: one per completed window and endpoint, filtered, sent once, none when
the window was empty; CloudEvents `io.newswatch.digest.v1`, Slack blocks and JSON."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio import Redis

from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from newswatch.streams.sinks.verify import verify_signature
from newswatch.streams.sinks.webhooks import WebhookDispatcher
from newswatch.streams.sinks.webhooks.digests import last_window
from tests.support.sinks import SECRET, alert, endpoint, make_settings
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.redis

DAY = 1_790_035_200.0  # a UTC midnight
NOW = DAY + 120  # the hour and the day before it have closed


async def test_digests_once_per_window_filtered(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    sink = RedisAlertSink(redis, load_settings(redis_url=redis_url))
    await sink.write_many(
        [
            alert(1, created_at=DAY - 1800, title="Late DeepSeek"),
            alert(2, created_at=DAY - 1700, entities=["qwen"], severity="critical"),
            alert(3, created_at=DAY - 7200, title="Earlier that day"),
            alert(4, created_at=DAY + 30, title="Next window"),
        ]
    )
    settings = make_settings(
        redis_url,
        [
            endpoint(receiver, "daily", digest="day", alerts=False),
            endpoint(receiver, "hourly", format="slack", digest="hour", entities=["qwen"]),
            endpoint(receiver, "quiet", format="json", digest="hour", entities=["kimi"]),
        ],
    )
    dispatcher = WebhookDispatcher(settings, redis)
    await dispatcher.start()
    try:
        assert (
            await dispatcher.submit(alert(9, entities=["qwen"])) == 1
        )  # not "daily": digests only
        assert await dispatcher.submit_digests(redis, NOW, "http://127.0.0.1:6066/") == 2
        assert await dispatcher.submit_digests(redis, NOW + 30, None) == 0  # sent once
        await receiver.wait_until(
            lambda: receiver.delivered("daily") and len(receiver.delivered("hourly")) == 2
        )
    finally:
        await dispatcher.stop(grace=1.0)
    assert not receiver.of("quiet")  # nothing new for it: nothing sent
    (daily,) = receiver.of("daily")
    assert verify_signature(SECRET, daily.headers, daily.body) == f"digest-day-{int(DAY - 86400)}"
    event = orjson.loads(daily.body)
    assert event["type"] == "io.newswatch.digest.v1" and event["specversion"] == "1.0"
    data = event["data"]
    assert data["total"] == 3 and data["period"] == "day"
    assert data["severities"] == {"critical": 1, "high": 2}
    assert data["alerts"][0]["severity"] == "critical"  # most severe first
    assert {e["name"] for e in data["entities"]} == {"DeepSeek", "Qwen"}
    assert data["alerts"][0]["page"].startswith("http://127.0.0.1:6066/alerts/")
    slack = [r for r in receiver.of("hourly") if r.id.startswith("digest-")]
    message = orjson.loads(slack[0].body)
    assert message["text"] == "Hourly newswatch digest: 1 alerts (1 critical)"
    assert message["blocks"][0]["type"] == "header"


def test_windows_are_aligned_and_closed() -> None:
    assert last_window("hour", DAY + 120) == (DAY - 3600, DAY)
    assert last_window("hour", DAY + 30) == (DAY - 7200, DAY - 3600)  # grace not over yet
    assert last_window("day", DAY + 3600) == (DAY - 86400, DAY)
