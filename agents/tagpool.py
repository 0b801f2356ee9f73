"""The tag agent's process pool: `ArticleProcessor` (alerting/processing.py) in a child process.

Tagging and rule evaluation are CPU-bound; in a spawned child they use the second core while
the worker's event loop keeps the first. A child that dies is replaced (`streams/procpool.py`)
and the records it held are retried one at a time, so a record that kills it is found and
dead-lettered instead of taking the worker down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from newswatch.agents.alerting.processing import ArticleProcessor, Outcome, load_processor
from newswatch.streams import procpool
from newswatch.streams.procpool import ReplaceablePool

log = logging.getLogger(__name__)


_CHILD: ArticleProcessor | None = None


def _init_child(
    catalogue_dir: Path | None,
    rules_file: Path | None,
    rules: bool,
    loader: Callable[..., ArticleProcessor] = load_processor,
    stories: str = "",
    parent: int | None = None,
    on_main_thread: bool = False,
) -> None:
    global _CHILD
    if on_main_thread:  # the kernel kills this child with the worker, even one wedged in C
        procpool.exit_with_parent()
    _exit_with_parent(parent if parent is not None else os.getppid())
    _CHILD = loader(catalogue_dir, rules_file, rules, **({"stories": stories} if stories else {}))
    _CHILD.process(b"{}")  # warm up imports and lazy tables before the first batch


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """A worker killed with SIGKILL cannot stop its pool: the child leaves when orphaned.

    `parent` is the worker's pid as the worker gave it, not `os.getppid()` read here: a worker
    killed while this child was still starting (imports take seconds on a loaded machine) has
    already been replaced as parent by then, and a watch for a change that had already
    happened never ended (each such child, ~200 MB, stayed for good)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    if os.getppid() != parent:
        os._exit(0)  # orphaned before it started: nobody will ever send it work
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _process_in_child(values: list[bytes]) -> list[Outcome]:
    assert _CHILD is not None, "processor pool not initialised"
    return _CHILD.process_batch(values)


#: Times a record may be in the child when it dies before it is dead-lettered: with two batches
#: in flight, an innocent record can share a crash with the guilty one.
CRASHES_PER_RECORD = 3


class ProcessorPool:
    """`await pool.process_batch(values)` in a child process.

    When the child dies (a crash is logged and the pool restarted once), the batches it held
    are processed again in the new child one record at a time, so a record that kills the
    child (a native crash, the OOM killer) is found and dead-lettered ("processing") after
    `CRASHES_PER_RECORD` deaths instead of taking the worker down with it: processing it in the
    worker's own process, as a fallback, would crash the worker on every restart. Any other
    failure of the pool processes the batch in-process (`inline`).

    `loader(catalogue_dir, rules_file, rules[, stories=])` builds the child's processor (a
    module-level function, as it crosses the process boundary; tests pass their own).
    `stories` (processing.STORY_MODES): the child also makes the stories agent's input items.
    """

    def __init__(
        self,
        catalogue_dir: Path | None,
        rules_file: Path | None,
        *,
        rules: bool,
        inline: Callable[[], ArticleProcessor],
        processes: int = 1,
        loader: Callable[..., ArticleProcessor] = load_processor,
        stories: str = "",
    ) -> None:
        self._args = (catalogue_dir, rules_file, rules, loader, stories)
        self._processes = processes
        self._inline_factory = inline
        self._inline: ArticleProcessor | None = None
        self._pools = ReplaceablePool(self._new_pool)

    @property
    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        return self._pools.current

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        # spawn, not fork: the worker has threads (Faust's consumer) that fork would copy badly.
        # The child is spawned below, by this thread. PR_SET_PDEATHSIG ties the child to the
        # thread that created it (streams/procpool.py), so the child asks for it only when
        # that is the main thread, which lasts as long as the worker.
        on_main_thread = threading.current_thread() is threading.main_thread()
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=(*self._args, os.getpid(), on_main_thread),
        )
        pool.submit(_process_in_child, [])  # start and warm the child now, not on batch one
        return pool

    async def process_batch(self, values: list[bytes]) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        pool = self._pool
        try:
            return await loop.run_in_executor(pool, _process_in_child, values)
        except BrokenProcessPool as exc:
            self._restart(pool, exc)
        except Exception as exc:  # the child's side failed as a whole (it never should)
            log.error("tagging process failed on a batch (%r); it runs in-process", exc)
            if self._inline is None:
                self._inline = self._inline_factory()
            return self._inline.process_batch(values)
        log.warning("the %d articles of a batch the crash hit run one at a time", len(values))
        return [await self._process_alone(value) for value in values]

    async def _process_alone(self, value: bytes) -> Outcome:
        loop = asyncio.get_running_loop()
        for _ in range(CRASHES_PER_RECORD):
            pool = self._pool
            try:
                (outcome,) = await loop.run_in_executor(pool, _process_in_child, [value])
                return outcome
            except BrokenProcessPool as exc:
                self._restart(pool, exc)
        log.error("the tagging process died %d times on one record", CRASHES_PER_RECORD)
        return Outcome(
            reason="processing",
            error=f"the tagging process died {CRASHES_PER_RECORD} times on this record",
        )

    def _restart(self, pool: concurrent.futures.ProcessPoolExecutor, exc: BaseException) -> None:
        # other batches in flight saw the same crash: the pool is replaced once
        if self._pools.replace(pool):
            log.error("tagging process died (%r); restarted it", exc)

    def close(self) -> None:
        self._pools.close()


class InlineProcessor:
    """The same interface as ProcessorPool, in the event loop's thread."""

    def __init__(self, processor: ArticleProcessor) -> None:
        self._processor = processor

    async def process_batch(self, values: list[bytes]) -> list[Outcome]:
        return self._processor.process_batch(values)

    def close(self) -> None:
        pass
