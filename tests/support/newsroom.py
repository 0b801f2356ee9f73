"""Helpers for the newsroom tests: alerts written through the real Redis sink, and the
stand-alone newsroom application on a loopback port."""

from __future__ import annotations

import time
from typing import Any

from newswatch.streams.names import display_names
from newswatch.streams.newsroom.web import Newsroom, newsroom_app
from newswatch.streams.records import Alert
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.redis_sink import RedisAlertSink

_counter = [0]


def make_alert(**overrides: Any) -> Alert:
    _counter[0] += 1
    n = _counter[0]
    fields: dict[str, Any] = {
        "id": f"a{n:031x}",
        "rule": "chinese_ai_export_controls",
        "severity": "high",
        "title": f"Export controls x DeepSeek: story {n}",
        "entities": ["deepseek"],
        "themes": ["export_controls"],
        "article_id": f"art{n}",
        "url": f"https://news.example/{n}",
        "feed_id": "techwire",
        "lang": "en",
        "summary": "The US tightened export controls on chips sold to DeepSeek.",
        "created_at": time.time(),
    }
    fields.update(overrides)
    return Alert(**fields)


def settings_for(redis_url: str) -> Any:
    return load_settings(redis_url=redis_url)


async def write_alerts(redis_url: str, *alerts: Alert) -> None:
    settings = settings_for(redis_url)
    client = make_redis(settings)
    try:
        await RedisAlertSink(client, settings).write_many(list(alerts))
    finally:
        await client.aclose()


def newsroom_for(redis_url: str) -> Newsroom:
    settings = settings_for(redis_url)
    return Newsroom(lambda: make_redis(settings), display_names(None))


def app_for(redis_url: str):  # type: ignore[no-untyped-def]
    return newsroom_app(newsroom_for(redis_url))
