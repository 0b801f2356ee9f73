"""The `newswatch poll` process: wiring, health endpoints, feeds-file reload, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from newswatch.streams.errors import ServiceError
from newswatch.streams.kafka import ensure_topics, make_producer, supports_idempotence
from newswatch.streams.poller.feeds import FeedsFileError, FeedSpec, feeds_path, load_feeds
from newswatch.streams.poller.fetcher import make_session
from newswatch.streams.poller.parsepool import ParsePool
from newswatch.streams.poller.publisher import KafkaPublisher
from newswatch.streams.poller.recovery import recover_pending
from newswatch.streams.poller.scheduler import Poller
from newswatch.streams.poller.sharding import FeedOwnership, diff_feeds, publish_feeds, seed_feeds
from newswatch.streams.poller.state import StateStore, connect
from newswatch.streams.settings import ConfigError, Settings
from newswatch.streams.web import start_health_server

log = logging.getLogger(__name__)

RELOAD_EVERY = 5.0  # seconds between checks of the feeds file's modification time
HEALTH_EVERY = 5.0


async def run_poller(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT when `stop` is None)."""
    if not settings.kafka_servers:
        raise ConfigError("kafka_servers: not configured (set NEWSWATCH_KAFKA_SERVERS)")
    redis_url = settings.redis_dsn  # raises ConfigError when unset
    path = feeds_path(settings.feeds_file)
    feeds = load_feeds(path)
    log.info("polling %d feed(s) from %s", len(feeds), path)

    stop = stop or _signal_stop()
    await ensure_topics(settings)
    producer = await start_producer(settings)
    redis = connect(redis_url)
    store = StateStore(redis, settings.poller.seen_ttl_days * 86_400)
    health = {"producer": False, "redis": False}

    def ready() -> tuple[bool, str]:
        missing = [name for name, ok in health.items() if not ok]
        return (not missing, "ok" if not missing else "waiting for " + ", ".join(missing))

    runner = await start_health_server(settings.web_host, settings.web_port, ready)
    pool = ParsePool(
        settings.poller.parse_workers,
        settings.poller.parse_timeout,
        max_entries=settings.poller.max_entries_per_poll,
    )
    session = make_session(settings.poller)
    background: list[asyncio.Task[None]] = []
    publisher: KafkaPublisher | None = None
    try:
        health["producer"] = True
        health["redis"] = await _wait_for_redis(store, redis_url)
        publisher = KafkaPublisher(
            producer, settings.topic("articles"), renew=lambda: start_producer(settings)
        )
        if settings.poller.sharding:
            # The feeds come from the partitions this poller owns (sharding.py), not the file.
            await seed_feeds(settings, feeds)
            poller = Poller(settings.poller, [], store, publisher, session, pool.parse)
            ownership = FeedOwnership(
                settings, poller, lambda ids: recover_pending(settings, store, ids)
            )
            background = [
                asyncio.create_task(ownership.run(stop)),
                asyncio.create_task(_watch_feeds_file(path, poller, settings, feeds)),
            ]
        else:
            await recover_pending(settings, store)
            poller = Poller(settings.poller, feeds, store, publisher, session, pool.parse)
            await poller.load_state()
            background = [asyncio.create_task(_watch_feeds_file(path, poller))]
        background.append(asyncio.create_task(_watch_redis(store, health)))
        await poller.run(stop)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await session.close()
        with contextlib.suppress(Exception):
            await (publisher.producer if publisher else producer).stop()  # flushes the buffer
        await redis.aclose()
        pool.close()
        await runner.cleanup()
        log.info("poller stopped")


class PollerStartError(ServiceError):
    """A dependency (Redis) did not answer at start-up; the message says which."""


async def _wait_for_redis(store: StateStore, url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not await store.ping():
        if time.monotonic() > deadline:
            host = url.rsplit("@", 1)[-1]
            raise PollerStartError(f"Redis at {host} did not answer within {timeout:.0f}s")
        log.warning("waiting for Redis")
        await asyncio.sleep(1.0)
    return True


async def start_producer(settings: Settings) -> AIOKafkaProducer:
    """The shared idempotent producer; if the broker refuses producer ids (Tansu's memory
    storage answers InitProducerId with UNKNOWN), an acks=all producer without idempotence.
    Dedup does not depend on it: articles are marked seen in Redis only after the acks, and
    consumers are idempotent on the article id. The broker is asked first (see
    `supports_idempotence`), so a healthy start against Tansu logs no aiokafka ERROR."""
    if await supports_idempotence(settings):
        producer = make_producer(settings)
        try:
            await producer.start()
            return producer
        except KafkaError as exc:
            await producer.stop()
            log.warning(
                "broker refused an idempotent producer (%r); using acks=all without idempotence",
                exc,
            )
    else:
        log.info("the broker hands out no producer ids: acks=all producer without idempotence")
    producer = make_producer(settings, enable_idempotence=False)
    await producer.start()
    return producer


def _signal_stop() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _watch_redis(store: StateStore, health: dict[str, bool]) -> None:
    while True:
        await asyncio.sleep(HEALTH_EVERY)
        health["redis"] = await store.ping()


async def _watch_feeds_file(
    path: Path,
    poller: Poller,
    sharded: Settings | None = None,
    loaded: list[FeedSpec] | None = None,
) -> None:
    """Pick up `newswatch feeds add/remove` (or a hand edit) without a restart. Sharded
    (`sharded` = the settings), the edit is published to the feeds topic instead, and every
    poller applies the part it owns."""
    previous = loaded or []
    last = _mtime(path)
    while True:
        await asyncio.sleep(RELOAD_EVERY)
        current = _mtime(path)
        if current == last:
            continue
        last = current
        try:
            feeds = load_feeds(path)
        except FeedsFileError as exc:
            log.error("feeds file changed but is invalid, keeping the old list: %s", exc)
            continue
        if sharded is not None:
            changed, removed = diff_feeds(previous, feeds)
            try:
                await publish_feeds(sharded, changed, removed)
                previous = feeds
            except KafkaError as exc:
                log.error("feeds file changed but the feeds topic is unreachable: %r", exc)
                last = None  # try again at the next check
            continue
        await poller.replace_feeds(feeds)
        log.info("feeds file reloaded: %d feed(s) at %s", len(feeds), time.strftime("%X"))


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
