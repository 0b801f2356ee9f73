"""Publisher and crash recovery against a real broker (Tansu) and Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from newswatch.streams.kafka import ensure_topics
from newswatch.streams.poller.publisher import KafkaPublisher
from newswatch.streams.poller.recovery import recover_pending
from newswatch.streams.poller.service import start_producer
from newswatch.streams.poller.state import PENDING_KEY, StateStore, connect, seen_key
from newswatch.streams.records import Article
from newswatch.streams.settings import load_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


@pytest.fixture
def settings(tansu, redis_url, monkeypatch):
    for name in ("NEWSWATCH_KAFKA_SERVERS", "NEWSWATCH_REDIS_URL", "NEWSWATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return load_settings(
        kafka_servers=tansu.bootstrap,
        redis_url=redis_url,
        topic_prefix="poller-" + uuid.uuid4().hex[:8],
        topic_partitions=2,
    )


def article(n: int) -> Article:
    return Article(
        id=f"f:{n:016x}", feed_id="f", title=f"t{n}", url=f"http://x/{n}", lang="en", fetched_at=1.0
    )


async def test_publish_then_recover_only_what_kafka_has(settings) -> None:
    await ensure_topics(settings)
    producer = await start_producer(settings)
    client = connect(settings.redis_dsn)
    store = StateStore(client, 3600)
    try:
        publisher = KafkaPublisher(producer, settings.topic("articles"))
        await publisher.publish([article(1)])
        # A crash after article 1 was acked and before article 2 was sent:
        await store.begin(
            "f", "f", {article(1).id: [article(1).id, "f:l1"], article(2).id: [article(2).id]}
        )
        found, missing = await recover_pending(settings, store)
        assert (found, missing) == (1, 1)
        assert await store.unseen("f", [(article(1).id,), ("f:l1",), (article(2).id,)]) == [
            False,
            False,
            True,
        ]
        assert not await client.hlen(PENDING_KEY)
        assert await client.ttl(seen_key("f")) > 0
    finally:
        await producer.stop()
        await client.aclose()

    consumer = AIOKafkaConsumer(
        settings.topic("articles"), bootstrap_servers=settings.kafka_servers[0],
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert record.key == article(1).id.encode()
    assert Article.loads(record.value) == article(1)


async def test_nothing_pending_is_a_no_op(settings) -> None:
    client = connect(settings.redis_dsn)
    try:
        assert await recover_pending(settings, StateStore(client, 3600)) == (0, 0)
    finally:
        await client.aclose()


async def test_seen_keys_still_listed_are_refreshed(settings) -> None:
    from newswatch.streams.poller.state import FeedState

    client = connect(settings.redis_dsn)
    store = StateStore(client, 3600)
    try:
        await store.commit("f", FeedState(), ["a", "b"])
        await client.zadd(seen_key("f"), {"a": 1.0, "b": 1.0})  # pretend: first seen long ago
        await store.commit("f", FeedState(), [], still_listed=["a", "zzz"])
        assert await client.zscore(seen_key("f"), "a") > 1.0
        assert await client.zscore(seen_key("f"), "b") == 1.0
        assert await client.zscore(seen_key("f"), "zzz") is None  # XX: never adds
    finally:
        await client.aclose()
