"""The webhook outbox stays bounded and gives up on dead endpoints, on a real redis-server:
dead letters capped per endpoint and expired after their TTL (old data included), an endpoint
whose every delivery fails for `disable_after_days` disabled (metric, log line), and
`newswatch webhooks enable` starting it afresh."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from newswatch.streams.cli import main as cli
from newswatch.streams.sinks.webhooks import Outbox, WebhookDispatcher
from newswatch.streams.sinks.webhooks.outbox import enqueue_many
from tests.support.sinks import SECRET, alert, endpoint, make_settings
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.redis

T0 = 1_800_000_000.0
BODY = b'{"x":1}'


def _dropped(name: str, reason: str) -> float:
    labels = {"endpoint": name, "reason": reason}
    return REGISTRY.get_sample_value("newswatch_webhook_dead_letters_dropped_total", labels) or 0.0


async def _bury(box: Outbox, ids: list[str], start: float) -> None:
    """Queue, claim and dead-letter `ids`, one second apart from `start`."""
    for offset, alert_id in enumerate(ids):
        now = start + offset
        assert await box.enqueue(alert_id, BODY, "application/json", now) == 1
        (job,) = await box.claim(now, now + 30, 10)
        await box.bury(job.id, "HTTP 500", 500, 3, now)


async def test_dead_letters_are_capped_oldest_first(redis: Redis) -> None:
    box = Outbox(redis, "capped", 86_400, dead_letter_max=3, dead_letter_ttl=10 * 86_400)
    before = _dropped("capped", "cap")
    await _bury(box, [f"a{n}" for n in range(5)], T0)
    assert [letter.id for letter in await box.dead_letters()] == ["a2", "a3", "a4"]
    assert await redis.hlen(box.dead_info) == 3 and await redis.zcard(box.dead_at) == 3
    assert _dropped("capped", "cap") == before + 2
    # A disabled endpoint's new alerts go to the dead letters: the cap holds there too.
    moved, _ = await box.disable("HTTP 410 Gone", 410, T0 + 10)
    assert moved == 0
    await enqueue_many([(box, [(f"b{n}", BODY, "application/json") for n in range(4)])], T0 + 11)
    assert [letter.id for letter in await box.dead_letters()][-3:] == ["b1", "b2", "b3"]
    assert (await box.counts())["dead"] == 3
    assert _dropped("capped", "cap") == before + 6


async def test_dead_letters_expire_after_their_ttl(redis: Redis) -> None:
    box = Outbox(redis, "ttl", 86_400, dead_letter_max=100, dead_letter_ttl=100)
    before = _dropped("ttl", "ttl")
    await _bury(box, ["old1", "old2"], T0)
    assert await box.prune_dead(now=T0 + 50) == (0, 0)
    await _bury(box, ["new"], T0 + 150)  # burying expires what is older than the TTL
    assert [letter.id for letter in await box.dead_letters()] == ["new"]
    assert await box.prune_dead(now=T0 + 400) == (1, 0)
    assert await box.dead_letters() == [] and await redis.zcard(box.dead_at) == 0
    assert _dropped("ttl", "ttl") == before + 3


async def test_dead_letters_written_before_the_index_are_pruned(redis: Redis) -> None:
    """Dead letters of an older version (no dead_at index) get indexed by their recorded
    time and expire like the others."""
    box = Outbox(redis, "legacy", 86_400, dead_letter_max=100, dead_letter_ttl=100)
    job = orjson.dumps({"body": BODY.decode(), "content_type": "application/json", "queued": T0})
    for alert_id, at in (("old", T0), ("recent", T0 + 500)):
        await redis.hset(box.dead, alert_id, job)
        await redis.hset(box.dead_info, alert_id, orjson.dumps({"reason": "x", "at": at}))
    await redis.hset(box.dead, "no-info", job)
    assert await box.prune_dead(now=T0 + 550) == (1, 0)
    assert sorted(letter.id for letter in await box.dead_letters()) == ["no-info", "recent"]
    assert await redis.zscore(box.dead_at, "no-info") == T0 + 550


async def test_replay_and_purge_keep_the_index_in_step(redis: Redis) -> None:
    box = Outbox(redis, "steps", 86_400)
    await _bury(box, ["r1", "r2", "r3"], time.time())
    assert await box.replay(["r1"]) == 1
    assert await box.purge(["r2"]) == 1
    assert await redis.zrange(box.dead_at, 0, -1) == [b"r3"]
    assert await box.purge() == 1
    assert not await redis.exists(box.dead_at)


async def test_failing_streak_starts_once_and_ends_with_a_success(redis: Redis) -> None:
    box = Outbox(redis, "streak", 86_400)
    for n in range(3):
        await box.enqueue(f"s{n}", BODY, "application/json", T0)
    await box.claim(T0, T0 + 30, 10)
    assert await box.reschedule("s0", T0 + 5, 1, now=T0 + 1) == T0 + 1
    assert await box.reschedule("s1", T0 + 5, 1, now=T0 + 2) == T0 + 1, "the streak runs on"
    since, _ = await box.bury("s2", "HTTP 500", 500, 3, T0 + 3)
    assert since == T0 + 1 and await box.failing_since() == T0 + 1
    await box.complete(["s0"])
    assert await box.failing_since() is None, "a success ends the streak"
    assert await box.reschedule("s1", T0 + 9, 2, now=T0 + 8) == T0 + 8


async def test_endpoint_failing_for_days_is_disabled(
    redis: Redis, redis_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Every delivery to `down` fails (HTTP 503); with days compressed (time_scale) it is
    disabled once the streak passes disable_after_days, while `fine` keeps delivering."""
    receiver.scripts["down"] = lambda _a, _r: (503, {}, 0.0)
    settings = make_settings(
        redis_url,
        [endpoint(receiver, "down"), endpoint(receiver, "fine")],
        retry_schedule=[0] + [50] * 50,  # up to 50 ms apart after the time scale
        time_scale=1000.0,
        disable_after_days=0.005,  # 432 s / 1000: disabled after ~0.4 s of failures
    )
    labels = {"endpoint": "down", "reason": "failing"}
    before = REGISTRY.get_sample_value("newswatch_webhook_endpoints_disabled_total", labels) or 0
    caplog.set_level(logging.WARNING, logger="newswatch")
    dispatcher = WebhookDispatcher(settings, redis)
    await dispatcher.start()
    try:
        await dispatcher.submit_many([alert(1), alert(2)])
        box = Outbox(redis, "down", 86_400)
        for _ in range(1000):
            if await box.disabled() is not None:
                break
            await asyncio.sleep(0.01)
        disabled = await box.disabled()
        assert disabled is not None and "every delivery failed for" in disabled["reason"]
        assert disabled["status"] == 503
        for _ in range(200):  # the disable moved the pending deliveries to the dead letters
            if (await box.counts())["dead"] == 2:
                break
            await asyncio.sleep(0.01)
        assert await box.counts() == {"pending": 0, "dead": 2}
        requests = len(receiver.of("down"))
        assert requests >= 3
        await dispatcher.submit(alert(3))
        await receiver.wait_until(lambda: len(receiver.delivered("fine")) == 3)
        await asyncio.sleep(0.2)
        assert len(receiver.of("down")) == requests, "no request to a disabled endpoint"
        assert (await box.counts())["dead"] == 3
    finally:
        await dispatcher.stop(grace=1.0)
    after = REGISTRY.get_sample_value("newswatch_webhook_endpoints_disabled_total", labels)
    assert after == before + 1
    gauge = {"endpoint": "down"}
    assert REGISTRY.get_sample_value("newswatch_webhook_endpoint_enabled", gauge) == 0
    assert "re-enable with `newswatch webhooks enable down`" in caplog.text
    assert "every delivery failed since" in caplog.text


async def test_cli_status_shows_the_streak_and_enable_resets_it(
    redis: Redis, redis_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    settings = make_settings(redis_url, [endpoint(receiver, "flaky")])
    config = settings.model_dump(mode="json", include={"webhooks"})
    config["webhooks"]["endpoints"][0]["secrets"] = [SECRET]
    (tmp_path / "c.yaml").write_bytes(orjson.dumps(config))
    monkeypatch.setenv("NEWSWATCH_REDIS_URL", redis_url)
    box = Outbox(redis, "flaky", 86_400)
    await box.enqueue("f1", BODY, "application/json", T0)
    await box.claim(T0, T0 + 30, 1)
    await box.reschedule("f1", T0 + 5, 1, now=T0)
    await box.disable("every delivery failed for 5.0 days", 500, T0 + 5 * 86_400)

    def run(*args: str):
        return CliRunner().invoke(cli, ["--config", str(tmp_path / "c.yaml"), "webhooks", *args])

    status = await asyncio.to_thread(run, "status")
    assert (
        "flaky\tDISABLED (every delivery failed for 5.0 days)\tpending=0\tdead=1"
        "\tfailing since 2027-01-15 08:00:00Z"
    ) in status.stdout
    enabled = await asyncio.to_thread(run, "enable", "flaky")
    assert enabled.stdout.strip() == "flaky: enabled"
    assert await box.disabled() is None and await box.failing_since() is None
    status = await asyncio.to_thread(run, "status")
    assert "flaky\tenabled\tpending=0\tdead=1\n" in status.stdout


async def test_cli_list_deletes_expired_dead_letters(
    redis: Redis, redis_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """With no worker running, `dead-letters list` still shows none older than the TTL."""
    settings = make_settings(redis_url, [endpoint(receiver, "quiet")], dead_letter_ttl_days=14)
    config = settings.model_dump(mode="json", include={"webhooks"})
    config["webhooks"]["endpoints"][0]["secrets"] = [SECRET]
    (tmp_path / "c.yaml").write_bytes(orjson.dumps(config))
    monkeypatch.setenv("NEWSWATCH_REDIS_URL", redis_url)
    box = Outbox(redis, "quiet", 86_400, dead_letter_ttl=30 * 86_400)  # as an older config had
    now = time.time()
    await _bury(box, ["stale"], now - 20 * 86_400)
    await _bury(box, ["fresh"], now - 86_400)
    listed = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["--config", str(tmp_path / "c.yaml"), "webhooks", "dead-letters", "list"],
    )
    assert listed.exit_code == 0, listed.output
    assert "\tfresh\t" in listed.stdout and "stale" not in listed.stdout
    assert [letter.id for letter in await box.dead_letters()] == ["fresh"]
