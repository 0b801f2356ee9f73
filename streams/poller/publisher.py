"""Publishing articles to Kafka and waiting for the broker's acknowledgement."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from newswatch.streams.errors import SinkError
from newswatch.streams.poller.metrics import PRODUCER_RENEWALS
from newswatch.streams.records import Article

log = logging.getLogger(__name__)

# Errors after which an idempotent producer never succeeds again: aiokafka keeps the producer
# id and the sequence numbers it gave batches that were never written (e.g. expired while the
# whole cluster was down), and the broker rejects every later batch as out of order. The Java
# client bumps the epoch; here a new producer (new producer id) is the way out.
FATAL_PRODUCER_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


class PublishError(SinkError):
    """Kafka did not acknowledge every article of a batch."""


class Publisher(Protocol):
    async def publish(self, articles: list[Article]) -> None: ...


class KafkaPublisher:
    """Sends a feed's new articles at once (they share batches) and returns when all are acked.

    Key = article id, so every version of an article lands on the same partition.
    """

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        timeout: float = 60.0,
        renew: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout = timeout
        self._renew = renew
        self._renewing = asyncio.Lock()

    async def publish(self, articles: list[Article]) -> None:
        if not articles:
            return
        producer = self.producer
        try:
            async with asyncio.timeout(self.timeout):
                futures = [
                    await producer.send(self.topic, a.dumps(), key=a.id.encode("utf-8"))
                    for a in articles
                ]
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError) as exc:
            if isinstance(exc, FATAL_PRODUCER_ERRORS) and self._renew is not None:
                await self._replace_producer(producer, exc)
            raise PublishError(f"{type(exc).__name__}: {exc}") from None

    async def _replace_producer(self, failed: AIOKafkaProducer, cause: Exception) -> None:
        """Swap in a new producer; the failed batch is retried by the caller (the articles are
        not marked seen), so a batch the old producer did get written appears twice in the
        topic, which the consumers deduplicate by article id. Publishes failing together
        replace the producer once."""
        assert self._renew is not None
        async with self._renewing:
            if self.producer is not failed:
                return  # another publish already replaced it
            log.warning("producer unusable after %r; starting a new one", cause)
            try:
                self.producer = await self._renew()
            except KafkaError as exc:  # the cluster is still away: keep it, try again later
                log.warning("could not start a new producer yet: %r", exc)
                return
            PRODUCER_RENEWALS.inc()
        try:
            await asyncio.wait_for(failed.stop(), 10)
        except (KafkaError, TimeoutError) as exc:
            log.info("old producer did not stop cleanly: %r", exc)
