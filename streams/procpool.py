"""A process pool that is replaced, never repaired: the shared part of the project's process
pools (the tag agent's, agents/tagpool.py; the poller's parse pool,
streams/poller/parsepool.py, does the same and is to call `kill`, see docs/architecture.md).

`concurrent.futures.ProcessPoolExecutor` cannot recover from a dead worker (every later call
raises `BrokenProcessPool`) and cannot cancel a call that hangs in a worker. The pools
therefore swap in a fresh executor and kill the old one's workers. Many coroutines can see
the same failure at once (every call in flight on the broken executor fails); `replace` swaps
only when the executor it is given is still the current one, so the pool is replaced once.
What to do with the failed call (an error for the feed, a retry one record at a time) stays
with each pool.

A pool worker must also go when the process that owns the pool is killed (`kill -9`, the OOM
killer): nothing in `concurrent.futures` sees to that. A worker waits for its next call on a
pipe whose write end it holds itself (a `multiprocessing.Queue` carries both ends), so it
never reads EOF and waits forever. In the parse pool `exit_with_parent` has the kernel kill
it instead, and `leave_forkserver` lets the `forkserver` context's server exit (see each for
why); the tag agent's spawned child watches its parent from a thread (agents/tagpool.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class ReplaceablePool:
    """The current executor (`current`), made by `factory`, replaced by `replace`."""

    def __init__(self, factory: Callable[[], ProcessPoolExecutor]) -> None:
        self._factory = factory
        self.current = factory()

    def replace(self, failed: ProcessPoolExecutor) -> bool:
        """A new executor instead of `failed`, whose workers are killed (one wedged on a
        hostile input would keep its core); False, doing nothing, when another caller
        already replaced it."""
        if failed is not self.current:
            return False
        self.current = self._factory()
        kill(failed)
        return True

    def close(self) -> None:
        self.current.shutdown(wait=False, cancel_futures=True)


def kill(executor: ProcessPoolExecutor) -> None:
    """Shut `executor` down without waiting and SIGKILL its worker processes."""
    # The executor's private process table: the only handle on its workers (None once it
    # has shut down, hence the default).
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(ProcessLookupError, TypeError):  # gone, or never started
            os.kill(process.pid, signal.SIGKILL)


def exit_with_parent() -> bool:
    """Linux: have the kernel SIGKILL this process when its parent exits, however it exits
    (`prctl(PR_SET_PDEATHSIG, SIGKILL)`); False, doing nothing, elsewhere or if refused.

    Call it early in a pool worker (its initializer). SIGKILL, not a softer signal: the point
    is to free a worker that may be wedged in C code. The kernel ties the signal to the parent
    *thread* that created this process: right for a `forkserver` child (the server is
    single-threaded) and for a child started from the event loop's (main) thread, wrong for one
    started from a short-lived thread, which it would kill when that thread ends. The setting
    is not inherited by this process's own children.

    A race the caller must close: if the parent is already gone when this runs, no signal
    comes. `leave_forkserver` is ordered after it for that reason."""
    if sys.platform != "linux":
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


def leave_forkserver() -> None:
    """In a worker forked by a `forkserver` context: close this process's copy of the server's
    "alive" pipe, so that the server exits when the pool's owner does.

    CPython's forkserver stops when every write end of its "alive" pipe is closed. The owner
    holds one, and it also hands one to *every process the server forks* (so that process
    could use the server in turn: `multiprocessing.forkserver._serve_one`). A pool worker never
    does, but while it lives the server never sees EOF; and the worker itself waits forever
    for its next call (see the module docstring). After a `kill -9` of the owner the worker,
    the server and the `resource_tracker` (whose pipe both of them hold) kept each other alive
    for good. With this closed, the owner's death closes the last write end: the server exits,
    its workers get the SIGKILL of `exit_with_parent` (the server is their parent), and the
    resource tracker reads EOF and exits too.

    Call it after `exit_with_parent`: until this process closes its copy the server cannot
    exit, so the parent-death signal is armed while the parent is certainly alive.

    Uses the private attribute where CPython keeps that descriptor (the same name since
    3.4); tests/integration/streams/poller/test_poller_orphans.py fails if that changes."""
    from multiprocessing import forkserver  # POSIX only

    server = forkserver._forkserver
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.close(fd)
    server._forkserver_alive_fd = None  # type: ignore[attr-defined]  # private, see above
