"""`newswatch worker` on real Tansu and redis-server: articles in, each alert in Redis once."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.webhooks import Receiver
from tests.support.worker import WorkerHarness, alert_json, expected_alert_ids, make_articles

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


@pytest.fixture
def harness(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
) -> Iterator[WorkerHarness]:
    """A worker on Tansu, or on the broker named by indirect parametrisation."""
    broker = request.getfixturevalue(getattr(request, "param", "tansu"))
    h = WorkerHarness(broker.bootstrap, redis_url, tmp_path / "state")
    yield h
    h.stop()


async def test_articles_become_alerts_in_redis_exactly_once(harness: WorkerHarness) -> None:
    await harness.create_topics()
    harness.start()
    await harness.wait_ready()
    articles = make_articles("once", 40)
    expected = expected_alert_ids(articles)
    assert len(expected) >= 20  # half the articles alert, some on two rules

    # every article twice: Kafka redelivery must not become a second alert
    await harness.publish_articles(articles + articles[:10])
    ids = await harness.wait_for_alerts(len(expected))
    await harness.publish_articles(articles[10:20])  # and a late replay
    ids = await harness.wait_for_alerts(len(expected) + 1, timeout=5)

    assert Counter(ids) == Counter(expected)  # each expected alert, exactly once
    assert harness.metric("newswatch_alerts_total") >= len(expected)
    assert harness.metric("newswatch_articles_tagged_total") >= len(articles)

    status, body = harness.http("/api/alerts?limit=1000")
    assert status == 200
    assert {a["id"] for a in orjson.loads(body)["alerts"]} == expected
    status, body = harness.http("/api/alerts?severity=urgent")
    assert status == 400
    status, body = harness.http("/api/stats")
    assert status == 200 and orjson.loads(body)["total"] == len(expected)
    assert harness.terminate() == 0


async def test_bad_records_go_to_the_dead_letter_topic(harness: WorkerHarness) -> None:
    await harness.create_topics()
    harness.start()
    await harness.wait_ready()
    good = make_articles("dl", 2)
    await harness.publish(
        [
            (b"broken", b"{not json"),
            (b"future", orjson.dumps({"schema_version": 99, "id": "x"})),
            *((a.id.encode(), a.dumps()) for a in good),
        ]
    )
    expected = expected_alert_ids(good)
    assert Counter(await harness.wait_for_alerts(len(expected))) == Counter(expected)

    letters = await harness.read_topic("deadletter", 2)
    by_key = {r.key: orjson.loads(r.value) for r in letters}
    assert set(by_key) == {b"broken", b"future"}
    assert by_key[b"broken"]["reason"] == "decode"
    assert base64.b64decode(by_key[b"broken"]["value"]) == b"{not json"
    assert by_key[b"future"]["reason"] == "schema"
    assert "schema_version 99" in by_key[b"future"]["error"]
    assert by_key[b"future"]["topic"] == harness.settings.topic("articles")
    assert harness.metric("newswatch_deadletter_total") == 2
    assert harness.terminate() == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "harness",
    ["tansu", "apache_kafka"],
    indirect=True,
)
async def test_sigterm_mid_stream_exits_0_and_a_restart_loses_nothing(
    harness: WorkerHarness,
) -> None:
    await harness.create_topics()
    harness.start()
    await harness.wait_ready()
    articles = make_articles("term", 300)
    expected = expected_alert_ids(articles)
    await harness.publish_articles(articles[:150])
    await harness.wait_for_alerts(5)
    assert harness.terminate() == 0  # clean stop while records are in flight

    await harness.publish_articles(articles[150:])
    harness.start()
    await harness.wait_ready()
    ids = await harness.wait_for_alerts(len(expected), timeout=90)
    assert Counter(ids) == Counter(expected)
    assert harness.terminate() == 0


@pytest.mark.slow
async def test_one_spike_alert_per_spike(tansu, redis_url: str, tmp_path: Path) -> None:
    harness = WorkerHarness(
        tansu.bootstrap,
        redis_url,
        tmp_path / "state",
        extra_env={"NEWSWATCH_ALERTS__SPIKE_MIN_COUNT": "5"},
    )
    try:
        await harness.create_topics()
        harness.start()
        await harness.wait_ready()
        articles = make_articles("spike", 40)  # 20 alerting articles: deepseek, qwen, alibaba...
        rule_alerts = expected_alert_ids(articles)
        await harness.publish_articles(articles)
        ids = await harness.wait_for_alerts(len(rule_alerts) + 1)
        await harness.wait_for_alerts(10**6, timeout=3)  # let any extra spike alerts land
        spikes = [alert_json(redis_url, i) for i in set(harness.stream_ids()) - rule_alerts]
        assert spikes, "no spike alert"
        keys = Counter((s["rule"], tuple(s["entities"] or s["themes"])) for s in spikes)
        assert all(n == 1 for n in keys.values()), keys  # one alert per spike, not per article
        assert ("spike_entity", ("deepseek",)) in keys
        assert all(s["kind"] == "spike" and s["count"] >= 5 for s in spikes)
        assert len(ids) == len(set(ids))
    finally:
        harness.stop()


async def test_one_sink_agent_feeds_redis_and_webhooks(
    tansu, redis_url: str, tmp_path: Path
) -> None:
    """The alerts topic is read once for both sinks: every alert lands in the Redis stream
    once and is delivered once to a webhook endpoint, replays included."""
    receiver = await Receiver().start()
    endpoint = {"name": "hook", "url": receiver.url("hook"), "format": "json", "timeout": 2.0}
    h = WorkerHarness(
        tansu.bootstrap,
        redis_url,
        tmp_path / "state",
        extra_env={
            "NEWSWATCH_WEBHOOKS__ENDPOINTS": orjson.dumps([endpoint]).decode(),
            "NEWSWATCH_WEBHOOKS__ALLOWED_NETWORKS": "127.0.0.1/32",
        },
    )
    try:
        await h.create_topics()
        h.start()
        await h.wait_ready()
        articles = make_articles("sinks", 20)
        expected = expected_alert_ids(articles)
        assert len(expected) >= 10
        await h.publish_articles(articles + articles[:5])  # a replay must not repeat anything
        ids = await h.wait_for_alerts(len(expected))
        await receiver.wait_until(lambda: set(receiver.delivered("hook")) >= expected, 60)
        assert Counter(ids) == Counter(expected)
        delivered = receiver.delivered("hook")
        assert set(delivered) == expected and max(delivered.values()) == 1
        assert h.terminate() == 0
    finally:
        h.stop()
        await receiver.stop()
