"""Request bodies: CloudEvents 1.0 structured JSON (default), Slack incoming webhook, plain JSON.

A body is rendered once when the delivery is queued and stored with it, so every retry sends
the same bytes (only the timestamp and signature change). The alert goes to orjson as the
dataclass it is (same bytes as `alert.to_dict()`, without `dataclasses.asdict`'s deep copy,
which cost most of the time of a batched submit).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from newswatch.streams.names import DisplayNames
from newswatch.streams.records import Alert

EVENT_TYPE = "io.newswatch.alert.v1"
EVENT_SOURCE = "/newswatch/rules/"
CONTENT_TYPES = {
    "cloudevents": "application/cloudevents+json",
    "slack": "application/json",
    "json": "application/json",
}
_SEVERITY_EMOJI = {"low": ":information_source:", "medium": ":warning:", "high": ":rotating_light:"}


def render(alert: Alert, fmt: str, names: DisplayNames | None = None) -> tuple[bytes, str]:
    """(body, content type) of `alert` in format `fmt` (cloudevents, slack, json). Slack
    messages name entities and themes by their display names; JSON formats keep the ids."""
    body: Any
    if fmt == "cloudevents":
        body = cloudevent(alert, data=alert)
    elif fmt == "slack":
        body = slack_message(alert, names)
    elif fmt == "json":
        body = alert
    else:
        raise ValueError(f"unknown webhook format {fmt!r}")
    return orjson.dumps(body), CONTENT_TYPES[fmt]


def cloudevent(alert: Alert, data: Any = None) -> dict[str, Any]:
    """The CloudEvent of `alert`; `data` defaults to the alert as a dict."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": alert.id,
        "source": EVENT_SOURCE + alert.rule,
        "type": EVENT_TYPE,
        "time": _rfc3339(alert.created_at),
        "datacontenttype": "application/json",
        "data": alert.to_dict() if data is None else data,
    }
    subject = alert.article_id or ",".join(alert.entities)
    if subject:
        event["subject"] = subject
    return event


def slack_message(alert: Alert, names: DisplayNames | None = None) -> dict[str, Any]:
    names = names or DisplayNames()
    emoji = _SEVERITY_EMOJI.get(alert.severity, ":bangbang:")
    title = _escape(alert.title)
    headline = f"<{_escape(alert.url)}|{title}>" if alert.url else title
    text = f"{emoji} [{alert.severity.upper()}] {alert.title}"
    context = [f"rule `{_escape(alert.rule)}`"]
    if alert.entities:
        context.append("entities: " + ", ".join(_escape(e) for e in names.entities(alert.entities)))
    if alert.themes:
        context.append("themes: " + ", ".join(_escape(t) for t in names.themes(alert.themes)))
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{emoji} *[{alert.severity.upper()}]* {headline}"},
        }
    ]
    if alert.summary:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _escape(alert.summary[:2900])}}
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
    )
    return {"text": text, "blocks": blocks}


def _escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
