"""Digest deliveries: once per completed hour or UTC day, one message per endpoint that asked
for it (`digest: hour|day`), listing the alerts it would want (its filters, minus mutes).

Windows are aligned (08:00-09:00, or one UTC day), so every worker replica computes the same
digest id, `digest-<period>-<window start>`, and the outbox's idempotence per id x endpoint
sends it once, through the same signed, retried, dead-lettered path as alerts. A window with
no alert sends nothing. Formats: CloudEvents (`io.newswatch.digest.v1`), Slack blocks, JSON.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from newswatch.streams.names import DisplayNames
from newswatch.streams.newsroom.digest import PERIODS, Digest, build_digest
from newswatch.streams.records import Alert
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.webhooks.formats import (
    CONTENT_TYPES,
    EVENT_SOURCE,
    escape_mrkdwn,
    link_target,
)

log = logging.getLogger(__name__)

EVENT_TYPE = "io.newswatch.digest.v1"
#: Alerts read at most for one digest window (newest first).
MAX_ALERTS = 5_000
#: Seconds after a window closes before its digest goes out (late writes of the window land).
GRACE = 60.0
TOP_ALERTS = 20


def last_window(period: str, now: float) -> tuple[float, float]:
    """The most recent completed window of `period` that closed at least GRACE seconds ago."""
    length = PERIODS[period]
    end = (now - GRACE) // length * length
    return end - length, end


def digest_id(period: str, start: float) -> str:
    return f"digest-{period}-{int(start)}"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def digest_data(report: Digest, names: DisplayNames, page_url: str | None) -> dict[str, Any]:
    """The JSON body (and the CloudEvent's data)."""
    return {
        "id": digest_id(report.period, report.start),
        "period": report.period,
        "from": _when(report.start),
        "to": _when(report.end),
        "total": report.total,
        "severities": dict(report.severities),
        "entities": [{"id": e, "name": names.entity(e), "alerts": n} for e, n in report.entities],
        "themes": [{"id": t, "name": names.short_theme(t), "alerts": n} for t, n in report.themes],
        "languages": dict(report.languages),
        "alerts": [
            {
                "id": a.get("id"),
                "title": a.get("title"),
                "severity": a.get("severity"),
                "rule": a.get("rule"),
                "url": a.get("url"),
                "lang": a.get("lang"),
                "entities": a.get("entities") or [],
                "created_at": a.get("created_at"),
                **({"page": f"{page_url}alerts/{a.get('id')}"} if page_url else {}),
            }
            for a in report.entries[:TOP_ALERTS]
        ],
        "schema_version": 1,
    }


def slack_digest(report: Digest, names: DisplayNames, page_url: str | None) -> dict[str, Any]:
    label = "Daily" if report.period == "day" else "Hourly"
    counts = ", ".join(f"{n} {s}" for s, n in report.severities)
    header = f"{label} newswatch digest: {report.total} alerts ({counts})"
    tops = []
    if report.entities:
        tops.append(
            "*Entities:* "
            + ", ".join(f"{escape_mrkdwn(names.entity(e))} ({n})" for e, n in report.entities[:8])
        )
    if report.themes:
        tops.append(
            "*Themes:* "
            + ", ".join(
                f"{escape_mrkdwn(names.short_theme(t))} ({n})" for t, n in report.themes[:5]
            )
        )
    lines = []
    for a in report.entries[:10]:
        title = escape_mrkdwn(str(a.get("title") or ""))[:200]
        target = link_target(a.get("url"))
        link = f"<{target}|{title}>" if target else title
        lines.append(f"• *{str(a.get('severity', '')).upper()}* {link}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
    ]
    if tops:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(tops)}})
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    context = f"{_when(report.start)} – {_when(report.end)}"
    if page_url:
        context += f" · <{page_url}digest?period={report.period}|newsroom digest>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": header, "blocks": blocks}


def render_digest(
    report: Digest, fmt: str, names: DisplayNames, page_url: str | None = None
) -> tuple[bytes, str]:
    """(body, content type) of a digest in an endpoint's format."""
    data = digest_data(report, names, page_url)
    body: Any
    if fmt == "cloudevents":
        body = {
            "specversion": "1.0",
            "id": data["id"],
            "source": EVENT_SOURCE.rstrip("/").rsplit("/", 1)[0] + "/digests/" + report.period,
            "type": EVENT_TYPE,
            "time": _when(report.end),
            "datacontenttype": "application/json",
            "data": data,
        }
    elif fmt == "slack":
        body = slack_digest(report, names, page_url)
    elif fmt == "json":
        body = data
    else:
        raise ValueError(f"unknown webhook format {fmt!r}")
    return orjson.dumps(body), CONTENT_TYPES[fmt]


def digest_for(
    alerts: Sequence[dict[str, Any]],
    period: str,
    start: float,
    end: float,
    keep: Any,
) -> Digest:
    """The digest of [start, end) over the alerts `keep(alert)` accepts (filters and mutes)."""
    chosen = [a for a in alerts if start <= float(a.get("created_at") or 0) < end and keep(a)]
    report = build_digest(chosen, period, now=end)
    report.start = start
    return report


def as_alert(data: dict[str, Any]) -> Alert | None:
    try:
        return Alert.from_dict(data)
    except Exception:  # a record the sink wrote but this version cannot read
        return None


async def alerts_between(redis: Redis, start: float, end: float) -> list[dict[str, Any]]:
    """The alerts created in [start, end), from the time index (at most MAX_ALERTS, newest)."""
    ids = await redis.zrevrangebyscore(
        keys.INDEX_ALL, f"({end!r}", repr(start), start=0, num=MAX_ALERTS
    )
    if not ids:
        return []
    out = []
    for raw in await redis.mget([keys.alert_key(_text(i)) for i in ids]):
        if raw is None:
            continue
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict):
            out.append(data)
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def digest_loop(dispatcher: Any, redis: Redis, page_url: str | None, every: float = 60.0):
    """Offer the digests of the last completed windows every `every` seconds (the outbox
    drops the ones already queued or delivered). Errors are logged and retried next round."""
    while True:
        try:
            queued = await dispatcher.submit_digests(redis, time.time(), page_url)
            if queued:
                log.info("queued %d digest deliveries", queued)
        except Exception as exc:
            log.warning("digests not queued this round: %r", exc)
        await asyncio.sleep(every)
