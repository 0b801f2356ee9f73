"""The endpoint circuit breaker on a real redis-server and a real local receiver: an endpoint
down for longer than its whole retry schedule loses nothing and gets its backlog, once each,
as soon as it is back; a delivery the receiver refuses (400) still dead-letters after its
schedule; several dispatchers share one circuit (one probe per interval between them), and a
restarted one finds it as it was."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

import orjson
import pytest
from click.testing import CliRunner, Result
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from newswatch.streams.cli import main as cli
from newswatch.streams.settings import Settings
from newswatch.streams.sinks.webhooks import Outbox, WebhookDispatcher
from newswatch.streams.sinks.webhooks.outbox import Failure
from tests.support.sinks import SECRET, alert, endpoint, make_settings
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.redis

T0 = 1_800_000_000.0
BODY = b'{"x":1}'
# 150 s of retry schedule: 0.15 s at time_scale 1000, full jitter makes it shorter still.
# The probe intervals follow it: 5, 15, 30, 100 ms (the last repeats).
SCHEDULE = [0, 5, 15, 30, 100]


async def _true(value: Awaitable[bool] | bool) -> bool:
    return await value if inspect.isawaitable(value) else bool(value)


def circuit_gauge(name: str) -> float:
    return sample("newswatch_webhook_circuit_open", endpoint=name)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def delivery_count(name: str, outcome: str) -> float:
    return sample("newswatch_webhook_deliveries_total", endpoint=name, outcome=outcome)


async def wait_for(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await _true(check()):
        assert time.monotonic() < deadline, f"not true after {timeout}s"
        await asyncio.sleep(0.01)


async def test_circuit_state_lives_in_the_outbox(redis: Redis) -> None:
    """The breaker's rules, one Lua call at a time (no timing): endpoint failures in a row
    open it and re-queue the backlog of that run; held deliveries keep their attempts; one
    probe at a time, spaced by the intervals; a 4xx answer counts for its delivery only; a
    success closes it and everything held is due in order of creation."""
    box = Outbox(redis, "cb", 86_400)
    for n in range(6):
        assert await box.enqueue(f"c{n}", BODY, "application/json", T0 + n) == 1
    jobs = {job.id: job for job in await box.claim(T0 + 10, T0 + 40, 10)}
    assert len(jobs) == 6
    common = {"open_after": 3, "probe_intervals": [5.0, 300.0], "reason": "x", "status": 503}

    async def fail(alert_id: str, now: float, kind: str = "down", **kw: object) -> Failure:
        args = {"attempts": 1, "due": now + 100, **common, **kw}
        return await box.fail(jobs[alert_id], kind=kind, now=now, **args)

    # Two endpoint failures: counted like any failed attempt (the run may be a blip).
    assert (await fail("c0", T0 + 11)).outcome == "retry"
    assert (await fail("c1", T0 + 12)).outcome == "retry"
    assert await redis.hget(box.attempts, "c0") == b"1"
    assert await redis.zscore(box.due, "c0") == T0 + 111
    # The third opens the circuit: it is held, and so are the two before it (due at their
    # creation time instead of their backoff).
    opened = await fail("c2", T0 + 13)
    assert (opened.outcome, opened.count, opened.since) == ("opened", 3, T0 + 11)
    assert [await redis.zscore(box.due, f"c{n}") for n in range(3)] == [T0, T0 + 1, T0 + 2]
    assert not await redis.hexists(box.attempts, "c2")
    assert not await redis.exists(box.suspects)
    health = await box.health()
    assert (health.circuit_opened, health.probes) == (T0 + 13, 0)
    # A delivery in flight fails while it is open: held, even with its schedule spent.
    assert (await fail("c3", T0 + 14, attempts=9, due=None)).outcome == "held"
    assert await redis.zscore(box.due, "c3") == T0 + 3
    assert await box.counts() == {"pending": 6, "dead": 0}

    # Nothing is claimed before the first probe (5 s after the opening)...
    claim = await box.claim_due(T0 + 15, T0 + 45, 10)
    assert (claim.open, claim.jobs, claim.wake_at) == (True, [], T0 + 18)
    # ...then one delivery, the oldest: the probe. No other while it is in flight.
    claim = await box.claim_due(T0 + 18, T0 + 48, 10)
    assert claim.probe and [job.id for job in claim.jobs] == ["c0"]
    claim = await box.claim_due(T0 + 19, T0 + 49, 10)
    assert (claim.open, claim.jobs, claim.wake_at) == (True, [], T0 + 48)
    # The probe fails: not counted, behind the others; the next probe after 300 s.
    failed = await fail("c0", T0 + 20, attempts=2)
    assert (failed.outcome, failed.count) == ("probe_failed", 1)
    assert await redis.hget(box.attempts, "c0") == b"1"
    assert await redis.zscore(box.due, "c0") == T0 + 20
    assert (await box.claim_due(T0 + 100, T0 + 130, 10)).wake_at == T0 + 320
    claim = await box.claim_due(T0 + 320, T0 + 350, 10)
    assert [job.id for job in claim.jobs] == ["c1"]
    # The endpoint answers 400 to that probe: the attempt counts for c1, and the next probe
    # (another delivery) may go at once.
    refused = await fail("c1", T0 + 321, kind="answer", attempts=2, due=T0 + 400)
    assert refused.outcome == "retry"
    assert await redis.hget(box.attempts, "c1") == b"2"
    claim = await box.claim_due(T0 + 321, T0 + 351, 10)
    assert claim.probe and [job.id for job in claim.jobs] == ["c2"]
    # It succeeds: the circuit closes for everyone; the held deliveries are due, oldest first.
    assert await box.complete(["c2"]) == T0 + 13
    assert not await redis.exists(box.circuit)
    claim = await box.claim_due(T0 + 322, T0 + 352, 10)
    assert not claim.open and [job.id for job in claim.jobs] == ["c3", "c0", "c4", "c5"]
    assert await box.complete(["c3"]) is None

    # A 4xx answer ends a run of endpoint failures: two, a 400, one more: still closed.
    jobs.update({job.id: job for job in claim.jobs})
    for alert_id, kind in (("c0", "down"), ("c4", "down"), ("c5", "answer")):
        assert (await fail(alert_id, T0 + 330, kind=kind)).outcome == "retry"
    assert (await fail("c1", T0 + 331)).outcome == "retry"
    assert await redis.hget(box.circuit, "failures") == b"1"
    assert set(await redis.hkeys(box.suspects)) == {b"c1"}
    # A run of endpoint failures never dead-letters: the second failure of a run opens the
    # circuit early when it would (the delivery is held, its attempts unspent)...
    early = await fail("c0", T0 + 332, attempts=3, due=None)
    assert (early.outcome, early.count) == ("opened", 2)
    assert await box.counts() == {"pending": 4, "dead": 0}
    assert await redis.zscore(box.due, "c1") == T0 + 1, "the run's first failure is held too"
    assert await box.complete(["c4"]) == T0 + 332
    # ...but the first one since the endpoint answered is the delivery's own: dead letter.
    assert (await fail("c5", T0 + 333, attempts=3, due=None)).outcome == "dead"
    # Breaker off (0): a spent schedule dead-letters, whatever the run.
    assert (await fail("c1", T0 + 334, due=None, open_after=0)).outcome == "dead"
    assert (await fail("c1", T0 + 335)).outcome == "gone"
    assert await box.counts() == {"pending": 1, "dead": 2}
    # Disabling the endpoint clears the circuit.
    await redis.hset(box.circuit, "opened", T0)
    await box.disable("test", 500, T0 + 340)
    assert not await redis.exists(box.circuit) and not await redis.exists(box.suspects)


async def test_receiver_down_longer_than_the_schedule_loses_nothing(
    redis: Redis, redis_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """The receiver refuses connections for 2 s, more than ten times the whole (scaled)
    retry schedule: no delivery is dead-lettered, none spends its attempts on the outage,
    and every one arrives exactly once within a few probe intervals of the receiver's return;
    one log line when the circuit opens and one when it closes."""
    name = "outage"
    settings = make_settings(
        redis_url, [endpoint(receiver, name)], retry_schedule=SCHEDULE, max_in_flight=8
    )
    retries = delivery_count(name, "retry")
    opens = sample("newswatch_webhook_circuit_opened_total", endpoint=name)
    caplog.set_level(logging.INFO, logger="newswatch")
    box = Outbox(redis, name, 86_400)
    dispatcher = WebhookDispatcher(settings, redis)
    await dispatcher.start()
    try:
        await dispatcher.submit_many([alert(n) for n in range(20)])
        await receiver.wait_until(lambda: len(receiver.delivered(name)) == 20)
        await receiver.stop()
        for n in range(20, 80):  # one by one: 60 creation times
            await dispatcher.submit(alert(n))
        await wait_for(lambda: circuit_gauge(name) == 1)
        await asyncio.sleep(2.0)
        assert await box.counts() == {"pending": 60, "dead": 0}
        spent = sum(int(v) for v in await redis.hvals(box.attempts))
        assert spent <= 4, "only the failures before the circuit opened count as attempts"
        back = time.monotonic()
        await receiver.start()
        await receiver.wait_until(lambda: len(receiver.delivered(name)) == 80, timeout=10)
        recovered = time.monotonic() - back
        await asyncio.sleep(0.3)  # time for any stray re-delivery to show up
        print(f"backlog of 60 delivered {recovered:.2f}s after the receiver came back")
    finally:
        await dispatcher.stop(grace=1.0)
    assert set(receiver.delivered(name)) == {alert(n).id for n in range(80)}
    assert set(receiver.delivered(name).values()) == {1}, "each webhook-id delivered once"
    assert len(receiver.of(name)) == 80, "no request failed once the receiver was back"
    assert await box.counts() == {"pending": 0, "dead": 0}
    # Opening took circuit_failures (5) endpoint failures in a row; the first 4 counted.
    assert delivery_count(name, "retry") - retries <= 4
    assert sample("newswatch_webhook_circuit_opened_total", endpoint=name) == opens + 1
    assert circuit_gauge(name) == 0
    assert sample("newswatch_webhook_circuit_probes_total", endpoint=name, outcome="success") >= 1
    assert caplog.text.count("circuit opened after 5 endpoint failures") == 1
    assert caplog.text.count("circuit closed after") == 1
    assert "dead-lettered" not in caplog.text
    # The last probe interval is 100 ms: "a few" of them, with slack for a loaded machine.
    assert recovered < 5.0


async def test_refused_delivery_dead_letters_after_its_schedule_while_others_succeed(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    """Queued during an outage, the one delivery the receiver answers 400 spends its three
    attempts once it is back (the outage took none) and is dead-lettered; the others arrive."""
    name = "picky"
    poison = alert(0).id
    receiver.scripts[name] = lambda _a, req: (400 if req.id == poison else 200, {}, 0.0)
    settings = make_settings(redis_url, [endpoint(receiver, name)], retry_schedule=[0, 5, 5])
    box = Outbox(redis, name, 86_400)
    await receiver.stop()
    dispatcher = WebhookDispatcher(settings, redis)
    await dispatcher.start()
    try:
        await dispatcher.submit_many([alert(n) for n in range(1, 10)])
        await wait_for(lambda: circuit_gauge(name) == 1)
        await dispatcher.submit(alert(0))
        await asyncio.sleep(0.5)
        assert await box.counts() == {"pending": 10, "dead": 0}
        await receiver.start()
        await receiver.wait_until(lambda: len(receiver.delivered(name)) == 9)
        await wait_for(lambda: _dead(box))
    finally:
        await dispatcher.stop(grace=1.0)
    (letter,) = await box.dead_letters()
    assert (letter.id, letter.reason, letter.status, letter.attempts) == (
        poison,
        "HTTP 400",
        400,
        3,
    )
    assert [r.status for r in receiver.of(name) if r.id == poison] == [400, 400, 400]
    assert set(receiver.delivered(name).values()) == {1}
    assert await box.counts() == {"pending": 0, "dead": 1}


async def _dead(box: Outbox) -> bool:
    return (await box.counts())["dead"] == 1


async def test_dispatchers_share_one_circuit_and_a_restart_keeps_it(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    """Two dispatchers on one outbox, the receiver answering 503: once the circuit is open
    they send one probe per interval between them (200 ms apart at least), not one each;
    one is replaced mid-outage and the new one obeys the circuit it finds in Redis. When
    the receiver recovers, every delivery arrives once and none is dead-lettered."""
    name = "shared"
    broken = True
    receiver.scripts[name] = lambda _a, _r: (503 if broken else 204, {}, 0.0)
    # Probe every 200 ms (schedule [0, 200] / 1000); 3 attempts' worth would be 0.4 s.
    settings = make_settings(
        redis_url, [endpoint(receiver, name)], retry_schedule=[0, 200, 200], max_in_flight=4
    )
    box = Outbox(redis, name, 86_400)
    one, two = WebhookDispatcher(settings, redis), WebhookDispatcher(settings, redis)
    await one.start()
    await two.start()
    three: WebhookDispatcher | None = None
    try:
        for n in range(40):
            await (one if n % 2 else two).submit(alert(n))
        await wait_for(lambda: _circuit_open(box))
        opened_at = time.time()
        await asyncio.sleep(1.5)
        await one.stop(grace=1.0)  # a restart: the new dispatcher finds the circuit open
        three = WebhookDispatcher(settings, redis)
        await three.start()
        await asyncio.sleep(1.5)
        # Past the requests in flight when it opened (each answered at once, here).
        probes = [r.at for r in receiver.of(name) if r.at > opened_at + 0.05]
        gaps = [b - a for a, b in itertools.pairwise(probes)]
        # One probe at a time, 200 ms after the last one failed: never closer (two
        # dispatchers probing on their own would be), and they keep coming.
        assert len(probes) >= 5, probes
        assert min(gaps) >= 0.19, gaps
        assert await box.counts() == {"pending": 40, "dead": 0}
        broken = False
        await receiver.wait_until(lambda: len(receiver.delivered(name)) == 40, timeout=10)
        await asyncio.sleep(0.3)
    finally:
        for dispatcher in (two, three):
            if dispatcher is not None:
                await dispatcher.stop(grace=1.0)
    assert set(receiver.delivered(name)) == {alert(n).id for n in range(40)}
    assert set(receiver.delivered(name).values()) == {1}
    assert await box.counts() == {"pending": 0, "dead": 0}
    assert not await redis.exists(box.circuit)


async def _circuit_open(box: Outbox) -> bool:
    return (await box.health()).circuit_opened is not None


async def test_backlog_is_sent_in_order_of_creation(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    """One request at a time: after the circuit closes the held deliveries go oldest first;
    only those used as failed probes went to the back of the line."""
    name = "ordered"
    broken = True
    receiver.scripts[name] = lambda _a, _r: (503 if broken else 204, {}, 0.0)
    settings = make_settings(
        redis_url, [endpoint(receiver, name)], retry_schedule=SCHEDULE, max_in_flight=1
    )
    box = Outbox(redis, name, 86_400)
    async with _running(settings, redis) as dispatcher:
        for n in range(30):
            await dispatcher.submit(alert(n))
        await wait_for(lambda: _circuit_open(box))
        await asyncio.sleep(0.5)
        broken = False
        await receiver.wait_until(lambda: len(receiver.delivered(name)) == 30)
    failed = [r.id for r in receiver.of(name) if r.status == 503]
    probes = set(failed[5:])  # one request at a time: the first 5 failures opened it
    order = [r.id for r in receiver.of(name) if r.status == 204 and r.id not in probes]
    created = [alert(n).id for n in range(30) if alert(n).id not in probes]
    assert probes and order == created


class _running:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._dispatcher = WebhookDispatcher(settings, redis)

    async def __aenter__(self) -> WebhookDispatcher:
        await self._dispatcher.start()
        return self._dispatcher

    async def __aexit__(self, *_exc: object) -> None:
        await self._dispatcher.stop(grace=1.0)


async def test_breaker_off_spends_the_schedule_as_before(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    """webhooks.circuit_failures 0: every 503 counts, and the schedule ends in dead letters."""
    name = "nobreaker"
    receiver.scripts[name] = lambda _a, _r: (503, {}, 0.0)
    settings = make_settings(
        redis_url, [endpoint(receiver, name)], retry_schedule=[0, 1, 1], circuit_failures=0
    )
    box = Outbox(redis, name, 86_400)
    async with _running(settings, redis) as dispatcher:
        await dispatcher.submit_many([alert(1), alert(2), alert(3)])
        await wait_for(lambda: _all_dead(box, 3))
    assert [letter.attempts for letter in await box.dead_letters()] == [3, 3, 3]
    assert len(receiver.of(name)) == 9
    assert not await redis.exists(box.circuit)


async def _all_dead(box: Outbox, count: int) -> bool:
    return (await box.counts())["dead"] == count


async def test_cli_status_shows_an_open_circuit_and_enable_closes_it(
    redis: Redis, redis_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    settings = make_settings(redis_url, [endpoint(receiver, "wobbly")])
    config = settings.model_dump(mode="json", include={"webhooks"})
    config["webhooks"]["endpoints"][0]["secrets"] = [SECRET]
    (tmp_path / "c.yaml").write_bytes(orjson.dumps(config))
    monkeypatch.setenv("NEWSWATCH_REDIS_URL", redis_url)
    box = Outbox(redis, "wobbly", 86_400)
    await box.enqueue("w1", BODY, "application/json", T0)
    (job,) = await box.claim(T0, T0 + 30, 1)
    failure = await box.fail(
        job,
        kind="down",
        attempts=1,
        due=T0 + 5,
        reason="HTTP 502",
        status=502,
        now=T0 + 1,
        open_after=1,
        probe_intervals=[5.0],
    )
    assert failure.outcome == "opened"

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(tmp_path / "c.yaml"), "webhooks", *args])

    status = await asyncio.to_thread(run, "status")
    assert (
        "wobbly\tenabled\tpending=1\tdead=0\tfailing since 2027-01-15 08:00:01Z"
        "\tcircuit open since 2027-01-15 08:00:01Z (0 probes failed)\n"
    ) in status.stdout, status.output
    await asyncio.to_thread(run, "enable", "wobbly")  # starts afresh: closed
    assert (await box.health()).circuit_opened is None


async def test_an_open_circuit_with_nothing_to_probe_does_not_spin(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    """Open, its probe due, no delivery pending (or none due): the worker waits for work
    like an idle one (about one claim per poll interval), it does not claim in a loop."""
    settings = make_settings(redis_url, [endpoint(receiver, "idle")])
    box = Outbox(redis, "idle", 86_400)
    now = time.time()
    await redis.hset(box.circuit, mapping={"opened": now - 10, "probes": 2, "probe_at": now - 1})
    async with _running(settings, redis):
        await asyncio.sleep(0.3)
        await redis.config_resetstat()
        await asyncio.sleep(2.0)
        stats = await redis.info("commandstats")
    scripts = sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))
    assert scripts <= 10, stats
    assert circuit_gauge("idle") == 1
