"""The system under test: a 3-node Kafka cluster, redis-server (AOF, fsync every second),
`newswatch worker` and sharded `newswatch poll` subprocesses, and a tracker that follows the
alert stream while faults are injected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
import redis.asyncio as aioredis

from newswatch.streams.embedded import RedisServer
from newswatch.streams.kafka import ensure_topics
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks import keys
from tests.support.apache_kafka import KafkaCluster
from tests.support.daemon import Daemon

PREFIX = "chaos"
PARTITIONS = 6
WORKER_SESSION_TIMEOUT = 6.0  # agents/app.py broker_session_timeout
WEBHOOK_SECRET = "whsec_Y2hhb3MtaGFybmVzcy1zZWNyZXQtMDEyMzQ1Njc4OQ=="


@dataclass
class Pipeline:
    work: Path
    workers: int = 3
    pollers: int = 2
    cluster: KafkaCluster = field(default_factory=KafkaCluster)
    redis: RedisServer = field(default_factory=RedisServer)
    worker_daemons: list[Daemon] = field(default_factory=list)
    poller_daemons: list[Daemon] = field(default_factory=list)
    orphans: dict[str, int] = field(default_factory=dict)  # processes left by kill -9
    extra_env: dict[str, str] = field(default_factory=dict)  # for the workers and pollers

    @property
    def redis_dir(self) -> Path:
        return self.work / "redis"

    def env(self, feeds_file: Path, webhook_url: str) -> dict[str, str]:
        endpoint = {
            "name": "chaos",
            "url": webhook_url,
            "format": "json",
            "secrets": [WEBHOOK_SECRET],
            "timeout": 5.0,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        env.update(
            NEWSWATCH_KAFKA_SERVERS=self.cluster.bootstrap,
            NEWSWATCH_REDIS_URL=self.redis.url,
            NEWSWATCH_TOPIC_PREFIX=PREFIX,
            NEWSWATCH_APP_ID=PREFIX,
            NEWSWATCH_TOPIC_PARTITIONS=str(PARTITIONS),
            NEWSWATCH_TOPIC_REPLICATION="3",
            NEWSWATCH_FEEDS_FILE=str(feeds_file),
            NEWSWATCH_LOG_LEVEL="INFO",
            # Spike alerts depend on timing; the ledger counts only the deterministic ones.
            NEWSWATCH_ALERTS__SPIKE_MIN_COUNT="1000000000",
            NEWSWATCH_POLLER__SHARDING="true",
            NEWSWATCH_POLLER__MIN_INTERVAL="2",
            NEWSWATCH_POLLER__DEFAULT_INTERVAL="2",
            NEWSWATCH_POLLER__MAX_INTERVAL="2",
            NEWSWATCH_POLLER__START_JITTER="0",
            NEWSWATCH_POLLER__PARSE_WORKERS="1",
            NEWSWATCH_WEBHOOKS__ENDPOINTS=json.dumps([endpoint]),
            # The Standard Webhooks schedule 1000 times faster: 0, 5 ms, 0.3 s, 1.8 s, 7.2 s,
            # 18 s, 36 s, 50 s, 72 s, 86 s: about 4.5 min of retries before a dead letter.
            NEWSWATCH_WEBHOOKS__TIME_SCALE="1000",
            # The SSRF guard refuses loopback: allow the harness's own servers, nothing more.
            NEWSWATCH_POLLER__ALLOWED_NETWORKS="127.0.0.1/32",
            NEWSWATCH_WEBHOOKS__ALLOWED_NETWORKS="127.0.0.1/32",
            # The ledger checks the per-article delivery guarantees (each expected alert exactly
            # once, whatever fails); story alerts fold them (tests/integration/worker covers those).
            NEWSWATCH_STORIES__ALERTS="false",
        )
        env.update(self.extra_env)
        return env

    async def start(self, feeds_file: Path, webhook_url: str) -> dict[str, float]:
        """Cluster, Redis, topics, workers and pollers; returns start-up times (s)."""
        times: dict[str, float] = {}
        began = time.monotonic()
        await asyncio.to_thread(self.cluster.start, self.work / "kafka")
        times["kafka_cluster"] = time.monotonic() - began
        self.redis.start(self.redis_dir)
        await self._check_redis_aof()
        settings = load_settings(
            kafka_servers=self.cluster.bootstrap,
            redis_url=self.redis.url,
            topic_prefix=PREFIX,
            app_id=PREFIX,
            topic_partitions=PARTITIONS,
            topic_replication=3,
        )
        await ensure_topics(settings)
        env = self.env(feeds_file, webhook_url)
        self.worker_daemons = [
            Daemon(f"worker{i + 1}", "worker", env, self.work) for i in range(self.workers)
        ]
        self.poller_daemons = [
            Daemon(f"poller{i + 1}", "poll", env, self.work) for i in range(self.pollers)
        ]
        began = time.monotonic()
        for daemon in self.worker_daemons:
            daemon.start()
        await asyncio.gather(*(d.wait_ready(240) for d in self.worker_daemons))
        times["workers_ready"] = time.monotonic() - began
        for daemon in self.poller_daemons:
            daemon.start()
        return times

    async def _check_redis_aof(self) -> None:
        client = aioredis.Redis.from_url(self.redis.url)
        try:
            config = await client.config_get("append*")
        finally:
            await client.aclose()
        if config.get("appendonly") != "yes" or config.get("appendfsync") != "everysec":
            raise RuntimeError(f"redis-server is not AOF everysec: {config}")

    def restart_redis(self, timeout: float = 60.0) -> None:
        """redis-server again on the same port and data directory; returns once it has
        replayed its AOF and answers commands."""
        port = self.redis.port
        self.redis = RedisServer(port=port)
        self.redis.start(self.redis_dir)
        client = redis.Redis.from_url(self.redis.url, socket_timeout=2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.xlen(keys.STREAM)
                    return
                except redis.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            client.close()

    def stop(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for daemon in self.poller_daemons + self.worker_daemons:
            daemon.signal(signal.SIGCONT)
            daemon.signal(signal.SIGTERM)
        for daemon in self.poller_daemons + self.worker_daemons:
            codes[daemon.name] = daemon.stop(signalled=True)
        for daemon in self.poller_daemons + self.worker_daemons:
            orphans = daemon.orphans()
            if orphans:
                self.orphans[daemon.name] = self.orphans.get(daemon.name, 0) + len(orphans)
            for pid in orphans:  # ours: descendants of a process this harness started
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            daemon.killed_children.clear()
        self.redis.stop()
        self.cluster.stop()
        return codes


@dataclass
class AlertTracker:
    """Follows `newswatch:alerts` (XREAD from a cursor) and remembers each alert seen, even if
    a Redis restart later loses it. Tolerates Redis being down."""

    redis_url: str
    seen: dict[str, str] = field(default_factory=dict)  # alert id -> article url
    seen_at: dict[str, float] = field(default_factory=dict)  # alert id -> first seen (epoch s)
    urls: set[str] = field(default_factory=set)  # article urls with an alert
    cursor: str = "0-0"
    errors: int = 0

    async def poll(self) -> None:
        client = aioredis.Redis.from_url(self.redis_url, socket_timeout=3)
        try:
            while True:
                rows = await client.xread({keys.STREAM: self.cursor}, count=5000)
                if not rows:
                    return
                entries = rows[0][1]
                for entry_id, fields in entries:
                    self.cursor = entry_id.decode()
                    alert = orjson.loads(fields[b"data"])
                    alert_id = fields[b"id"].decode()
                    self.seen[alert_id] = alert.get("url") or ""
                    self.seen_at.setdefault(alert_id, time.time())
                    self.urls.add(alert.get("url") or "")
                if len(entries) < 5000:
                    return
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
            self.errors += 1
        finally:
            await client.aclose()

    async def stream(self) -> list[tuple[str, str]]:
        """The whole stream now: (alert id, article url) per entry, in order."""
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            out: list[tuple[str, str]] = []
            start = "-"
            while True:
                batch = await client.xrange(keys.STREAM, min=start, count=10_000)
                for _entry_id, fields in batch:
                    alert = orjson.loads(fields[b"data"])
                    out.append((fields[b"id"].decode(), alert.get("url") or ""))
                if len(batch) < 10_000:
                    return out
                start = "(" + batch[-1][0].decode()
        finally:
            await client.aclose()
