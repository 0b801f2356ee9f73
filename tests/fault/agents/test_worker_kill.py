"""kill -9 of the worker in the middle of a stream: after a restart each alert is in Redis once
and delivered to the webhook endpoint under its own `webhook-id`, none missing."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.support.webhooks import Receiver
from tests.support.worker import WorkerHarness, expected_alert_ids, make_articles

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

SECRET = "whsec_" + base64.b64encode(b"kill-test-secret-0123456789abcdef").decode()


@pytest.mark.parametrize(
    "broker",
    ["tansu", "apache_kafka"],
)
async def test_kill_9_mid_stream_then_restart_each_alert_once(
    broker: str,
    request: pytest.FixtureRequest,
    redis_url: str,
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    url = receiver.url("kill-test")
    endpoint = {"name": "kill-test", "url": url, "format": "json", "secrets": [SECRET]}
    harness = WorkerHarness(
        request.getfixturevalue(broker).bootstrap,
        redis_url,
        tmp_path / "state",
        extra_env={
            "NEWSWATCH_WEBHOOKS__ENDPOINTS": json.dumps([endpoint]),
            "NEWSWATCH_WEBHOOKS__TIME_SCALE": "1000",
            "NEWSWATCH_WEBHOOKS__ALLOWED_NETWORKS": "127.0.0.1/32",  # the local receiver only
        },
    )
    try:
        await harness.create_topics()
        harness.start()
        await harness.wait_ready()
        articles = make_articles("kill", 600)
        expected = expected_alert_ids(articles)
        await harness.publish_articles(articles[:300])
        seen = await harness.wait_for_alerts(20)
        harness.kill9()  # mid-stream: offsets of processed records may not be committed yet
        assert len(set(seen)) < len(expected)

        await harness.publish_articles(articles[300:])
        harness.start()  # replays from the last committed offsets
        await harness.wait_ready()
        ids = await harness.wait_for_alerts(len(expected), timeout=120)
        await harness.wait_for_alerts(len(expected) + 1, timeout=3)
        ids = harness.stream_ids()
        missing = expected - set(ids)
        if missing:  # say at which stage they were lost
            in_topic = {r.key.decode() for r in await harness.read_topic("alerts", 10**6, 10)}
            pytest.fail(
                f"{len(missing)} alerts missing from Redis, {len(missing & in_topic)} of them "
                f"are in the alerts topic; duplicates: {len(ids) - len(set(ids))}\n"
                + harness.log()[-3000:]
            )
        assert Counter(ids) == Counter(expected)

        # Webhooks: every alert reaches the endpoint. A delivery in flight at the kill may be
        # repeated, always under the same webhook-id, which receivers deduplicate on.
        await receiver.wait_until(lambda: set(receiver.ids("kill-test")) >= expected, 60)
        delivered = receiver.ids("kill-test")
        assert set(delivered) == expected
        repeats = len(delivered) - len(set(delivered))
        assert repeats <= 2 * 64, repeats  # bounded by 2 x max_in_flight
        assert harness.terminate() == 0
    finally:
        harness.stop()
