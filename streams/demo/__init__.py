"""The offline demo: sample feeds that ship with newswatch and a local server for them.

The feeds (in `feeds/`) are fictional stories written for this project in several languages:
articles newswatch exists to catch (export controls, model releases, data-security actions,
market shocks) and look-alikes that must not alert (Kimi Räikkönen, the steamed bun 豆包,
a rice export ban, Apache Spark, the Cancer Moonshot, the minimax algorithm). Three feeds
(`en-asiawire`, `de-techpresse`, `fr-actu-ia`) carry copies and translations of two stories
other feeds break (the export-control story and the Qwen3 release), so the demo shows stories
growing across outlets and languages: one story alert each, updated as sources join.

Like a live site, the server publishes gradually: each feed starts with its first item and
one more item (round robin over the feeds) appears every `reveal_every` seconds, so alerts keep
arriving for a few minutes and the dashboards show rates, not one burst at start.
"""

from __future__ import annotations

import hashlib
import re
import time
from email.utils import formatdate
from pathlib import Path

import yaml
from aiohttp import web

FEEDS_DIR = Path(__file__).parent / "feeds"


def demo_feed_files() -> list[Path]:
    return sorted(FEEDS_DIR.glob("*.xml"))


_ITEM = re.compile(rb"[ \t]*<(item|entry)[\s>].*?</\1>\s*", re.S)


class _Feed:
    """A feed document split into its items, so the server can publish them one by one."""

    def __init__(self, body: bytes) -> None:
        items = list(_ITEM.finditer(body))
        self.head = body[: items[0].start()] if items else body
        self.tail = body[items[-1].end() :] if items else b""
        self.items = [match.group(0) for match in items]

    def render(self, visible: int) -> bytes:
        return self.head + b"".join(self.items[:visible]) + self.tail


class DemoFeedServer:
    """Serves the demo feeds over HTTP on loopback, with ETag/Last-Modified like a real site."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, reveal_every: float = 8.0) -> None:
        self.host = host
        self.port = port
        self.reveal_every = reveal_every
        self._runner: web.AppRunner | None = None
        self._feeds = {path.name: _Feed(path.read_bytes()) for path in demo_feed_files()}
        self._order = self._reveal_order()
        self._t0 = time.monotonic()
        self._wall0 = time.time()

    def _reveal_order(self) -> list[str]:
        """Hidden items, round robin over the feeds: [feed of 1st reveal, feed of 2nd, ...]."""
        order: list[str] = []
        depth = 1
        while len(order) < sum(len(f.items) - 1 for f in self._feeds.values() if f.items):
            order += [name for name, feed in self._feeds.items() if len(feed.items) > depth]
            depth += 1
        return order

    def visible(self, name: str, now: float | None = None) -> int:
        """How many items of feed `name` are published at monotonic time `now`."""
        elapsed = (now if now is not None else time.monotonic()) - self._t0
        revealed = int(elapsed // self.reveal_every) if self.reveal_every > 0 else len(self._order)
        return 1 + self._order[:revealed].count(name)

    def _changed_at(self, name: str, visible: int) -> float:
        """Wall-clock time at which feed `name` got its `visible`-th item."""
        started = self._wall0
        if visible <= 1:
            return started
        reveals = [i for i, feed in enumerate(self._order) if feed == name]
        return started + (reveals[visible - 2] + 1) * self.reveal_every

    @property
    def item_count(self) -> int:
        return sum(len(feed.items) for feed in self._feeds.values())

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        feed = self._feeds.get(name)
        if feed is None:
            raise web.HTTPNotFound()
        visible = self.visible(name)
        body = feed.render(visible)
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(self._changed_at(name, visible), usegmt=True),
        }
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        content_type = "application/atom+xml" if b"<feed" in body[:200] else "application/rss+xml"
        return web.Response(body=body, headers=headers, content_type=content_type, charset="utf-8")

    async def start(self) -> DemoFeedServer:
        self._t0, self._wall0 = time.monotonic(), time.time()
        app = web.Application()
        app.router.add_get("/feeds/{name}", self._feed)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def write_feeds_file(self, path: Path, interval: float = 15.0) -> Path:
        """A feeds file (the poller's YAML format) listing every demo feed on this server."""
        feeds = []
        for name in self._feeds:
            stem = Path(name).stem
            feeds.append(
                {
                    "id": f"demo-{stem}",
                    "url": f"{self.base_url}/feeds/{name}",
                    "name": f"Demo: {stem}",
                    "lang": stem.split("-")[0] if not stem.startswith("zh-hant") else "zh",
                    "interval": interval,
                }
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False), encoding="utf-8")
        return path
