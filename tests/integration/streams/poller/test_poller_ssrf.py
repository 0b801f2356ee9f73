"""The SSRF guard against real local HTTP servers: `feeds parse`, redirects and the poller are
refused loopback addresses before any request is sent, and work with the narrow opt-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from click.testing import CliRunner
from prometheus_client import REGISTRY

from newswatch.streams.cli import main as cli
from newswatch.streams.poller.feeds import FeedSpec, save_feeds
from newswatch.streams.poller.fetcher import FetchError, fetch, make_session
from newswatch.streams.settings import PollerSettings
from tests.support.feeds import rss
from tests.support.http import serve_on_loopback

FEED = rss([("g1", "DeepSeek ships a model"), ("g2", "Second")])
REFUSED = "loopback address refused by the SSRF guard"


@dataclass
class CountingServer:
    """A feed server on one loopback address that records every request it receives."""

    host: str
    port: int
    requests: list[str] = field(default_factory=list)
    redirect_to: str | None = None

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        if request.path == "/hop" and self.redirect_to:
            return web.Response(status=301, headers={"Location": self.redirect_to})
        return web.Response(body=FEED, content_type="application/rss+xml")


@asynccontextmanager
async def serving(host: str) -> AsyncIterator[CountingServer]:
    server = CountingServer(host, 0)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner, server.port = await serve_on_loopback(app, host=host)
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("NEWSWATCH_"):
            monkeypatch.delenv(name)


async def invoke(args: list[str], env: dict[str, str] | None = None):
    """The CLI in a thread (it runs its own event loop) while the servers run in ours."""
    return await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)


def loopback_urls(server: CountingServer) -> list[str]:
    return [
        server.url("/feed.xml"),
        server.url("/feed.xml", "localhost"),
        server.url("/feed.xml", "[::ffff:127.0.0.1]"),
    ]


@pytest.mark.usefixtures("clean_env")
async def test_feeds_parse_refuses_loopback_and_the_server_sees_nothing() -> None:
    async with serving("127.0.0.1") as server:
        for url in loopback_urls(server):
            result = await invoke(["feeds", "parse", url])
            assert result.exit_code == 1, result.output
            assert f"{url}: blocked_address:" in result.output
            assert REFUSED in result.output
            assert "NEWSWATCH_POLLER__ALLOWED_NETWORKS" in result.output
            if "localhost" in url:  # a name: the message says what it resolved to
                assert "blocked_address: localhost (" in result.output
        assert server.requests == []


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    "opt_in",
    [
        {"NEWSWATCH_POLLER__ALLOWED_NETWORKS": "127.0.0.1/32"},
        {"NEWSWATCH_POLLER__ALLOW_PRIVATE_NETWORKS": "true"},
    ],
)
async def test_feeds_parse_works_with_the_opt_in(opt_in: dict[str, str]) -> None:
    async with serving("127.0.0.1") as server:
        for url in loopback_urls(server):
            result = await invoke(["feeds", "parse", url], env=opt_in)
            assert result.exit_code == 0, result.output
            titles = [orjson.loads(line)["title"] for line in result.stdout.splitlines()]
            assert titles == ["DeepSeek ships a model", "Second"]
        assert server.requests == ["/feed.xml"] * 3


@pytest.mark.parametrize("target_host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_redirect_from_an_allowed_host_to_a_refused_one(target_host: str) -> None:
    """127.0.0.2 is allowed, 127.0.0.1 is not (all of 127/8 is loopback on Linux)."""
    settings = PollerSettings(allowed_networks=["127.0.0.2/32"], total_timeout=5)
    async with serving("127.0.0.2") as allowed, serving("127.0.0.1") as refused:
        allowed.redirect_to = refused.url("/feed.xml", target_host)
        async with make_session(settings) as session:
            ok = await fetch(session, allowed.url("/feed.xml"), settings)
            assert ok.status == 200 and ok.body == FEED
            with pytest.raises(FetchError) as info:
                await fetch(session, allowed.url("/hop"), settings)
    assert info.value.kind == "blocked_address"
    assert REFUSED in str(info.value)
    assert allowed.requests == ["/feed.xml", "/hop"]
    assert refused.requests == []


@pytest.mark.redis
@pytest.mark.usefixtures("clean_env")
async def test_refused_feed_is_a_per_feed_error_in_status_and_metrics(
    make_poller, redis_url: str, tmp_path: Path
) -> None:
    async with serving("127.0.0.1") as server, serving("127.0.0.2") as other:
        blocked = FeedSpec(id="local", url=server.url("/feed.xml"))
        fine = FeedSpec(id="fine", url=other.url("/feed.xml"))
        poller, published = await make_poller([blocked, fine], allowed_networks=["127.0.0.2/32"])
        labels = {"kind": "blocked_address"}
        before = REGISTRY.get_sample_value("newswatch_poll_errors_total", labels) or 0
        outcome = await poller.poll(blocked)
        assert outcome.error_kind == "blocked_address"
        assert (await poller.poll(fine)).new == 2  # the other feed is unaffected
        await poller._flush()
        assert REGISTRY.get_sample_value("newswatch_poll_errors_total", labels) == before + 1
        assert server.requests == [] and other.requests == ["/feed.xml"]
        assert [a.feed_id for a in published.published] == ["fine", "fine"]

        feeds_file = tmp_path / "feeds.yaml"
        save_feeds(feeds_file, [blocked, fine])
        env = {"NEWSWATCH_REDIS_URL": redis_url, "NEWSWATCH_FEEDS_FILE": str(feeds_file)}
        result = await invoke(["feeds", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = {row["feed"]: row for row in map(orjson.loads, result.stdout.splitlines())}
    assert rows["local"]["error_kind"] == "blocked_address"
    assert rows["local"]["error_count"] == 1
    assert rows["local"]["last_error"].startswith(f"127.0.0.1: {REFUSED}")
    assert rows["fine"]["error_kind"] is None
    text = await invoke(["feeds", "status"], env=env)
    assert "blocked_address: 127.0.0.1: loopback" in text.stdout


@pytest.mark.usefixtures("clean_env")
async def test_feeds_add_and_import_refuse_loopback_unless_allowed(tmp_path: Path) -> None:
    feeds_file = tmp_path / "feeds.yaml"
    env = {"NEWSWATCH_FEEDS_FILE": str(feeds_file)}
    async with serving("127.0.0.1") as server:
        for url in loopback_urls(server):
            result = await invoke(["feeds", "add", url], env=env)
            assert result.exit_code == 1, result.output
            assert REFUSED in result.output
        assert not feeds_file.exists()

        opml = tmp_path / "in.opml"
        opml.write_text(
            '<?xml version="1.0"?><opml version="2.0"><body>'
            f'<outline type="rss" text="Local" xmlUrl="{server.url("/feed.xml")}"/>'
            '<outline type="rss" text="Meta" xmlUrl="http://169.254.169.254/latest/"/>'
            '<outline type="rss" text="Public" xmlUrl="https://93.184.215.14/feed.xml"/>'
            "</body></opml>"
        )
        result = await invoke(["feeds", "import", str(opml)], env=env)
        assert result.exit_code == 0, result.output
        assert "imported 1 feed(s)" in result.stdout and "2 skipped (SSRF guard)" in result.stdout
        assert "169.254.169.254: link-local address refused" in result.stderr
        assert "93.184.215.14" in feeds_file.read_text()
        assert "127.0.0.1" not in feeds_file.read_text()

        allowed = {**env, "NEWSWATCH_POLLER__ALLOWED_NETWORKS": "127.0.0.1/32"}
        result = await invoke(["feeds", "add", server.url("/feed.xml")], env=allowed)
        assert result.exit_code == 0, result.output
        assert server.requests == []  # adding checks addresses; it never fetches
