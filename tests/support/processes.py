"""Processes a test started, seen through /proc (Linux): descendants, survivors, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time


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
