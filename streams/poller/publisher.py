"""Publishing articles to Kafka and waiting for the broker's acknowledgement."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from newswatch.streams.errors import SinkError
from newswatch.streams.records import Article


class PublishError(SinkError):
    """Kafka did not acknowledge every article of a batch."""


class Publisher(Protocol):
    async def publish(self, articles: list[Article]) -> None: ...


class KafkaPublisher:
    """Sends a feed's new articles at once (they share batches) and returns when all are acked.

    Key = article id, so every version of an article lands on the same partition.
    """

    def __init__(self, producer: AIOKafkaProducer, topic: str, timeout: float = 60.0) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout = timeout

    async def publish(self, articles: list[Article]) -> None:
        if not articles:
            return
        try:
            async with asyncio.timeout(self.timeout):
                futures = [
                    await self.producer.send(self.topic, a.dumps(), key=a.id.encode("utf-8"))
                    for a in articles
                ]
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError) as exc:
            raise PublishError(f"{type(exc).__name__}: {exc}") from None
