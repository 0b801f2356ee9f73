"""`newswatch worker` as a subprocess against the session Tansu (or Apache Kafka) and redis-server.

Each test gets its own topic prefix and consumer group (app id), so tests sharing the session
broker never see each other's records. Expected alert ids are computed in the test process with
the same tagger and rules the worker uses, so "exactly once" is an exact set comparison.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from newswatch.agents.alerting import RuleEngine, load_rules
from newswatch.agents.alerting.processing import catalogue_lookup, tag_article
from newswatch.agents.pipeline import load_tagger
from newswatch.streams.kafka import ensure_topics
from newswatch.streams.records import Article
from newswatch.streams.settings import Settings, load_settings
from newswatch.streams.sinks import keys
from tests.support.daemon import Daemon, clean_environ

ALERTING = [
    (
        "en",
        "US widens chip export controls; DeepSeek and Alibaba's Qwen feel the squeeze",
        "Washington announced new export controls on advanced AI chips and chipmaking tools. "
        "Chinese AI developers such as DeepSeek and Alibaba, maker of the Qwen models, rely on "
        "Nvidia accelerators; analysts expect the export restrictions to slow their training.",
    ),
    (
        "de",
        "USA verschärfen Exportkontrollen für KI-Chips – DeepSeek betroffen",
        "Die US-Regierung hat die Exportkontrollen für Hochleistungschips erneut verschärft. "
        "Das chinesische KI-Start-up DeepSeek und Alibabas Qwen-Team sind auf Nvidia-Chips "
        "angewiesen; die neuen Ausfuhrbeschränkungen treffen vor allem das Training.",
    ),
]
QUIET = [
    (
        "en",
        "City council approves new bicycle lanes downtown",
        "The council voted to add protected bicycle lanes on three avenues. Residents welcomed "
        "the plan, while shop owners asked for more delivery zones and parking spaces.",
    ),
    (
        "fr",
        "La météo s'annonce clémente pour le week-end",
        "Les prévisionnistes annoncent un week-end ensoleillé sur une grande partie du pays.",
    ),
]


def make_articles(tag: str, count: int, *, start: int = 0) -> list[Article]:
    """Alternating alerting and quiet articles with unique ids."""
    out = []
    for i in range(start, start + count):
        lang, title, lead = (ALERTING if i % 2 == 0 else QUIET)[(i // 2) % 2]
        out.append(
            Article(
                id=f"{tag}-{i}",
                feed_id=f"feed-{i % 3}",
                title=title,
                url=f"https://example.test/{tag}/{i}",
                summary=lead,
                content=lead + " " + "Filler sentence for length. " * 40,
                lang=lang,
                feed_name="test",
            )
        )
    return out


_ENGINE: list[tuple[object, RuleEngine]] = []


def expected_alert_ids(articles: list[Article]) -> set[str]:
    if not _ENGINE:
        tagger = load_tagger(load_settings())
        _ENGINE.append((tagger, RuleEngine(load_rules(None), catalogue_lookup(tagger.catalogue))))
    tagger, engine = _ENGINE[0]
    ids: set[str] = set()
    for article in articles:
        ids.update(alert.id for alert in engine.evaluate(tag_article(tagger, article)))
    return ids


@dataclass
class WorkerHarness:
    """One isolated pipeline: its topics, its consumer group, its worker process (a `Daemon`
    whose log, one file for all starts, is `log_path`)."""

    bootstrap: str
    redis_url: str
    state_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    daemon: Daemon = field(init=False)

    def __post_init__(self) -> None:
        self.daemon = Daemon("worker", "worker", self.env, self.state_dir)

    @property
    def settings(self) -> Settings:
        return load_settings(
            kafka_servers=self.bootstrap,
            redis_url=self.redis_url,
            topic_prefix=self.prefix,
            app_id=self.prefix,
        )

    @property
    def env(self) -> dict[str, str]:
        env = clean_environ()
        env.update(
            NEWSWATCH_KAFKA_SERVERS=self.bootstrap,
            NEWSWATCH_REDIS_URL=self.redis_url,
            NEWSWATCH_STATE_DIR=str(self.state_dir),
            NEWSWATCH_TOPIC_PREFIX=self.prefix,
            NEWSWATCH_APP_ID=self.prefix,
            NEWSWATCH_ALERTS__SPIKE_MIN_COUNT="1000000",
            # These harness tests check the per-article alert path (one alert per rule and
            # article, exactly once through kills and hostile records), i.e. the mode of
            # `stories.alerts=false`; story alerts, the default, have test_worker_story_alerts.
            NEWSWATCH_STORIES__ALERTS="false",
            NEWSWATCH_LOG_LEVEL="INFO",
        )
        env.update(self.extra_env)
        return env

    @property
    def port(self) -> int:
        return self.daemon.port

    @property
    def log_path(self) -> Path:
        return self.daemon.log_path

    def start(self) -> None:
        self.daemon.env = self.env
        self.daemon.start()

    def log(self) -> str:
        return self.daemon.tail(4000)

    def http(self, path: str) -> tuple[int | None, bytes]:
        return self.daemon.http(path)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        await self.daemon.wait_ready(timeout)

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and the exit code (0 = clean shutdown; -9 if it had to be killed)."""
        return self.daemon.stop(timeout)

    def kill9(self) -> None:
        self.daemon.kill9()

    def stop(self) -> None:
        if self.daemon.running():
            self.daemon.kill9()

    # ---- Kafka and Redis --------------------------------------------------------------------

    async def create_topics(self) -> None:
        await ensure_topics(self.settings)

    async def publish(self, records: list[tuple[bytes | None, bytes]], *, rate: float = 0) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            topic = self.settings.topic("articles")
            for key, value in records:
                await producer.send(topic, value, key=key)
                if rate:
                    await asyncio.sleep(1 / rate)
        finally:
            await producer.stop()

    async def publish_articles(self, articles: list[Article], *, rate: float = 0) -> None:
        await self.publish([(a.id.encode(), a.dumps()) for a in articles], rate=rate)

    def stream_ids(self) -> list[str]:
        client = redis.Redis.from_url(self.redis_url)
        try:
            return [f[b"id"].decode() for _, f in client.xrange(keys.STREAM)]
        finally:
            client.close()

    async def wait_for_alerts(self, count: int, timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            ids = self.stream_ids()
            if len(ids) >= count or time.monotonic() > deadline:
                return ids
            await asyncio.sleep(0.2)

    async def read_topic(self, name: str, count: int, timeout: float = 30.0) -> list:
        consumer = AIOKafkaConsumer(
            self.settings.topic(name),
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        records: list = []
        try:
            deadline = time.monotonic() + timeout
            while len(records) < count and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for items in batch.values():
                    records.extend(items)
        finally:
            await consumer.stop()
        return records

    def metric(self, name: str) -> float:
        """Sum of a metric's samples from /metrics; fails if the worker does not answer."""
        value = self.daemon.metric(name)
        assert value is not None, f"no /metrics from the worker:\n{self.log()}"
        return value


def alert_json(redis_url: str, alert_id: str) -> dict:
    client = redis.Redis.from_url(redis_url)
    try:
        return orjson.loads(client.get(keys.alert_key(alert_id)))
    finally:
        client.close()
