"""Signed webhook deliveries to a local receiver, through a real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from newswatch.streams.cli import main as cli
from newswatch.streams.settings import Settings
from newswatch.streams.sinks.verify import verify_signature
from newswatch.streams.sinks.webhooks import Outbox, WebhookDispatcher
from newswatch.streams.sinks.webhooks.outbox import ENQUEUE_CHUNK
from tests.support.sinks import OLD_SECRET, SECRET, alert, endpoint, make_settings
from tests.support.webhooks import Received, Receiver, Reply

pytestmark = pytest.mark.redis


@asynccontextmanager
async def running(settings: Settings, redis: Redis) -> AsyncIterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(settings, redis)
    await dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.stop(grace=1.0)


def outbox(redis: Redis, name: str) -> Outbox:
    return Outbox(redis, name, 86_400)


def fail_first(n: int, status: int, headers: dict[str, str] | None = None) -> Callable:
    def script(attempt: int, _req: Received) -> Reply:
        return (status, headers or {}, 0.0) if attempt <= n else (200, {}, 0.0)

    return script


async def test_signed_cloudevent_delivered_once(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    settings = make_settings(redis_url, [endpoint(receiver, "ce", secrets=[OLD_SECRET, SECRET])])
    async with running(settings, redis) as dispatcher:
        assert await dispatcher.submit(alert(1)) == 1
        assert await dispatcher.submit(alert(1)) == 0  # idempotent per alert x endpoint
        await receiver.wait_until(lambda: receiver.delivered("ce"))
        await asyncio.sleep(0.2)
        assert await dispatcher.submit(alert(1)) == 0  # already delivered
    (req,) = receiver.of("ce")
    assert req.headers["Content-Type"] == "application/cloudevents+json"
    assert verify_signature(SECRET, req.headers, req.body) == alert(1).id
    assert verify_signature(OLD_SECRET, req.headers, req.body) == alert(1).id
    assert orjson.loads(req.body)["type"] == "io.newswatch.alert.v1"
    assert await outbox(redis, "ce").counts() == {"pending": 0, "dead": 0}


async def test_formats_and_filters(redis: Redis, redis_url: str, receiver: Receiver) -> None:
    settings = make_settings(
        redis_url,
        [
            endpoint(receiver, "slack", format="slack", min_severity="critical"),
            endpoint(receiver, "plain", format="json", entities=["qwen"]),
        ],
    )
    async with running(settings, redis) as dispatcher:
        assert await dispatcher.submit(alert(1)) == 0  # high, deepseek: neither wants it
        assert await dispatcher.submit(alert(2, severity="critical", entities=["qwen"])) == 2
        await receiver.wait_until(
            lambda: receiver.delivered("slack") and receiver.delivered("plain")
        )
    assert "blocks" in orjson.loads(receiver.of("slack")[0].body)
    assert orjson.loads(receiver.of("plain")[0].body)["id"] == alert(2).id
    assert [r.id for r in receiver.requests] == [alert(2).id] * 2


async def test_500_then_recovery_is_delivered_exactly_once(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    receiver.scripts["flaky"] = fail_first(2, 500)
    settings = make_settings(redis_url, [endpoint(receiver, "flaky")], retry_schedule=[0, 5, 5, 5])
    async with running(settings, redis) as dispatcher:
        for n in range(10):
            await dispatcher.submit(alert(n))
        await receiver.wait_until(lambda: len(receiver.delivered("flaky")) == 10)
        await asyncio.sleep(0.3)  # time for any stray re-delivery to show up
    delivered = receiver.delivered("flaky")
    assert set(delivered) == {alert(n).id for n in range(10)}
    assert set(delivered.values()) == {1}
    assert len(receiver.of("flaky")) == 30  # two failures + one success each


async def test_timeout_is_retried(redis: Redis, redis_url: str, receiver: Receiver) -> None:
    receiver.scripts["slowfirst"] = lambda attempt, _r: (200, {}, 2.0 if attempt == 1 else 0.0)
    settings = make_settings(redis_url, [endpoint(receiver, "slowfirst", timeout=0.5)])
    async with running(settings, redis) as dispatcher:
        await dispatcher.submit(alert(1))
        await receiver.wait_until(lambda: len(receiver.of("slowfirst")) >= 2, timeout=5)
        await asyncio.sleep(0.5)
    assert len(receiver.of("slowfirst")) >= 2  # the first one timed out (2 s > 0.5 s)
    assert await outbox(redis, "slowfirst").counts() == {"pending": 0, "dead": 0}


async def test_410_disables_the_endpoint(redis: Redis, redis_url: str, receiver: Receiver) -> None:
    receiver.scripts["gone"] = lambda _a, _r: (410, {}, 0.0)
    settings = make_settings(
        redis_url, [endpoint(receiver, "gone"), endpoint(receiver, "fine")], max_in_flight=1
    )
    gone = {"endpoint": "gone", "reason": "gone"}
    before = REGISTRY.get_sample_value("newswatch_webhook_endpoints_disabled_total", gone) or 0
    async with running(settings, redis) as dispatcher:
        await dispatcher.submit(alert(1))
        await receiver.wait_until(lambda: receiver.of("gone"))
        for n in range(2, 6):
            await dispatcher.submit(alert(n))
        await receiver.wait_until(lambda: len(receiver.delivered("fine")) == 5)
        labels = {"endpoint": "gone"}
        # The gauges are refreshed once per poll interval (1 s); nothing more may reach "gone".
        await receiver.wait_until(
            lambda: REGISTRY.get_sample_value("newswatch_webhook_dead_letters", labels) == 5
        )
        assert REGISTRY.get_sample_value("newswatch_webhook_endpoint_enabled", labels) == 0
    assert len(receiver.of("gone")) == 1
    assert (await outbox(redis, "gone").disabled())["status"] == 410
    letters = await outbox(redis, "gone").dead_letters()
    assert {letter.id for letter in letters} == {alert(n).id for n in range(1, 6)}
    assert await outbox(redis, "fine").disabled() is None
    after = REGISTRY.get_sample_value("newswatch_webhook_endpoints_disabled_total", gone)
    assert after == before + 1


async def test_429_retry_after_is_honoured(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    receiver.scripts["busy"] = fail_first(1, 429, {"Retry-After": "1"})
    settings = make_settings(redis_url, [endpoint(receiver, "busy")])
    async with running(settings, redis) as dispatcher:
        await dispatcher.submit(alert(1))
        await receiver.wait_until(lambda: receiver.delivered("busy"), timeout=5)
    first, second = receiver.of("busy")
    # The schedule alone (5 s / 1000) would retry within 5 ms.
    assert second.at - first.at >= 0.95


async def test_slow_endpoint_does_not_delay_another(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    receiver.scripts["slow"] = lambda _a, _r: (200, {}, 3.0)
    settings = make_settings(
        redis_url,
        [endpoint(receiver, "slow", timeout=5), endpoint(receiver, "fast")],
        max_in_flight=2,
    )
    async with running(settings, redis) as dispatcher:
        started = time.monotonic()
        for n in range(20):
            await dispatcher.submit(alert(n))
        submitted = time.monotonic() - started
        await receiver.wait_until(lambda: len(receiver.delivered("fast")) == 20, timeout=5)
        fast_done = time.monotonic() - started
        slow_so_far = len(receiver.delivered("slow"))
        await dispatcher.stop(grace=3)
    assert submitted < 1.0  # submit never waits for a delivery
    assert fast_done < 2.5  # before the first answer of "slow" (3 s), not behind ten rounds
    assert slow_so_far == 0


async def test_exhausted_schedule_dead_letters_then_cli_replays(
    redis: Redis, redis_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 400: the receiver refuses these deliveries (a 5xx would open the endpoint's circuit,
    # which holds deliveries instead of spending their attempts: see test_webhook_breaker.py).
    broken = True
    receiver.scripts["down"] = lambda _a, _r: (400 if broken else 200, {}, 0.0)
    settings = make_settings(redis_url, [endpoint(receiver, "down")], retry_schedule=[0, 1, 1])
    async with running(settings, redis) as dispatcher:
        await dispatcher.submit(alert(1))
        await dispatcher.submit(alert(2))
        await receiver.wait_until(lambda: len(receiver.of("down")) == 6)
        await asyncio.sleep(0.2)
        assert len(receiver.of("down")) == 6
        letters = await outbox(redis, "down").dead_letters()
        assert [(x.reason, x.attempts) for x in letters] == [("HTTP 400", 3)] * 2

        config = settings.model_dump(mode="json", exclude={"redis_url"})
        config["webhooks"]["endpoints"][0]["secrets"] = [SECRET]
        monkeypatch.setenv("NEWSWATCH_REDIS_URL", redis_url)
        runner = CliRunner()
        with runner.isolated_filesystem():
            with open("c.yaml", "wb") as out:
                out.write(orjson.dumps({"webhooks": config["webhooks"]}))
            listed = await asyncio.to_thread(
                runner.invoke,
                cli,
                ["--config", "c.yaml", "webhooks", "dead-letters", "list", "--json"],
            )
            assert listed.exit_code == 0, listed.output
            rows = [orjson.loads(line) for line in listed.stdout.splitlines()]
            assert sorted(r["id"] for r in rows) == [alert(1).id, alert(2).id]
            assert rows[0]["body"]["specversion"] == "1.0"

            broken = False
            replayed = await asyncio.to_thread(
                runner.invoke,
                cli,
                ["--config", "c.yaml", "webhooks", "dead-letters", "replay", "--id", alert(2).id],
            )
            assert replayed.exit_code == 0, replayed.output
            assert "down: 1 dead letter(s) queued again" in replayed.stdout
        await receiver.wait_until(lambda: receiver.delivered("down"), timeout=5)
        await asyncio.sleep(0.2)
    assert dict(receiver.delivered("down")) == {alert(2).id: 1}
    assert [x.id for x in await outbox(redis, "down").dead_letters()] == [alert(1).id]
    with runner.isolated_filesystem():
        with open("c.yaml", "wb") as out:
            out.write(orjson.dumps({"webhooks": config["webhooks"]}))
        purged = await asyncio.to_thread(
            runner.invoke, cli, ["--config", "c.yaml", "webhooks", "dead-letters", "purge", "--yes"]
        )
    assert "down: 1 dead letter(s) deleted" in purged.stdout, purged.output
    assert await outbox(redis, "down").dead_letters() == []


async def test_blocked_address_is_dead_lettered_at_once_and_replayable(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    """Without an allowance the SSRF guard refuses the loopback receiver: no request reaches
    it, the delivery is dead-lettered after one attempt with the reason (retrying cannot
    help), and a replay once the address is allowed delivers it."""
    refused = make_settings(redis_url, [endpoint(receiver, "local")], allowed_networks=[])
    blocked = REGISTRY.get_sample_value(
        "newswatch_ssrf_blocked_total", {"client": "webhooks", "reason": "loopback"}
    )
    async with running(refused, redis) as dispatcher:
        await dispatcher.submit(alert(1))
        box = outbox(redis, "local")
        for _ in range(500):
            if (await box.counts())["dead"]:
                break
            await asyncio.sleep(0.01)
    (letter,) = await box.dead_letters()
    assert letter.attempts == 1
    assert letter.reason.startswith("blocked address: 127.0.0.1: loopback address refused")
    assert "NEWSWATCH_WEBHOOKS__ALLOWED_NETWORKS" in letter.reason
    assert receiver.requests == []
    after = REGISTRY.get_sample_value(
        "newswatch_ssrf_blocked_total", {"client": "webhooks", "reason": "loopback"}
    )
    assert after == (blocked or 0) + 1

    allowed = make_settings(redis_url, [endpoint(receiver, "local")])
    async with running(allowed, redis):
        assert await box.replay() == 1
        await receiver.wait_until(lambda: receiver.delivered("local"))
    assert dict(receiver.delivered("local")) == {alert(1).id: 1}


async def test_stop_mid_flight_and_restart_delivers_once(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    receiver.scripts["steady"] = lambda _a, _r: (200, {}, 0.05)
    settings = make_settings(redis_url, [endpoint(receiver, "steady")], max_in_flight=4)
    ids = {alert(n).id for n in range(100)}
    first = WebhookDispatcher(settings, redis)
    await first.start()
    for n in range(100):
        await first.submit(alert(n))
    await receiver.wait_until(lambda: len(receiver.requests) >= 20)
    await first.stop()  # in-flight deliveries finish, the rest stay queued
    assert len(receiver.requests) < 100
    async with running(settings, redis):
        await receiver.wait_until(lambda: set(receiver.delivered("steady")) == ids, timeout=15)
        await asyncio.sleep(0.2)
    assert set(receiver.delivered("steady").values()) == {1}
    assert len(receiver.requests) == 100


async def test_two_dispatchers_share_one_outbox(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    receiver.scripts["shared"] = lambda _a, _r: (200, {}, 0.01)
    settings = make_settings(redis_url, [endpoint(receiver, "shared")], max_in_flight=4)
    async with running(settings, redis) as one, running(settings, redis) as two:
        for n in range(60):
            await (one if n % 2 else two).submit(alert(n))
            await (two if n % 2 else one).submit(alert(n))  # both see every alert
        await receiver.wait_until(lambda: len(receiver.delivered("shared")) == 60)
        await asyncio.sleep(0.3)
    assert len(receiver.requests) == 60


async def test_cli_status_enable_and_replay_of_a_disabled_endpoint(
    redis: Redis, redis_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    gone = True
    receiver.scripts["back"] = lambda _a, _r: (410 if gone else 200, {}, 0.0)
    settings = make_settings(redis_url, [endpoint(receiver, "back")])
    config = settings.model_dump(mode="json", include={"webhooks"})
    config["webhooks"]["endpoints"][0]["secrets"] = [SECRET]
    (tmp_path / "c.yaml").write_bytes(orjson.dumps(config))
    monkeypatch.setenv("NEWSWATCH_REDIS_URL", redis_url)

    def run(*args: str):
        return CliRunner().invoke(cli, ["--config", str(tmp_path / "c.yaml"), "webhooks", *args])

    async with running(settings, redis) as dispatcher:
        await dispatcher.submit(alert(1))
        await receiver.wait_until(lambda: receiver.of("back"))
        await dispatcher.submit(alert(2))  # disabled (or about to be): to the dead letters
        box = outbox(redis, "back")
        for _ in range(500):
            if (await box.counts())["dead"] == 2:
                break
            await asyncio.sleep(0.01)

        status = await asyncio.to_thread(run, "status")
        assert "back\tDISABLED (HTTP 410 Gone)\tpending=0\tdead=2" in status.stdout
        refused = await asyncio.to_thread(run, "dead-letters", "replay", "--endpoint", "back")
        assert refused.exit_code == 1 and "newswatch webhooks enable back" in refused.stderr

        gone = False
        enabled = await asyncio.to_thread(run, "enable", "back")
        assert enabled.stdout.strip() == "back: enabled"
        replayed = await asyncio.to_thread(run, "dead-letters", "replay")
        assert "back: 2 dead letter(s) queued again" in replayed.stdout
        await receiver.wait_until(lambda: len(receiver.delivered("back")) == 2, timeout=5)
        unknown = await asyncio.to_thread(run, "enable", "nobody")
        assert unknown.exit_code == 2
    assert len(receiver.of("back")) == 3


async def test_submit_many_queues_a_batch_once_with_the_same_filters(
    redis: Redis, redis_url: str, receiver: Receiver
) -> None:
    settings = make_settings(
        redis_url,
        [
            endpoint(receiver, "all"),
            endpoint(receiver, "crit", format="slack", min_severity="critical"),
            endpoint(receiver, "qwen", format="json", entities=["qwen"]),
        ],
    )
    # More deliveries than one Lua call takes (ENQUEUE_CHUNK): several calls, one round trip.
    alerts = [alert(n) for n in range(1_200)]
    alerts += [alert(n, severity="critical", entities=["qwen"]) for n in range(1_200, 1_210)]
    dispatcher = WebhookDispatcher(settings, redis)  # not started: nothing is sent
    assert ENQUEUE_CHUNK < 1_230 < 2 * ENQUEUE_CHUNK
    await redis.config_resetstat()
    # A repeat inside the batch is queued once.
    assert await dispatcher.submit_many([*alerts, alerts[0], alerts[-1]]) == 1_230
    calls = await redis.info("commandstats")
    scripts = sum(calls.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))
    assert scripts == 2  # one Lua call per ENQUEUE_CHUNK deliveries, not one per alert
    assert await dispatcher.submit_many(alerts) == 0  # idempotent per alert x endpoint
    assert await dispatcher.submit(alerts[5]) == 0  # the same keys as submit
    assert await dispatcher.submit_many([]) == 0
    expected = {"all": 1_210, "crit": 10, "qwen": 10}
    for name, pending in expected.items():
        assert await outbox(redis, name).counts() == {"pending": pending, "dead": 0}
    jobs = await redis.hgetall(outbox(redis, "qwen").jobs)
    assert {key.decode() for key in jobs} == {alert(n).id for n in range(1_200, 1_210)}
    job = orjson.loads(jobs[alert(1_205).id.encode()])
    assert job["content_type"] == "application/json"
    assert job["body"].encode() == orjson.dumps(alerts[1_205].to_dict())

    # Delivered, dead-lettered, or for a disabled endpoint: the same outcomes as submit.
    await outbox(redis, "all").complete([alert(0).id])
    await outbox(redis, "crit").disable("HTTP 410 Gone", 410, time.time())
    more = [alert(0), alert(2_000, severity="critical")]
    assert await dispatcher.submit_many(more) == 1  # alert 2000 to "all"; "crit" is disabled
    assert (await outbox(redis, "crit").counts())["dead"] == 11
    assert await dispatcher.submit_many(more) == 0


async def test_submit_many_then_deliver(redis: Redis, redis_url: str, receiver: Receiver) -> None:
    settings = make_settings(redis_url, [endpoint(receiver, "a"), endpoint(receiver, "b")])
    async with running(settings, redis) as dispatcher:
        assert await dispatcher.submit_many([alert(n) for n in range(50)]) == 100
        for name in ("a", "b"):
            await receiver.wait_until(lambda n=name: len(receiver.delivered(n)) == 50)
        await asyncio.sleep(0.2)
    assert len(receiver.requests) == 100
    assert {r.id for r in receiver.requests} == {alert(n).id for n in range(50)}
