"""kill -9 of a process delivering webhooks, then a new dispatcher on the same Redis: every
alert is delivered; only the requests in flight at the kill may arrive twice (same webhook-id,
which receivers deduplicate on)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time

import orjson
import pytest

from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.webhooks import Outbox, WebhookDispatcher
from tests.support.environment import ROOT
from tests.support.sinks import alert, endpoint, make_settings
from tests.support.webhooks import Receiver

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ALERTS = 120
IN_FLIGHT = 4

CHILD = textwrap.dedent(
    """
    import asyncio, sys, orjson
    from tests.support.sinks import alert
    from newswatch.streams.settings import load_settings
    from newswatch.streams.sinks.redis_client import make_redis
    from newswatch.streams.sinks.webhooks import WebhookDispatcher

    async def main():
        config = orjson.loads(sys.argv[1])
        settings = load_settings(redis_url=config["redis_url"], webhooks=config["webhooks"])
        dispatcher = WebhookDispatcher(settings, make_redis(settings))
        await dispatcher.start()
        for n in range({alerts}):
            await dispatcher.submit(alert(n))
        print("submitted", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_kill_9_mid_flight_then_restart(redis_url: str, receiver: Receiver) -> None:
    receiver.scripts["hook"] = lambda _a, _r: (200, {}, 0.05)
    settings = make_settings(
        redis_url, [endpoint(receiver, "hook", timeout=1.0)], max_in_flight=IN_FLIGHT
    )
    config = settings.model_dump(mode="json", include={"webhooks"})
    config["webhooks"]["endpoints"][0]["secrets"] = [
        s.get_secret_value() for s in settings.webhooks.endpoints[0].secrets
    ]
    config["redis_url"] = redis_url
    code = CHILD.format(alerts=ALERTS)
    child = subprocess.Popen(
        [sys.executable, "-c", code, orjson.dumps(config).decode()],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,  # `python -c` puts the working directory on its path: `tests` imports
    )
    try:
        line = await asyncio.to_thread(child.stdout.readline)
        assert line.strip() == "submitted"
        await receiver.wait_until(lambda: len(receiver.requests) >= 30, timeout=20)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    at_kill = len(receiver.requests)
    assert at_kill < ALERTS, "the child finished before the kill; slow the receiver down"

    redis = make_redis(settings)
    dispatcher = WebhookDispatcher(settings, redis)
    await dispatcher.start()
    try:
        ids = {alert(n).id for n in range(ALERTS)}
        # Leases of the killed process expire after 2 x timeout + 2 s.
        await receiver.wait_until(lambda: set(receiver.delivered("hook")) == ids, timeout=30)
        # The deliveries in flight at the kill may have reached the receiver already; they are
        # sent again once their lease expires. Wait for the outbox to drain.
        outbox = Outbox(redis, "hook", 1)
        deadline = time.monotonic() + 30
        while (await outbox.counts())["pending"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    finally:
        await dispatcher.stop()
    assert await outbox.counts() == {"pending": 0, "dead": 0}
    counts = receiver.delivered("hook")
    duplicates = sum(c - 1 for c in counts.values())
    print(f"kill -9 after {at_kill} requests: {duplicates} duplicate deliveries")
    # At most the requests in flight at the kill, plus successes whose batched completion
    # had not reached Redis yet (one batch of at most IN_FLIGHT).
    assert duplicates <= 2 * IN_FLIGHT
    assert len(receiver.requests) == ALERTS + duplicates  # no request was lost or failed
    await redis.aclose()
