"""Redis reads and writes of the newsroom: the newest alerts with their stream ids, one alert,
and which alerts a reader acknowledged (shared by every viewer)."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import orjson
from redis.asyncio import Redis

from newswatch.streams.sinks import keys

log = logging.getLogger(__name__)

#: Alerts the page filters and counts over: the newest this many of the stream.
WINDOW = 1_000
#: Entries replayed at most to a client resuming with Last-Event-ID.
REPLAY_MAX = 500
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
ALERT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def valid_stream_id(value: str | None) -> bool:
    return bool(value) and bool(_STREAM_ID.match(value or ""))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_entries(entries: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(stream id, alert dict) for each stream entry whose data is a JSON object; others are
    logged and skipped (the sink wrote them, so this means a bug or a hand edit)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for entry_id, fields in entries:
        sid = _text(entry_id)
        raw = fields.get(b"data") if b"data" in fields else fields.get("data")
        try:
            alert = orjson.loads(raw) if raw is not None else None
        except orjson.JSONDecodeError:
            alert = None
        if not isinstance(alert, dict) or not isinstance(alert.get("id"), str):
            log.warning("newsroom: stream entry %s holds no alert; skipped", sid)
            continue
        out.append((sid, alert))
    return out


class NewsroomStore:
    def __init__(self, redis: Redis, ack_ttl: int = 30 * 86_400) -> None:
        self.redis = redis
        self.ack_ttl = ack_ttl  # used when the alert's own TTL cannot be read

    async def recent(self, count: int = WINDOW) -> list[tuple[str, dict[str, Any]]]:
        """The newest `count` alerts of the stream, newest first, with their stream ids."""
        return decode_entries(await self.redis.xrevrange(keys.STREAM, count=count))

    async def after(self, stream_id: str, count: int = REPLAY_MAX) -> list[tuple[str, dict]]:
        """Alerts written after `stream_id`, oldest first (at most `count`)."""
        return decode_entries(await self.redis.xrange(keys.STREAM, f"({stream_id}", "+", count))

    async def last_id(self) -> str:
        newest = await self.redis.xrevrange(keys.STREAM, count=1)
        return _text(newest[0][0]) if newest else "0-0"

    async def get(self, alert_id: str) -> dict[str, Any] | None:
        """One alert by id (kept for the dedup TTL, 30 days by default)."""
        if not ALERT_ID.match(alert_id):
            return None
        raw = await self.redis.get(keys.alert_key(alert_id))
        if raw is None:
            return None
        try:
            alert = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return alert if isinstance(alert, dict) else None

    async def acked(self, alert_ids: list[str]) -> dict[str, float]:
        """alert id -> when it was acknowledged, for those of `alert_ids` that were."""
        if not alert_ids:
            return {}
        values = await self.redis.mget([keys.ack_key(i) for i in alert_ids])
        out: dict[str, float] = {}
        for alert_id, raw in zip(alert_ids, values, strict=True):
            if raw is None:
                continue
            try:
                out[alert_id] = float(orjson.loads(raw).get("at", 0.0))
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                out[alert_id] = 0.0
        return out

    async def set_ack(self, alert_id: str, acked: bool) -> None:
        """Acknowledge (or reopen) an alert for every viewer and tell live pages. The mark
        lives as long as the alert's own key (the dedup TTL), so it never outlives it."""
        key = keys.ack_key(alert_id)
        if acked:
            ttl = await self.redis.ttl(keys.alert_key(alert_id))
            ttl = ttl if ttl and ttl > 0 else self.ack_ttl
            await self.redis.set(key, orjson.dumps({"at": time.time()}), ex=ttl)
        else:
            await self.redis.delete(key)
        await self.redis.publish(
            keys.CHANGES_CHANNEL, orjson.dumps({"type": "ack", "id": alert_id, "acked": acked})
        )
