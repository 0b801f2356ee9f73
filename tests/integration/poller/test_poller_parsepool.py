"""Parse workers: a document that hangs or kills its worker does not wedge the others."""

from __future__ import annotations

import pytest
from poller_fixtures import misbehaving_parse, rss

from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.fetcher import FetchResult
from newswatch.streams.poller.parsepool import ParsePool
from newswatch.streams.poller.parser import FeedParseError

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
