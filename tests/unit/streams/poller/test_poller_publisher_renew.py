"""KafkaPublisher replaces a producer that can never succeed again (OutOfOrderSequenceNumber
after a whole-cluster outage, found by the chaos harness) and keeps one that merely failed."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber

from newswatch.streams.poller.metrics import PRODUCER_RENEWALS
from newswatch.streams.poller.publisher import KafkaPublisher, PublishError
from newswatch.streams.records import Article


class FakeProducer:
    """send() returns a future that fails with `error` (or succeeds when None)."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.sent: list[bytes] = []
        self.stopped = False

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if self.error is None:
            self.sent.append(key)
            future.set_result(None)
        else:
            future.set_exception(self.error)
        return future

    async def stop(self) -> None:
        self.stopped = True


def article(n: int) -> Article:
    return Article(id=f"f:{n}", feed_id="f", title=f"t{n}", url=f"http://x/{n}", fetched_at=1.0)


async def test_out_of_order_sequence_swaps_in_a_new_producer() -> None:
    broken, fresh = FakeProducer(OutOfOrderSequenceNumber()), FakeProducer(None)
    renewals: list[int] = []

    async def renew() -> FakeProducer:
        renewals.append(1)
        return fresh

    before = PRODUCER_RENEWALS._value.get()
    publisher = KafkaPublisher(broken, "articles", renew=renew)  # type: ignore[arg-type]
    with pytest.raises(PublishError, match="OutOfOrderSequenceNumber"):
        await publisher.publish([article(1)])  # the caller retries this batch later
    assert renewals == [1] and broken.stopped and publisher.producer is fresh
    assert PRODUCER_RENEWALS._value.get() == before + 1

    await publisher.publish([article(1), article(2)])
    assert fresh.sent == [b"f:1", b"f:2"]


async def test_a_passing_error_keeps_the_producer() -> None:
    flaky = FakeProducer(KafkaConnectionError())

    async def renew() -> FakeProducer:
        raise AssertionError("must not renew on a connection error")

    publisher = KafkaPublisher(flaky, "articles", renew=renew)  # type: ignore[arg-type]
    with pytest.raises(PublishError):
        await publisher.publish([article(1)])
    assert publisher.producer is flaky and not flaky.stopped


async def test_no_new_producer_while_the_cluster_is_away_keeps_the_old_one() -> None:
    broken = FakeProducer(OutOfOrderSequenceNumber())

    async def renew() -> FakeProducer:
        raise KafkaConnectionError()

    publisher = KafkaPublisher(broken, "articles", renew=renew)  # type: ignore[arg-type]
    with pytest.raises(PublishError):
        await publisher.publish([article(1)])
    assert publisher.producer is broken and not broken.stopped  # tried again at the next error


async def test_publishes_failing_together_replace_the_producer_once() -> None:
    broken = FakeProducer(OutOfOrderSequenceNumber())
    made: list[FakeProducer] = []

    async def renew() -> FakeProducer:
        await asyncio.sleep(0.01)  # the others fail meanwhile
        made.append(FakeProducer(None))
        return made[-1]

    publisher = KafkaPublisher(broken, "articles", renew=renew)  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(publisher.publish([article(n)]) for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, PublishError) for r in results)
    assert len(made) == 1 and publisher.producer is made[0] and broken.stopped
