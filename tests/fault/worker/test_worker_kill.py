"""kill -9 of the worker in the middle of a stream: after a restart each alert is in Redis once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from worker_harness import WorkerHarness, expected_alert_ids, make_articles

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]


async def test_kill_9_mid_stream_then_restart_each_alert_once(
    tansu, redis_url: str, tmp_path: Path
) -> None:
    harness = WorkerHarness(tansu.bootstrap, redis_url, tmp_path / "state")
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
        assert Counter(ids) == Counter(expected)
        assert harness.terminate() == 0
    finally:
        harness.stop()
