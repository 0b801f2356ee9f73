"""The worker's agents: thin loops that decode, call a pure function, and send.

    articles --tag--> tagged topic (TaggedArticle, the record of what was found)
        |      `----> alerts --alert-sinks--> Redis stream (SET NX + XADD + PUBLISH)
        |                                 `-> durable webhook outbox in Redis
        `--(mention counts per batch)--> <app>-mention-counts --spikes--> alerts

Hops. The tag agent also evaluates the rules: it still publishes every TaggedArticle, but no
agent consumes the tagged topic, which saves one Kafka hop per article (Faust's per-record
consume path costs ~0.3-0.5 ms of event-loop CPU per hop; docs/benchmarks.md has the figures
of the former two-agent layout).

Work split. Decoding, tagging, rule evaluation and encoding run in a child process
(`tagpool.ProcessorPool`, spawned; in-process when a tagger is injected or the
machine has one core); the event loop keeps Faust's machinery, the producers and the Redis
sinks. One worker thus uses both cores of a 2-core machine.

Delivery. Every agent runs with concurrency 1 (a `kill -9` with concurrency > 1 can lose an
event: faust-streaming #606) and handles events in batches (`noack_take`), acknowledging a batch
only after everything in it was sent or written.

Sinks. One agent reads the alerts topic back and feeds both sinks: each alert is consumed and
validated once, written to the Redis stream, queued for the webhooks, and only then
acknowledged (two agents on the topic cost a second pass of Faust's per-record machinery and a
second decode of every alert; bench/worker.py measured it). The two writes stay independent:
a deterministic failure of one sink dead-letters the alert for that sink and does not stop the
other; a transient one (Redis down) makes the agent wait, as each sink did on its own.

Bad records. No record can stop an agent: whatever goes wrong with one record — it is not JSON,
has an unknown schema version or values out of range (`records.RecordError`, whose class is the
reason), makes the tagger, the rules or the producer fail, is too large to publish, or is
refused by Redis with a deterministic error — it goes to the dead-letter topic with the reason
and the error, is counted in `newswatch_deadletter_total{topic,reason}`, and is acknowledged
with its batch, so the committed offsets move past it (Faust commits only offsets below the
first unacknowledged one). Only transient failures (Redis or Kafka unreachable) make an agent
wait. An agent that still stops with an exception is counted in
`newswatch_agent_crashes_total{agent}` and restarted by Faust.

Spikes. Counting goes through its own small topic keyed by entity/theme: a Faust table writes
its changelog to the partition of the event being processed, so counting entities inside the
tag agent (whose events are keyed by article id) would spread one entity's count over
partitions and restore it wrongly. The tag agent pre-aggregates counts per batch, so that hop
carries one record per (entity or theme, window) per batch, not one per article.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import faust
import orjson

from newswatch.agents import metrics
from newswatch.agents.alerting import (
    EntityLookup,
    RuleEngine,
    RuleSet,
    SpikeConfig,
    load_rules,
    spike_alert,
)
from newswatch.agents.alerting.processing import (
    ArticleProcessor,
    Outcome,
    StoryItems,
    catalogue_lookup,
    dead_letter_reason,
)
from newswatch.agents.alerting.spikes import SPIKE_KINDS
from newswatch.agents.stories import StoryEngine
from newswatch.agents.stories.alerts import UpdatePolicy
from newswatch.agents.stories.story_input import join_items
from newswatch.agents.story_agent import StoryAlerting, StoryRunner, StoryStage, story_record
from newswatch.agents.tagpool import InlineProcessor, ProcessorPool
from newswatch.streams.kafka import story_input_topic
from newswatch.streams.names import DisplayNames
from newswatch.streams.records import (
    EARLIEST_EPOCH,
    KEY_CHARS,
    LATEST_EPOCH,
    MAX_RECORD_BYTES,
    Alert,
    NotARecordError,
    OutOfRangeError,
    RecordTooLargeError,
)
from newswatch.streams.settings import Settings
from newswatch.streams.sinks.repair import offset_ranges
from newswatch.streams.sinks.retry import is_transient, retry_forever
from newswatch.streams.sinks.stories import StoredCheckpoint, StoryStore

if TYPE_CHECKING:
    from newswatch.agents.tagging.protocols import ArticleTagger

log = logging.getLogger(__name__)

#: Events per batch and the longest a partial batch waits. 0.05 s bounds the latency a quiet
#: stream adds; 500 amortises Faust's per-batch costs at 1k+ articles/s.
BATCH_SIZE = 500
BATCH_WITHIN = 0.05
#: Tag batches queued between the agent and its publisher; with the one being published and
#: the one the agent holds, at most QUEUED + 2 batches are in the child's hands at once.
TAG_BATCHES_QUEUED = 1
#: Recently sent alert ids (throttled rules raise the same id for many articles).
RECENT_ALERTS = 50_000


@dataclass
class Deps:
    """What the agents share: settings, the tagger, the rule engine, topic names."""

    settings: Settings
    tagger: ArticleTagger
    engine: RuleEngine
    lookup: EntityLookup
    spikes: SpikeConfig
    topics: dict[str, str]
    counts_topic: str
    story_input_topic: str = ""  # empty: stories off
    story_alerts: bool = False  # rules fire per story in the stories agent, not per article
    tag_processes: int = 0
    processor: Any = None  # ProcessorPool or InlineProcessor, made when the tag agent starts
    agents: dict[str, Any] = field(default_factory=dict)
    recent_alerts: collections.OrderedDict[str, None] = field(
        default_factory=collections.OrderedDict
    )


def register(
    app: faust.App,
    settings: Settings,
    *,
    tagger: ArticleTagger | None = None,
    rules: RuleSet | None = None,
    tag_processes: int | None = None,
) -> Deps:
    """Declare the topics, the spike table and the agents on `app`; returns their shared deps.

    The tag agent tags and evaluates the rules, and publishes every TaggedArticle to the
    tagged topic (see the module docstring).
    `tag_processes`: child processes that decode, tag and evaluate rules (None: one when the
    machine has two or more cores and the tagger is the catalogue's; 0: in the event loop).
    """
    injected = tagger is not None
    if tagger is None:
        tagger = load_tagger(settings)
    if tag_processes is None:
        tag_processes = 1 if not injected and rules is None and (os.cpu_count() or 1) >= 2 else 0
    rules = rules if rules is not None else load_rules(settings.rules_file)
    catalogue = tagger.catalogue
    lookup = catalogue_lookup(catalogue)
    names = DisplayNames.from_catalogue(catalogue)
    deps = Deps(
        settings=settings,
        tagger=tagger,
        engine=RuleEngine(rules, lookup, names),
        lookup=lookup,
        spikes=SpikeConfig.from_settings(settings.alerts),
        topics={
            name: settings.topic(name) for name in ("articles", "tagged", "alerts", "deadletter")
        },
        counts_topic=f"{settings.app_id}-mention-counts",
        story_input_topic=story_input_topic(settings) if settings.stories.enabled else "",
        story_alerts=settings.stories.enabled and settings.stories.alerts,
        tag_processes=tag_processes,
    )
    deps.topics["stories"] = settings.topic("stories")
    metrics.init_series(
        entities=catalogue.entity_ids,
        themes=catalogue.theme_ids,
        rules=[(rule.id, rule.severity) for rule in rules if rule.enabled]
        + [(f"spike_{kind}", deps.spikes.severity) for kind in ("entity", "theme")],
        topics=[deps.topics["articles"], deps.topics["alerts"], deps.counts_topic],
    )
    raw: dict[str, Any] = {  # the same raw-bytes codec settings for every topic
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    partitions = settings.topic_partitions
    articles = app.topic(deps.topics["articles"], partitions=partitions, **raw)
    alerts = app.topic(deps.topics["alerts"], partitions=partitions, **raw)
    counts = app.topic(deps.counts_topic, partitions=partitions, internal=True, **raw)
    window = deps.spikes.window
    table = app.Table(
        "mention-windows",
        default=int,
        partitions=partitions,
        schema=faust.Schema(
            key_type=str,
            value_type=int,  # type: ignore[arg-type]  # stub allows models/bytes/str; json int works
            key_serializer="json",
            value_serializer="json",
        ),
    ).tumbling(window, expires=window * (deps.spikes.baseline_windows + 2))

    deps.agents["tag"] = app.agent(articles, name="tag", concurrency=1)(
        _counted("tag", _tag_agent(app, deps))
    )
    deps.agents["spikes"] = app.agent(counts, name="spikes", concurrency=1)(
        _counted("spikes", _spike_agent(app, deps, table))
    )
    if deps.story_input_topic:
        # One partition: the story engine sees every article in one order (story_agent.py).
        story_input = app.topic(deps.story_input_topic, partitions=1, internal=True, **raw)
        runner = _story_runner(app, deps)
        deps.agents["stories"] = app.agent(story_input, name="stories", concurrency=1)(
            _counted("stories", _stories_agent(runner))
        )
        app.timer(deps.settings.stories.checkpoint_seconds)(runner.flush)
    deps.agents["sinks"] = app.agent(alerts, name="alert-sinks", concurrency=1)(
        _counted("alert-sinks", _sinks_agent(app, deps))
    )
    return deps


def _counted(name: str, fun: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The agent function, counting in newswatch_agent_crashes_total when it stops with an
    exception (Faust logs it and restarts the agent)."""

    async def agent(stream: Any) -> None:
        try:
            await fun(stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.AGENT_CRASHES.labels(name).inc()
            log.exception("agent %s crashed; Faust restarts it", name)
            raise

    agent.__name__ = agent.__qualname__ = getattr(fun, "__name__", name)
    return agent


# ---- pure helpers ------------------------------------------------------------------------


def load_tagger(settings: Settings) -> ArticleTagger:
    """The tagging engine over `settings.catalogue_dir` (the shipped catalogue when unset)."""
    from newswatch.agents.tagging import Tagger

    return Tagger.load(settings.catalogue_dir)


#: Original values up to this size are copied into the dead letter (base64); larger ones are
#: referenced (topic, partition, offset, length, SHA-256 and the first bytes), so a dead letter
#: always fits MAX_RECORD_BYTES.
DEADLETTER_VALUE_BYTES = 512 * 1024
DEADLETTER_KEY_BYTES = 1024
DEADLETTER_HEAD_BYTES = 1024


def dead_letter(
    *,
    reason: str,
    error: BaseException | str,
    topic: str,
    partition: int | None,
    offset: int | None,
    key: bytes | None,
    value: bytes | None,
) -> bytes:
    """The dead-letter record: the error, where the record came from, and its exact bytes (or,
    when they are too large to copy, a reference: `value_sha256`, `value_bytes`, `value_head`
    and `value` null; the original stays at topic/partition/offset for the topic's retention)."""
    record: dict[str, Any] = {
        "schema_version": 1,
        "reason": reason,
        "error": _error_text(error),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": _b64(key) if key is None or len(key) <= DEADLETTER_KEY_BYTES else None,
        "value": None,
        "failed_at": time.time(),
    }
    if key is not None and len(key) > DEADLETTER_KEY_BYTES:
        record["key_sha256"] = hashlib.sha256(key).hexdigest()
        record["key_bytes"] = len(key)
    if value is not None and len(value) <= DEADLETTER_VALUE_BYTES:
        record["value"] = _b64(value)
    elif value is not None:
        record["value_sha256"] = hashlib.sha256(value).hexdigest()
        record["value_bytes"] = len(value)
        record["value_head"] = _b64(value[:DEADLETTER_HEAD_BYTES])
    return orjson.dumps(record)


def _error_text(error: BaseException | str) -> str:
    try:
        text = error if isinstance(error, str) else str(error) or repr(error)
    except Exception:  # a hostile __str__
        text = type(error).__name__
    return text[:2000].encode("utf-8", "replace").decode("utf-8")


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The dead letter's Kafka key: the original key, or its SHA-256 when it is too large."""
    if key is None or len(key) <= DEADLETTER_KEY_BYTES:
        return key
    return hashlib.sha256(key).hexdigest().encode()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def decode_count(value: Any) -> tuple[str, str, int, float]:
    """A mention-count record -> (kind, key, n, window_start); raises a RecordError."""
    try:
        data = orjson.loads(value)
        kind, key, n, start = data["kind"], data["key"], data["n"], data["window_start"]
    except orjson.JSONDecodeError as exc:
        raise NotARecordError(f"count: not JSON: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise NotARecordError(f"count: missing or malformed field {exc!r}") from None
    if not isinstance(kind, str) or not isinstance(key, str):
        raise NotARecordError("count: kind and key must be strings")
    if type(n) is not int or isinstance(start, bool) or not isinstance(start, int | float):
        raise NotARecordError("count: n must be an integer and window_start a number")
    if kind not in SPIKE_KINDS or not key or len(key) > KEY_CHARS:
        raise OutOfRangeError(f"count: kind {kind[:20]!r} or key of {len(key)} characters")
    if not 1 <= n <= 10**9 or not EARLIEST_EPOCH <= start <= LATEST_EPOCH:
        raise OutOfRangeError(f"count: n {n} or window_start {start} out of range")
    return kind, key, n, float(start)


def window_start(timestamp: float, window: float) -> float:
    return (timestamp // window) * window


# ---- agents ------------------------------------------------------------------------------


def batches(stream: Any) -> Any:
    """Batches of events that are acknowledged only by `ack_all` after they were handled.

    Not `take()`/`take_events()`: they acknowledge a batch in a `finally`, so a batch whose
    agent is cancelled mid-way (shutdown, rebalance) is committed half-done and the rest is lost
    (seen in the SIGTERM test). With `noack_take` an interrupted batch is simply replayed, and
    the sinks drop what was already written.
    """
    return stream.noack_take(BATCH_SIZE, BATCH_WITHIN)


async def _bounded(what: str, awaitable: Any, timeout: float = 5.0) -> None:
    """Cleanup at shutdown must not hang the worker (a cancelled Redis call can leave the
    connection in a state where close waits forever)."""
    try:
        await asyncio.wait_for(awaitable, timeout)
    except Exception as exc:
        log.warning("%s did not finish cleanly: %r", what, exc)


async def ack_all(stream: Any, events: list[Any]) -> None:
    for event in events:
        await stream.ack(event)


async def _send(app: faust.App, topic: str, key: bytes | None, value: bytes, **kw: Any) -> None:
    """Queue a record on the producer; Faust flushes the producer before every commit."""
    fut = await app.producer.send(topic, key, value, kw.get("partition"), kw.get("timestamp"), None)
    add = getattr(fut, "add_done_callback", None)
    if add is not None:
        add(_log_send_failure)


def _log_send_failure(fut: Any) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("producer failed to deliver a record: %r", fut.exception())


async def _send_dead_letter(
    app: faust.App, deps: Deps, event: Any, reason: str, error: BaseException | str
) -> None:
    """Dead-letter one event; never raises (but for cancellation): the caller acknowledges the
    event either way, and a dead letter that cannot be sent is logged, not retried."""
    reason = metrics.deadletter_reason(reason)
    message = event.message
    text = _error_text(error)
    log.warning(
        "dead-letter %s[%s]@%s (%s): %s",
        message.topic,
        message.partition,
        message.offset,
        reason,
        text[:500],
    )
    metrics.DEADLETTERS.labels(message.topic, reason).inc()
    key = event.key if isinstance(event.key, bytes | None) else None
    value = event.value if isinstance(event.value, bytes | None) else None
    try:
        body = dead_letter(
            reason=reason,
            error=text,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=key,
            value=value,
        )
        await _send(app, deps.topics["deadletter"], dead_letter_key(key), body)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error(
            "could not send the dead letter for %s[%s]@%s: %r",
            message.topic,
            message.partition,
            message.offset,
            exc,
        )


async def _send_checked(
    app: faust.App, topic: str, key: bytes | None, value: bytes, **kw: Any
) -> None:
    """`_send` for records built from untrusted input: too large is an error of the record."""
    if len(value) > MAX_RECORD_BYTES:
        raise RecordTooLargeError(f"{len(value)} bytes for {topic} exceeds {MAX_RECORD_BYTES}")
    await _send(app, topic, key, value, **kw)


def _make_processor(deps: Deps) -> Any:
    rules = not deps.story_alerts  # story alerts: the stories agent folds the matches
    engine = deps.engine if rules else None
    # With stories on, the processor also makes the stories agent's input (features, MinHash,
    # and with story alerts the rule matches): off the event loop, off the one partition.
    stories = "" if not deps.story_input_topic else "alerts" if deps.story_alerts else "on"

    def inline() -> ArticleProcessor:
        items = StoryItems(deps.engine if stories == "alerts" else None) if stories else None
        return ArticleProcessor(deps.tagger, engine, stories=items)

    if deps.tag_processes > 0:
        settings = deps.settings
        return ProcessorPool(
            settings.catalogue_dir,
            settings.rules_file,
            rules=rules,
            inline=inline,
            processes=deps.tag_processes,
            stories=stories,
        )
    return InlineProcessor(inline())


def _tag_agent(app: faust.App, deps: Deps) -> Callable[[Any], Any]:
    """articles -> tagged, and the rules -> alerts: the batch is decoded, tagged and
    evaluated by the processor (a child process by default), then published from here."""
    tagged_topic = deps.topics["tagged"]
    alerts_topic = deps.topics["alerts"]
    observe_tag = metrics.PROCESSING_LATENCY.labels("tag").observe
    observe_alert = metrics.PROCESSING_LATENCY.labels("alert").observe
    counter = _MentionCounter(app, deps)

    async def publish(event: Any, out: Outcome) -> bool:
        """True when the article's records went out (and its story item may follow)."""
        if not out.ok:
            if out.reason == "processing":
                log.warning("processing failed for article %s: %s", out.article_id, out.error)
            await _send_dead_letter(app, deps, event, out.reason or "decode", out.error or "")
            return False
        try:
            await publish_outcome(out)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the producer refused a record built from this article
            await _send_dead_letter(app, deps, event, dead_letter_reason(exc), exc)
            return False
        return True

    async def publish_story_items(items: list[bytes]) -> None:
        # One story-input record per batch (agents/stories/story_input.py): the stories
        # agent's per-record cost is paid once per batch, not per article.
        for record in join_items(items):
            await _send(app, deps.story_input_topic, None, record)

    async def publish_outcome(out: Outcome) -> None:
        await _send_checked(app, tagged_topic, out.article_id.encode(), out.tagged)
        metrics.ARTICLES_TAGGED.labels(metrics.lang_label(out.lang)).inc()
        for entity in out.entities:
            metrics.MENTIONS.labels(entity if deps.lookup(entity) is not None else "other").inc()
        for theme in out.themes:
            metrics.THEMES.labels(theme).inc()
        latency = max(0.0, time.time() - out.fetched_at)
        observe_tag(latency)
        for alert_id, rule, severity, body in out.alerts:
            if _seen_recently(deps, alert_id):
                continue  # a throttled rule raised this id already
            await _send_checked(app, alerts_topic, alert_id.encode(), body)
            metrics.ALERTS.labels(rule, severity).inc()
        counter.add(out.entities, out.themes, out.fetched_at)
        observe_alert(latency)

    async def tag(stream: Any) -> None:
        deps.processor = processor = _make_processor(deps)
        # Batches handed to the processor and not yet published, in order: the child process
        # tags the next batch while this process publishes the previous one.
        inflight: asyncio.Queue[tuple[list[Any], asyncio.Future[Any]]] = asyncio.Queue(
            TAG_BATCHES_QUEUED
        )

        async def finish_in_order() -> None:
            while True:
                events, result = await inflight.get()
                outcomes = await result
                items = []
                for event, out in zip(events, outcomes, strict=True):
                    if await publish(event, out) and out.story_item:
                        items.append(out.story_item)
                if items and deps.story_input_topic:
                    await publish_story_items(items)
                await counter.flush()
                await ack_all(stream, events)

        finisher = asyncio.ensure_future(finish_in_order())
        try:
            async for events in batches(stream):
                result = asyncio.ensure_future(
                    processor.process_batch([event.value for event in events])
                )
                queued = asyncio.ensure_future(inflight.put((events, result)))
                await asyncio.wait({queued, finisher}, return_when=asyncio.FIRST_COMPLETED)
                if finisher.done():  # publishing failed: fail the agent (Faust restarts it)
                    queued.cancel()
                    result.cancel()
                    finisher.result()
                    raise RuntimeError("the tag agent's publisher stopped")
        finally:
            finisher.cancel()
            processor.close()

    return tag


def _story_runner(app: faust.App, deps: Deps) -> StoryRunner:
    """The stories agent's state; its Redis client is made when the first batch arrives."""
    settings = deps.settings
    stories_topic = deps.topics["stories"]
    holder: dict[str, Any] = {}

    def store() -> StoryStore:
        if "store" not in holder:
            from newswatch.streams.sinks.redis_client import make_redis

            holder["store"] = StoryStore(make_redis(settings), settings.stories.ttl_days * 86_400)
        return holder["store"]

    class _LazyStore:
        async def load_checkpoint_parts(self) -> tuple[int, bytes | None, bytes | None]:
            return await store().load_checkpoint_parts()

        async def save_checkpoint(
            self, offset: int, snapshot: bytes, alerts: bytes | None = None
        ) -> bool:
            return await retry_forever(
                "story_checkpoint", lambda: store().save_checkpoint(offset, snapshot, alerts)
            )

        async def load_checkpoint_state(self) -> StoredCheckpoint:
            return await store().load_checkpoint_state()

        async def save_checkpoint_records(
            self,
            offset: int,
            base: int | None,
            header: bytes,
            stories: Mapping[str, bytes],
            closed: Sequence[str],
            alerts: bytes | None = None,
        ) -> int:
            return await retry_forever(
                "story_checkpoint",
                lambda: store().save_checkpoint_records(
                    offset, base, header, stories, closed, alerts
                ),
            )

    async def publish(stories: list[dict[str, Any]]) -> None:
        records = [story_record(story) for story in stories]  # one JSON per story, sent thrice
        for story, record in zip(stories, records, strict=True):
            await _send(app, stories_topic, story["id"].encode(), record)
        await retry_forever("story_write", lambda: store().write(stories, records))

    async def dead_letter(event: Any, reason: str, error: BaseException) -> None:
        await _send_dead_letter(app, deps, event, reason, repr(error))

    alerts_topic = deps.topics["alerts"]

    async def publish_alerts(alerts: list[Alert]) -> None:
        # Keyed by the alert an update belongs to: creation and updates share a partition, so
        # the sinks see them in order.
        for item in alerts:
            key = (item.update_of or item.id).encode()
            try:
                await _send_checked(app, alerts_topic, key, item.dumps())
            except RecordTooLargeError as exc:  # cannot happen within the record limits
                log.error("story alert %s not sent: %s", item.id, exc)
                continue
            if item.kind == "story":
                metrics.ALERTS.labels(item.rule, item.severity).inc()

    story = settings.stories
    thresholds = set(story.update_sources)
    for endpoint in settings.webhooks.endpoints:
        thresholds.update(endpoint.story_update_sources)
    policy = UpdatePolicy(
        sources=tuple(sorted(thresholds)),
        min_interval=story.update_min_interval,
        breaking_window=story.breaking_window,
        breaking_sources=story.breaking_sources,
    )
    alerting = StoryAlerting(deps.engine, policy) if deps.story_alerts else None
    stage = StoryStage(
        _LazyStore(),  # type: ignore[arg-type]  # duck-typed: the stage calls only the checkpoints
        StoryEngine,
        StoryEngine.restore,
        checkpoint_every=settings.stories.checkpoint_seconds,
        alerting=alerting,
        breaking=policy,
        replay=lambda start, end: replay_partition(settings, deps.story_input_topic, start, end),
        restore_records=StoryEngine.restore_records,
    )
    return StoryRunner(stage, publish, dead_letter, publish_alerts)


#: Seconds a story-input replay may take before the engine goes on with what it read.
REPLAY_TIMEOUT = 120.0


async def replay_partition(
    settings: Settings, topic: str, start: int, end: int
) -> list[tuple[int, bytes | None]]:
    """Records [start, end) of partition 0 of `topic`, read with a plain consumer (no group):
    the stories agent's catch-up after a takeover (agents/story_agent.py)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from newswatch.streams.kafka import client_kwargs

    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[tuple[int, bytes | None]] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        deadline = time.monotonic() + REPLAY_TIMEOUT
        while await consumer.position(tp) < end and time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=2_000)
            records.extend((r.offset, r.value) for r in batch.get(tp, []) if r.offset < end)
    finally:
        await consumer.stop()
    return records


def _stories_agent(runner: StoryRunner) -> Callable[[Any], Any]:
    """story input (one partition) -> stories topic + Redis; see agents/story_agent.py."""

    async def stories(stream: Any) -> None:
        async for events in batches(stream):
            await runner.handle(stream, events)

    return stories


def _seen_recently(deps: Deps, alert_id: str) -> bool:
    recent = deps.recent_alerts
    if alert_id in recent:
        return True
    recent[alert_id] = None
    if len(recent) > RECENT_ALERTS:
        recent.popitem(last=False)
    return False


class _MentionCounter:
    """Counts per (kind, key, window) over a batch; one record each to the counts topic."""

    def __init__(self, app: faust.App, deps: Deps) -> None:
        self.app, self.deps = app, deps
        self.counts: collections.Counter[tuple[str, str, float]] = collections.Counter()

    def add(self, entities: Any, themes: Any, fetched_at: float) -> None:
        start = window_start(fetched_at, self.deps.spikes.window)
        for entity in set(entities):
            self.counts["entity", entity, start] += 1
        for theme in set(themes):
            self.counts["theme", theme, start] += 1

    async def flush(self) -> None:
        """Send the batch's counts. Counts are derived data: one the producer refuses is logged
        and dropped, never allowed to fail the batch of articles it came from."""
        counts, self.counts = self.counts, collections.Counter()
        for (kind, key, start), n in counts.items():
            body = orjson.dumps({"kind": kind, "key": key, "n": n, "window_start": start})
            try:
                await _send(
                    self.app,
                    self.deps.counts_topic,
                    f"{kind}:{key}".encode(),
                    body,
                    timestamp=start,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("mention count %s:%s@%s not sent: %r", kind, key, start, exc)


def _spike_agent(app: faust.App, deps: Deps, table: Any) -> Callable[[Any], Any]:
    alerts_topic = deps.topics["alerts"]
    config = deps.spikes
    names = deps.engine.names
    raised: collections.OrderedDict[str, None] = collections.OrderedDict()

    async def spikes(stream: Any) -> None:
        async for event in stream.events():
            try:
                await count(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await _send_dead_letter(app, deps, event, dead_letter_reason(exc), exc)

    async def count(event: Any) -> None:
        """Count one event, and raise the spike alert when there is one."""
        kind, key, n, start = decode_count(event.value)
        name = f"{kind}:{key}"
        table[name] += n
        windows = table[name]
        current = windows.current()
        history = [windows.delta(config.window * i) for i in range(config.baseline_windows, 0, -1)]
        label = names.entity(key) if kind == "entity" else names.short_theme(key)
        item = spike_alert(kind, key, float(start), current, history, config, label=label)
        if item is None or item.id in raised:
            return
        raised[item.id] = None
        if len(raised) > 10_000:
            raised.popitem(last=False)
        await _send_checked(app, alerts_topic, item.id.encode(), item.dumps())
        metrics.SPIKES.labels(kind).inc()
        metrics.ALERTS.labels(item.rule, item.severity).inc()

    return spikes


def _sinks_agent(app: faust.App, deps: Deps) -> Callable[[Any], Any]:
    """alerts -> Redis stream (Lua sink) and webhook outbox; each alert decoded once."""
    observe_redis = metrics.PROCESSING_LATENCY.labels("redis").observe
    observe_webhook = metrics.PROCESSING_LATENCY.labels("webhook").observe

    async def alert_sinks(stream: Any) -> None:
        from newswatch.streams.sinks.redis_client import make_redis
        from newswatch.streams.sinks.redis_sink import RedisAlertSink
        from newswatch.streams.sinks.webhooks import WebhookDispatcher

        client = make_redis(deps.settings)
        sink = RedisAlertSink(client, deps.settings)
        webhook_client = make_redis(deps.settings)
        dispatcher = WebhookDispatcher(deps.settings, webhook_client)
        repair = _sink_repair(app, deps, client, sink, dispatcher.submit_many)
        await dispatcher.start()
        checks = asyncio.ensure_future(repair.check_forever())
        digests = None
        if dispatcher.digest_periods:
            from newswatch.streams.sinks.webhooks.digests import digest_loop

            settings = deps.settings
            page = f"http://{settings.web_host}:{settings.web_port}/" if settings.web_port else None
            digests = asyncio.ensure_future(digest_loop(dispatcher, webhook_client, page))
        try:
            async for events in batches(stream):
                decoded = []
                for event in events:
                    try:
                        decoded.append((event, Alert.loads(event.value)))
                    except Exception as exc:
                        await _send_dead_letter(app, deps, event, dead_letter_reason(exc), exc)
                # One pipelined round trip per batch and sink; each retries transient errors
                # until Redis accepts, and the batch is acknowledged only after both.
                written = await _write_or_dead_letter(
                    app, deps, decoded, sink.write_many, "redis sink"
                )
                _observe(observe_redis, written)
                queued = await _write_or_dead_letter(
                    app, deps, decoded, dispatcher.submit_many, "webhook sink"
                )
                _observe(observe_webhook, queued)
                # The watermark moves after the batch is in Redis; a gap before the batch (Redis
                # lost acknowledged writes) is repaired from the topic first (sinks/repair.py).
                await repair.after_batch(
                    offset_ranges([(e.message.partition, e.message.offset) for e in events])
                )
                await ack_all(stream, events)
        finally:
            checks.cancel()
            if digests is not None:
                digests.cancel()
            await _bounded("webhook dispatcher stop", dispatcher.stop())
            await _bounded("webhook redis close", webhook_client.aclose())
            await _bounded("redis sink close", client.aclose())

    return alert_sinks


@dataclass
class _Replayed:
    """A record read back by a sink repair (aiokafka's ConsumerRecord, which has topic,
    partition and offset) in the shape `_send_dead_letter` reads from a Faust event."""

    message: Any
    key: bytes | None
    value: bytes | None


def _sink_repair(app: faust.App, deps: Deps, client: Any, sink: Any, resubmit: Any) -> Any:
    """The Redis sink's watermark and repair for the alerts topic, repairing only partitions
    this worker is assigned, dead-lettering replayed poison records as the live path does and
    queueing the replayed alerts for the webhooks again (`resubmit`, idempotent)."""
    from newswatch.streams.sinks.repair import AlertSinkRepair

    topic = deps.topics["alerts"]

    def owned() -> set[int] | None:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}

    async def dead_letter(record: Any, error: BaseException | str) -> None:
        reason = "sink" if isinstance(error, str) else dead_letter_reason(error)
        replayed = _Replayed(record, record.key, record.value)
        await _send_dead_letter(app, deps, replayed, reason, error)

    return AlertSinkRepair(
        client,
        sink,
        deps.settings,
        topic,
        owned=owned,
        dead_letter=dead_letter,
        resubmit=resubmit,
    )


def _observe(observe: Callable[[float], None], alerts: list[Alert]) -> None:
    now = time.time()
    for alert in alerts:
        if alert.source_time:
            observe(max(0.0, now - alert.source_time))


async def _write_or_dead_letter(
    app: faust.App,
    deps: Deps,
    decoded: list[tuple[Any, Alert]],
    write: Callable[[list[Alert]], Any],
    sink: str,
) -> list[Alert]:
    """`write(alerts)` for the batch; when it fails with a deterministic error (the write only
    retries transient ones), each alert is written alone and the ones that fail again are
    dead-lettered (reason "sink"). Returns the alerts written. Both sinks are idempotent, so
    writing again what the failed batch wrote already is harmless."""
    alerts = [alert for _, alert in decoded]
    try:
        await write(alerts)
        return alerts
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning(
            "%s: a batch of %d alerts failed (%r); writing one by one", sink, len(alerts), exc
        )
    written = []
    for event, alert in decoded:
        try:
            await write([alert])
            written.append(alert)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise
            await _send_dead_letter(app, deps, event, "sink", f"{sink}: {exc!r}")
    return written
