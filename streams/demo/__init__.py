"""The offline demo: sample feeds that ship with newswatch and a local server for them.

The feeds (in `feeds/`) are fictional stories written for this project in several languages:
articles newswatch exists to catch (export controls, model releases, data-security actions,
market shocks) and look-alikes that must not alert (Kimi Räikkönen, the steamed bun 豆包,
a rice export ban, Apache Spark, the Cancer Moonshot, the minimax algorithm).
"""

from __future__ import annotations

import hashlib
from email.utils import formatdate
from pathlib import Path

import yaml
from aiohttp import web

FEEDS_DIR = Path(__file__).parent / "feeds"


def demo_feed_files() -> list[Path]:
    return sorted(FEEDS_DIR.glob("*.xml"))


class DemoFeedServer:
    """Serves the demo feeds over HTTP on loopback, with ETag/Last-Modified like a real site."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._bodies = {path.name: path.read_bytes() for path in demo_feed_files()}
        self._started = formatdate(usegmt=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        body = self._bodies.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Last-Modified": self._started}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        content_type = "application/atom+xml" if b"<feed" in body[:200] else "application/rss+xml"
        return web.Response(body=body, headers=headers, content_type=content_type, charset="utf-8")

    async def start(self) -> DemoFeedServer:
        app = web.Application()
        app.router.add_get("/feeds/{name}", self._feed)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def write_feeds_file(self, path: Path, interval: float = 30.0) -> Path:
        """A feeds file (the poller's YAML format) listing every demo feed on this server."""
        feeds = []
        for name in self._bodies:
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
