"""Helpers for tests: import them as `from testsupport import shared_path, unavailable`.

(Not `from conftest import …`: several folders have a conftest.py and the name is ambiguous.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    if IN_CI:
        pytest.fail(f"required service unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A path under ../shared/: absent, it skips with the reason, or fails under CI=true."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        unavailable(f"{path} not present (../shared/ lies beside the project root in dev and CI)")
    return path


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start `app` on a free 127.0.0.1 port; returns the runner (call `cleanup()`) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def descendants(pid: int) -> set[int]:
    """Every descendant of `pid`, the process itself excluded (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    children = {int(c) for c in f.read().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state first), None once gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Running or sleeping: not gone and not a zombie waiting to be reaped."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


async def survivors(pids: set[int], within: float) -> dict[int, str]:
    """The processes of `pids` still alive after up to `within` s (pid -> command line).

    A pid counts only while it names the same process (same start time as at the call), so a
    number the kernel reuses meanwhile is not taken for a survivor."""
    # fields[19] is field 22 of proc(5), the start time in clock ticks since boot
    started = {pid: fields[19] for pid in pids if (fields := _stat(pid)) is not None}

    def same(pid: int) -> bool:
        fields = _stat(pid)
        return fields is not None and fields[0] != "Z" and fields[19] == started[pid]

    deadline = time.monotonic() + within
    while True:
        left = {pid: cmdline(pid) for pid in started if same(pid)}
        if not left or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(0.1)


def kill_all(pids: dict[int, str] | set[int]) -> None:
    """SIGKILL what a failed test left behind (processes that test started), so it leaks
    nothing into the next test."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class RedisHost:
    """A redis-server of one test alone (AOF everysec, the default), with a power-loss
    emulation: `snapshot()` keeps a copy of the AOF as an fsync would have made it durable,
    `power_loss()` kills redis-server and restarts it on that copy, so every write after the
    snapshot is gone — what a host crash does to the writes of the last second."""

    def __init__(self, data_dir: Path) -> None:
        from newswatch.streams.embedded import RedisServer

        self.dir = data_dir
        self.server = RedisServer().start(data_dir)
        self.saved = data_dir.with_name(data_dir.name + "-aof-saved")

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def aof(self) -> Path:
        return self.dir / "appendonlydir"

    def snapshot(self) -> None:
        """Everything written so far. Redis may hold acknowledged writes in its AOF buffer for
        up to 2 s while a background fsync is slow (it postpones the write(2), not the reply):
        wait until the buffer is in the file."""
        import shutil
        import time

        import redis

        client = redis.Redis.from_url(self.server.url)
        try:
            deadline = time.monotonic() + 10
            while client.info("persistence")["aof_buffer_length"] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            client.close()
        shutil.rmtree(self.saved, ignore_errors=True)
        shutil.copytree(self.aof, self.saved)

    def power_loss(self, *, cut_into_tail: bool = False) -> None:
        """kill -9, then restart on the snapshot. With `cut_into_tail`, the AOF keeps about
        half of what was written since the snapshot, cut at whatever byte that is (inside a
        script's MULTI/EXEC block, most likely)."""
        import shutil

        from newswatch.streams.embedded import RedisServer

        incr = sorted(self.saved.glob("*.incr.aof"))[-1]
        if cut_into_tail:
            kept = incr.stat().st_size
            now = (self.aof / incr.name).read_bytes()
            incr.write_bytes(now[: kept + (len(now) - kept) // 2 + 7])
        assert self.server.proc is not None
        self.server.proc.kill()
        self.server.proc.wait(10)
        shutil.rmtree(self.aof)
        shutil.copytree(self.saved, self.aof)
        self.server = RedisServer(port=self.server.port).start(self.dir)

    def stop(self) -> None:
        self.server.stop()
