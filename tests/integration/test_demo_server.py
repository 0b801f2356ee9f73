"""The demo feed server serves every bundled feed with validators; the feeds file lists them."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import feedparser
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
    server = await DemoFeedServer().start()
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
