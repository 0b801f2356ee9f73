"""Mutes: entities and rules a team does not want to hear about, stored in Redis.

Set from the newsroom page (shared by every viewer) and respected by the page and by the
webhook sink. An alert is muted when its rule is muted, or when every entity it names is
muted. Redis keeps one HASH, `newswatch:mutes`, with fields `entity:<id>` and `rule:<id>`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from newswatch.streams.sinks import keys
from newswatch.streams.sinks.metrics import REDIS_ERRORS

log = logging.getLogger(__name__)

KINDS = ("entity", "rule")


@dataclass(frozen=True)
class Mutes:
    """Muted entities and rules. An alert is muted when its rule is muted, or when it names
    entities and every one of them is muted (an alert that is also about something unmuted
    still reaches the reader)."""

    entities: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()

    def mutes(self, alert: Mapping[str, Any] | Any) -> bool:
        """`alert`: an Alert record or its JSON dict."""
        if isinstance(alert, Mapping):
            rule, entities = alert.get("rule"), alert.get("entities") or ()
        else:
            rule, entities = getattr(alert, "rule", None), getattr(alert, "entities", ()) or ()
        if rule in self.rules:
            return True
        return bool(entities) and all(e in self.entities for e in entities)

    def __bool__(self) -> bool:
        return bool(self.entities or self.rules)


def parse_mutes(fields: dict[Any, Any]) -> Mutes:
    entities: set[str] = set()
    rules: set[str] = set()
    for raw in fields:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind, _, value = name.partition(":")
        if kind == "entity" and value:
            entities.add(value)
        elif kind == "rule" and value:
            rules.add(value)
    return Mutes(frozenset(entities), frozenset(rules))


async def read_mutes(redis: Redis) -> Mutes:
    return parse_mutes(await redis.hgetall(keys.MUTES))


async def set_mute(redis: Redis, kind: str, value: str, muted: bool) -> None:
    """Mute or unmute, then tell live viewers (one PUBLISH on the changes channel)."""
    if kind not in KINDS:
        raise ValueError(f"mute kind must be one of {KINDS}, got {kind!r}")
    field = f"{kind}:{value}"
    if muted:
        await redis.hset(keys.MUTES, field, orjson.dumps({"at": time.time()}))
    else:
        await redis.hdel(keys.MUTES, field)
    current = await read_mutes(redis)
    await redis.publish(
        keys.CHANGES_CHANNEL,
        orjson.dumps(
            {"type": "mutes", "entities": sorted(current.entities), "rules": sorted(current.rules)}
        ),
    )


class MuteCache:
    """The mutes, re-read from Redis at most every `ttl` seconds (the webhook sink asks for
    every batch). If Redis cannot be read the last known mutes stay in force: a Redis blip
    must neither block deliveries nor suddenly send what the team muted."""

    def __init__(self, redis: Redis, ttl: float = 2.0) -> None:
        self._redis = redis
        self._ttl = ttl
        self._mutes = Mutes()
        self._read_at = float("-inf")

    async def get(self) -> Mutes:
        now = time.monotonic()
        if now - self._read_at >= self._ttl:
            try:
                self._mutes = await read_mutes(self._redis)
            except RedisError as exc:
                REDIS_ERRORS.labels("read_mutes").inc()
                log.warning("could not read mutes (%r); keeping the last known ones", exc)
            self._read_at = now
        return self._mutes
