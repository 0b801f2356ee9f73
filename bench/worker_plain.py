"""The baseline of bench/worker.py: the worker's work in a plain aiokafka loop, no Faust.

    consume articles -> ArticleProcessor (same child-process split as the worker) ->
    produce tagged + alerts (+ dead letters) -> Redis with the same Lua sink -> commit offsets

It does what the merged-hops worker does for each article, with the same delivery order: a
batch's offsets are committed only after its records were acknowledged by the broker and its
alerts written to Redis (`RedisAlertSink.write_many`, the script the worker's Redis sink
runs). Like the worker's tag agent it hands batch N+1 to the processor while it publishes
batch N. What it leaves out is what Faust adds: the per-record stream machinery, reading the
alerts topic back (twice: Redis and webhook sinks), the spike counts and table, the web
server. So `faust articles/s / plain articles/s` is the price of the framework and of the
second hop.

Settings come from NEWSWATCH_* like the worker's; `--stub-tagger` uses the keyword stand-in
in-process (as `bench/worker_stub.py` makes the worker do). Benchmark use only.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from newswatch.agents.alerting import RuleEngine, load_rules
from newswatch.agents.alerting.processing import (
    ArticleProcessor,
    InlineProcessor,
    ProcessorPool,
    catalogue_lookup,
)
from newswatch.agents.pipeline import dead_letter
from newswatch.streams.kafka import client_kwargs, ensure_topics, make_producer
from newswatch.streams.records import Alert
from newswatch.streams.settings import Settings, load_settings
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.redis_sink import RedisAlertSink

BATCH = 500  # the worker's BATCH_SIZE
WITHIN_MS = 50  # the worker's BATCH_WITHIN


def make_processor(settings: Settings, stub: bool) -> Any:
    if stub:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from worker_stub import StubTagger

        tagger = StubTagger()
        engine = RuleEngine(load_rules(settings.rules_file), catalogue_lookup(tagger.catalogue))
        return InlineProcessor(ArticleProcessor(tagger, engine))

    def inline() -> ArticleProcessor:
        from newswatch.agents.alerting.processing import load_processor

        return load_processor(settings.catalogue_dir, settings.rules_file, True)

    return ProcessorPool(settings.catalogue_dir, settings.rules_file, rules=True, inline=inline)


async def run(settings: Settings, stub: bool) -> None:
    await ensure_topics(settings)
    topics = {n: settings.topic(n) for n in ("articles", "tagged", "alerts", "deadletter")}
    consumer = AIOKafkaConsumer(
        topics["articles"],
        group_id=f"{settings.app_id}-plain",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2_000,
        fetch_max_bytes=4 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_500,
        **client_kwargs(settings),
    )
    # As Faust's producer: acks=all, not idempotent (Tansu does not grant producer ids).
    producer = make_producer(
        settings, linger_ms=5, max_batch_size=512 * 1024, acks="all", enable_idempotence=False
    )
    redis = make_redis(settings)
    sink = RedisAlertSink(redis, settings)
    processor = make_processor(settings, stub)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await consumer.start()
    await producer.start()

    async def publish(records: list[Any], outcomes: list[Any]) -> None:
        sent, alerts = [], []
        for record, out in zip(records, outcomes, strict=True):
            if not out.ok:
                body = dead_letter(
                    reason=out.reason or "decode",
                    error=out.error or "",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                )
                sent.append(await producer.send(topics["deadletter"], body, key=record.key))
                continue
            key = out.article_id.encode()
            sent.append(await producer.send(topics["tagged"], out.tagged, key=key))
            for alert_id, _rule, _severity, body in out.alerts:
                sent.append(await producer.send(topics["alerts"], body, key=alert_id.encode()))
                alerts.append(Alert.loads(body))
        await sink.write_many(alerts)
        if sent:
            await asyncio.gather(*sent)  # every record acknowledged by the broker
        offsets: dict[Any, int] = {}
        for record in records:
            offsets[_tp(record)] = record.offset + 1
        await consumer.commit(offsets)

    pending: tuple[list[Any], asyncio.Future[Any]] | None = None
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=WITHIN_MS, max_records=BATCH)
            records = [r for batch in fetched.values() for r in batch]
            current = None
            if records:
                current = (
                    records,
                    asyncio.ensure_future(processor.process_batch([r.value for r in records])),
                )
            if pending is not None:
                done_records, result = pending
                await publish(done_records, await result)
            pending = current
        if pending is not None:
            await publish(pending[0], await pending[1])
    finally:
        processor.close()
        await consumer.stop()
        await producer.stop()
        await redis.aclose()


def _tp(record: Any) -> Any:
    from aiokafka import TopicPartition

    return TopicPartition(record.topic, record.partition)


if __name__ == "__main__":
    asyncio.run(run(load_settings(), stub="--stub-tagger" in sys.argv))
