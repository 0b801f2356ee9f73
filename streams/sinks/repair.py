"""Repair of the Redis alert stream from the alerts topic after Redis lost acknowledged writes.

Why. With `appendfsync everysec` a host crash (power loss, kernel panic, a VM killed without
its disk cache) loses up to about a second of writes Redis had acknowledged. The sink had
already committed the Kafka offsets of those alerts, so no consumer reads them again: they
would stay missing from the stream although they are still in the alerts topic. (A `kill -9`
of redis-server loses nothing: the AOF is written before the reply, only its fsync waits.)

The watermark. After every batch of the alerts topic is written (or dead-lettered) the sink
moves a per-partition watermark forward, in the hash `keys.sink_offsets(topic)`:
partition -> the last offset whose alert is in Redis. It is written after the alerts it
covers, through the same server, and Redis persists and replicates commands in the order it
ran them, so whatever a crash keeps of the AOF is a prefix of that history: when the
watermark says N, every alert up to N survived with it; a crash that loses alerts loses the
watermark's later moves too. One watermark command per batch gives this guarantee; a field
written by every alert's Lua call would give the same at the cost of a write per alert.

The watermark moves only over a contiguous range (`WATERMARK_SCRIPT`): a batch whose first
offset is beyond watermark + 1 leaves it where it is and reports the gap. So a gap stays
recorded in Redis until a repair has filled it, even when the worker that found it dies.

Detection, both on the sink's own path (no polling of Redis' `run_id`: a restart that kept
everything needs nothing, and one that lost writes shows in the watermark):

- `after_batch`: the batch's first offset per partition is beyond the watermark + 1. This
  is what a new owner of a partition sees first after a rebalance or restart (its consumer
  starts at the committed offset), and what the running sink sees at the next batch after
  Redis came back with less than it had.
- `check` (every `alerts.repair_check_seconds`): the watermark is below the last offset this
  worker wrote, for partitions it still owns, so a partition that gets no new alert is
  repaired too.

Repair. A plain consumer (no group: `assign` + `seek`) reads the partition from
watermark + 1 to the last offset written by the live path and writes every alert again with
the sink's Lua script: the alert's `SET NX` key and its stream entry are written by one
script, hence vanish together, so a replayed alert that Redis still has changes nothing and
one it lost is written once. The webhook outbox lives in the same Redis and lost the same
second: every replayed alert is queued again through `resubmit` (the dispatcher's
`submit_many`), which is idempotent per alert and endpoint, so a delivery still queued,
delivered or dead-lettered stays as it is and only one whose outbox entry vanished is queued
again (a delivery made just before the crash whose "delivered" marker vanished is then sent
a second time, under the same `webhook-id`, which receivers deduplicate on). The repair
holds the sink's lock: the live sink waits
until the partition is repaired (a lost second is a few hundred alerts), so the two never
race. Partitions this worker no longer owns are left to their new owner, which finds the same
gap at its first batch.

Lookback. A repair starts no earlier than the first offset younger than
`alerts.repair_lookback_seconds` (default one hour; 0 switches repairs off). That bounds the
replay when there is no watermark at all (a new or wiped Redis, or the first start of a
version that writes it), and it must stay below the dedup TTL (an alert older than its key
could otherwise be written twice); the settings refuse a longer one. Offsets skipped that
way are logged.

Poison records met during a replay are dead-lettered as the live path does (the live path
dead-lettered them the first time too: dead letters, like every output of a replay, are at
least once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from newswatch.streams.records import Alert
from newswatch.streams.settings import Settings
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.metrics import (
    REDIS_SINK_REPAIRED,
    REDIS_SINK_REPAIRS,
    REDIS_SINK_REPLAYED,
    REDIS_SINK_REQUEUED,
)
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from newswatch.streams.sinks.retry import is_transient, retry_forever

log = logging.getLogger(__name__)

WATERMARK_SCRIPT = """
-- KEYS[1] watermark hash (partition -> last offset whose alert is in Redis)
-- ARGV triples: partition, first offset, last offset of a range whose alerts are written.
-- A partition's watermark moves to `last` only when the range starts at most one past it
-- (nothing in between can be missing); a missing watermark counts as -1.
-- Returns the watermarks as they were before, one per triple.
local found = redis.call('TYPE', KEYS[1])['ok']
if found ~= 'none' and found ~= 'hash' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. found .. ', not a hash')
end
local before = {}
for i = 1, #ARGV, 3 do
  local mark = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  local first, last = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if mark >= first - 1 and last > mark then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
  before[#before + 1] = mark
end
return before
"""

#: Records per replayed batch (one pipelined round trip of the sink's script each).
REPLAY_BATCH = 500
#: Seconds a repair may take to read its range before it gives up (the gap stays recorded,
#: so the next batch or check tries again).
REPLAY_TIMEOUT = 120.0

#: `dead_letter(record, error)`: error is the exception of a record that could not be decoded,
#: or a string for an alert Redis refused.
DeadLetter = Callable[[Any, BaseException | str], Awaitable[None]]
#: Queue alerts for the webhooks again (`WebhookDispatcher.submit_many`: idempotent per alert
#: and endpoint); returns how many deliveries were newly queued.
Resubmit = Callable[[list[Alert]], Awaitable[int]]


@dataclass
class RepairResult:
    """One partition's repair: offsets [start, end] read, what they became."""

    partition: int
    watermark: int  # before the repair (-1: none)
    start: int
    end: int
    trigger: str
    records: int = 0
    repaired: int = 0  # alerts Redis had lost, written again
    requeued: int = 0  # webhook deliveries whose outbox entry Redis had lost, queued again
    dead_letters: int = 0
    skipped_offsets: int = 0  # older than the lookback, not replayed
    outcome: str = "done"  # done, failed, not_owned


def offset_ranges(positions: list[tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """(partition, offset) pairs of a batch -> partition -> (first, last) offset."""
    ranges: dict[int, tuple[int, int]] = {}
    for partition, offset in positions:
        first, last = ranges.get(partition, (offset, offset))
        ranges[partition] = (min(first, offset), max(last, offset))
    return ranges


class AlertSinkRepair:
    """The watermark of the Redis sink for one alerts topic, and the repairs it calls for.

    `owned()` returns the partitions of the topic this worker is assigned now (None: unknown,
    treated as owned: a repair of a partition owned by another worker is idempotent, merely
    redundant). `dead_letter` is the live path's dead-letter function for replayed records.
    """

    def __init__(
        self,
        redis: Redis,
        sink: RedisAlertSink,
        settings: Settings,
        topic: str,
        *,
        owned: Callable[[], set[int] | None],
        dead_letter: DeadLetter,
        consumer_factory: Callable[[], Any] | None = None,
        resubmit: Resubmit | None = None,
    ) -> None:
        self._redis = redis
        self._sink = sink
        self._settings = settings
        self.topic = topic
        self.key = keys.sink_offsets(topic)
        self._script = redis.register_script(WATERMARK_SCRIPT)
        self._owned = owned
        self._dead_letter = dead_letter
        self._consumer_factory = consumer_factory or self._plain_consumer
        self._resubmit = resubmit
        self.lookback = settings.alerts.repair_lookback_seconds
        self.interval = settings.alerts.repair_check_seconds
        self._lock = asyncio.Lock()
        #: partition -> last offset this worker wrote (the live path or a repair)
        self.applied: dict[int, int] = {}

    # ---- the live path ------------------------------------------------------------------

    async def after_batch(self, ranges: Mapping[int, tuple[int, int]]) -> list[RepairResult]:
        """Call once a batch's alerts are all written or dead-lettered, before acknowledging
        it: moves the watermarks and repairs the partitions where the batch found a gap."""
        if not ranges:
            return []
        async with self._lock:
            try:
                before = await self._advance(ranges)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # deterministic (retry_forever waits out the rest)
                log.error("sink watermark of %s not moved: %r", self.topic, exc)
                return []
            results = []
            for partition, (first, last) in sorted(ranges.items()):
                self.applied[partition] = max(self.applied.get(partition, -1), last)
                mark = before[partition]
                if mark < first - 1:
                    log.warning(
                        "%s[%d]: Redis has alerts up to offset %d only, the batch starts at"
                        " %d; repairing from the topic",
                        self.topic,
                        partition,
                        mark,
                        first,
                    )
                    results.append(await self._repair(partition, mark, last, "batch"))
            return results

    # ---- the periodic check ---------------------------------------------------------------

    async def check(self) -> list[RepairResult]:
        """Repairs the owned partitions whose watermark is below what this worker wrote."""
        async with self._lock:
            owned = self._owned_now()
            if owned is not None:
                for partition in [p for p in self.applied if p not in owned]:
                    del self.applied[partition]
            applied = dict(self.applied)
            if not applied:
                return []
            fields = [str(p) for p in applied]
            values = await retry_forever(
                "sink_watermark", lambda: self._redis.hmget(self.key, fields)
            )
            results = []
            for (partition, last), value in zip(applied.items(), values, strict=True):
                mark = int(value) if value is not None else -1
                if mark < last:
                    log.warning(
                        "%s[%d]: Redis has alerts up to offset %d only, this worker wrote up"
                        " to %d; repairing from the topic",
                        self.topic,
                        partition,
                        mark,
                        last,
                    )
                    results.append(await self._repair(partition, mark, last, "check"))
            return results

    async def check_forever(self) -> None:
        """`check` every `alerts.repair_check_seconds` until cancelled; never raises."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "sink watermark check of %s failed; next in %ss", self.topic, self.interval
                )

    # ---- the repair -------------------------------------------------------------------------

    async def _advance(self, ranges: Mapping[int, tuple[int, int]]) -> dict[int, int]:
        partitions = sorted(ranges)
        args: list[int] = []
        for partition in partitions:
            args += [partition, *ranges[partition]]
        before = await retry_forever(
            "sink_watermark", lambda: self._script(keys=[self.key], args=args)
        )
        return {p: int(mark) for p, mark in zip(partitions, before, strict=True)}

    def _owned_now(self) -> set[int] | None:
        try:
            return self._owned()
        except Exception as exc:
            log.warning("partition assignment unknown (%r); repairing as owner", exc)
            return None

    async def _repair(self, partition: int, mark: int, upto: int, trigger: str) -> RepairResult:
        result = RepairResult(partition, mark, mark + 1, upto, trigger)
        owned = self._owned_now()
        if owned is not None and partition not in owned:
            result.outcome = "not_owned"
            log.info("%s[%d] is no longer ours; its new owner repairs it", self.topic, partition)
        else:
            try:
                await self._replay(result)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                result.outcome = "failed"
                log.error(
                    "%s[%d]: repair of offsets %d..%d failed (%r); the gap stays recorded and"
                    " is tried again",
                    self.topic,
                    partition,
                    result.start,
                    upto,
                    exc,
                )
        if result.outcome == "done":
            # Moves only if nothing was lost again meanwhile (the watermark is still >= mark).
            try:
                await self._advance({partition: (mark + 1, upto)})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # deterministic; the next batch or check finds the gap
                log.error("sink watermark of %s not moved: %r", self.topic, exc)
            log.warning(
                "%s[%d]: repaired offsets %d..%d: %d records read, %d alerts written again,"
                " %d webhook deliveries queued again (%d dead-lettered, %d offsets older than"
                " the lookback skipped)",
                self.topic,
                partition,
                result.start,
                upto,
                result.records,
                result.repaired,
                result.requeued,
                result.dead_letters,
                result.skipped_offsets,
            )
        REDIS_SINK_REPAIRS.labels(trigger, result.outcome).inc()
        return result

    def _plain_consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        from newswatch.streams.kafka import client_kwargs

        return AIOKafkaConsumer(
            **client_kwargs(self._settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a start below the log start: from the log start
        )

    async def _replay(self, result: RepairResult) -> None:
        from aiokafka import TopicPartition

        if self.lookback <= 0:  # repairs switched off: the range is given up
            result.skipped_offsets = result.end - result.start + 1
            return
        consumer = self._consumer_factory()
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, result.partition)
            consumer.assign([tp])
            since_ms = int((time.time() - self.lookback) * 1000)
            found = (await consumer.offsets_for_times({tp: since_ms})).get(tp)
            floor = found.offset if found is not None and found.offset >= 0 else result.end + 1
            if floor > result.start:
                result.skipped_offsets = min(floor, result.end + 1) - result.start
                log.warning(
                    "%s[%d]: offsets %d..%d are older than the repair lookback (%ss) and are"
                    " not replayed",
                    self.topic,
                    result.partition,
                    result.start,
                    min(floor, result.end + 1) - 1,
                    self.lookback,
                )
                result.start = floor
            if result.start > result.end:
                return
            consumer.seek(tp, result.start)
            deadline = time.monotonic() + REPLAY_TIMEOUT
            while await consumer.position(tp) <= result.end:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"offsets up to {result.end} not read in {REPLAY_TIMEOUT}s")
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=REPLAY_BATCH)
                records = [r for r in batch.get(tp, []) if r.offset <= result.end]
                # The lookback by record time as well: the offset lookup above is only a hint on
                # brokers whose ListOffsets by timestamp is approximate (Tansu answers the log
                # start for any time).
                young = [r for r in records if r.timestamp < 0 or r.timestamp >= since_ms]
                result.skipped_offsets += len(records) - len(young)
                await self._write(young, result)
        finally:
            await consumer.stop()

    async def _write(self, records: list[Any], result: RepairResult) -> None:
        """The live path's write: decode, one pipelined batch, one by one after a deterministic
        failure, dead letters for what cannot be written."""
        result.records += len(records)
        decoded = []
        for record in records:
            try:
                decoded.append((record, Alert.loads(record.value)))
            except Exception as exc:
                await self._poison(record, exc, result)
        if not decoded:
            return
        try:
            created = await self._sink.write_many([alert for _, alert in decoded])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise
            created = []
            for record, alert in decoded:
                try:
                    created.append(await self._sink.write(alert))
                except asyncio.CancelledError:
                    raise
                except Exception as one:
                    if is_transient(one):
                        raise
                    await self._poison(record, f"redis sink: {one!r}", result)
        repaired = sum(created)
        result.repaired += repaired
        REDIS_SINK_REPAIRED.inc(repaired)
        REDIS_SINK_REPLAYED.labels("written").inc(len(created))
        if self._resubmit is not None:  # after the stream, as the live path queues them
            requeued = await self._resubmit([alert for _, alert in decoded])
            result.requeued += requeued
            REDIS_SINK_REQUEUED.inc(requeued)

    async def _poison(self, record: Any, error: BaseException | str, result: RepairResult) -> None:
        result.dead_letters += 1
        REDIS_SINK_REPLAYED.labels("deadletter").inc()
        await self._dead_letter(record, error)
