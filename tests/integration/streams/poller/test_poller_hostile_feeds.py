"""Hostile feed documents over real HTTP: innocent feeds keep their schedule while hostile ones
are parsed (char refs, quadratic HTML, huge entry counts), time out, or kill the parse worker."""

from __future__ import annotations

import asyncio
import logging

import pytest

from newswatch.streams.poller import metrics
from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.parsepool import ParsePool
from tests.support.feeds import rss
from tests.support.hostile_parse import DIE, HANG, misbehaving_parse

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def counter(metric, *labels: str) -> float:
    return (metric.labels(*labels) if labels else metric)._value.get()


def hostile_html_feed() -> bytes:
    """Descriptions that made the old regex stripper quadratic (minutes each)."""
    items = "".join(
        f"<item><title>html {i}</title><guid>h{i}</guid><description><![CDATA[{unit * 20_000}"
        "]]></description></item>"
        for i, unit in enumerate(["<!--", "<script ", "<a x='"])
    )
    return f'<rss version="2.0"><channel><title>h</title>{items}</channel></rss>'.encode()


def char_ref_feed() -> bytes:
    refs = "&#xD800; &#1114112; &#99999999999; &#" + "9" * 5000 + ";"
    return rss([("c1", f"refs {refs} end")], title=f"t {refs}")


async def test_innocent_feeds_keep_their_schedule(feed_server, make_poller, caplog) -> None:
    caplog.set_level(logging.WARNING)
    innocent = [f"/ok{i}.xml" for i in range(6)]
    for i, path in enumerate(innocent):
        feed_server.static(path, rss([(f"o{i}", f"innocent {i}")]))
    feed_server.static("/hang.xml", rss([("x", "x")], extra=HANG))
    feed_server.static("/die.xml", rss([("y", "y")], extra=DIE))
    feed_server.static("/refs.xml", char_ref_feed())
    feed_server.static("/html.xml", hostile_html_feed())
    feed_server.static("/huge.xml", rss([(f"e{i}", f"entry {i}") for i in range(300)]))
    feeds = [
        FeedSpec(id=f"ok{i}", url=feed_server.url(p), interval=1) for i, p in enumerate(innocent)
    ]
    hostile = {
        name: feed_server.url(f"/{name}.xml") for name in ("hang", "die", "refs", "html", "huge")
    }
    feeds += [FeedSpec(id=name, url=url, interval=1) for name, url in hostile.items()]

    before = {
        "timeout": counter(metrics.PARSE_POOL_RESTARTS, "timeout"),
        "crash": counter(metrics.PARSE_POOL_RESTARTS, "crash"),
        "rescued": counter(metrics.PARSE_REQUEUED, "requeued")
        + counter(metrics.PARSE_REQUEUED, "isolated"),
        "over": counter(metrics.ENTRIES_OVER_LIMIT),
    }
    pool = ParsePool(2, timeout=3.0, target=misbehaving_parse, max_entries=50)
    poller, published = await make_poller(feeds, parse=pool.parse, concurrency=16, per_host=16)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await asyncio.sleep(10.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        pool.close()

    states = poller.states
    # The culprits are charged, with a reason `feeds status` shows.
    assert states["hang"].error_count >= 1 and states["hang"].error_kind == "parse"
    assert "timed out" in states["hang"].last_error
    assert states["die"].error_count >= 1 and "worker died" in states["die"].last_error
    # Hostile-but-parseable documents are simply parsed.
    by_feed: dict[str, list] = {}
    for article in published.published:
        by_feed.setdefault(article.feed_id, []).append(article)
    assert by_feed["refs"][0].title == "refs \ufffd \ufffd \ufffd \ufffd end"
    assert sorted(a.title for a in by_feed["html"]) == ["html 0", "html 1", "html 2"]
    assert len(by_feed["huge"]) == 50  # the newest 50 of 300
    assert {a.title for a in by_feed["huge"]} == {f"entry {i}" for i in range(50)}
    for name in ("refs", "html", "huge"):
        assert states[name].error_count == 0, states[name].last_error
    # Innocent feeds: never charged, polled again and again, articles published.
    for i, path in enumerate(innocent):
        state = states[f"ok{i}"]
        assert state.error_count == 0 and state.last_error is None, state.last_error
        assert len(feed_server.hits(path)) >= 2, path
        assert [a.title for a in by_feed[f"ok{i}"]] == [f"innocent {i}"]
    # ... while the pool really was restarted around them.
    assert counter(metrics.PARSE_POOL_RESTARTS, "timeout") > before["timeout"]
    assert counter(metrics.PARSE_POOL_RESTARTS, "crash") > before["crash"]
    rescued = counter(metrics.PARSE_REQUEUED, "requeued") + counter(
        metrics.PARSE_REQUEUED, "isolated"
    )
    assert rescued > before["rescued"]
    assert counter(metrics.ENTRIES_OVER_LIMIT) - before["over"] >= 250
    # No feed ever left the schedule, and nothing unexpected (a CancelledError) was logged.
    scheduled = {feed_id for _, feed_id in poller._heap}
    assert scheduled == {spec.id for spec in feeds}
    assert "unexpected error" not in caplog.text
