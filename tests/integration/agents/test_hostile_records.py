"""Hostile records on every partition of a running worker, on Tansu and on Apache Kafka.

Each partition of the articles and alerts topics gets a good record, then garbage, unknown
schema versions, absurd timestamps (1e300, -1e18), control characters, huge lists, a multi-MB
body full of aliases, then another good record. Every good alert must reach Redis, no agent may
crash, each bad record must be dead-lettered with the expected reason, and the consumer group's
committed offsets must reach the end of both topics. A worker killed and restarted over such
records must not crash either.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from newswatch.streams.records import Alert, Article
from tests.support.worker import WorkerHarness, expected_alert_ids, make_articles

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

ALIASES = "DeepSeek Qwen Kimi Doubao ERNIE Hunyuan GLM MiniMax 深度求索 通义千问 百度 腾讯 "


@pytest.fixture(params=["tansu", "apache_kafka"])
def harness(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator:
    broker = request.getfixturevalue(request.param)
    h = WorkerHarness(broker.bootstrap, redis_url, tmp_path / "state")
    yield h
    h.stop()


def article_dict(article_id: str, **changes: object) -> dict:
    base = orjson.loads(
        Article(
            id=article_id,
            feed_id="hostile",
            title="DeepSeek and Qwen face new US export controls on AI chips",
            summary="Export controls on Nvidia chips hit DeepSeek and Alibaba's Qwen team.",
            lang="en",
        ).dumps()
    )
    base.update(changes)
    return base


def alert_dict(alert_id: str, **changes: object) -> dict:
    base = orjson.loads(
        Alert(id=alert_id, rule="manual", severity="high", title=f"alert {alert_id}").dumps()
    )
    base.update(changes)
    return base


def hostile_articles(tag: str) -> list[tuple[bytes | None, bytes | None, str | None]]:
    """(key, value, expected dead-letter reason or None when the record is usable)."""
    big = ALIASES * (3_000_000 // len(ALIASES))  # ~3 million characters, ~4 MB
    j = orjson.dumps
    return [
        (b"garbage", b"\xff\xfe\x00garbage\x9c", "decode"),
        (b"empty", b"", "decode"),
        (b"null", None, "decode"),
        (b"deep", b"[" * 100_000, "decode"),
        (b"list", b"[1, 2, 3]", "decode"),
        (b"v2", j(article_dict(f"{tag}-v2", schema_version=2)), "schema"),
        (b"vstr", j(article_dict(f"{tag}-vstr", schema_version="1")), "schema"),
        (b"vnone", j(article_dict(f"{tag}-vnone", schema_version=None)), "schema"),
        (b"ts-huge", j(article_dict(f"{tag}-ts1", fetched_at=1e300)), "range"),
        (b"ts-neg", j(article_dict(f"{tag}-ts2", fetched_at=-1e18)), "range"),
        (b"pub-huge", j(article_dict(f"{tag}-ts3", published=1e300)), "range"),
        (b"id-ctrl", j(article_dict(f"{tag}-ctrl\n\x1b[31m")), "range"),
        (b"id-long", j(article_dict(f"{tag}-" + "x" * 5000)), "range"),
        (b"id-type", j(article_dict(f"{tag}-t", id=12345)), "decode"),
        (b"k" * 200_000, j(article_dict(f"{tag}-bigkey", fetched_at=1e300)), "range"),
        # usable after cleaning: control characters removed, lists and text cut
        (
            b"ctrl",
            j(article_dict(f"{tag}-ctrl-title", title="Deep\x00Seek\x07 \x1b[2J chips")),
            None,
        ),
        (b"authors", j(article_dict(f"{tag}-authors", authors=["a" * 50] * 100_000)), None),
        (b"huge-body", j(article_dict(f"{tag}-huge", content=big, summary=big[:-1])), None),
    ]


def hostile_alerts(tag: str) -> list[tuple[bytes | None, bytes | None, str | None]]:
    j = orjson.dumps
    return [
        (b"garbage", b"\x00\x01\x02 not an alert", "decode"),
        (b"v0", j(alert_dict(f"{tag}-v0", schema_version=0)), "schema"),
        (b"ts-huge", j(alert_dict(f"{tag}-ts1", created_at=1e300)), "range"),
        (b"ts-neg", j(alert_dict(f"{tag}-ts2", window_start=-1e18)), "range"),
        (b"tags", j(alert_dict(f"{tag}-tags", entities=[f"e{i}" for i in range(20_000)])), "range"),
        (b"sev", j(alert_dict(f"{tag}-sev", severity="urgent")), "range"),
        (b"id-ctrl", j(alert_dict(f"{tag}-\r\nSET x")), "range"),
        (b"count", j(alert_dict(f"{tag}-count", count=2**60)), "range"),
        (b"summary", j(alert_dict(f"{tag}-summary", summary="\x00" * 10 + "s" * 3_000_000)), None),
    ]


@dataclass
class Round:
    """What one round of publishing expects."""

    alert_ids: set[str] = field(default_factory=set)
    dead: dict[tuple[str, int, int], str] = field(default_factory=dict)  # (topic, p, off)


async def publish_round(h: WorkerHarness, tag: str) -> Round:
    """Good, hostile, good on every partition of the articles and alerts topics."""
    settings = h.settings
    producer = AIOKafkaProducer(
        bootstrap_servers=h.bootstrap,
        acks="all",
        max_request_size=32 * 1024 * 1024,
        compression_type="gzip",  # the multi-MB records fit the brokers' 1 MB batch limit
    )
    await producer.start()
    expected = Round()
    try:
        for name, hostile in (("articles", hostile_articles), ("alerts", hostile_alerts)):
            topic = settings.topic(name)
            partitions = sorted(await producer.partitions_for(topic))
            assert len(partitions) == settings.topic_partitions
            for p in partitions:
                if name == "articles":
                    good = make_articles(f"{tag}-p{p}", 4)
                    first, last = good[:2], good[2:]
                    expected.alert_ids |= expected_alert_ids(good)
                    before = [(a.id.encode(), a.dumps()) for a in first]
                    after = [(a.id.encode(), a.dumps()) for a in last]
                else:
                    ids = [f"{tag}-alert-p{p}-{i}" for i in range(2)]
                    expected.alert_ids |= set(ids)
                    before = [(ids[0].encode(), Alert(**_alert(ids[0])).dumps())]
                    after = [(ids[1].encode(), Alert(**_alert(ids[1])).dumps())]
                for key, value in before:
                    await producer.send_and_wait(topic, value, key=key, partition=p)
                for key, value, reason in hostile(f"{tag}-p{p}"):
                    meta = await producer.send_and_wait(topic, value, key=key, partition=p)
                    if reason is not None:
                        expected.dead[topic, p, meta.offset] = reason
                for key, value in after:
                    await producer.send_and_wait(topic, value, key=key, partition=p)
    finally:
        await producer.stop()
    return expected


def _alert(alert_id: str) -> dict:
    return {"id": alert_id, "rule": "manual", "severity": "high", "title": f"good {alert_id}"}


async def dead_letters(h: WorkerHarness, want: int, timeout: float = 60.0) -> dict:
    """(topic, partition, offset) -> dead letter, once at least `want` arrived."""
    consumer = AIOKafkaConsumer(
        h.settings.topic("deadletter"),
        bootstrap_servers=h.bootstrap,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    found: dict = {}
    try:
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    letter = orjson.loads(record.value)
                    assert len(record.value) < 1_000_000  # a reference, not a 4 MB copy
                    found[letter["topic"], letter["partition"], letter["offset"]] = letter
    finally:
        await consumer.stop()
    return found


async def wait_committed_to_end(h: WorkerHarness, timeout: float = 60.0) -> None:
    """The worker's consumer group has committed the end offset of every partition of the
    articles and alerts topics (Faust commits only contiguous acknowledged offsets)."""
    settings = h.settings
    tps = [
        TopicPartition(settings.topic(name), p)
        for name in ("articles", "alerts")
        for p in range(settings.topic_partitions)
    ]
    consumer = AIOKafkaConsumer(bootstrap_servers=h.bootstrap)
    # A member of the worker's group that never joins it: `committed()` only asks the group
    # coordinator (OffsetFetch), which both brokers answer.
    group = AIOKafkaConsumer(
        bootstrap_servers=h.bootstrap, group_id=settings.app_id, enable_auto_commit=False
    )
    await consumer.start()
    await group.start()
    try:
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while True:
            committed = {tp: await group.committed(tp) for tp in tps}
            behind = {
                f"{tp.topic}[{tp.partition}]": (committed[tp], end)
                for tp, end in ends.items()
                if committed[tp] is None or committed[tp] < end
            }
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"committed offsets behind the end: {behind}\n{h.log()}")
            await asyncio.sleep(0.5)
    finally:
        await group.stop()
        await consumer.stop()


def assert_no_crash(h: WorkerHarness) -> None:
    assert h.metric("newswatch_agent_crashes_total") == 0, h.log()
    text = h.log_path.read_text(errors="replace")
    for sign in ("Crashed", "crashed;", "OverflowError", "MessageSizeTooLarge", "Traceback"):
        assert sign not in text, f"{sign!r} in the worker log:\n{text[-6000:]}"


async def check_round(h: WorkerHarness, expected: Round, seen_dead: int = 0) -> dict:
    ids = await h.wait_for_alerts(10**9, timeout=0)
    deadline = time.monotonic() + 120
    while not expected.alert_ids <= set(ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        ids = h.stream_ids()
    missing = expected.alert_ids - set(ids)
    assert not missing, f"{len(missing)} good alerts missing: {sorted(missing)[:5]}\n{h.log()}"
    assert len(ids) == len(set(ids))  # and each once

    letters = await dead_letters(h, seen_dead + len(expected.dead))
    reasons = {where: letters[where]["reason"] for where in expected.dead if where in letters}
    assert reasons == expected.dead, {
        where: (reason, reasons.get(where))
        for where, reason in expected.dead.items()
        if reasons.get(where) != reason
    }
    await wait_committed_to_end(h)
    assert_no_crash(h)
    return letters


async def test_hostile_records_on_every_partition_stop_nothing(harness: WorkerHarness) -> None:
    h = harness
    await h.create_topics()
    h.start()
    await h.wait_ready()
    first = await publish_round(h, "r1")
    letters = await check_round(h, first)

    by_reason = Counter(letter["reason"] for letter in letters.values())
    assert {"decode", "schema", "range"} <= set(by_reason)
    assert h.metric("newswatch_deadletter_total") >= len(first.dead)
    big_key = [x for x in letters.values() if x.get("key_sha256")]
    assert big_key and all(x["key"] is None and x["key_bytes"] == 200_000 for x in big_key)

    # The huge body was tagged (text cut to the record limits) and its record trimmed to fit.
    tagged = await h.read_topic("tagged", 10**6, timeout=10)
    huge = [orjson.loads(r.value) for r in tagged if r.key and r.key.endswith(b"-huge")]
    assert len(huge) == h.settings.topic_partitions
    assert all(t["trimmed"] and len(t["article"]["content"]) == 100_000 for t in huge)

    # kill -9 mid-stream over a second round, and restart: the worker replays what was not
    # committed, including hostile records, and must not crash on them again.
    second = await publish_round(h, "r2")
    await h.wait_for_alerts(len(first.alert_ids) + 4, timeout=30)
    h.kill9()
    third = await publish_round(h, "r3")
    h.start()
    await h.wait_ready()
    both = Round(second.alert_ids | third.alert_ids, {**second.dead, **third.dead})
    await check_round(h, both, seen_dead=len(first.dead))
    assert h.terminate() == 0
