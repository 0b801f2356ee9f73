"""The poller against a local feed server: caching, rate limits, redirects, hostile servers."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from newswatch.streams.poller import metrics
from newswatch.streams.poller.feeds import FeedSpec
from tests.support.feeds import gzip_bomb, rss

pytestmark = pytest.mark.redis

# Fixtures shared by the poller tests (a conftest.py here would clash with tests/conftest.py).

ITEMS = [("a1", "First"), ("a2", "Second"), ("a3", "Third")]


def spec(server, path: str, feed_id: str = "f", **kwargs) -> FeedSpec:
    return FeedSpec(id=feed_id, url=server.url(path), **kwargs)


async def test_conditional_get_and_dedup(feed_server, make_poller) -> None:
    feed_server.static("/feed.xml", rss(ITEMS))
    feed = spec(feed_server, "/feed.xml")
    poller, published = await make_poller([feed])

    first = await poller.poll(feed)
    assert (first.status, first.new) == (200, 3)
    second = await poller.poll(feed)
    assert second.status == 304 and second.new == 0
    assert feed_server.hits("/feed.xml")[1]["If-None-Match"].startswith('"')
    assert feed_server.hits("/feed.xml")[1]["If-Modified-Since"]

    # The publisher edits: one new item, one title changed. Only the new item is published.
    feed_server.static("/feed.xml", rss([("a0", "Zeroth"), ("a1", "First (edited)"), *ITEMS[1:]]))
    third = await poller.poll(feed)
    assert (third.new, third.duplicate) == (1, 3)
    assert [a.title for a in published.published] == ["First", "Second", "Third", "Zeroth"]


async def test_validators_survive_a_new_poller(feed_server, make_poller) -> None:
    feed_server.static("/feed.xml", rss(ITEMS))
    feed = spec(feed_server, "/feed.xml")
    poller, _ = await make_poller([feed])
    await poller.poll(feed)
    restarted, published = await make_poller([feed])  # same Redis: state reloaded
    outcome = await restarted.poll(feed)
    assert outcome.status == 304 and not published.published


async def test_rewritten_guid_with_same_link_is_a_duplicate(feed_server, make_poller) -> None:
    feed_server.static("/feed.xml", rss(ITEMS))
    feed = spec(feed_server, "/feed.xml")
    poller, published = await make_poller([feed])
    await poller.poll(feed)
    body = rss(ITEMS).replace(b"<guid>a1</guid>", b"<guid>urn:new:a1</guid>")
    feed_server.static("/feed.xml", body)
    outcome = await poller.poll(feed)
    assert outcome.new == 0 and len(published.published) == 3


async def test_periodic_unconditional_fetch(feed_server, make_poller) -> None:
    feed_server.static("/feed.xml", rss(ITEMS))
    feed = spec(feed_server, "/feed.xml")
    poller, _ = await make_poller([feed], unconditional_interval=0.2)
    await poller.poll(feed)
    await poller.poll(feed)
    assert "If-None-Match" in feed_server.hits("/feed.xml")[1]
    await asyncio.sleep(0.3)
    await poller.poll(feed)
    assert "If-None-Match" not in feed_server.hits("/feed.xml")[2]


@pytest.mark.parametrize("retry_after", ["120", "HTTP-DATE"])
@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(feed_server, make_poller, status, retry_after) -> None:
    if retry_after == "HTTP-DATE":
        from email.utils import formatdate

        retry_after = formatdate(time.time() + 120, usegmt=True)
    feed_server.status("/busy.xml", status, **{"Retry-After": retry_after})
    feed = spec(feed_server, "/busy.xml")
    poller, _ = await make_poller([feed], max_interval=3600)
    before = metrics.ERRORS.labels("rate_limited")._value.get()
    outcome = await poller.poll(feed)
    state = poller.states["f"]
    assert outcome.error_kind == "rate_limited" and state.last_status == status
    assert state.next_due - time.time() >= 115
    assert metrics.ERRORS.labels("rate_limited")._value.get() == before + 1


async def test_cache_control_max_age_delays_next_poll(feed_server, make_poller) -> None:
    feed_server.static("/cached.xml", rss(ITEMS), **{"Cache-Control": "max-age=40"})
    feed = spec(feed_server, "/cached.xml")
    poller, _ = await make_poller([feed])
    await poller.poll(feed)
    assert poller.states["f"].next_due - time.time() >= 40 * 0.9 - 1


async def test_permanent_redirect_applied_only_after_confirmations(
    feed_server, make_poller
) -> None:
    feed_server.static("/new.xml", rss(ITEMS))
    feed_server.redirect("/old.xml", "/new.xml", 301)
    feed = spec(feed_server, "/old.xml")
    poller, published = await make_poller([feed], redirect_confirmations=3)
    for _ in range(2):
        await poller.poll(feed)
        assert poller.states["f"].url is None
    await poller.poll(feed)
    assert poller.states["f"].url == feed_server.url("/new.xml")
    await poller.poll(feed)
    assert feed_server.requests[-1][0] == "/new.xml"
    assert len(feed_server.hits("/old.xml")) == 3
    assert len(published.published) == 3


async def test_temporary_or_mixed_redirects_never_move_the_feed(feed_server, make_poller) -> None:
    feed_server.static("/final.xml", rss(ITEMS))
    feed_server.redirect("/hop.xml", "/final.xml", 302)
    feed_server.redirect("/start.xml", "/hop.xml", 301)
    feed = spec(feed_server, "/start.xml")
    poller, _ = await make_poller([feed], redirect_confirmations=1)
    for _ in range(3):
        assert (await poller.poll(feed)).status in (200, 304)
    assert poller.states["f"].url is None


async def test_inconsistent_permanent_redirects_are_not_applied(feed_server, make_poller) -> None:
    feed_server.static("/a.xml", rss(ITEMS))
    feed_server.static("/b.xml", rss(ITEMS))
    feed = spec(feed_server, "/moving.xml")
    poller, _ = await make_poller([feed], redirect_confirmations=2)
    for target in ("/a.xml", "/b.xml", "/a.xml", "/b.xml"):
        feed_server.redirect("/moving.xml", target, 308)
        await poller.poll(feed)
        assert poller.states["f"].url is None


async def test_redirect_loop_and_limit(feed_server, make_poller) -> None:
    feed_server.redirect("/loop1", "/loop2", 302)
    feed_server.redirect("/loop2", "/loop1", 302)
    for i in range(10):
        feed_server.redirect(f"/chain{i}", f"/chain{i + 1}", 302)
    feed_server.static("/chain10", rss(ITEMS))
    loop_feed, chain_feed = spec(feed_server, "/loop1", "loop"), spec(feed_server, "/chain0", "ch")
    poller, _ = await make_poller([loop_feed, chain_feed], max_redirects=5)
    assert (await poller.poll(loop_feed)).error_kind == "redirect_loop"
    assert (await poller.poll(chain_feed)).error_kind == "too_many_redirects"
    assert len(feed_server.hits("/chain5")) == 1 and not feed_server.hits("/chain6")


async def test_slowloris_is_cut_by_the_total_timeout(feed_server, make_poller) -> None:
    async def dribble(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        for byte in rss(ITEMS):
            await response.write(bytes([byte]))
            await asyncio.sleep(0.2)
        return response

    feed_server.routes["/slow.xml"] = dribble
    feed = spec(feed_server, "/slow.xml")
    poller, _ = await make_poller([feed], total_timeout=1.0)
    started = time.monotonic()
    outcome = await poller.poll(feed)
    assert outcome.error_kind == "timeout"
    assert time.monotonic() - started < 3


async def test_oversized_body_aborts(feed_server, make_poller) -> None:
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        chunk = b"<!-- " + b"x" * 65_000 + b" -->"
        with_stop = 0
        while with_stop < 2_000:  # 130 MB if nobody stops us
            await response.write(chunk)
            sent += len(chunk)
            with_stop += 1
        return response

    feed_server.routes["/huge.xml"] = endless
    feed = spec(feed_server, "/huge.xml")
    poller, _ = await make_poller([feed], max_body_bytes=1 << 20)
    outcome = await poller.poll(feed)
    assert outcome.error_kind == "too_large"
    assert sent < 20 << 20  # the download was aborted, not read to the end


async def test_declared_content_length_over_cap_is_refused(feed_server, make_poller) -> None:
    feed_server.static("/big.xml", rss(ITEMS) + b" " * (2 << 20))
    feed = spec(feed_server, "/big.xml")
    poller, _ = await make_poller([feed], max_body_bytes=1 << 20)
    assert (await poller.poll(feed)).error_kind == "too_large"


@pytest.mark.parametrize("encoding_header", [True, False])
async def test_gzip_bomb_is_capped_after_decompression(
    feed_server, make_poller, encoding_header
) -> None:
    bomb = gzip_bomb(64 << 20)  # 64 MiB of zeros in ~64 KB
    headers = {"Content-Encoding": "gzip"} if encoding_header else {}

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=bomb, content_type="application/rss+xml", headers=headers)

    feed_server.routes["/bomb.xml"] = handler
    feed = spec(feed_server, "/bomb.xml")
    poller, _ = await make_poller([feed], max_body_bytes=1 << 20)
    assert (await poller.poll(feed)).error_kind == "too_large"


async def test_gzip_encoded_feed_is_read(feed_server, make_poller) -> None:
    body = zlib_gzip(rss(ITEMS))

    async def handler(_: web.Request) -> web.Response:
        return web.Response(
            body=body, content_type="application/rss+xml", headers={"Content-Encoding": "gzip"}
        )

    feed_server.routes["/gz.xml"] = handler
    feed = spec(feed_server, "/gz.xml")
    poller, _ = await make_poller([feed])
    assert (await poller.poll(feed)).new == 3


def zlib_gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


async def test_charset_from_http_header(feed_server, make_poller) -> None:
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>К</title>'
        "<item><title>Новая модель</title><guid>c1</guid></item></channel></rss>"
    ).encode("cp1251")

    async def handler(_: web.Request) -> web.Response:
        return web.Response(
            body=body, headers={"Content-Type": "application/rss+xml; charset=windows-1251"}
        )

    feed_server.routes["/cp.xml"] = handler
    feed = spec(feed_server, "/cp.xml")
    poller, published = await make_poller([feed])
    await poller.poll(feed)
    assert published.published[0].title == "Новая модель"


async def test_billion_laughs_and_xxe_over_http(feed_server, make_poller) -> None:
    probe = feed_server.url("/xxe-probe")
    laughs = (
        '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
        '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
        '<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>'
    )
    xxe = (
        f'<!DOCTYPE r [<!ENTITY file SYSTEM "file:///etc/passwd">'
        f'<!ENTITY net SYSTEM "{probe}"><!ENTITY % pe SYSTEM "{probe}-pe"> %pe;]>'
    )
    feed_server.static("/laughs.xml", rss([("l1", "&h;")], extra=laughs))
    feed_server.static("/xxe.xml", rss([("x1", "&file; &net;")], extra=xxe))
    feeds = [spec(feed_server, "/laughs.xml", "laughs"), spec(feed_server, "/xxe.xml", "xxe")]
    poller, published = await make_poller(feeds)
    for feed in feeds:
        outcome = await poller.poll(feed)
        assert outcome.error_kind in (None, "parse")
    text = " ".join(a.title + a.summary + a.content for a in published.published)
    assert "root:" not in text
    assert "a" * 1000 not in text
    await asyncio.sleep(0.2)
    assert not [p for p, _ in feed_server.requests if p.startswith("/xxe-probe")]


async def test_not_a_feed_and_http_errors_back_off_and_count(feed_server, make_poller) -> None:
    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html><body>hello</body></html>", content_type="text/html")

    feed_server.routes["/page.html"] = html
    feed_server.status("/gone.xml", 410)
    page, gone = spec(feed_server, "/page.html", "page"), spec(feed_server, "/gone.xml", "gone")
    poller, _ = await make_poller([page, gone], broken_after=3)
    assert (await poller.poll(page)).error_kind == "parse"
    for _ in range(3):
        assert (await poller.poll(gone)).error_kind == "http"
    assert poller.states["gone"].error_count == 3
    # broken feeds are still scheduled (rarely), never dropped
    assert poller.states["gone"].next_due > time.time()


async def test_publish_failure_marks_nothing_seen(feed_server, make_poller) -> None:
    feed_server.static("/feed.xml", rss(ITEMS))
    feed = spec(feed_server, "/feed.xml")
    poller, published = await make_poller([feed])
    published.fail = True
    outcome = await poller.poll(feed)
    assert outcome.error_kind == "publish" and not published.published
    published.fail = False
    outcome = await poller.poll(feed)  # validators were dropped: a full fetch again
    assert outcome.status == 200 and outcome.new == 3


async def test_connection_refused(make_poller) -> None:
    from newswatch.streams.embedded import free_port

    feed = FeedSpec(id="down", url=f"http://127.0.0.1:{free_port()}/x.xml")
    poller, _ = await make_poller([feed])
    assert (await poller.poll(feed)).error_kind == "connect"
