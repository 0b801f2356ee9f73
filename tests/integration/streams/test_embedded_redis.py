"""The embedded redis-server of `newswatch up`: a random password kept 0600 in a 0700 state
directory, required by the server, never on its command line or in the log, and handed to the
child processes in their Redis URL. Real redis-server processes."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
import redis

from newswatch.streams.embedded import (
    EmbeddedError,
    RedisServer,
    ensure_private_dir,
    ensure_redis_password,
)
from newswatch.streams.settings import load_settings
from newswatch.streams.supervisor import Supervisor

pytestmark = pytest.mark.redis


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_dir_is_created_0700_and_tightened(tmp_path: Path) -> None:
    fresh = ensure_private_dir(tmp_path / "a" / "state")
    assert _mode(fresh) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    ensure_private_dir(loose)
    assert _mode(loose) == 0o700


def test_password_file_is_0600_kept_and_repaired(tmp_path: Path) -> None:
    state = tmp_path / "state"
    password = ensure_redis_password(state)
    path = state / "redis.password"
    assert _mode(state) == 0o700 and _mode(path) == 0o600
    assert len(password) >= 32 and path.read_text().strip() == password
    assert ensure_redis_password(state) == password, "kept across restarts"
    os.chmod(path, 0o644)
    assert ensure_redis_password(state) == password
    assert _mode(path) == 0o600
    path.write_text("short\n")
    replaced = ensure_redis_password(state)
    assert replaced != password and len(replaced) >= 32 and _mode(path) == 0o600


def test_server_requires_the_password_and_hides_it(tmp_path: Path) -> None:
    password = ensure_redis_password(tmp_path)
    server = RedisServer(password=password)
    try:
        server.start(tmp_path / "redis", persist=False)
    except EmbeddedError as exc:
        pytest.skip(str(exc))
    try:
        anonymous = redis.Redis(host=server.host, port=server.port)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        wrong = redis.Redis(host=server.host, port=server.port, password="not-" + password)
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
        wrong.close()
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        client.close()
        assert password in server.url and password not in repr(server)
        assert server.proc is not None
        cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert password.encode() not in cmdline, "`ps` would show it to every local user"
        assert _mode(tmp_path / "redis") == 0o700
        assert _mode(tmp_path / "redis" / "auth.conf") == 0o600
    finally:
        server.stop()


async def test_up_gives_children_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The supervisor's embedded Redis (Kafka is configured, so no broker is started): its
    password reaches the children's NEWSWATCH_REDIS_URL, and the log names only host:port."""
    settings = load_settings(state_dir=tmp_path / "state", kafka_servers="127.0.0.1:9")
    supervisor = Supervisor(settings)
    caplog.set_level(logging.INFO, logger="newswatch")
    try:
        await supervisor._start_services()
    except EmbeddedError as exc:
        pytest.skip(str(exc))
    try:
        password = (tmp_path / "state" / "redis.password").read_text().strip()
        assert _mode(tmp_path / "state") == 0o700
        env = supervisor._child_env(0)
        url = env["NEWSWATCH_REDIS_URL"]
        assert f":{password}@127.0.0.1:" in url
        client = redis.Redis.from_url(url)
        assert client.ping() is True
        client.close()
        assert "embedded redis-server started at 127.0.0.1:" in caplog.text
        assert password not in caplog.text
    finally:
        await supervisor._stop_services()
