"""Closing the gap between "Kafka acknowledged" and "Redis marked seen" after a crash.

Before a batch of new articles is sent, its article ids and dedup keys are written to the
`pending` hash in Redis; the MULTI that marks them seen also deletes the batch. A batch still
pending at start-up means the process died in between. We then read the articles topic from
shortly before the batch's time (`offsets_for_times`) to its end and look for the batch's
article ids among the record keys: found ones are marked seen, the rest stay unseen and are
published again by the next poll. This turns "at least once" into "exactly once" for restarts
of a single poller, at the price of one bounded topic scan after a crash (none after a clean
shutdown, whose commits finish before exit).
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer

from newswatch.streams.kafka import client_kwargs, topic_partitions
from newswatch.streams.poller.state import StateStore
from newswatch.streams.settings import Settings

log = logging.getLogger(__name__)

CLOCK_SLACK = 60.0  # seconds subtracted from the batch time: producer/broker clock skew
MAX_SCAN = 2_000_000  # records; beyond this, give up and accept possible duplicates


async def recover_pending(
    settings: Settings, store: StateStore, feeds: set[str] | None = None
) -> tuple[int, int]:
    """Resolve pending batches; returns (articles found in Kafka, articles left to republish).

    `feeds`: only the batches of these feeds (sharded pollers recover the feeds they were just
    given, whose previous owner finished or died: no other poller is publishing them)."""
    pending = await store.pending()
    if feeds is not None:
        pending = {bid: batch for bid, batch in pending.items() if batch.get("feed") in feeds}
    if not pending:
        return 0, 0
    wanted: dict[bytes, str] = {}
    for batch_id, batch in pending.items():
        for article_id in batch.get("keys", {}):
            wanted[article_id.encode()] = batch_id
    since = min(float(batch.get("t") or 0) for batch in pending.values()) - CLOCK_SLACK
    log.warning(
        "%d publish batch(es) (%d articles) were in flight at the last stop; checking Kafka",
        len(pending),
        len(wanted),
    )
    try:
        found = await _keys_in_topic(settings, settings.topic("articles"), since, set(wanted))
    except Exception as exc:  # never block start-up: fall back to at-least-once
        log.error("recovery scan failed (%r); in-flight articles may be published twice", exc)
        return 0, len(wanted)
    for batch_id, batch in pending.items():
        keys = batch.get("keys", {})
        seen = [k for article_id, ks in keys.items() if article_id.encode() in found for k in ks]
        await store.resolve(batch_id, batch.get("feed", ""), seen)
    hits = len(found)
    log.warning(
        "recovery: %d article(s) already in Kafka, %d to republish", hits, len(wanted) - hits
    )
    return hits, len(wanted) - hits


async def _keys_in_topic(
    settings: Settings, topic: str, since: float, wanted: set[bytes]
) -> set[bytes]:
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings), enable_auto_commit=False, group_id=None, fetch_max_wait_ms=200
    )
    found: set[bytes] = set()
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            return found
        consumer.assign(tps)
        starts = await consumer.offsets_for_times({tp: max(0, int(since * 1000)) for tp in tps})
        ends = await consumer.end_offsets(tps)
        active = []
        for tp in tps:
            start = starts.get(tp)
            if start is None:
                continue  # nothing written to this partition since the batch began
            consumer.seek(tp, start.offset)
            active.append(tp)
        scanned, idle, deadline = 0, 0, time.monotonic() + 300
        while active and idle < 3 and scanned < MAX_SCAN and time.monotonic() < deadline:
            batch = await consumer.getmany(*active, timeout_ms=500, max_records=10_000)
            records = [r for rs in batch.values() for r in rs]
            scanned += len(records)
            for record in records:
                if record.key in wanted:
                    found.add(record.key)
            if found == wanted:
                break
            # End offsets may be reported low by some brokers (Tansu): stop only when idle too.
            positions = [await consumer.position(tp) for tp in active]
            at_end = all(pos >= ends.get(tp, 0) for pos, tp in zip(positions, active, strict=True))
            idle = idle + 1 if (not records and at_end) else 0
    finally:
        await consumer.stop()
    return found
