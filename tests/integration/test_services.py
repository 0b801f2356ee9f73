"""The session fixtures and the test webhook receiver start real servers that answer on
loopback."""

import aiohttp
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.webhooks import Receiver


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


async def _post(http: aiohttp.ClientSession, url: str, webhook_id: str) -> int:
    async with http.post(url, data=b"{}", headers={"webhook-id": webhook_id}) as response:
        return response.status


async def test_receiver_refuses_while_down_and_comes_back_on_its_port(receiver: Receiver) -> None:
    """What the chaos run's webhook outage relies on: stop() closes the port, start() listens
    again on the same one, although the server closed a kept-alive connection of the sender
    (as a dispatcher holds them) and that connection is still in TIME_WAIT."""
    port = receiver.port
    async with aiohttp.ClientSession() as http:
        assert await _post(http, receiver.url("hook"), "a") == 204
        await receiver.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await _post(http, receiver.url("hook"), "lost")
        await receiver.start()
        assert receiver.port == port
        assert await _post(http, receiver.url("hook"), "b") == 204
    assert receiver.ids("hook") == ["a", "b"]
