"""feedparser off the event loop, in worker processes that a hostile document cannot wedge.

feedparser is CPU-bound pure Python (~30-70 documents/s per core): in threads it would hold
the GIL and starve the event loop, so it runs in a process pool. A document that makes a worker
hang past `timeout`, or a worker that dies (OOM killer, crash), gets the pool replaced: the
other feeds keep being parsed, the offending feed records a parse error and backs off.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.fetcher import FetchResult
from newswatch.streams.poller.parser import FeedParseError, ParsedFeed, parse_feed

log = logging.getLogger(__name__)


def _warm_up() -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import feedparser  # noqa: F401  (imported once per worker, not per document)


def bound_parse(
    target: Callable[..., ParsedFeed], body: bytes, spec: FeedSpec, result: FetchResult, now: float
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
    )


class ParsePool:
    def __init__(self, workers: int, timeout: float, target=parse_feed) -> None:
        self.workers = workers
        self.timeout = timeout
        self.target = target  # tests substitute a misbehaving parser
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver: never fork the event-loop process, which runs threads.
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=_warm_up)

    async def parse(
        self, body: bytes, spec: FeedSpec, result: FetchResult, now: float
    ) -> ParsedFeed:
        """Parse in a worker; raises FeedParseError (also for timeouts and dead workers)."""
        call = bound_parse(self.target, body, spec, result, now)
        pool = self._pool
        try:
            future = asyncio.get_running_loop().run_in_executor(pool, call)
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            log.warning("feed %s: parsing took over %.0fs; restarting parse workers", spec.id,
                        self.timeout)  # fmt: skip
            self._replace(pool)
            raise FeedParseError(f"parse timed out after {self.timeout:g}s") from None
        except BrokenProcessPool:
            self._replace(pool)
            raise FeedParseError("parse worker died (document too large or hostile?)") from None

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if broken is not self._pool:
            return  # another feed already replaced it
        self._pool = self._new_pool()
        processes = list((getattr(broken, "_processes", None) or {}).values())
        broken.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(process.pid, signal.SIGKILL)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
