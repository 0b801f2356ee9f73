"""A story muted on the newsroom page sends nothing to webhooks — not its alert, not its
update events (`io.newswatch.story.updated.v1`), not its digest entries — while another story
still does. Real redis-server, real deliveries to a local receiver."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from newswatch.streams.records import Alert
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.metrics import WEBHOOK_MUTED
from newswatch.streams.sinks.mutes import set_mute
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from newswatch.streams.sinks.stories import RedisStorySink
from newswatch.streams.sinks.webhooks import WebhookDispatcher
from tests.support.sinks import endpoint, make_settings
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.redis

MUTED = "st-00000000000000aa"
KEPT = "st-00000000000000bb"
DAY = 1_790_035_200.0  # a UTC midnight
NOW = DAY + 120  # the day before it has closed


def story_alerts(story_id: str) -> tuple[Alert, Alert]:
    """A story's creation alert and one update of it, as the stories agent raises them."""
    common: dict[str, Any] = {
        "rule": "chinese_ai_export_controls",
        "severity": "high",
        "title": f"Export controls x DeepSeek ({story_id})",
        "entities": ["deepseek"],
        "themes": ["export_controls"],
        "article_id": f"art-{story_id}",
        "url": f"https://example.org/{story_id}",
        "story_id": story_id,
        "headline": f"Headline of {story_id}",
        "languages": ["en"],
        "created_at": DAY - 3600,
    }
    creation = Alert(id=f"c-{story_id}", kind="story", sources=1, **common)
    update = Alert(
        id=f"u-{story_id}",
        kind="story_update",
        update_of=creation.id,
        sequence=1,
        sources=5,
        reasons=["sources:5"],
        **common,
    )
    return creation, update


async def test_muted_story_sends_nothing_other_story_does(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    muted_creation, muted_update = story_alerts(MUTED)
    kept_creation, kept_update = story_alerts(KEPT)
    await RedisAlertSink(redis, load_settings(redis_url=redis_url)).write_many(
        [muted_creation, kept_creation]
    )
    for story_id in (MUTED, KEPT):  # a story mute holds while its story is stored
        await RedisStorySink(redis).write(
            {"id": story_id, "size": 1, "last_seen": DAY - 3600, "status": "open"}
        )
    await set_mute(redis, "story", MUTED, True)

    settings = make_settings(
        redis_url,
        [
            endpoint(receiver, "live"),  # CloudEvents, story updates on by default
            endpoint(receiver, "daily", format="json", digest="day", alerts=False),
        ],
    )
    muted_before = WEBHOOK_MUTED._value.get()
    dispatcher = WebhookDispatcher(settings, redis)
    await dispatcher.start()
    try:
        queued = await dispatcher.submit_many(
            [muted_creation, kept_creation, muted_update, kept_update]
        )
        assert queued == 2  # the kept story's creation and update, for "live" only
        assert await dispatcher.submit_digests(redis, NOW) == 1
        await receiver.wait_until(
            lambda: len(receiver.delivered("live")) == 2 and len(receiver.delivered("daily")) == 1
        )
    finally:
        await dispatcher.stop(grace=1.0)
    assert WEBHOOK_MUTED._value.get() == muted_before + 2

    events = {r.id: orjson.loads(r.body) for r in receiver.of("live")}
    assert set(events) == {kept_creation.id, kept_update.id}
    assert events[kept_update.id]["type"] == "io.newswatch.story.updated.v1"
    assert events[kept_update.id]["subject"] == KEPT
    assert all(MUTED not in r.body.decode() for r in receiver.requests)
    (digest,) = receiver.of("daily")
    data = orjson.loads(digest.body)
    assert [a["id"] for a in data["alerts"]] == [kept_creation.id] and data["total"] == 1
