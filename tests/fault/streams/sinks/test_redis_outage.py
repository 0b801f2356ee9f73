"""Redis stopped in the middle of a stream of alerts, then restarted on the same port and AOF
directory: every alert ends up in the stream exactly once and is delivered exactly once per
endpoint (by webhook-id), also when the outage outlasts the deliveries' leases.

The "slow" endpoints answer after a delay, so when Redis stops there are deliveries in flight
that the receiver answers 2xx while Redis is down: they cannot be recorded until it returns,
and by then (8 s and 30 s outages) their leases have expired. Before the dispatcher remembered
such deliveries, they were often claimed and sent a second time (a race per endpoint after the
restart, hence several endpoints). "flaky" fails each first attempt, so retries are scheduled
while Redis is down.

Uses a redis-server of its own, never the shared session one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from newswatch.streams.embedded import EmbeddedError, RedisServer
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from newswatch.streams.sinks.webhooks import WebhookDispatcher
from newswatch.streams.sinks.webhooks.dispatcher import lease_seconds
from tests.support.sinks import alert, endpoint, make_settings
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.redis

ALERTS = 150
STOP_AFTER = 50
SLOW_REPLY = 0.5  # seconds the "slow" endpoints take to answer: requests in flight at the stop
# Several endpoints, each with its own worker, lease and recording race after the restart.
SLOW = tuple(f"slow{n}" for n in range(1, 9))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[RedisServer, Path]]:
    data = tmp_path / "redis"
    server = RedisServer()
    try:
        server.start(data)
    except EmbeddedError as exc:
        pytest.skip(str(exc))
    yield server, data
    server.stop()


def scripted(receiver: Receiver, slow: tuple[str, ...]) -> list[str]:
    """Endpoint names: `slow` ones, "flaky" (each first attempt answered 500, slowly: retries
    whose reschedule waits for Redis) and "fast"."""
    for name in slow:
        receiver.scripts[name] = lambda _a, _r: (200, {}, SLOW_REPLY)
    receiver.scripts["flaky"] = lambda a, _r: (500, {}, SLOW_REPLY) if a == 1 else (200, {}, 0.0)
    return [*slow, "flaky", "fast"]


def assert_each_delivered_once(receiver: Receiver, names: list[str], ids: set[str]) -> None:
    repeated = {
        name: sum(count - 1 for count in receiver.delivered(name).values()) for name in names
    }
    print(f"deliveries repeated per endpoint: {repeated}")
    for name in names:
        assert set(receiver.delivered(name)) == ids, name  # nothing lost
    assert not any(repeated.values()), repeated  # nothing delivered twice
    requests = {name: len(receiver.of(name)) for name in names}
    assert requests == {**{name: ALERTS for name in names}, "flaky": 2 * ALERTS}  # none other


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(3.0, id="3s"),
        pytest.param(8.0, id="8s", marks=pytest.mark.slow),
        pytest.param(30.0, id="30s", marks=pytest.mark.slow),
    ],
)
async def test_redis_outage_mid_stream(
    own_redis: tuple[RedisServer, Path], receiver: Receiver, outage: float
) -> None:
    server, data = own_redis
    names = scripted(receiver, SLOW)
    settings = make_settings(server.url, [endpoint(receiver, name) for name in names])
    redis = make_redis(settings)
    sink = RedisAlertSink(redis, settings)
    dispatcher = WebhookDispatcher(settings, redis)
    await dispatcher.start()
    written = asyncio.Event()
    acked: list[str] = []

    async def pipeline() -> None:
        # What the worker's agent does: write, submit, then acknowledge.
        for n in range(ALERTS):
            item = alert(n)
            await sink.write(item)
            await dispatcher.submit(item)
            acked.append(item.id)
            if n == STOP_AFTER:
                written.set()
            await asyncio.sleep(0.005)

    task = asyncio.create_task(pipeline())
    try:
        await asyncio.wait_for(written.wait(), 10)
        await asyncio.to_thread(server.stop)
        stopped_at = len(acked)
        answered_before = len(receiver.delivered("slow1"))
        in_flight = len(receiver.of("slow1")) - answered_before
        await asyncio.sleep(outage)
        assert len(acked) <= stopped_at + 1  # nothing acknowledged while Redis is down
        answered_in_outage = len(receiver.delivered("slow1")) - answered_before
        restarted = RedisServer(port=server.port)
        await asyncio.to_thread(restarted.start, data)
        server.proc = restarted.proc  # the fixture stops whichever runs
        started = time.monotonic()
        await asyncio.wait_for(task, 60)
        ids = {alert(n).id for n in range(ALERTS)}
        for name in names:
            await receiver.wait_until(lambda n=name: set(receiver.delivered(n)) == ids, timeout=30)
        recovery = time.monotonic() - started
        # Long enough for any lease taken before the outage to expire and be claimed again.
        await asyncio.sleep(lease_seconds(settings.webhooks.endpoints[0]) + 1.0)
    finally:
        task.cancel()
        await dispatcher.stop()

    print(f"{in_flight} requests in flight at the stop, {answered_in_outage} answered in outage")
    assert in_flight > 0, "nothing was in flight when Redis stopped; the test proves nothing"
    entries = await redis.xrange(keys.STREAM)
    stream_ids = [fields[b"id"].decode() for _, fields in entries]
    assert sorted(stream_ids) == sorted(ids)  # nothing lost, nothing duplicated
    assert_each_delivered_once(receiver, names, ids)
    # Replaying the whole stream after the outage changes nothing.
    assert not any([await sink.write(alert(n)) for n in range(ALERTS)])
    assert await redis.xlen(keys.STREAM) == ALERTS
    assert sum([await dispatcher.submit(alert(n)) for n in range(ALERTS)]) == 0
    assert recovery < 30
    await redis.aclose()


@pytest.mark.slow
async def test_dispatcher_replaced_during_outage_in_one_process(
    own_redis: tuple[RedisServer, Path], receiver: Receiver
) -> None:
    """Two dispatchers in one process; one is stopped while Redis is down (it cannot record
    what it delivered) and a new one takes its place: the deliveries the stopped one made are
    recorded by the others when Redis returns, not sent again."""
    server, data = own_redis
    names = scripted(receiver, SLOW[:3])
    settings = make_settings(server.url, [endpoint(receiver, name) for name in names])
    redis = make_redis(settings)
    first, steady = WebhookDispatcher(settings, redis), WebhookDispatcher(settings, redis)
    await first.start()
    await steady.start()
    replacement = WebhookDispatcher(settings, redis)
    ids = {alert(n).id for n in range(ALERTS)}
    try:
        for n in range(STOP_AFTER):
            await (first if n % 2 else steady).submit(alert(n))
        await receiver.wait_until(lambda: len(receiver.of("slow1")) >= STOP_AFTER // 2)
        await asyncio.to_thread(server.stop)
        in_flight = len(receiver.of("slow1")) - len(receiver.delivered("slow1"))
        stopped = time.monotonic()
        await first.stop()  # answers arrive, but cannot be recorded
        await replacement.start()
        # Past the leases of everything claimed before the stop.
        await asyncio.sleep(
            max(
                0.0,
                lease_seconds(settings.webhooks.endpoints[0]) + 2.0 - (time.monotonic() - stopped),
            )
        )
        restarted = RedisServer(port=server.port)
        await asyncio.to_thread(restarted.start, data)
        server.proc = restarted.proc  # the fixture stops whichever runs
        for n in range(STOP_AFTER, ALERTS):
            await (replacement if n % 2 else steady).submit(alert(n))
        for name in names:
            await receiver.wait_until(lambda n=name: set(receiver.delivered(n)) == ids, timeout=30)
        await asyncio.sleep(lease_seconds(settings.webhooks.endpoints[0]) + 1.0)
    finally:
        await steady.stop()
        await replacement.stop()
        await first.stop()
    print(f"{in_flight} requests to slow1 in flight at the stop")
    assert in_flight > 0, "nothing was in flight when Redis stopped; the test proves nothing"
    assert_each_delivered_once(receiver, names, ids)
    await redis.aclose()
