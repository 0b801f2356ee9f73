"""Webhook bodies: CloudEvents structured JSON, Slack, plain JSON; endpoint filters."""

from __future__ import annotations

import orjson
import pytest

from newswatch.streams.records import Alert
from newswatch.streams.settings import WebhookEndpoint
from newswatch.streams.sinks.webhooks.filters import wants
from newswatch.streams.sinks.webhooks.formats import render

ALERT = Alert(
    id="export_controls:abc123",
    rule="export_controls",
    severity="high",
    title="DeepSeek <R2> & the new export rules",
    entities=["deepseek"],
    themes=["export_controls"],
    article_id="abc123",
    url="https://example.org/a?b=1&c=2",
    summary="Commerce adds rules",
    created_at=1_795_000_000.25,
)


def test_cloudevents_structured_mode() -> None:
    body, content_type = render(ALERT, "cloudevents")
    event = orjson.loads(body)
    assert content_type == "application/cloudevents+json"
    assert event["specversion"] == "1.0"
    assert event["id"] == ALERT.id
    assert event["type"] == "io.newswatch.alert.v1"
    assert event["source"] == "/newswatch/rules/export_controls"
    assert event["subject"] == "abc123"
    assert event["time"] == "2026-11-18T11:06:40.250000Z"
    assert event["datacontenttype"] == "application/json"
    assert Alert.loads(event["data"]) == ALERT


def test_plain_json_is_the_alert_record() -> None:
    body, content_type = render(ALERT, "json")
    assert content_type == "application/json"
    assert Alert.loads(body) == ALERT


def test_slack_message_escapes_mrkdwn() -> None:
    body, content_type = render(ALERT, "slack")
    message = orjson.loads(body)
    assert content_type == "application/json"
    expected = ":rotating_light: [HIGH] DeepSeek &lt;R2&gt; &amp; the new export rules"
    assert message["text"] == expected
    first = message["blocks"][0]["text"]["text"]
    assert "&lt;R2&gt; &amp; the new" in first
    assert "<https://example.org/a?b=1&amp;c=2|" in first
    assert message["blocks"][-1]["type"] == "context"


HOSTILE = Alert(
    id="x:1",
    rule="r<!here>",
    severity="high",
    title="<!channel> pay <@U024BE7LH> at <http://evil.example|your bank>",
    entities=["<!everyone>"],
    themes=["t>&<"],
    url="https://ok.example/a|<fake>",
    summary="<https://evil.example|https://bank.example> & more",
)


def _mrkdwn_texts(message: dict) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [element["text"] for element in block.get("elements", [])]
    return texts


def test_slack_cannot_ping_mention_or_disguise_a_link() -> None:
    message = orjson.loads(render(HOSTILE, "slack")[0])
    texts = _mrkdwn_texts(message)
    assert len(texts) == 4  # text, headline, summary, context
    for text in texts:
        for forbidden in ("<!", "<@", "<http://evil", "<https://evil"):
            assert forbidden not in text
    headline = texts[1]
    # The only link is ours: the alert's URL with `|` and `<>` made harmless.
    assert headline.count("<") == 1 and headline.count(">") == 1
    assert "<https://ok.example/a%7C&lt;fake&gt;|&lt;!channel&gt; pay" in headline
    assert "rule `r&lt;!here&gt;`" in texts[3] and "&lt;!everyone&gt;" in texts[3]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "slack://channel?id=1", "", None])
def test_slack_links_only_http_urls(url: str | None) -> None:
    alert = Alert(id="x:2", rule="r", severity="low", title="T", url=url)
    headline = orjson.loads(render(alert, "slack")[0])["blocks"][0]["text"]["text"]
    assert "<" not in headline and headline.endswith(" T")


def test_rendering_survives_values_orjson_refuses() -> None:
    alert = Alert(id="x:3", rule="r", severity="low", title="bad \ud800 surrogate", count=2**70)
    for fmt in ("json", "cloudevents", "slack"):
        body = orjson.loads(render(alert, fmt)[0])
        assert "\ufffd" in orjson.dumps(body).decode()
    alert = Alert(id="x:4", rule="r", severity="low", title="T", created_at=1e300)
    event = orjson.loads(render(alert, "cloudevents")[0])
    assert "time" not in event and event["id"] == "x:4"


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown webhook format"):
        render(ALERT, "xml")


def _endpoint(**kw: object) -> WebhookEndpoint:
    return WebhookEndpoint(name="e", url="http://127.0.0.1:1/", **kw)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, True),
        ({"min_severity": "high"}, True),
        ({"min_severity": "critical"}, False),
        ({"entities": ["qwen", "deepseek"]}, True),
        ({"entities": ["qwen"]}, False),
        ({"themes": ["export_controls"]}, True),
        ({"themes": ["market_shock"]}, False),
        ({"entities": ["deepseek"], "themes": ["market_shock"]}, False),
        ({"entities": ["deepseek"], "themes": ["export_controls"], "min_severity": "medium"}, True),
    ],
)
def test_endpoint_filters(filters: dict[str, object], expected: bool) -> None:
    assert wants(_endpoint(**filters), ALERT) is expected


def test_slack_message_names_entities_and_themes() -> None:
    from newswatch.streams.names import display_names

    body, _ = render(ALERT, "slack", display_names(None))
    context = orjson.loads(body)["blocks"][-1]["elements"][0]["text"]
    assert "entities: DeepSeek" in context
    assert "themes: Export controls on technology" in context
