"""The session fixtures start real servers that answer on loopback."""

import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


def test_redis_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.ping() is True
    client.set("k", "v")
    assert client.get("k") == b"v"


async def test_tansu_round_trip(tansu) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("fixture-check", b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        "fixture-check", bootstrap_servers=tansu.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == b"hello" and record.key == b"k"
