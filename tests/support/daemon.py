"""The process harness: one `newswatch <command>` daemon as a real subprocess.

    daemon = Daemon("worker", "worker", env, tmp_path)
    daemon.start()                   # appends to tmp_path/worker.log, one marker per start
    await daemon.wait_ready()        # polls /readyz on its own web port; the log tail on failure
    daemon.metric("newswatch_alerts_total")
    daemon.kill9(); daemon.start()   # a crash and a restart, same port, state dir and log
    assert daemon.stop() == 0        # SIGTERM, SIGKILL after the timeout; the exit code

Each daemon gets its own web port (`NEWSWATCH_WEB_PORT`), state directory (`work/<name>`,
unless `env` names one) and log; it runs in a session of its own, so a signal meant for the
test run never reaches it. The worker tests' `WorkerHarness`, the fault tests, the end-to-end
test and the chaos harness all start their daemons through this class.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from newswatch.streams.embedded import free_port
from tests.support.processes import alive, descendants


def clean_environ() -> dict[str, str]:
    """This process's environment without any NEWSWATCH_ setting the developer may have set."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}


@dataclass
class Daemon:
    """One `newswatch <command>` subprocess with its own web port, state dir and log."""

    name: str
    command: str
    env: dict[str, str]
    work: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    starts: int = 0
    killed_children: set[int] = field(default_factory=set)

    @property
    def log_path(self) -> Path:
        return self.work / f"{self.name}.log"

    def start(self) -> None:
        self.starts += 1
        self.work.mkdir(parents=True, exist_ok=True)
        env = {
            "NEWSWATCH_STATE_DIR": str(self.work / self.name),
            **self.env,
            "NEWSWATCH_WEB_PORT": str(self.port),
            "NEWSWATCH_POLLER__USER_AGENT": f"newswatch-test/{self.name}",
        }
        with open(self.log_path, "ab") as out:
            out.write(f"\n===== start {self.starts} at {time.time():.3f}\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "newswatch.streams.cli", self.command],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def kill9(self) -> None:
        """SIGKILL, as a crash would; its descendants are remembered to see whether they
        outlive it (`orphans()`)."""
        if self.running():
            assert self.proc is not None
            self.killed_children.update(descendants(self.proc.pid))
            self.proc.kill()
            self.proc.wait(10)

    def orphans(self) -> list[int]:
        """Descendants of killed incarnations that are still alive."""
        return sorted(pid for pid in self.killed_children if alive(pid))

    def stop(self, timeout: float = 40.0, *, signalled: bool = False) -> int | None:
        """SIGTERM (once: a second one may cut the graceful shutdown short), SIGKILL after
        `timeout`; the exit code (0 = clean shutdown, -9 = it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if not signalled:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def http(self, path: str) -> tuple[int | None, bytes]:
        """GET on the daemon's web port: (status, body), (None, b"") when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return None, b""

    def metric(self, name: str) -> float | None:
        """The sum of a metric's samples from /metrics; None when the daemon does not answer."""
        status, body = self.http("/metrics")
        if status != 200:
            return None
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def wait_ready(self, timeout: float = 120.0) -> float:
        """Until /readyz answers 200; the seconds it took. Fails with the log's tail if the
        process exits or is not ready in time."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if not self.running():
                code = self.proc and self.proc.returncode
                raise AssertionError(f"{self.name} exited {code}:\n{self.tail()}")
            if (await asyncio.to_thread(self.http, "/readyz"))[0] == 200:
                return time.monotonic() - began
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""
