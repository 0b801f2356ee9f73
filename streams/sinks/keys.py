"""Redis key names shared by the alert sink, the API and the CLI (one place to rename them)."""

from __future__ import annotations

STREAM = "newswatch:alerts"  # XADD fields: id, data (alert JSON); `newswatch alerts tail` reads it
LIVE_CHANNEL = "newswatch:alerts:live"  # PUBLISH alert JSON; a live view only, not a record
INDEX_ALL = "newswatch:alerts:index"  # ZSET alert id by created_at, trimmed like the stream
STATS_BUCKET = 3600  # seconds per stats hash


def alert_key(alert_id: str) -> str:
    """STRING alert JSON, SET NX with the dedup TTL: the idempotency marker and the lookup."""
    return f"newswatch:alert:{alert_id}"


def sink_offsets(topic: str) -> str:
    """HASH partition -> last offset of `topic` whose alerts are all in Redis (the sink's
    watermark, written after the alerts it covers; streams/sinks/repair.py)."""
    return f"newswatch:sink:offsets:{topic}"


def entity_index(entity: str) -> str:
    return f"newswatch:alerts:entity:{entity}"


def theme_index(theme: str) -> str:
    return f"newswatch:alerts:theme:{theme}"


def stats_key(bucket_start: int) -> str:
    """HASH of counters (total, entity:<id>, theme:<id>, severity:<s>, rule:<r>) for one hour."""
    return f"newswatch:alerts:stats:{bucket_start}"


# ---- reader state shared by every newsroom viewer --------------------------------------------
MUTES = "newswatch:mutes"  # HASH "entity:<id>" / "rule:<id>" -> JSON {"at": epoch}
CHANGES_CHANNEL = "newswatch:newsroom:changes"  # PUBLISH {"type": "ack"|"mutes", ...}


def ack_key(alert_id: str) -> str:
    """STRING JSON {"at": epoch}: the alert was acknowledged; expires like the alert itself."""
    return f"newswatch:newsroom:ack:{alert_id}"
