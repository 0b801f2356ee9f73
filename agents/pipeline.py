"""The worker's agents: thin loops that decode, call a pure function, and send.

    articles --tag--> tagged topic (TaggedArticle, the record of what was found)
        |      `----> alerts --redis-sink----> Redis stream (SET NX + XADD + PUBLISH)
        |                  `--webhook-sink--> durable webhook outbox in Redis
        `--(mention counts per batch)--> <app>-mention-counts --spikes--> alerts

Hops. By default ("merged") the tag agent also evaluates the rules: it still publishes every
TaggedArticle, but no agent consumes the tagged topic, which saves one Kafka hop per article
(Faust's per-record consume path costs ~0.3-0.5 ms of event-loop CPU per hop). `hops="separate"`
restores an alert agent on the tagged topic; bench/worker.py measures both.

Work split. Decoding, tagging, rule evaluation and encoding run in a child process
(`alerting.processing.ProcessorPool`, spawned; in-process when a tagger is injected or the
machine has one core); the event loop keeps Faust's machinery, the producers and the Redis
sinks. One worker thus uses both cores of a 2-core machine.

Delivery. Every agent runs with concurrency 1 (a `kill -9` with concurrency > 1 can lose an
event: faust-streaming #606) and handles events in batches (`noack_take`), acknowledging a batch
only after everything in it was sent or written. A record that cannot be decoded, carries an
unknown schema version or makes the tagger fail goes to the dead-letter topic with the error
and is acknowledged, so it never stops an agent.

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
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    InlineProcessor,
    Outcome,
    ProcessorPool,
    catalogue_lookup,
    decode_reason,
)
from newswatch.streams.names import DisplayNames
from newswatch.streams.records import Alert, RecordError, TaggedArticle
from newswatch.streams.settings import Settings

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
HOPS = ("merged", "separate")


@dataclass
class Deps:
    """What the agents share: settings, the tagger, the rule engine, topic names."""

    settings: Settings
    tagger: Any
    engine: RuleEngine
    lookup: EntityLookup
    spikes: SpikeConfig
    topics: dict[str, str]
    counts_topic: str
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
    tagger: Any = None,
    rules: RuleSet | None = None,
    hops: str = "merged",
    tag_processes: int | None = None,
) -> Deps:
    """Declare the topics, the spike table and the agents on `app`; returns their shared deps.

    `hops="merged"` (default) tags and evaluates the rules in one agent, which still publishes
    every TaggedArticle to the tagged topic; `hops="separate"` runs the alert agent on the
    tagged topic instead (one more Kafka hop per article; see the module docstring).
    `tag_processes`: child processes that decode, tag and evaluate rules (None: one when the
    machine has two or more cores and the tagger is the catalogue's; 0: in the event loop).
    """
    if hops not in HOPS:
        raise ValueError(f"hops must be one of {HOPS}, got {hops!r}")
    injected = tagger is not None
    if tagger is None:
        tagger = load_tagger(settings)
    if tag_processes is None:
        tag_processes = 1 if not injected and rules is None and (os.cpu_count() or 1) >= 2 else 0
    rules = rules if rules is not None else load_rules(settings.rules_file)
    lookup = catalogue_lookup(getattr(tagger, "catalogue", None))
    names = DisplayNames.from_catalogue(getattr(tagger, "catalogue", None))
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
        tag_processes=tag_processes,
    )
    catalogue = getattr(tagger, "catalogue", None)
    metrics.init_series(
        entities=getattr(catalogue, "entity_ids", ()),
        themes=getattr(catalogue, "theme_ids", ()),
        rules=[(rule.id, rule.severity) for rule in rules if rule.enabled]
        + [(f"spike_{kind}", deps.spikes.severity) for kind in ("entity", "theme")],
    )
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    partitions = settings.topic_partitions
    articles = app.topic(deps.topics["articles"], partitions=partitions, **raw)
    tagged = app.topic(deps.topics["tagged"], partitions=partitions, **raw)
    alerts = app.topic(deps.topics["alerts"], partitions=partitions, **raw)
    counts = app.topic(deps.counts_topic, partitions=partitions, internal=True, **raw)
    window = deps.spikes.window
    table = app.Table(
        "mention-windows",
        default=int,
        partitions=partitions,
        schema=faust.Schema(
            key_type=str, value_type=int, key_serializer="json", value_serializer="json"
        ),
    ).tumbling(window, expires=window * (deps.spikes.baseline_windows + 2))

    merged = hops == "merged"
    deps.agents["tag"] = app.agent(articles, name="tag", concurrency=1)(
        _tag_agent(app, deps, with_alerts=merged)
    )
    if not merged:
        deps.agents["alert"] = app.agent(tagged, name="alert", concurrency=1)(
            _alert_agent(app, deps)
        )
    deps.agents["spikes"] = app.agent(counts, name="spikes", concurrency=1)(
        _spike_agent(app, deps, table)
    )
    deps.agents["redis"] = app.agent(alerts, name="redis-sink", concurrency=1)(
        _redis_agent(app, deps)
    )
    deps.agents["webhooks"] = app.agent(alerts, name="webhook-sink", concurrency=1)(
        _webhook_agent(app, deps)
    )
    return deps


# ---- pure helpers ------------------------------------------------------------------------


def load_tagger(settings: Settings) -> Any:
    """The tagging engine over `settings.catalogue_dir` (the shipped catalogue when unset)."""
    try:
        from newswatch.agents.tagging import Tagger
    except ImportError:  # the package may not re-export it
        from newswatch.agents.tagging.tagger import Tagger
    return Tagger.load(settings.catalogue_dir)


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
    """The dead-letter record: the error, where the record came from, and its exact bytes."""
    return orjson.dumps(
        {
            "schema_version": 1,
            "reason": reason,
            "error": str(error)[:2000],
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": _b64(key),
            "value": _b64(value),
            "failed_at": time.time(),
        }
    )


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


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
    message = event.message
    log.warning(
        "dead-letter %s[%s]@%s (%s): %s",
        message.topic,
        message.partition,
        message.offset,
        reason,
        error,
    )
    value = dead_letter(
        reason=reason,
        error=error,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=event.key,
        value=event.value,
    )
    await _send(app, deps.topics["deadletter"], event.key, value)
    metrics.DEADLETTERS.labels(message.topic, reason).inc()


class _AlertStage:
    """TaggedArticle -> Alert records (rules) and mention counts (the separate-hops topology)."""

    def __init__(self, app: faust.App, deps: Deps) -> None:
        self.app, self.deps = app, deps
        self.topic = deps.topics["alerts"]
        self.observe = metrics.PROCESSING_LATENCY.labels("alert").observe
        self.counter = _MentionCounter(app, deps)

    async def __call__(self, event: Any, tagged: TaggedArticle) -> None:
        app, deps = self.app, self.deps
        try:
            raised = deps.engine.evaluate(tagged)
        except Exception as exc:
            log.exception("rule evaluation failed on article %s", tagged.article.id)
            await _send_dead_letter(app, deps, event, "processing", repr(exc))
            return
        for item in raised:
            if _seen_recently(deps, item.id):
                continue  # a throttled rule raised this id already
            await _send(app, self.topic, item.id.encode(), item.dumps())
            metrics.ALERTS.labels(item.rule, item.severity).inc()
        self.counter.add(tagged.entities, tagged.theme_ids, tagged.article.fetched_at)
        self.observe(max(0.0, time.time() - tagged.article.fetched_at))

    async def flush_counts(self) -> None:
        await self.counter.flush()


def _make_processor(deps: Deps, *, rules: bool) -> Any:
    engine = deps.engine if rules else None

    def inline() -> ArticleProcessor:
        return ArticleProcessor(deps.tagger, engine)

    if deps.tag_processes > 0:
        settings = deps.settings
        return ProcessorPool(
            settings.catalogue_dir,
            settings.rules_file,
            rules=rules,
            inline=inline,
            processes=deps.tag_processes,
        )
    return InlineProcessor(inline())


def _tag_agent(app: faust.App, deps: Deps, *, with_alerts: bool) -> Callable[[Any], Any]:
    """articles -> tagged (and, merged, the rules -> alerts): the batch is decoded, tagged and
    evaluated by the processor (a child process by default), then published from here."""
    tagged_topic = deps.topics["tagged"]
    alerts_topic = deps.topics["alerts"]
    observe_tag = metrics.PROCESSING_LATENCY.labels("tag").observe
    observe_alert = metrics.PROCESSING_LATENCY.labels("alert").observe
    counter = _MentionCounter(app, deps)

    async def publish(event: Any, out: Outcome) -> None:
        if not out.ok:
            if out.reason == "processing":
                log.warning("processing failed for article %s: %s", out.article_id, out.error)
            await _send_dead_letter(app, deps, event, out.reason or "decode", out.error or "")
            return
        await _send(app, tagged_topic, out.article_id.encode(), out.tagged)
        metrics.ARTICLES_TAGGED.labels(metrics.lang_label(out.lang)).inc()
        for entity in out.entities:
            metrics.MENTIONS.labels(entity if deps.lookup(entity) is not None else "other").inc()
        for theme in out.themes:
            metrics.THEMES.labels(theme).inc()
        latency = max(0.0, time.time() - out.fetched_at)
        observe_tag(latency)
        if not with_alerts:
            return
        for alert_id, rule, severity, body in out.alerts:
            if _seen_recently(deps, alert_id):
                continue  # a throttled rule raised this id already
            await _send(app, alerts_topic, alert_id.encode(), body)
            metrics.ALERTS.labels(rule, severity).inc()
        counter.add(out.entities, out.themes, out.fetched_at)
        observe_alert(latency)

    async def tag(stream: Any) -> None:
        deps.processor = processor = _make_processor(deps, rules=with_alerts)
        # Batches handed to the processor and not yet published, in order: the child process
        # tags the next batch while this process publishes the previous one.
        inflight: asyncio.Queue[tuple[list[Any], asyncio.Future[Any]]] = asyncio.Queue(
            TAG_BATCHES_QUEUED
        )

        async def finish_in_order() -> None:
            while True:
                events, result = await inflight.get()
                outcomes = await result
                for event, out in zip(events, outcomes, strict=True):
                    await publish(event, out)
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
        for (kind, key, start), n in self.counts.items():
            body = orjson.dumps({"kind": kind, "key": key, "n": n, "window_start": start})
            await _send(
                self.app, self.deps.counts_topic, f"{kind}:{key}".encode(), body, timestamp=start
            )
        self.counts.clear()


def _alert_agent(app: faust.App, deps: Deps) -> Callable[[Any], Any]:
    alert_stage = _AlertStage(app, deps)

    async def alert(stream: Any) -> None:
        async for events in batches(stream):
            for event in events:
                try:
                    tagged = TaggedArticle.loads(event.value)
                except RecordError as exc:
                    await _send_dead_letter(app, deps, event, decode_reason(exc), exc)
                    continue
                await alert_stage(event, tagged)
            await alert_stage.flush_counts()
            await ack_all(stream, events)

    return alert


def _spike_agent(app: faust.App, deps: Deps, table: Any) -> Callable[[Any], Any]:
    alerts_topic = deps.topics["alerts"]
    config = deps.spikes
    names = deps.engine.names
    raised: collections.OrderedDict[str, None] = collections.OrderedDict()

    async def spikes(stream: Any) -> None:
        async for event in stream.events():
            try:
                data = orjson.loads(event.value)
                kind, key, n, start = (
                    data["kind"],
                    data["key"],
                    int(data["n"]),
                    data["window_start"],
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                await _send_dead_letter(app, deps, event, "decode", repr(exc))
                continue
            name = f"{kind}:{key}"
            table[name] += n
            windows = table[name]
            current = windows.current()
            history = [
                windows.delta(config.window * i) for i in range(config.baseline_windows, 0, -1)
            ]
            label = names.entity(key) if kind == "entity" else names.short_theme(key)
            item = spike_alert(kind, key, float(start), current, history, config, label=label)
            if item is None or item.id in raised:
                continue
            raised[item.id] = None
            if len(raised) > 10_000:
                raised.popitem(last=False)
            await _send(app, alerts_topic, item.id.encode(), item.dumps())
            metrics.SPIKES.labels(kind).inc()
            metrics.ALERTS.labels(item.rule, item.severity).inc()

    return spikes


def _redis_agent(app: faust.App, deps: Deps) -> Callable[[Any], Any]:
    observe = metrics.PROCESSING_LATENCY.labels("redis").observe

    async def redis_sink(stream: Any) -> None:
        from newswatch.streams.sinks.redis_client import make_redis
        from newswatch.streams.sinks.redis_sink import RedisAlertSink

        client = make_redis(deps.settings)
        sink = RedisAlertSink(client, deps.settings)
        try:
            async for events in batches(stream):
                alerts = []
                for event in events:
                    try:
                        alerts.append(Alert.loads(event.value))
                    except RecordError as exc:
                        await _send_dead_letter(app, deps, event, decode_reason(exc), exc)
                # One pipelined round trip per batch; retries until Redis accepts, and the
                # batch is acknowledged only after.
                await sink.write_many(alerts)
                now = time.time()
                for alert in alerts:
                    if alert.source_time:
                        observe(max(0.0, now - alert.source_time))
                await ack_all(stream, events)
        finally:
            await _bounded("redis sink close", client.aclose())

    return redis_sink


def _webhook_agent(app: faust.App, deps: Deps) -> Callable[[Any], Any]:
    observe = metrics.PROCESSING_LATENCY.labels("webhook").observe

    async def webhook_sink(stream: Any) -> None:
        from newswatch.streams.sinks.redis_client import make_redis
        from newswatch.streams.sinks.webhooks import WebhookDispatcher

        client = make_redis(deps.settings)
        dispatcher = WebhookDispatcher(deps.settings, client)
        await dispatcher.start()
        digests = None
        if dispatcher.digest_periods:
            from newswatch.streams.sinks.webhooks.digests import digest_loop

            settings = deps.settings
            page = f"http://{settings.web_host}:{settings.web_port}/" if settings.web_port else None
            digests = asyncio.ensure_future(digest_loop(dispatcher, client, page))
        try:
            async for events in batches(stream):
                alerts = []
                for event in events:
                    try:
                        alerts.append(Alert.loads(event.value))
                    except RecordError:
                        continue  # the redis sink dead-letters it; one copy is enough
                # One Redis round trip for the batch; retries through an outage, and the batch
                # is acknowledged only after it is queued.
                await dispatcher.submit_many(alerts)
                now = time.time()
                for alert in alerts:
                    if alert.source_time:
                        observe(max(0.0, now - alert.source_time))
                await ack_all(stream, events)
        finally:
            if digests is not None:
                digests.cancel()
            await _bounded("webhook dispatcher stop", dispatcher.stop())
            await _bounded("webhook redis close", client.aclose())

    return webhook_sink
