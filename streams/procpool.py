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
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor


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
