"""Pollers sharing the feeds: the feed list on a compacted topic, owned through group membership.

With `poller.sharding` on, the feed list lives on `{prefix}.feeds.v1`: one record per feed,
keyed by feed id, whose value is the feed's spec as JSON (a record without a value removes the
feed). Kafka's partitioner spreads the feeds over the partitions; every `newswatch poll`
joins the consumer group `{app_id}-pollers` and polls the feeds of the partitions assigned to
it. No lock service: the group coordinator is the only arbiter.

Hand-over. aiokafka's group protocol is eager: at a rebalance every member gives up all its
partitions (`on_partitions_revoked`) before any member receives new ones. On revocation a
poller stops polling every feed, waits for the polls under way and their commits, and writes
the deferred feed state to Redis (`Poller.hand_over`); only then does it rejoin. The new
owner therefore finds the conditional-GET validators, the next due time and the seen index in
Redis, and no feed is ever polled by two pollers at once. On assignment a poller reads its
partitions from the beginning to the end offsets seen at assignment (the compacted topic is the
whole list), recovers the publish batches its new feeds left pending (a previous owner that
died between "Kafka acknowledged" and "Redis marked seen"), and starts polling. Records that
arrive later (`feeds add`/`remove`/`import`, an edited feeds file) are applied as they come.

A poller killed with `kill -9` is noticed after the group session timeout; its feeds are
orphaned for that long, then taken over. Feed state deferred in its last `FLUSH_EVERY`
(0.2 s) of 304 answers is lost, so those few feeds may be polled once early.

Seeding: at start every poller publishes the feeds of its feeds file that the topic lacks or
holds with other settings; a feeds-file edit publishes what the edit added, changed or removed.
The topic is the source of truth: a feed added with `newswatch feeds add` on another machine
stays until it is removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from pydantic import ValidationError

from newswatch.streams.kafka import client_kwargs, make_producer, topic_partitions
from newswatch.streams.poller import metrics
from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.scheduler import Poller
from newswatch.streams.settings import Settings

log = logging.getLogger(__name__)

#: Group timings. The session timeout bounds how long the feeds of a killed poller stay
#: orphaned; the rebalance timeout must cover a hand-over (the longest poll under way).
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 2_000
REBALANCE_TIMEOUT_MS = 90_000
HAND_OVER_TIMEOUT = 60.0


def group_id(settings: Settings) -> str:
    return f"{settings.app_id}-pollers"


def encode_spec(spec: FeedSpec) -> bytes:
    return orjson.dumps(spec.model_dump(exclude_none=True))


def decode_spec(key: bytes | None, value: bytes | None) -> tuple[str, FeedSpec | None]:
    """(feed id, spec or None for a tombstone); raises ValueError for a record we cannot use."""
    if not key:
        raise ValueError("record without a key")
    feed_id = key.decode("utf-8", errors="strict")
    if value is None:
        return feed_id, None
    spec = FeedSpec.model_validate(orjson.loads(value))
    if spec.id != feed_id:
        raise ValueError(f"key {feed_id!r} does not match the spec's id {spec.id!r}")
    return feed_id, spec


async def read_feeds_topic(settings: Settings) -> dict[str, FeedSpec]:
    """The whole feed list on the topic (no group: every partition, beginning to end)."""
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, settings.topic("feeds"))
        if not tps:
            return {}
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        feeds: dict[str, FeedSpec] = {}
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1_000)
            if not batch:
                break  # a broker whose end offsets run ahead of its records: take what is there
            for records in batch.values():
                for record in records:
                    _apply(feeds, record.key, record.value)
        return feeds
    finally:
        await consumer.stop()


def _apply(feeds: dict[str, FeedSpec], key: bytes | None, value: bytes | None) -> bool:
    """Apply one record to a feed map; False (logged, counted) for a record we cannot use."""
    try:
        feed_id, spec = decode_spec(key, value)
    except (ValueError, ValidationError, UnicodeDecodeError) as exc:
        metrics.FEED_RECORDS_INVALID.inc()
        log.error(
            "feeds topic: ignoring an unusable record (key %r): %s", key[:100] if key else key, exc
        )
        return False
    if spec is None:
        feeds.pop(feed_id, None)
    else:
        feeds[feed_id] = spec
    return True


async def publish_feeds(
    settings: Settings, changed: Iterable[FeedSpec] = (), removed: Iterable[str] = ()
) -> int:
    """Publish feed specs and removals (tombstones) to the feeds topic; returns the count."""
    producer = make_producer(settings, enable_idempotence=False)
    await producer.start()
    try:
        topic = settings.topic("feeds")
        sent = [
            await producer.send(topic, key=spec.id.encode(), value=encode_spec(spec))
            for spec in changed
        ]
        sent += [await producer.send(topic, key=fid.encode(), value=None) for fid in removed]
        await asyncio.gather(*sent)
        return len(sent)
    finally:
        await producer.stop()


async def seed_feeds(settings: Settings, feeds: list[FeedSpec]) -> int:
    """Publish the feeds of a feeds file that the topic lacks or holds differently."""
    current = await read_feeds_topic(settings)
    changed = [spec for spec in feeds if current.get(spec.id) != spec]
    if changed:
        await publish_feeds(settings, changed)
        log.info("feeds topic: published %d feed(s) from the feeds file", len(changed))
    return len(changed)


def diff_feeds(old: list[FeedSpec], new: list[FeedSpec]) -> tuple[list[FeedSpec], list[str]]:
    """(added or changed specs, removed ids) between two versions of a feeds file."""
    before = {spec.id: spec for spec in old}
    after = {spec.id: spec for spec in new}
    changed = [spec for fid, spec in after.items() if before.get(fid) != spec]
    removed = [fid for fid in before if fid not in after]
    return changed, removed


Recover = Callable[[set[str]], Awaitable[object]]


class FeedOwnership(ConsumerRebalanceListener):
    """Keeps `poller`'s feed set equal to the feeds of the partitions this process owns."""

    def __init__(self, settings: Settings, poller: Poller, recover: Recover) -> None:
        self.settings = settings
        self.poller = poller
        self.recover = recover
        self.topic = settings.topic("feeds")
        self.consumer = AIOKafkaConsumer(
            **client_kwargs(settings),
            group_id=group_id(settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
            max_poll_interval_ms=REBALANCE_TIMEOUT_MS,
        )
        self.catalog: dict[TopicPartition, dict[str, FeedSpec]] = {}
        self.ends: dict[TopicPartition, int] = {}
        self.loading = True  # until the assigned partitions were read to their end
        self.joined = False  # an assignment arrived since the last revocation
        self.assigned = asyncio.Event()  # set once an assignment was applied
        self._lock = asyncio.Lock()

    # ---- rebalance callbacks (awaited by aiokafka before it rejoins / after it joined) ------
    # Both take the lock the loop holds while it changes the feed set, so a batch fetched
    # before a revocation can never hand feeds back to the poller after it.

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            self.catalog, self.ends = {}, {}
            self.loading, self.joined = True, False
            released = await self.poller.hand_over([], timeout=HAND_OVER_TIMEOUT)
            metrics.REBALANCES.inc()
            metrics.FEEDS_OWNED.set(0)
        if released:
            log.info("rebalance: handed over %d feed(s)", len(released))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        tps = sorted(assigned)
        async with self._lock:
            self.catalog = {tp: {} for tp in tps}
            self.loading, self.joined = True, True
            self.ends = {}
            if tps:
                await self.consumer.seek_to_beginning(*tps)
                self.ends = await self.consumer.end_offsets(tps)
        log.info("rebalance: assigned partitions %s", [tp.partition for tp in tps])

    # ---- the loop ---------------------------------------------------------------------------

    def owned(self) -> list[FeedSpec]:
        return [spec for feeds in self.catalog.values() for spec in feeds.values()]

    async def _caught_up(self) -> bool:
        try:
            for tp, end in self.ends.items():
                if await self.consumer.position(tp) < end:
                    return False
        except Exception:  # the assignment changed under us: the next round decides
            return False
        return True

    async def _take_over(self) -> None:
        owned = self.owned()
        ids = {spec.id for spec in owned}
        if ids:
            await self.recover(ids)
        await self.poller.replace_feeds(owned)
        self.loading = False
        metrics.FEEDS_OWNED.set(len(owned))
        self.assigned.set()
        log.info("polling %d feed(s) of %d partition(s)", len(owned), len(self.catalog))

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the group and the topic until `stop` is set."""
        self.consumer.subscribe([self.topic], listener=self)
        await self.consumer.start()
        try:
            idle_rounds = 0
            while not stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=500)
                idle_rounds = 0 if batch else idle_rounds + 1
                async with self._lock:
                    changed = False
                    for tp, records in batch.items():
                        feeds = self.catalog.get(tp)
                        if feeds is None:
                            continue  # a partition revoked since the fetch
                        for record in records:
                            changed |= _apply(feeds, record.key, record.value)
                    if self.loading:
                        # Tansu's end offsets can run ahead of its records: after a few empty
                        # fetches past the last record, what was read is the whole list.
                        if self.joined and (await self._caught_up() or idle_rounds >= 4):
                            await self._take_over()
                    elif changed:
                        owned = self.owned()
                        await self.poller.replace_feeds(owned)
                        metrics.FEEDS_OWNED.set(len(owned))
        finally:
            await self.consumer.stop()
