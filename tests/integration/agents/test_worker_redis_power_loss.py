"""`newswatch worker` through a Redis host crash: the alerts of the lost last second come back
from the alerts topic, each exactly once.

redis-server here is the test's own (`RedisHost`): the power loss kills it and restarts it on
a copy of its AOF taken before the last articles' alerts were written, the way a host crash
under `appendfsync everysec` keeps only what was fsynced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis_host import RedisHost
from tests.support.worker import WorkerHarness, expected_alert_ids, make_articles

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RedisHost]:
    h = RedisHost(tmp_path / "redis")
    yield h
    h.stop()


@pytest.fixture
def harness(tansu: Any, host: RedisHost, tmp_path: Path) -> Iterator[WorkerHarness]:
    h = WorkerHarness(
        tansu.bootstrap,
        host.url,
        tmp_path / "state",
        extra_env={"NEWSWATCH_ALERTS__REPAIR_CHECK_SECONDS": "1"},
    )
    yield h
    h.stop()


async def _lose_the_last_articles(
    harness: WorkerHarness, host: RedisHost, tag: str
) -> tuple[set[str], set[str]]:
    """Alerts of 30 articles written, a snapshot, alerts of 30 more, the power loss; returns
    the alert ids expected so far and the ones lost."""
    first = make_articles(tag, 30)
    second = make_articles(tag, 30, start=30)
    before, lost = expected_alert_ids(first), expected_alert_ids(second)
    await harness.publish_articles(first)
    assert len(await harness.wait_for_alerts(len(before))) == len(before)
    host.snapshot()
    await harness.publish_articles(second)
    assert len(await harness.wait_for_alerts(len(before | lost))) == len(before | lost)
    host.power_loss()
    assert set(harness.stream_ids()) == before  # the lost second is gone from Redis
    return before | lost, lost


async def test_a_running_worker_repairs_what_redis_lost(
    harness: WorkerHarness, host: RedisHost
) -> None:
    await harness.create_topics()
    harness.start()
    await harness.wait_ready()
    expected, lost = await _lose_the_last_articles(harness, host, "pl")

    # No new article: the periodic watermark check finds the gap on every partition.
    ids = await harness.wait_for_alerts(len(expected), timeout=60)
    assert Counter(ids) == Counter(expected), harness.log()
    assert harness.metric("newswatch_redis_sink_repaired_alerts_total") == len(lost)
    # And life goes on: later alerts once each, nothing written twice meanwhile.
    more = make_articles("pl", 10, start=60)
    expected |= expected_alert_ids(more)
    await harness.publish_articles(more)
    ids = await harness.wait_for_alerts(len(expected))
    assert Counter(ids) == Counter(expected)
    assert harness.terminate() == 0


async def test_a_restarted_worker_repairs_at_its_first_batches(
    harness: WorkerHarness, host: RedisHost
) -> None:
    await harness.create_topics()
    harness.start()
    await harness.wait_ready()
    expected, lost = await _lose_the_last_articles(harness, host, "rs")
    assert harness.terminate() == 0
    harness.start()  # it knows nothing of what it wrote: only the watermark tells
    await harness.wait_ready()

    # Enough new alerts that every partition gets one (its first offset exposes the gap).
    more = make_articles("rs", 80, start=60)
    expected |= expected_alert_ids(more)
    await harness.publish_articles(more)
    ids = await harness.wait_for_alerts(len(expected), timeout=60)
    assert Counter(ids) == Counter(expected), harness.log()
    assert harness.metric("newswatch_redis_sink_repaired_alerts_total") == len(lost)
    assert harness.terminate() == 0
