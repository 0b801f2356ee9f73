"""Story alerts on the webhook side: the update event type, Slack text, per-endpoint filters."""

from __future__ import annotations

import orjson
import pytest

from newswatch.streams.records import Alert
from newswatch.streams.settings import WebhookEndpoint
from newswatch.streams.sinks.webhooks.filters import wants
from newswatch.streams.sinks.webhooks.formats import UPDATE_EVENT_TYPE, render

BASE = {
    "rule": "chinese_ai_export_controls",
    "severity": "high",
    "title": "Zhipu on the Entity List",
    "entities": ["zhipu"],
    "themes": ["export_controls"],
    "article_id": "a0",
    "url": "https://example.org/a0",
    "summary": "The Commerce Department added Zhipu AI.",
    "story_id": "st-0123456789abcdef",
    "headline": "US adds <Zhipu> to export blacklist",
    "languages": ["de", "en"],
    "created_at": 1_795_000_000.0,
}
STORY = Alert(id="c1", kind="story", sources=1, **BASE)


def update(*reasons: str) -> Alert:
    return Alert(
        id="u1",
        kind="story_update",
        update_of="c1",
        sequence=1,
        sources=11,
        breaking=True,
        reasons=list(reasons),
        **BASE,
    )


def endpoint(**extra: object) -> WebhookEndpoint:
    return WebhookEndpoint(name="e", url="https://hooks.example.org/x", **extra)


def test_update_is_its_own_cloudevent_type_about_the_story() -> None:
    event = orjson.loads(render(update("sources:10"), "cloudevents")[0])
    assert event["type"] == UPDATE_EVENT_TYPE == "io.newswatch.story.updated.v1"
    assert event["id"] == "u1" and event["subject"] == "st-0123456789abcdef"
    assert event["data"]["update_of"] == "c1" and event["data"]["reasons"] == ["sources:10"]
    creation = orjson.loads(render(STORY, "cloudevents")[0])
    assert creation["type"] == "io.newswatch.alert.v1"
    assert creation["subject"] == "st-0123456789abcdef"


def test_update_as_json_and_slack() -> None:
    data = orjson.loads(render(update("language:fr"), "json")[0])
    assert data["kind"] == "story_update" and data["sources"] == 11
    slack = orjson.loads(render(update("language:fr"), "slack")[0])
    text = orjson.dumps(slack).decode()
    assert "Update: US adds &lt;Zhipu&gt; to export blacklist" in text
    assert "11 sources in de, en" in text and "language:fr" in text and "breaking" in text
    assert "Commerce Department" not in text  # no summary in an update


@pytest.mark.parametrize(
    ("settings", "reasons", "wanted"),
    [
        ({}, ["sources:5"], True),
        ({}, ["sources:7"], False),
        ({"story_update_sources": [10]}, ["sources:5"], False),
        ({"story_update_sources": [10]}, ["sources:5", "sources:10"], True),
        ({"story_update_sources": []}, ["language:fr"], True),
        ({"story_update_sources": []}, ["severity:critical"], True),
        ({"story_update_sources": []}, ["breaking"], True),
        ({"story_updates": False}, ["language:fr", "sources:5"], False),
        ({"min_severity": "critical"}, ["language:fr"], False),
        ({"entities": ["deepseek"]}, ["language:fr"], False),
    ],
)
def test_endpoint_filters_updates(settings: dict, reasons: list[str], wanted: bool) -> None:
    assert wants(endpoint(**settings), update(*reasons)) is wanted


def test_creations_pass_even_when_updates_are_off() -> None:
    assert wants(endpoint(story_updates=False), STORY)


def test_alerts_tail_line_of_an_update() -> None:
    from newswatch.streams.cli.alerts import format_alert

    line = format_alert(update("sources:10", "language:fr"))
    assert "UPDATE #1 (sources:10, language:fr) 11 sources, 2 languages, breaking" in line
    assert "[story st-0123456789abcdef, 1 sources]" in format_alert(STORY)
