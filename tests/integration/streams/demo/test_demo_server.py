"""The demo feed server serves every bundled feed with validators; the feeds file lists them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import feedparser
import pytest
import yaml

from newswatch.streams.demo import DemoFeedServer, demo_feed_files


def test_bundled_feeds_parse_in_several_languages() -> None:
    languages = set()
    for path in demo_feed_files():
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, (path.name, parsed.get("bozo_exception"))
        assert len(parsed.entries) >= 2, path.name
        assert all(entry.get("id") and entry.get("title") for entry in parsed.entries)
        languages.add(path.stem.split("-")[0])
    assert {"en", "de", "zh", "vi", "fr", "ja", "es", "ko"} <= languages


async def test_server_answers_304_to_a_conditional_get(tmp_path: Path) -> None:
    server = await DemoFeedServer(reveal_every=3600).start()
    try:
        feeds_file = server.write_feeds_file(tmp_path / "feeds.yaml")
        feeds = yaml.safe_load(feeds_file.read_text())["feeds"]
        assert len(feeds) == len(demo_feed_files())
        async with aiohttp.ClientSession() as http:
            for feed in feeds:
                async with http.get(feed["url"]) as response:
                    assert response.status == 200
                    etag = response.headers["ETag"]
                    assert b"<title>" in await response.read()
                async with http.get(feed["url"], headers={"If-None-Match": etag}) as response:
                    assert response.status == 304
            async with http.get(f"{server.base_url}/feeds/missing.xml") as response:
                assert response.status == 404
    finally:
        await server.stop()


async def test_items_appear_over_time_round_robin() -> None:
    server = DemoFeedServer(reveal_every=0.3)
    await server.start()
    try:
        names = [path.name for path in demo_feed_files()]
        assert all(server.visible(name) == 1 for name in names)
        first = names[0]
        url = f"{server.base_url}/feeds/{first}"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                initial = feedparser.parse(await response.read())
                etag = response.headers["ETag"]
            assert len(initial.entries) == 1
            # After one full round every feed with a second item has shown it.
            await asyncio.sleep(0.3 * len(names) + 0.2)
            async with http.get(url, headers={"If-None-Match": etag}) as response:
                assert response.status == 200
                later = feedparser.parse(await response.read())
        assert len(later.entries) == 2
        assert later.entries[0].id == initial.entries[0].id
        total = sum(server.visible(name, now=10**9) for name in names)
        assert total == server.item_count
    finally:
        await server.stop()


async def test_poller_reaches_the_demo_server_only_through_its_narrow_allowance(
    tmp_path: Path,
) -> None:
    """`up --demo` allows the demo server's own address (a /32) for the poller and nothing
    else: the SSRF guard still refuses the rest of loopback."""
    import ipaddress

    from newswatch.streams.poller.fetcher import FetchError, fetch, make_session
    from newswatch.streams.settings import PollerSettings
    from newswatch.streams.supervisor import demo_allowed_networks

    server = await DemoFeedServer(reveal_every=3600).start()
    try:
        feeds = yaml.safe_load(server.write_feeds_file(tmp_path / "f.yaml").read_text())
        url = feeds["feeds"][0]["url"]
        configured = PollerSettings(allowed_networks=["10.9.0.0/16"])
        networks = demo_allowed_networks(configured, server.host)
        assert networks == [ipaddress.ip_network("10.9.0.0/16"), ipaddress.ip_network("127.0.0.1")]

        default = PollerSettings()
        async with make_session(default) as session:
            with pytest.raises(FetchError, match="loopback address refused"):
                await fetch(session, url, default)

        demo = PollerSettings(allowed_networks=networks)
        async with make_session(demo) as session:
            result = await fetch(session, url, demo)
            assert result.status == 200 and b"<title>" in (result.body or b"")
            with pytest.raises(FetchError, match=r"127\.0\.0\.2: loopback"):
                await fetch(session, url.replace("127.0.0.1", "127.0.0.2"), demo)
    finally:
        await server.stop()
