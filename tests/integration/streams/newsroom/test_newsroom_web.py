"""The newsroom's HTTP side on a real redis-server: page, alert view, acknowledgements and
mutes shared by viewers, the webhook sink honouring mutes, SSE live updates with Last-Event-ID
resumption, the polling fallback and the Atom feed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import feedparser
import orjson
import pytest

from newswatch.streams.settings import WebhookEndpoint
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.webhooks import WebhookDispatcher
from tests.support.http import serve_on_loopback
from tests.support.newsroom import app_for, make_alert, settings_for, write_alerts

pytestmark = pytest.mark.redis


@pytest.fixture
async def base(redis_url: str) -> AsyncIterator[str]:
    runner, port = await serve_on_loopback(app_for(redis_url))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _get(url: str, **kw: Any) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, **kw) as resp:
        return resp.status, await resp.text(), resp.headers


async def _post(url: str, data: dict[str, str], **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=headers, allow_redirects=False) as resp,
    ):
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def test_page_lists_alerts_newest_first_escaped_with_csp(redis_url: str, base: str) -> None:
    old = make_alert(title="Older story")
    hostile = make_alert(title="<script>alert(1)</script> DeepSeek", url="javascript:alert(1)")
    await write_alerts(redis_url, old, hostile)
    status, body, headers = await _get(base + "/")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body.index(hostile.id) < body.index(old.id)
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "javascript:" not in body
    assert re.search(r"<script[^>]*>[^<]", body) is None  # no inline script at all
    assert ">DeepSeek<" in body  # the name, not the id
    _, js, js_headers = await _get(base + "/static/newsroom.js")
    assert "EventSource" in js and js_headers["Content-Security-Policy"]


async def test_filters_and_counts(redis_url: str, base: str) -> None:
    await write_alerts(
        redis_url,
        make_alert(
            entities=["qwen"], lang="zh", severity="critical", title="Qwen story", summary=""
        ),
        make_alert(entities=["deepseek"], lang="en", title="DeepSeek story"),
    )
    _, body, _ = await _get(base + "/?entity=qwen")
    assert "Qwen story" in body and "DeepSeek story" not in body
    _, body, _ = await _get(base + "/?q=deepseek+story")
    assert "DeepSeek story" in body and "Qwen story" not in body
    status, body, _ = await _get(base + "/?severity=urgent")
    assert status == 400 and "severity" in body


async def test_alert_view_marks_evidence(redis_url: str, base: str) -> None:
    item = make_alert(
        title="Export controls x DeepSeek: chip curbs",
        summary="Washington tightened export controls on Nvidia chips sold to DeepSeek.",
    )
    await write_alerts(redis_url, item)
    status, body, _ = await _get(f"{base}/alerts/{item.id}")
    assert status == 200
    assert '<mark class="entity" title="DeepSeek">DeepSeek</mark>' in body
    assert '<mark class="theme"' in body and "export controls" in body
    assert (await _get(f"{base}/alerts/{'f' * 32}"))[0] == 404


async def test_acknowledge_is_shared_and_same_origin_only(redis_url: str, base: str) -> None:
    item = make_alert()
    await write_alerts(redis_url, item)
    status, _ = await _post(
        f"{base}/alerts/{item.id}/ack", {"acked": "1"}, Origin="https://evil.example"
    )
    assert status == 403
    status, body = await _post(
        f"{base}/alerts/{item.id}/ack", {"acked": "1"}, Accept="application/json"
    )
    assert status == 200 and body == {"id": item.id, "acked": True}
    _, page, _ = await _get(base + "/")  # another viewer sees it
    assert "is-acked" in page
    _, page, _ = await _get(base + "/?status=open")
    assert item.id not in page
    status, _ = await _post(f"{base}/alerts/{item.id}/ack", {"acked": "0", "next": "//evil"})
    assert status == 303
    _, page, _ = await _get(base + "/")
    assert "is-acked" not in page
    assert (await _post(f"{base}/alerts/{'e' * 32}/ack", {"acked": "1"}))[0] == 404


async def test_mutes_hide_alerts_and_stop_webhooks(redis_url: str, base: str) -> None:
    noisy = make_alert(entities=["qwen"], title="Qwen noise")
    kept = make_alert(entities=["qwen", "deepseek"], title="Both")
    await write_alerts(redis_url, noisy, kept)
    status, _ = await _post(
        base + "/mutes",
        {"kind": "entity", "value": "qwen", "action": "mute"},
        Accept="application/json",
    )
    assert status == 200
    _, page, _ = await _get(base + "/")
    assert "Qwen noise" not in page and "Both" in page and "1 muted hidden" in page
    _, page, _ = await _get(base + "/?muted=1")
    assert "Qwen noise" in page

    settings = settings_for(redis_url).model_copy(
        update={
            "webhooks": settings_for(redis_url).webhooks.model_copy(
                update={"endpoints": [WebhookEndpoint(name="ops", url="http://127.0.0.1:9/")]}
            )
        }
    )
    client = make_redis(settings)
    try:
        dispatcher = WebhookDispatcher(settings, client)
        assert await dispatcher.submit_many([noisy, kept]) == 1  # only the unmuted one
    finally:
        await client.aclose()
    status, _ = await _post(
        base + "/mutes", {"kind": "entity", "value": "qwen", "action": "unmute"}
    )
    assert status == 303
    assert "Qwen noise" in (await _get(base + "/"))[1]
    bad = {"kind": "feed", "value": "x", "action": "mute"}
    assert (await _post(base + "/mutes", bad))[0] == 400


async def _read_events(resp: aiohttp.ClientResponse, wanted: int) -> list[dict[str, str]]:
    """Parse SSE events until `wanted` alert events arrived."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    while sum(e.get("event") == "alert" for e in events) < wanted:
        line = (await resp.content.readline()).decode().rstrip("\n")
        if not line:
            if current:
                events.append(current)
            current = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        current[name] = value
    return events


async def test_sse_live_and_resume_with_last_event_id(redis_url: str, base: str) -> None:
    first = make_alert(title="Before the page")
    await write_alerts(redis_url, first)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(base + "/events?entity=deepseek") as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            while (await resp.content.readline()).strip() != b"event: ready":
                pass
            live = make_alert(title="Live <b>one</b>")
            other = make_alert(entities=["qwen"], title="Filtered out")
            await write_alerts(redis_url, other, live)
            events = await _read_events(resp, 1)
            alert_events = [e for e in events if e.get("event") == "alert"]
            data = orjson.loads(alert_events[0]["data"])
            assert data["id"] == live.id and "&lt;b&gt;one&lt;/b&gt;" in data["html"]
            assert data["facets"]["entity"] == ["deepseek"]
            live_id = alert_events[0]["id"]
        missed = make_alert(title="While away")
        await write_alerts(redis_url, missed)
        async with session.get(base + "/events", headers={"Last-Event-ID": live_id}) as resp:
            events = await asyncio.wait_for(_read_events(resp, 1), 10)
            replayed = [orjson.loads(e["data"])["id"] for e in events if e.get("event") == "alert"]
            assert replayed == [missed.id]


async def test_ack_reaches_live_viewers(redis_url: str, base: str) -> None:
    item = make_alert()
    await write_alerts(redis_url, item)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.get(base + "/events") as resp,
    ):
        while (await resp.content.readline()).strip() != b"event: ready":
            pass
        await _post(f"{base}/alerts/{item.id}/ack", {"acked": "1"})
        while (line := await resp.content.readline()).strip() != b"event: ack":
            assert line
        data = orjson.loads((await resp.content.readline()).decode().partition(": ")[2])
        assert data == {"type": "ack", "id": item.id, "acked": True}


async def test_polling_fallback(redis_url: str, base: str) -> None:
    first = make_alert()
    await write_alerts(redis_url, first)
    status, body, _ = await _get(base + "/updates")
    start = orjson.loads(body)["last_id"]
    second = make_alert(title="Polled")
    await write_alerts(redis_url, second)
    status, body, _ = await _get(f"{base}/updates?after={start}")
    data = orjson.loads(body)
    assert status == 200 and [a["id"] for a in data["alerts"]] == [second.id]
    assert data["last_id"] != start


async def test_atom_feed_with_filters(redis_url: str, base: str) -> None:
    await write_alerts(
        redis_url,
        make_alert(entities=["qwen"], title="Qwen <i>news</i>"),
        make_alert(entities=["deepseek"], title="DeepSeek news"),
    )
    status, body, headers = await _get(base + "/feeds/alerts.atom?entity=qwen")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    parsed = feedparser.parse(body.encode())
    assert not parsed.bozo and parsed.version == "atom10"
    assert [e.title for e in parsed.entries] == ["[HIGH] Qwen <i>news</i>"]
    assert (await _get(base + "/feeds/alerts.atom?bogus=1"))[0] == 400


async def test_digest_page(redis_url: str, base: str) -> None:
    await write_alerts(redis_url, make_alert(title="Digest me"))
    status, body, _ = await _get(base + "/digest?period=hour")
    assert status == 200 and "Digest me" in body and "1 alert" in body
    assert (await _get(base + "/digest?period=week"))[0] == 400


async def test_story_view_lists_sources_and_alert_history(redis_url: str, base: str) -> None:
    from newswatch.streams.sinks.stories import RedisStorySink

    story_id = "st-00000000000000ab"
    story = {
        "id": story_id,
        "status": "open",
        "headline": "US adds Zhipu <b>and</b> Moonshot to the Entity List",
        "first_seen": 1_790_000_000.0,
        "last_seen": 1_790_003_600.0,
        "size": 3,
        "sources": 3,
        "languages": ["de", "en"],
        "entities": ["zhipu", "moonshot"],
        "themes": ["export_controls"],
        "growth_rate": 3.0,
        "breaking": False,
        "articles": [
            {"id": "a2", "feed": "wire", "lang": "de", "title": "USA setzen Zhipu auf die Liste",
             "url": "javascript:alert(1)", "published": 1_790_003_600.0},
            {"id": "a1", "feed": "techwire", "lang": "en", "title": "US adds Zhipu",
             "url": "https://techwire.example/a1", "published": 1_790_000_000.0},
        ],
    }  # fmt: skip
    redis = make_redis(settings_for(redis_url))
    try:
        await RedisStorySink(redis).write(story)
    finally:
        await redis.aclose()
    created = make_alert(title="Export controls x Zhipu", story_id=story_id, kind="story")
    other = make_alert(title="Unrelated")
    await write_alerts(redis_url, created, other)

    status, body, headers = await _get(f"{base}/stories/{story_id}")
    assert status == 200 and "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "&lt;b&gt;and&lt;/b&gt;" in body and "<b>and</b>" not in body
    assert body.index("US adds Zhipu</a>") < body.index("USA setzen Zhipu")  # oldest first
    assert "javascript:" not in body  # a feed's javascript: link is shown as text only
    assert f"/alerts/{created.id}" in body and other.id not in body
    assert ">Zhipu AI<" in body or ">Zhipu<" in body  # display names
    assert (await _get(f"{base}/stories/st-0000000000000000"))[0] == 404
    assert (await _get(f"{base}/stories/not-a-story"))[0] == 404
