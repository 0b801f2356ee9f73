"""The feed side of the chaos harness: a local RSS server fed a known stream of articles (the
webhook receiver is the tests' own, `tests.support.webhooks.Receiver`).

Every article the harness publishes gets a global number `n` and the name of the scenario that
was running; its link (`http://chaos.test/<scenario>/<n>`) carries both through the poller and
the worker into the alert, which is how the ledger (ledger.py) attributes alerts to scenarios.
Half the articles are "hot" (export controls + DeepSeek: the default rules alert on them), half
are quiet.

A feed serves its newest `keep` items plus whatever was published in the last `keep_s`
seconds, so a burst is served whole until the pollers have had time to read it, and a feed
shrinks back afterwards (pollers parse every changed document in full).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.http import serve_on_loopback

HOT = (
    "<item><title>USA verschärfen Exportkontrollen für KI-Chips: DeepSeek und Huawei betroffen"
    " ({n})</title><link>http://chaos.test/{scenario}/{n}</link>"
    '<guid isPermaLink="false">chaos-{n}</guid>'
    "<description>Washington hat die Ausfuhrbeschränkungen für Hochleistungschips und"
    " Chipfertigungsanlagen verschärft. Chinesische KI-Labore wie DeepSeek sollen keinen Zugang"
    " zu modernen Nvidia-GPUs mehr erhalten; neue Lizenzpflichten gelten für die Entity List."
    "</description></item>"
)
QUIET = (
    "<item><title>Kimi Räikkönen besucht das Rennen in Abu Dhabi ({n})</title>"
    "<link>http://chaos.test/{scenario}/{n}</link>"
    '<guid isPermaLink="false">chaos-{n}</guid>'
    "<description>Der frühere Formel-1-Weltmeister Kimi Räikkönen war am Wochenende Gast im"
    " Fahrerlager und sprach über seine Zeit bei Ferrari.</description></item>"
)


@dataclass
class Item:
    n: int
    feed: int
    scenario: str
    hot: bool
    at: float  # time.time() when published

    @property
    def url(self) -> str:
        return f"http://chaos.test/{self.scenario}/{self.n}"

    def xml(self) -> str:
        return (HOT if self.hot else QUIET).format(n=self.n, scenario=self.scenario)


@dataclass
class FeedServer:
    """`feeds` RSS feeds on 127.0.0.1; `publish()` appends items round-robin over the feeds."""

    feeds: int = 24
    keep: int = 40
    keep_s: float = 180.0
    items: list[Item] = field(default_factory=list)
    by_feed: dict[int, list[Item]] = field(default_factory=dict)
    requests: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_get("/feed/{feed}.xml", self._handle)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def feeds_yaml(self) -> str:
        return "feeds:\n" + "".join(
            f"  - {{id: chaos{i}, url: 'http://127.0.0.1:{self.port}/feed/{i}.xml', lang: de}}\n"
            for i in range(self.feeds)
        )

    def publish(self, scenario: str, count: int) -> list[Item]:
        now = time.time()
        new = []
        for _ in range(count):
            n = len(self.items)
            item = Item(n, n % self.feeds, scenario, n % 2 == 0, now)
            self.items.append(item)
            self.by_feed.setdefault(item.feed, []).append(item)
            new.append(item)
        return new

    def _served(self, feed: int) -> list[Item]:
        items = self.by_feed.get(feed, [])
        horizon = time.time() - self.keep_s
        start = max(0, len(items) - self.keep)
        while start > 0 and items[start - 1].at >= horizon:
            start -= 1
        return items[start:]

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        try:
            feed = int(request.match_info["feed"])
        except ValueError:
            raise web.HTTPNotFound() from None
        served = self._served(feed)
        first = served[0].n if served else -1
        etag = f'"{feed}-{len(self.by_feed.get(feed, []))}-{first}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Chaos feed {feed}</title><link>http://chaos.test/</link>"
            "<language>de</language>"
            + "".join(item.xml() for item in reversed(served))
            + "</channel></rss>"
        )
        return web.Response(text=body, content_type="application/rss+xml", headers={"ETag": etag})
