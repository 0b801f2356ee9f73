"""Parse workers: a document that hangs or kills its worker does not wedge the others."""

from __future__ import annotations

import pytest

from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.fetcher import FetchResult
from newswatch.streams.poller.parsepool import ParsePool
from newswatch.streams.poller.parser import FeedParseError
from tests.support.feeds import rss
from tests.support.hostile_parse import SLOW, misbehaving_parse

SPEC = FeedSpec(id="f", url="http://127.0.0.1/f.xml")
RESULT = FetchResult(status=200, url="http://127.0.0.1/f.xml", body=None)


@pytest.mark.slow
@pytest.mark.parametrize(("body", "message"), [(b"hang", "timed out"), (b"die", "worker died")])
async def test_pool_recovers(body: bytes, message: str) -> None:
    pool = ParsePool(1, timeout=6.0, target=misbehaving_parse)
    try:
        good = rss([("g1", "fine")])
        assert len((await pool.parse(good, SPEC, RESULT, 0.0)).entries) == 1
        with pytest.raises(FeedParseError, match=message):
            await pool.parse(body, SPEC, RESULT, 0.0)
        parsed = await pool.parse(good, SPEC, RESULT, 0.0)  # a fresh worker took over
        assert parsed.entries[0].article.title == "fine"
    finally:
        pool.close()


@pytest.mark.slow
@pytest.mark.parametrize(("hostile", "message"), [(b"hang", "timed out"), (b"die", "worker died")])
async def test_only_the_culprit_is_charged(hostile: bytes, message: str) -> None:
    """Innocent documents running beside or queued behind a hanging or crashing one get their
    result: no error, no CancelledError."""
    import asyncio

    from newswatch.streams.poller import metrics

    pool = ParsePool(2, timeout=1.5, target=misbehaving_parse)
    requeued = metrics.PARSE_REQUEUED.labels("requeued")._value.get()
    isolated = metrics.PARSE_REQUEUED.labels("isolated")._value.get()
    try:
        innocent = [rss([(f"g{i}", f"innocent {i}")], extra=SLOW) for i in range(12)]
        tasks = [asyncio.create_task(pool.parse(body, SPEC, RESULT, 0.0)) for body in innocent[:1]]
        await asyncio.sleep(0.1)  # the first innocent is running when the culprit arrives
        culprit = asyncio.create_task(pool.parse(hostile, SPEC, RESULT, 0.0))
        await asyncio.sleep(0.1)
        tasks += [asyncio.create_task(pool.parse(body, SPEC, RESULT, 0.0)) for body in innocent[1:]]
        with pytest.raises(FeedParseError, match=message):
            await culprit
        results = await asyncio.gather(*tasks)
        assert [r.entries[0].article.title for r in results] == [f"innocent {i}" for i in range(12)]
    finally:
        pool.close()
    rescued = metrics.PARSE_REQUEUED.labels("requeued")._value.get() - requeued
    rescued += metrics.PARSE_REQUEUED.labels("isolated")._value.get() - isolated
    assert rescued >= 1  # some innocents really were in the pool that was replaced


async def test_cancelling_a_parse_propagates_and_frees_the_pool() -> None:
    import asyncio

    pool = ParsePool(1, timeout=30.0, target=misbehaving_parse)
    try:
        slow = asyncio.create_task(pool.parse(rss([("s", "s")], extra=SLOW), SPEC, RESULT, 0.0))
        queued = asyncio.create_task(pool.parse(rss([("q", "q")]), SPEC, RESULT, 0.0))
        await asyncio.sleep(0.05)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert (await slow).entries[0].article.title == "s"
    finally:
        pool.close()


async def test_close_kills_a_worker_wedged_in_a_document() -> None:
    """A worker stuck in a hostile document must not outlive the pool: Python's exit joins
    every executor and would wait for it (an hour here)."""
    import asyncio
    import os

    pool = ParsePool(1, timeout=60.0, target=misbehaving_parse)
    hung = asyncio.create_task(pool.parse(b"hang", SPEC, RESULT, 0.0))
    await asyncio.sleep(1.0)  # the worker is now inside the document
    pids = [p.pid for p in (pool._current.executor._processes or {}).values()]
    assert pids
    pool.close()
    hung.cancel()
    await asyncio.gather(hung, return_exceptions=True)
    for _ in range(50):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            break
        await asyncio.sleep(0.1)
    assert not alive, f"parse workers still running after close(): {alive}"
