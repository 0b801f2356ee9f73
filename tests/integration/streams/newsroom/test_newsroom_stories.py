"""Stories on the newsroom page against a real redis-server: the server-rendered stories
panel, story mutes (page, panel, story view, SSE, expiry), stories arriving live over SSE,
the cap on SSE connections (real loopback connections), and `newswatch stories tail`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client import REGISTRY

from newswatch.streams import endpoints
from newswatch.streams.names import display_names
from newswatch.streams.newsroom.web import Newsroom, newsroom_app
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.stories import StoryStore
from tests.support.http import serve_on_loopback
from tests.support.newsroom import make_alert, newsroom_for, settings_for, write_alerts

pytestmark = pytest.mark.redis

MUTED = "st-00000000000000aa"
KEPT = "st-00000000000000bb"


def story(story_id: str, size: int = 2, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": story_id,
        "status": "open",
        "headline": f"Story {story_id[-2:]}: US curbs <b>H20</b> sales",
        "first_seen": 1_790_000_000.0,
        "last_seen": 1_790_000_000.0 + size,
        "size": size,
        "sources": size,
        "languages": ["en"],
        "entities": ["deepseek", "zhipu"],
        "themes": ["export_controls"],
        "growth_rate": 1.0,
        "breaking": False,
        "articles": [],
    }
    base.update(kw)
    return base


async def store_stories(redis_url: str, *stories: dict[str, Any]) -> None:
    """Through the stories agent's own writer: state in Redis and a live message each."""
    client = make_redis(settings_for(redis_url))
    try:
        await StoryStore(client).write(list(stories))
    finally:
        await client.aclose()


@pytest.fixture
async def base(redis_url: str) -> AsyncIterator[str]:
    runner, port = await serve_on_loopback(newsroom_app(newsroom_for(redis_url)))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def _mute(base: str, kind: str, value: str, action: str = "mute") -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            base + "/mutes",
            data={"kind": kind, "value": value, "action": action},
            headers={"Accept": "application/json"},
        ) as resp,
    ):
        return resp.status, await resp.json()


async def test_stories_panel_is_rendered_filtered_and_hidden_when_empty(
    redis_url: str, base: str
) -> None:
    _, page = await _get(base + "/")
    assert '<section id="stories"' in page and 'data-limit="10" hidden>' in page
    await store_stories(redis_url, story(KEPT), story(MUTED, languages=["zh"], size=3))
    _, page = await _get(base + "/")
    assert 'data-limit="10">' in page  # shown now
    assert page.index(f'id="story-item-{MUTED}"') < page.index(f'id="story-item-{KEPT}"')
    assert "US curbs &lt;b&gt;H20&lt;/b&gt; sales" in page and "<b>H20</b>" not in page
    assert "DeepSeek, Zhipu AI" in page  # display names
    _, page = await _get(base + "/?lang=zh")
    assert MUTED in page and f"story-item-{KEPT}" not in page
    assert 'data-source="/updates/stories?lang=zh"' in page
    status, body = await _get(base + "/updates/stories?lang=zh")
    assert status == 200 and [s["id"] for s in orjson.loads(body)["stories"]] == [MUTED]
    assert (await _get(base + "/updates/stories?lang=-"))[0] == 400


async def test_a_muted_story_leaves_the_page_for_everyone(redis_url: str, base: str) -> None:
    await store_stories(redis_url, story(MUTED), story(KEPT))
    muted_alert = make_alert(title="Muted story alert", kind="story", story_id=MUTED)
    kept_alert = make_alert(title="Kept story alert", kind="story", story_id=KEPT)
    await write_alerts(redis_url, muted_alert, kept_alert)

    status, body = await _mute(base, "story", MUTED)
    assert status == 200 and body["stories"] == [MUTED] and body["muted"] is True
    _, page = await _get(base + "/")
    assert "Kept story alert" in page and "Muted story alert" not in page
    assert f"story-item-{KEPT}" in page and f"story-item-{MUTED}" not in page
    assert "1 muted hidden" in page
    assert "story: Story aa: US curbs &lt;b&gt;H20&lt;/b&gt; sales" in page  # the mutes list
    _, page = await _get(base + "/?muted=1")
    assert "Muted story alert" in page and f"story-item-{MUTED}" in page
    assert f'data-story="{MUTED}"' in page  # the script hides it live by this
    _, listed = await _get(base + "/updates/stories")
    assert [s["id"] for s in orjson.loads(listed)["stories"]] == [KEPT]
    _, view = await _get(f"{base}/stories/{MUTED}")
    assert "Unmute this story" in view and "muted-badge" in view
    _, view = await _get(f"{base}/stories/{KEPT}")
    assert "Mute this story" in view

    status, body = await _mute(base, "story", MUTED, "unmute")
    assert status == 200 and body["stories"] == []
    _, page = await _get(base + "/")
    assert "Muted story alert" in page and f"story-item-{MUTED}" in page
    assert (await _mute(base, "story", "st-00000000000000ff"))[0] == 404  # not stored
    assert (await _mute(base, "story", "st-123"))[0] == 400
    assert (await _mute(base, "story", "not-a-story"))[0] == 400


async def test_story_mutes_end_with_the_story(redis_url: str, base: str) -> None:
    await store_stories(redis_url, story(MUTED))
    assert (await _mute(base, "story", MUTED))[1]["stories"] == [MUTED]
    client = make_redis(settings_for(redis_url))
    try:
        await client.delete(f"newswatch:story:{MUTED}")  # as its TTL would
    finally:
        await client.aclose()
    status, body = await _mute(base, "entity", "qwen")  # any mute change prunes
    assert status == 200 and body["stories"] == [] and body["entities"] == ["qwen"]


class _Events:
    """An open /events connection, parsed event by event."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp

    async def next(self) -> dict[str, str]:
        current: dict[str, str] = {}
        while True:
            line = (await self.resp.content.readline()).decode()
            assert line, "the server closed the stream"
            line = line.rstrip("\n")
            if not line:
                if "event" in current:
                    return current
                current = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            current[name] = value

    async def until(self, kind: str) -> dict[str, str]:
        while (event := await self.next())["event"] != kind:
            pass
        return event


async def test_stories_arrive_live_and_muted_ones_do_not(redis_url: str, base: str) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(base + "/events") as resp,
        session.get(base + "/events?lang=de") as german,
    ):
        events, german_events = _Events(resp), _Events(german)
        await events.until("ready")
        await german_events.until("ready")
        await store_stories(redis_url, story(KEPT, size=1))
        event = await asyncio.wait_for(events.until("story"), 10)
        assert "id" not in event  # stories are re-read on reconnect, not resumed
        data = orjson.loads(event["data"])
        assert data["id"] == KEPT and data["sources"] == 1 and ">1 source<" in data["html"]
        assert "&lt;b&gt;H20&lt;/b&gt;" in data["html"] and f"story-item-{KEPT}" in data["html"]

        await store_stories(redis_url, story(KEPT, size=4, languages=["de", "en"]))  # grows
        data = orjson.loads((await asyncio.wait_for(events.until("story"), 10))["data"])
        assert data["sources"] == 4 and "de, en" in data["html"]
        # The German-only viewer sees the story once it is in German.
        data = orjson.loads((await asyncio.wait_for(german_events.until("story"), 10))["data"])
        assert data["id"] == KEPT and data["sources"] == 4

        await store_stories(redis_url, story(MUTED, size=1))
        first = orjson.loads((await asyncio.wait_for(events.until("story"), 10))["data"])
        assert first["id"] == MUTED
        await _mute(base, "story", MUTED)
        mutes = orjson.loads((await asyncio.wait_for(events.until("mutes"), 10))["data"])
        assert mutes["stories"] == [MUTED]
        await store_stories(redis_url, story(MUTED, size=2), story(KEPT, size=5))
        data = orjson.loads((await asyncio.wait_for(events.until("story"), 10))["data"])
        assert data["id"] == KEPT  # the muted story's growth was not sent


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_sse_connections_are_capped(redis_url: str) -> None:
    settings = settings_for(redis_url)
    newsroom = Newsroom(
        lambda: make_redis(settings), display_names(None), max_sse_clients=2, sse_retry_after=7
    )
    runner, port = await serve_on_loopback(newsroom_app(newsroom))
    url = f"http://127.0.0.1:{port}/events"
    refused_before = _metric("newswatch_newsroom_sse_refused_total")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            first = await session.get(url)
            second = await session.get(url)
            for resp in (first, second):
                assert resp.status == 200
                await _Events(resp).until("ready")
            assert _metric("newswatch_newsroom_sse_clients") == 2
            async with session.get(url) as third:
                assert third.status == 503 and third.headers["Retry-After"] == "7"
                assert "poll" in (await third.json())["error"]
            assert _metric("newswatch_newsroom_sse_refused_total") == refused_before + 1
            # The polling fallback still answers while the live connections are full.
            async with session.get(f"http://127.0.0.1:{port}/updates") as polled:
                assert polled.status == 200
            first.close()  # a client leaves: its place is free again
            deadline = time.monotonic() + 10
            while newsroom.hub.clients > 1:
                assert time.monotonic() < deadline, "the closed client was not noticed"
                await asyncio.sleep(0.05)
            async with session.get(url) as again:
                assert again.status == 200
                await _Events(again).until("ready")
            second.close()
    finally:
        await runner.cleanup()


def _tail(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "newswatch.streams.cli", "stories", "tail", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _client_env(redis_url: str, state: Path) -> dict[str, str]:
    """No Redis URL: the command must find it in up.json, as after `newswatch up`."""
    endpoints.write(
        state,
        endpoints.Endpoints(
            pid=os.getpid(),
            redis_url=redis_url,
            kafka_bootstrap=["127.0.0.1:9"],
            web_host="127.0.0.1",
            worker_port=9,
            poller_port=9,
            supervisor_port=9,
        ),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_STATE_DIR"] = str(state)
    return env


async def _line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout)
    assert line, "stories tail ended"
    return line.rstrip("\n")


async def test_stories_tail_follows_new_and_growing_stories(redis_url: str, tmp_path: Path) -> None:
    env = _client_env(redis_url, tmp_path)
    await store_stories(redis_url, story(MUTED, size=1), story(KEPT, size=2))

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "newswatch.streams.cli", "stories", "tail", "--no-follow"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1 and "up.json" in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and MUTED in lines[0] and KEPT in lines[1]  # oldest first
    assert " NEW " in lines[0] and "1 source, 1 article, 1 language (en)" in lines[0]
    assert "[DeepSeek, Zhipu AI] Story aa: US curbs <b>H20</b> sales" in lines[0]

    proc = _tail(env, "-n", "1")
    try:
        assert KEPT in await _line(proc)  # the newest one first
        await asyncio.sleep(1.0)  # subscribed by now (the backlog is read after subscribing)
        await store_stories(redis_url, story(MUTED, size=3, languages=["en", "fr"]))
        grown = await _line(proc)
        assert " GROWN " in grown and MUTED in grown and "(en, fr)" in grown
        new = "st-00000000000000cc"
        await store_stories(redis_url, story(new, size=1))
        assert new in await _line(proc)

        # The connection drops and a story grows meanwhile: printed once the tail is back.
        client = make_redis(settings_for(redis_url))
        try:
            await client.client_kill_filter(_type="pubsub")
            await StoryStore(client).sink.write(story(KEPT, size=6))  # no live message
        finally:
            await client.aclose()
        caught = await _line(proc, 30)
        assert KEPT in caught and "6 sources" in caught
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()

    json_run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "newswatch.streams.cli", "stories", "tail", "--no-follow",
         "--json", "-n", "1"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert json_run.returncode == 0, json_run.stderr
    (doc,) = [orjson.loads(line) for line in json_run.stdout.splitlines()]
    assert doc["id"] == KEPT and doc["size"] == 6
