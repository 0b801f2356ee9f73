"""Where a running `newswatch up` can be reached: `$NEWSWATCH_STATE_DIR/up.json`.

`up` starts an embedded Redis and broker on free ports nobody is told about; it writes their
addresses (and its web ports) here, mode 0600 because the Redis URL may carry a password, and
removes the file when it stops. Client commands (`alerts tail`, `webhooks …`, `feeds status`,
`status`) read it when no Redis URL is configured, and say so in one line on stderr.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr

from newswatch.streams.errors import ConfigError
from newswatch.streams.settings import Settings

FILE_NAME = "up.json"


@dataclass(frozen=True)
class Endpoints:
    """What `newswatch up` serves, as written to up.json."""

    pid: int
    redis_url: str
    kafka_bootstrap: list[str]
    web_host: str
    worker_port: int
    poller_port: int
    supervisor_port: int
    demo: bool = False
    started_at: float = field(default_factory=time.time)
    embedded: list[str] = field(default_factory=list)  # "redis", "tansu"
    feeds_file: str | None = None  # the demo's generated feeds file

    @property
    def page_url(self) -> str:
        host = self.web_host if self.web_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{host}:{self.worker_port}/"

    def alive(self) -> bool:
        """Is the `up` process that wrote this still running?"""
        return pid_alive(self.pid)


def path_for(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def write(state_dir: Path, endpoints: Endpoints) -> Path:
    """Write up.json atomically with mode 0600 (created so, never widened)."""
    path = path_for(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing tmp file keeps its mode otherwise
        os.write(fd, orjson.dumps(asdict(endpoints), option=orjson.OPT_INDENT_2))
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def remove(state_dir: Path, pid: int | None = None) -> None:
    """Delete up.json if it is ours (same pid) or no pid is given."""
    path = path_for(state_dir)
    if pid is not None:
        current = read(state_dir)
        if current is not None and current.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class EndpointsError(ConfigError, ValueError):
    """up.json exists but cannot be used; the message says why."""


def read(state_dir: Path) -> Endpoints | None:
    """The endpoints `up` wrote, or None when there is no file. Raises EndpointsError."""
    path = path_for(state_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EndpointsError(f"{path}: {exc.strerror or exc}") from None
    try:
        data: Any = orjson.loads(raw)
        return Endpoints(**data)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise EndpointsError(f"{path}: not an up.json file ({exc})") from None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def with_endpoints(settings: Settings) -> tuple[Settings, str | None]:
    """`settings` completed from up.json when they name no Redis, and a one-line note saying so
    (None when nothing was taken from the file). A stale file (its `up` is gone) is ignored
    and the note says that instead."""
    if settings.redis_url is not None:
        return settings, None
    path = path_for(settings.state_dir)
    try:
        found = read(settings.state_dir)
    except EndpointsError as exc:
        return settings, f"ignoring {exc}"
    if found is None:
        return settings, None
    if not found.alive():
        return settings, (
            f"ignoring {path}: the `newswatch up` that wrote it (pid {found.pid}) is not running"
        )
    updates: dict[str, Any] = {"redis_url": SecretStr(found.redis_url)}
    if not settings.kafka_servers:
        updates["kafka_servers"] = list(found.kafka_bootstrap)
    if settings.feeds_file is None and found.feeds_file:
        updates["feeds_file"] = Path(found.feeds_file)
    note = f"using the Redis and Kafka of `newswatch up` (pid {found.pid}) from {path}"
    return settings.model_copy(update=updates), note
