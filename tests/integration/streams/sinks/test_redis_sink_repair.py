"""The Redis sink's repair after a host crash, on a real redis-server (AOF) and Tansu.

A power loss under `appendfsync everysec` keeps a prefix of the AOF: the tests emulate it by
restarting redis-server on a copy of its AOF directory taken earlier (or cut at an arbitrary
byte), after the sink had written more alerts and moved its watermark. The alerts written
after the cut are then missing although their offsets were "committed"; the repair must bring
every one of them back exactly once, from the alerts topic.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from newswatch.streams.kafka import ensure_topics
from newswatch.streams.records import Alert
from newswatch.streams.settings import Settings, load_settings
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.api import alert_stats
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from newswatch.streams.sinks.repair import AlertSinkRepair, offset_ranges
from tests.support.redis_host import RedisHost
from tests.support.sinks import SECRET, alert, make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

PARTITIONS = 2


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RedisHost]:
    h = RedisHost(tmp_path / "redis")
    yield h
    h.stop()


@dataclass
class Rig:
    """The alerts topic on Tansu, the sink and its repair on `host`'s Redis, and a stand-in
    for the live sink agent: write a batch, then `after_batch`."""

    settings: Settings
    redis: Redis
    sink: RedisAlertSink
    repair: AlertSinkRepair
    producer: AIOKafkaProducer
    owned: set[int] = field(default_factory=lambda: set(range(PARTITIONS)))
    dead: list[tuple[int, int, str]] = field(default_factory=list)
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)  # alert id -> (p, offset)

    async def publish(self, items: list[Alert | bytes], **kw: Any) -> list[tuple[int, int]]:
        """To the alerts topic, keyed by alert id; returns (partition, offset) of each."""
        out = []
        for n, item in enumerate(items):
            key = item.id.encode() if isinstance(item, Alert) else f"junk-{n}".encode()
            value = item.dumps() if isinstance(item, Alert) else item
            meta = await self.producer.send_and_wait(
                self.settings.topic("alerts"), value, key=key, **kw
            )
            out.append((meta.partition, meta.offset))
            if isinstance(item, Alert):
                self.offsets[item.id] = out[-1]
        return out

    async def live(self, items: list[Alert | bytes], batch: int = 7) -> None:
        """What the sink agent does with these records: publish, then per batch write the
        alerts (junk is dead-lettered by the agent) and move the watermark."""
        positions = await self.publish(items)
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            await self.sink.write_many([a for a in chunk if isinstance(a, Alert)])
            assert await self.repair.after_batch(offset_ranges(positions[i : i + batch])) == []

    async def stream_ids(self) -> Counter[str]:
        return Counter(f[b"id"].decode() for _, f in await self.redis.xrange(keys.STREAM))

    async def watermarks(self) -> dict[int, int]:
        raw = await self.redis.hgetall(self.repair.key)
        return {int(k): int(v) for k, v in raw.items()}


async def _rig(tansu: Any, url: str, **alerts: Any) -> Rig:
    prefix = f"r{uuid.uuid4().hex[:10]}"
    settings = load_settings(
        kafka_servers=tansu.bootstrap,
        redis_url=url,
        topic_prefix=prefix,
        app_id=prefix,
        topic_partitions=PARTITIONS,
        alerts=alerts,
    )
    await ensure_topics(settings)
    redis = make_redis(settings)
    sink = RedisAlertSink(redis, settings)
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all")
    await producer.start()
    rig = Rig(settings, redis, sink, None, producer)  # type: ignore[arg-type]

    async def dead_letter(record: Any, error: BaseException | str) -> None:
        rig.dead.append((record.partition, record.offset, repr(error)))

    rig.repair = AlertSinkRepair(
        redis,
        sink,
        settings,
        settings.topic("alerts"),
        owned=lambda: set(rig.owned),
        dead_letter=dead_letter,
    )
    return rig


@pytest.fixture
async def rig(tansu: Any, host: RedisHost) -> AsyncIterator[Rig]:
    r = await _rig(tansu, host.server.url)
    yield r
    await r.producer.stop()
    await r.redis.aclose()


async def test_a_lost_second_comes_back_exactly_once_at_the_next_batch(
    rig: Rig, host: RedisHost
) -> None:
    before = [alert(n) for n in range(40)]
    lost = [alert(n) for n in range(40, 100)]
    await rig.live(before)
    host.snapshot()
    marks_at_snapshot = await rig.watermarks()
    await rig.live(lost)
    assert sum((await rig.stream_ids()).values()) == 100

    host.power_loss()
    assert set(await rig.stream_ids()) == {a.id for a in before}  # the last "second" is gone
    assert await rig.watermarks() == marks_at_snapshot  # and the watermark with it

    # The next live batch: its first offset is beyond the watermark + 1 on every partition.
    after = [alert(n) for n in range(100, 110)]
    positions = await rig.publish(after)
    await rig.sink.write_many(after)
    results = await rig.repair.after_batch(offset_ranges(positions))

    assert sorted(r.partition for r in results) == list(range(PARTITIONS))
    assert sum(r.repaired for r in results) == len(lost)
    assert all(r.outcome == "done" and r.trigger == "batch" for r in results)
    everything = before + lost + after
    assert await rig.stream_ids() == Counter(a.id for a in everything)  # each exactly once
    assert (await alert_stats(rig.redis))["total"] == len(everything)  # counted once too
    for item in lost:
        assert await rig.redis.exists(keys.alert_key(item.id))
        assert await rig.redis.zscore(keys.INDEX_ALL, item.id) is not None
    assert await rig.watermarks() == {
        p: max(o for q, o in rig.offsets.values() if q == p) for p in range(PARTITIONS)
    }
    assert await rig.repair.check() == []  # nothing left to repair


async def test_webhook_deliveries_lost_with_the_second_are_queued_again(
    rig: Rig, host: RedisHost
) -> None:
    """The outbox lives in the same Redis and loses the same second: the repair queues the
    replayed alerts again, and the outbox's idempotence keeps only the lost ones."""
    from newswatch.streams.sinks.webhooks import WebhookDispatcher

    hook = {"name": "siem", "url": "http://127.0.0.1:9/hook", "secrets": [SECRET]}
    settings = make_settings(host.server.url, [hook])
    dispatcher = WebhookDispatcher(settings, rig.redis)  # not started: nothing is sent
    rig.repair._resubmit = dispatcher.submit_many
    jobs = "newswatch:webhooks:siem:jobs"  # the outbox's queued deliveries (outbox.py)

    async def live(items: list[Alert]) -> None:  # the sink agent: stream, then outbox
        positions = await rig.publish(items)
        await rig.sink.write_many(items)
        assert await dispatcher.submit_many(items) == len(items)
        assert await rig.repair.after_batch(offset_ranges(positions)) == []

    before = [alert(n) for n in range(30)]
    lost = [alert(n) for n in range(30, 70)]
    await live(before)
    host.snapshot()
    await live(lost)
    host.power_loss()
    assert set(await rig.redis.hkeys(jobs)) == {a.id.encode() for a in before}

    results = await rig.repair.check()
    assert sum(r.repaired for r in results) == len(lost)
    assert sum(r.requeued for r in results) == len(lost)  # the kept 30 are not queued twice
    queued = {k.decode() for k in await rig.redis.hkeys(jobs)}
    assert queued == {a.id for a in before + lost}


async def test_an_aof_cut_inside_a_script_loses_alert_and_dedup_key_together(
    rig: Rig, host: RedisHost
) -> None:
    await rig.live([alert(n) for n in range(30)])
    host.snapshot()
    await rig.live([alert(n) for n in range(30, 90)], batch=1)
    host.power_loss(cut_into_tail=True)

    ids = await rig.stream_ids()
    assert 30 < len(ids) < 90  # a part of the tail survived
    for n in range(90):  # atomic per alert: key and stream entry both there, or neither
        key = await rig.redis.exists(keys.alert_key(alert(n).id))
        assert bool(key) == (alert(n).id in ids), n

    results = await rig.repair.check()  # no new alert: the periodic check finds the gap
    assert results and all(r.trigger == "check" for r in results)
    assert sum(r.repaired for r in results) == 90 - len(ids)
    assert await rig.stream_ids() == Counter(alert(n).id for n in range(90))
    assert (await alert_stats(rig.redis))["total"] == 90


async def test_a_repeated_repair_writes_nothing_twice(rig: Rig, host: RedisHost) -> None:
    items = [alert(n) for n in range(50)]
    await rig.live(items)
    await rig.redis.delete(rig.repair.key)  # as if every watermark were lost, nothing else
    results = await rig.repair.check()
    assert sum(r.records for r in results) == 50
    assert sum(r.repaired for r in results) == 0
    assert await rig.stream_ids() == Counter(a.id for a in items)


async def test_only_owned_partitions_are_repaired(rig: Rig, host: RedisHost) -> None:
    await rig.live([alert(n) for n in range(20)])
    host.snapshot()
    marks = await rig.watermarks()
    await rig.live([alert(n) for n in range(20, 60)])
    host.power_loss()

    rig.owned = {0}
    results = await rig.repair.check()
    # the check forgets partition 1 (no longer ours); its new owner finds the gap
    assert [(r.partition, r.outcome) for r in results] == [(0, "done")]
    assert (await rig.watermarks())[1] == marks[1]
    missing = {a for a, (p, _) in rig.offsets.items() if p == 1} - set(await rig.stream_ids())
    assert missing

    # Partition 1's new owner: its first batch starts past the watermark.
    rig.owned = {0, 1}
    extra = alert(1000)
    (position,) = await rig.publish([extra])
    await rig.sink.write_many([extra])
    await rig.repair.after_batch(offset_ranges([position]))
    assert await rig.stream_ids() == Counter([*rig.offsets])


async def test_poison_records_in_a_replay_are_dead_lettered(rig: Rig, host: RedisHost) -> None:
    await rig.live([alert(n) for n in range(10)])
    host.snapshot()
    junk = [b"not json", b'{"schema_version": 99}']
    await rig.live([alert(10), junk[0], alert(11), junk[1], *(alert(n) for n in range(12, 30))])
    host.power_loss()

    results = await rig.repair.check()
    assert sum(r.dead_letters for r in results) == 2
    assert len(rig.dead) == 2 and all("Error" in error for *_, error in rig.dead)
    assert await rig.stream_ids() == Counter(alert(n).id for n in range(30))


async def test_without_a_watermark_the_repair_looks_back_no_further_than_the_lookback(
    tansu: Any, host: RedisHost
) -> None:
    rig = await _rig(tansu, host.server.url, repair_lookback_seconds=600)
    try:
        old = [alert(n) for n in range(10)]
        recent = [alert(n) for n in range(10, 30)]
        await rig.publish(old, timestamp_ms=int((time.time() - 3600) * 1000))
        await rig.publish(recent)
        last = alert(99)
        (position,) = await rig.publish([last])
        # A wiped Redis (no watermark) and a worker whose group had committed everything before.
        await rig.sink.write_many([last])
        results = await rig.repair.after_batch(offset_ranges([position]))

        (result,) = results
        assert result.watermark == -1
        in_partition = [a for a, (p, _) in rig.offsets.items() if p == position[0]]
        old_here = [a.id for a in old if a.id in in_partition]
        assert result.skipped_offsets == len(old_here)
        assert set(await rig.stream_ids()) == {
            a for a in in_partition if a not in old_here
        }  # the recent ones of that partition, none of the old
        assert (await rig.watermarks())[position[0]] == position[1]
    finally:
        await rig.producer.stop()
        await rig.redis.aclose()
