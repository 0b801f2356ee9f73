"""feedparser off the event loop, in worker processes that a hostile document cannot wedge.

feedparser is CPU-bound pure Python (~30-70 documents/s per core): in threads it would hold
the GIL and starve the event loop, so it runs in a process pool.

Feeds are isolated from each other; only the document at fault is charged:

- **Timeout.** A document's clock starts when the executor hands it to a worker (time queued
  behind others does not count, nor does worker start-up: a new pool's workers are warmed up
  first). Past `timeout` it is the culprit: its parse fails with
  FeedParseError, and the pool is replaced (its workers are killed: a parse stuck in C code
  cannot be interrupted otherwise). Every other document that was running or queued in the old
  pool is re-queued on the new one, uncharged.
- **Crash.** When a worker dies (`os._exit`, a segfault, the OOM killer), the executor fails every
  document it held and cannot say whose fault it was. They are all re-run one at a time in a
  separate one-worker *isolation* pool: a document that crashes (or times out) alone there is the
  culprit; the others get their result, uncharged. Queued documents are isolated too (the
  executor does not say which had started): at ~20 ms each, a few seconds per crash, and the
  crashing feed backs off. A clock that starts inside the worker would avoid this; see README.
- A document re-queued more than MAX_REQUEUES times (other documents keep failing around it)
  raises ParseInterrupted, which the scheduler retries soon without counting a failure.
- Cancelling the awaiting task (shutdown) cancels its work and propagates; the CancelledError of
  a future the *pool* cancelled never escapes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from newswatch.streams import procpool
from newswatch.streams.errors import FeedError
from newswatch.streams.poller import metrics
from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.fetcher import FetchResult
from newswatch.streams.poller.parser import MAX_ENTRIES, FeedParseError, ParsedFeed, parse_feed

log = logging.getLogger(__name__)

MAX_REQUEUES = 5
CHECK_EVERY = 0.25  # seconds between checks whether a queued document has started


class ParseInterrupted(FeedError):
    """Another document's timeout or crash kept stopping this one: not this feed's fault."""


def _warm_up() -> None:
    # A `kill -9` of the poller must not leave this worker, the forkserver and the resource
    # tracker behind (they kept each other alive): die with the forkserver, and let the
    # forkserver exit with the poller. This order; see streams/procpool.py.
    procpool.exit_with_parent()
    procpool.leave_forkserver()
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import feedparser  # noqa: F401  (imported once per worker, not per document)


def _ready() -> None:
    """A no-op: run once per worker of a new pool, so start-up never counts as parse time."""


def bound_parse(
    target: Callable[..., ParsedFeed],
    body: bytes,
    spec: FeedSpec,
    result: FetchResult,
    now: float,
    max_entries: int = MAX_ENTRIES,
) -> Callable[[], ParsedFeed]:
    """`target` (parse_feed or a stand-in) bound to one fetched document of feed `spec`."""
    return functools.partial(
        target,
        body,
        feed_id=spec.id,
        feed_name=spec.display_name,
        declared_lang=spec.lang,
        unicity=spec.unicity,
        content_type=result.content_type,
        base_url=result.url,
        fetched_at=now,
        max_entries=max_entries,
    )


@dataclass(eq=False)
class _Generation:
    """One executor and, once it is retired, why (`timeout`: another document's fault, known;
    `crash`: unknown whose fault)."""

    executor: ProcessPoolExecutor
    workers: int
    retired: str | None = None
    ready: asyncio.Future[Any] | None = None  # every worker started and warmed up

    def warmed_up(self) -> asyncio.Future[Any]:
        """Resolves once each worker has run a no-op: process start-up (seconds on a loaded
        machine) must not count against the first documents' timeouts."""
        if self.ready is None:
            calls = [asyncio.wrap_future(self.executor.submit(_ready)) for _ in range(self.workers)]
            self.ready = asyncio.ensure_future(asyncio.gather(*calls))
            self.ready.add_done_callback(lambda done: done.cancelled() or done.exception())
        return self.ready


class _Requeue(Exception):
    """Internal: run the document again on the current pool (it was not at fault)."""


class _Suspect(Exception):
    """Internal: the document was in a pool that crashed; run it alone to find out."""


class ParsePool:
    def __init__(
        self,
        workers: int,
        timeout: float,
        target: Callable[..., ParsedFeed] = parse_feed,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.workers = workers
        self.timeout = timeout
        self.target = target  # tests substitute a misbehaving parser
        self.max_entries = max_entries
        self._current = _Generation(self._new_executor(workers), workers)
        self._isolation: _Generation | None = None
        self._isolation_lock = asyncio.Lock()

    @staticmethod
    def _new_executor(workers: int) -> ProcessPoolExecutor:
        # forkserver: never fork the event-loop process, which runs threads.
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_warm_up)

    async def parse(
        self, body: bytes, spec: FeedSpec, result: FetchResult, now: float
    ) -> ParsedFeed:
        """Parse in a worker; raises FeedParseError when this document is at fault (its own
        parse error, a timeout, a crash), ParseInterrupted when others kept interrupting it."""
        call = bound_parse(self.target, body, spec, result, now, self.max_entries)
        for _ in range(MAX_REQUEUES + 1):
            try:
                return await self._run(self._current, call, spec)
            except _Requeue:
                metrics.PARSE_REQUEUED.labels("requeued").inc()
                continue
            except _Suspect:
                metrics.PARSE_REQUEUED.labels("isolated").inc()
                return await self._run_isolated(call, spec)
        raise ParseInterrupted(f"parse interrupted {MAX_REQUEUES + 1} times by other feeds")

    async def _run_isolated(self, call: Callable[[], ParsedFeed], spec: FeedSpec) -> ParsedFeed:
        async with self._isolation_lock:
            if self._isolation is None:
                self._isolation = _Generation(self._new_executor(1), 1)
            try:
                return await self._run(self._isolation, call, spec)
            except _Suspect:  # it crashed the worker with nothing else running: the culprit
                raise FeedParseError("parse worker died (document too large or hostile?)") from None
            except _Requeue:  # only close() retires the isolation pool otherwise
                raise ParseInterrupted("parse pool closed") from None

    async def _run(
        self, generation: _Generation, call: Callable[[], ParsedFeed], spec: FeedSpec
    ) -> ParsedFeed:
        try:
            await asyncio.shield(generation.warmed_up())
            work: Future[ParsedFeed] = generation.executor.submit(call)
        except (BrokenProcessPool, RuntimeError, asyncio.CancelledError):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # shutdown
            # The pool broke, was shut down or retired before this document got in.
            self._retire(generation, "crash")
            raise _Requeue from None  # this document was not in it
        waiter = asyncio.wrap_future(work)
        # A timed-out document's future fails later, unobserved: retrieve it (no log noise).
        waiter.add_done_callback(lambda done: done.cancelled() or done.exception())
        loop = asyncio.get_running_loop()
        started: float | None = None
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=CHECK_EVERY)
                if waiter.done():
                    break
                if started is None and work.running():
                    started = loop.time()
                if started is not None and loop.time() - started >= self.timeout:
                    log.warning(
                        "feed %s: parsing took over %gs; restarting parse workers",
                        spec.id,
                        self.timeout,
                    )
                    self._retire(generation, "timeout")
                    raise FeedParseError(f"parse timed out after {self.timeout:g}s")
        except asyncio.CancelledError:
            work.cancel()  # our own task is being cancelled (shutdown): drop the queued work
            raise
        if waiter.cancelled():  # the pool cancelled it when it was retired: not our fault
            raise _Requeue
        error = waiter.exception()
        if error is None:
            return waiter.result()
        if isinstance(error, BrokenProcessPool):
            self._retire(generation, "crash")
            if generation.retired == "crash":
                raise _Suspect
            raise _Requeue  # killed because another document timed out (or closed)
        if isinstance(error, FeedParseError):
            raise error
        # parse_feed raises only FeedParseError; a stand-in target or an unpicklable result
        # may not: still this document's error, never the poll's.
        raise FeedParseError(f"parse failed: {type(error).__name__}: {error}"[:300])

    def _retire(self, generation: _Generation, reason: str) -> None:
        """Replace `generation`'s executor (once) and kill its workers."""
        if generation.retired is not None:
            return  # another document already did
        generation.retired = reason
        metrics.PARSE_POOL_RESTARTS.labels(reason).inc()
        if generation is self._current:
            self._current = _Generation(self._new_executor(self.workers), self.workers)
        if generation is self._isolation:
            self._isolation = None
        procpool.kill(generation.executor)

    def close(self) -> None:
        """Stop every worker now. Killed, not waited for: a worker wedged in a hostile
        document would otherwise keep the executor alive, and Python's exit would wait for it
        (concurrent.futures joins every executor at interpreter shutdown)."""
        for generation in (self._current, self._isolation):
            if generation is not None:
                generation.retired = generation.retired or "closed"
                procpool.kill(generation.executor)
