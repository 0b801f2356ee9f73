"""Alerts at story level in a running worker, on Tansu and Apache Kafka: 20 copies of one story
in four languages raise one alert per rule met (not 20), a bounded number of update events in
the Redis stream and at a real webhook receiver, and a restart in the middle changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from newswatch.agents.alerting.processing import tag_article
from newswatch.agents.stories.alerts import story_alert_id
from newswatch.streams.records import Alert, Article
from newswatch.streams.sinks import keys
from tests.support.stories import copies, wait_for_story
from tests.support.webhooks import Receiver
from tests.support.worker import _ENGINE, WorkerHarness, expected_alert_ids

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
UPDATE_INTERVAL = 300  # seconds of event time; the 20 copies span 19 minutes


@pytest.fixture
def harness(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path, receiver: Receiver
) -> Iterator[WorkerHarness]:
    broker = request.getfixturevalue(request.param)
    endpoints = [
        {"name": "ops", "url": receiver.url("ops"), "secrets": [SECRET], "timeout": 10.0},
        {
            "name": "quiet",
            "url": receiver.url("quiet"),
            "format": "json",
            "secrets": [SECRET],
            "story_updates": False,
        },
    ]
    h = WorkerHarness(
        broker.bootstrap,
        redis_url,
        tmp_path / "state",
        extra_env={
            "NEWSWATCH_STORIES__ALERTS": "true",
            "NEWSWATCH_STORIES__UPDATE_MIN_INTERVAL": str(UPDATE_INTERVAL),
            "NEWSWATCH_WEBHOOKS__ENDPOINTS": json.dumps(endpoints),
            "NEWSWATCH_WEBHOOKS__TIME_SCALE": "1000",
            "NEWSWATCH_WEBHOOKS__ALLOWED_NETWORKS": "127.0.0.1/32",
        },
    )
    yield h
    h.stop()


def rules_met(articles: list[Article]) -> set[str]:
    expected_alert_ids(articles[:1])  # loads the tagger and the rules once
    tagger, engine = _ENGINE[0]
    return {a.rule for article in articles for a in engine.evaluate(tag_article(tagger, article))}


def stream(redis_url: str) -> list[Alert]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [Alert.loads(f[b"data"]) for _, f in client.xrange(keys.STREAM)]
    finally:
        client.close()


@pytest.mark.parametrize("harness", ["tansu", "apache_kafka"], indirect=True)
async def test_one_story_one_alert_per_rule_and_bounded_updates(
    harness: WorkerHarness, receiver: Receiver
) -> None:
    articles = copies("story-alerts")
    rules = rules_met(articles)
    assert rules, "the copies must meet at least one rule"
    await harness.create_topics()
    harness.start()
    await harness.wait_ready()
    await harness.publish_articles(articles[:10])
    story = await wait_for_story(harness, 10)

    # A restart in the middle: the checkpoint holds the alert state, redelivered articles
    # replay to the same alert ids and updates.
    assert harness.terminate() == 0
    harness.start()
    await harness.wait_ready()
    await harness.publish_articles(articles[10:] + articles[:3])
    story = await wait_for_story(harness, 20)
    assert story["size"] == 20 and story["sources"] == 20
    assert story["languages"] == ["de", "en", "es", "fr"]
    assert story["breaking"] is True  # 20 sources within the hour

    ids = {story_alert_id(rule, story["id"]) for rule in rules}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entries = stream(harness.redis_url)
        updates = [e for e in entries if e.kind == "story_update"]
        if {e.id for e in entries} >= ids and updates:
            break
        await asyncio.sleep(0.3)
    await asyncio.sleep(2.0)  # anything late (a duplicate would show now)
    entries = stream(harness.redis_url)
    created = [e for e in entries if e.kind == "story"]
    updates = [e for e in entries if e.kind == "story_update"]
    assert sorted(e.id for e in created) == sorted(ids), harness.log()
    assert not [e for e in entries if e.kind == "article"]  # no per-article alerts
    # Updates: at most one round per 5 minutes over the 19 minutes of event time.
    rounds = 1 + (19 * 60) // UPDATE_INTERVAL
    assert 1 <= len(updates) <= rounds * len(rules)
    assert len({u.id for u in updates}) == len(updates)
    assert {u.update_of for u in updates} <= ids
    for rule in rules:
        sequences = [u.sequence for u in updates if u.rule == rule]
        assert sequences == list(range(1, len(sequences) + 1))
    assert all(u.reasons for u in updates)

    # The alert key holds the alert's latest state.
    client = redis.Redis.from_url(harness.redis_url)
    try:
        for alert_id in ids:
            latest = orjson.loads(client.get(keys.alert_key(alert_id)))
            assert latest["story_id"] == story["id"]
            assert latest["sources"] >= 10 and len(latest["languages"]) == 4
    finally:
        client.close()

    # Webhooks: one creation per rule everywhere; updates only where asked for.
    async def delivered() -> bool:
        ops = receiver.bodies("ops")
        return len(ops) >= len(ids) + len(updates) and len(receiver.bodies("quiet")) >= len(ids)

    deadline = time.monotonic() + 30
    while not await delivered() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    # Deliveries are at least once (a request that times out on a busy machine is sent
    # again): count events by their id, as a receiver dedups on webhook-id.
    ops = receiver.bodies("ops")
    creations = {b["id"] for b in ops if b["type"] == "io.newswatch.alert.v1"}
    story_updates = [b for b in ops if b["type"] == "io.newswatch.story.updated.v1"]
    assert creations == ids
    assert 1 <= len({b["id"] for b in story_updates}) <= len(updates)
    assert all(b["subject"] == story["id"] for b in ops)
    assert all(b["data"]["update_of"] in ids for b in story_updates)
    quiet = receiver.bodies("quiet")
    assert {b["id"] for b in quiet} == ids
    assert all(b["kind"] == "story" for b in quiet)

    assert harness.metric("newswatch_alerts_folded_total") >= 1
    assert harness.metric("newswatch_story_alert_updates_total") >= 1
    assert harness.terminate() == 0
