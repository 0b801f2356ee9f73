"""Request bodies: CloudEvents 1.0 structured JSON (default), Slack incoming webhook, plain JSON.

A body is rendered once when the delivery is queued and stored with it, so every retry sends
the same bytes (only the timestamp and signature change). The alert goes to orjson as the
dataclass it is (same bytes as `alert.to_dict()`, without `dataclasses.asdict`'s deep copy,
which cost most of the time of a batched submit).

Every string of an alert comes from a feed, i.e. from a stranger. In the Slack format each one
is escaped for mrkdwn (`&`, `<`, `>`), so a title cannot mention `<!channel>` or `<@U123>` or
disguise a link as `<http://evil|your bank>`; the one link we build ourselves takes only an
http(s) URL, escaped and with `|` percent-encoded. Rendering never fails on a hostile value:
what orjson cannot encode (a lone surrogate, an integer beyond 64 bits) is replaced, and a
timestamp outside the calendar leaves out the CloudEvent's optional `time`.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import orjson

from newswatch.streams.names import DisplayNames
from newswatch.streams.records import Alert

EVENT_TYPE = "io.newswatch.alert.v1"
#: An update of a story alert (kind "story_update"; docs/webhooks.md).
UPDATE_EVENT_TYPE = "io.newswatch.story.updated.v1"
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
    try:
        return orjson.dumps(body), CONTENT_TYPES[fmt]
    except orjson.JSONEncodeError:
        # A lone surrogate or an out-of-range integer from a hostile record: encode a cleaned
        # copy rather than fail the whole batch of deliveries.
        return orjson.dumps(_json_safe(body)), CONTENT_TYPES[fmt]


def cloudevent(alert: Alert, data: Any = None) -> dict[str, Any]:
    """The CloudEvent of `alert`; `data` defaults to the alert as a dict."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": alert.id,
        "source": EVENT_SOURCE + alert.rule,
        "type": UPDATE_EVENT_TYPE if alert.kind == "story_update" else EVENT_TYPE,
        "datacontenttype": "application/json",
        "data": alert.to_dict() if data is None else data,
    }
    time = _rfc3339(alert.created_at)
    if time is not None:
        event["time"] = time
    subject = alert.story_id or alert.article_id or ",".join(alert.entities)
    if subject:
        event["subject"] = subject
    return event


def slack_message(alert: Alert, names: DisplayNames | None = None) -> dict[str, Any]:
    """A Slack incoming-webhook message; every alert string is mrkdwn-escaped."""
    names = names or DisplayNames()
    emoji = _SEVERITY_EMOJI.get(alert.severity, ":bangbang:")
    severity = escape_mrkdwn(str(alert.severity).upper())
    title = escape_mrkdwn(alert.title)
    if alert.kind == "story_update":
        title = "Update: " + escape_mrkdwn(alert.headline or alert.title)
    link = link_target(alert.url)
    headline = f"<{link}|{title}>" if link else title
    context = [f"rule `{escape_mrkdwn(alert.rule)}`"]
    if alert.story_id:
        story = f"{alert.sources or 0} sources" + (
            " in " + ", ".join(escape_mrkdwn(lang) for lang in alert.languages)
            if alert.languages
            else ""
        )
        if alert.breaking:
            story = ":fire: breaking · " + story
        if alert.reasons:
            story += " · " + ", ".join(escape_mrkdwn(r) for r in alert.reasons)
        context.append(story)
    if alert.entities:
        entities = names.entities(alert.entities)
        context.append("entities: " + ", ".join(escape_mrkdwn(e) for e in entities))
    if alert.themes:
        themes = names.themes(alert.themes)
        context.append("themes: " + ", ".join(escape_mrkdwn(t) for t in themes))
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{emoji} *[{severity}]* {headline}"},
        }
    ]
    if alert.summary and alert.kind != "story_update":  # the update tells the story
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": escape_mrkdwn(alert.summary[:2900])},
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
    )
    # `text` is the notification and fallback text; Slack parses it as mrkdwn too.
    return {"text": f"{emoji} [{severity}] {title}", "blocks": blocks}


def escape_mrkdwn(text: str) -> str:
    """Escape Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping):
    with them escaped, no `<...>` sequence (mention, channel ping, link) can come from `text`."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_target(url: str | None) -> str | None:
    """The URL for a `<url|title>` link, or None: only http(s), escaped, `|` and spaces
    percent-encoded so the URL cannot end the link early or smuggle a label of its own."""
    if not url or not url.lower().startswith(("http://", "https://")):
        return None
    cleaned = "".join(ch for ch in url if ch.isprintable())
    return escape_mrkdwn(cleaned).replace("|", "%7C").replace(" ", "%20")


def _json_safe(value: Any) -> Any:
    """A copy orjson can always encode: lone surrogates become U+FFFD, integers beyond 64 bits
    become strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_json_safe(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return _json_safe(str(value))


def _rfc3339(epoch: float) -> str | None:
    """RFC 3339 UTC time, or None for a value outside the calendar (NaN, year 10000...)."""
    try:
        return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError, TypeError):
        return None
