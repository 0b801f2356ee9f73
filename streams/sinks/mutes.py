"""Mutes: entities, rules and stories a team does not want to hear about, stored in Redis.

Set from the newsroom page (shared by every viewer) and respected by the page and by the
webhook sink. An alert is muted when its rule is muted, when it belongs to a muted story
(creations and updates of story alerts carry `story_id`), or when every entity it names is
muted. Redis keeps one HASH, `newswatch:mutes`, with fields `entity:<id>`, `rule:<id>` and
`story:<id>`. A story mute ends by itself once the story has expired from Redis (it can
raise no alert any more): every mute change drops those.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from newswatch.streams.sinks import keys
from newswatch.streams.sinks.metrics import REDIS_ERRORS
from newswatch.streams.sinks.stories import story_key

log = logging.getLogger(__name__)

KINDS = ("entity", "rule", "story")
STORY_ID = re.compile(r"^st-[0-9a-f]{16}$")
#: What a mute's value must look like, per kind (story ids are the story engine's).
VALUE_PATTERNS = {
    "entity": re.compile(r"^[A-Za-z0-9_-]{1,100}$"),
    "rule": re.compile(r"^[A-Za-z0-9_-]{1,100}$"),
    "story": STORY_ID,
}


@dataclass(frozen=True)
class Mutes:
    """Muted entities, rules and stories. An alert is muted when its rule is muted, when its
    story is muted, or when it names entities and every one of them is muted (an alert that
    is also about something unmuted still reaches the reader)."""

    entities: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    stories: frozenset[str] = frozenset()

    def mutes(self, alert: Mapping[str, Any] | Any) -> bool:
        """`alert`: an Alert record or its JSON dict (creations and updates alike)."""
        if isinstance(alert, Mapping):
            rule, entities = alert.get("rule"), alert.get("entities") or ()
            story = alert.get("story_id")
        else:
            rule, entities = getattr(alert, "rule", None), getattr(alert, "entities", ()) or ()
            story = getattr(alert, "story_id", None)
        if rule in self.rules or (story is not None and story in self.stories):
            return True
        return bool(entities) and all(e in self.entities for e in entities)

    def mutes_story(self, story: Mapping[str, Any]) -> bool:
        """A story (its state as stored) is hidden when it is muted itself. Muted entities do
        not hide a story: it may be about more than they are."""
        return story.get("id") in self.stories

    def as_message(self) -> dict[str, Any]:
        """The change message live viewers get (`newswatch:newsroom:changes`)."""
        return {
            "type": "mutes",
            "entities": sorted(self.entities),
            "rules": sorted(self.rules),
            "stories": sorted(self.stories),
        }

    def __bool__(self) -> bool:
        return bool(self.entities or self.rules or self.stories)


def parse_mutes(fields: dict[Any, Any]) -> Mutes:
    """The mutes HASH's fields -> Mutes; unknown kinds and malformed values are ignored."""
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for raw in fields:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind, _, value = name.partition(":")
        if kind in VALUE_PATTERNS and VALUE_PATTERNS[kind].match(value):
            found[kind].add(value)
    return Mutes(frozenset(found["entity"]), frozenset(found["rule"]), frozenset(found["story"]))


def mutes_from_message(data: Mapping[str, Any]) -> Mutes:
    """The inverse of `Mutes.as_message` (a change message from another process)."""

    def values(name: str) -> frozenset[str]:
        raw = data.get(name) or ()
        return frozenset(str(v) for v in raw) if isinstance(raw, list | tuple) else frozenset()

    return Mutes(values("entities"), values("rules"), values("stories"))


def check_mute(kind: str, value: str) -> None:
    """Raise ValueError unless `kind:value` can be a mute."""
    if kind not in KINDS:
        raise ValueError(f"mute kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not VALUE_PATTERNS[kind].match(value):
        raise ValueError(f"{value[:40]!r} is not a valid {kind} id")


async def read_mutes(redis: Redis) -> Mutes:
    return parse_mutes(await redis.hgetall(keys.MUTES))


async def set_mute(redis: Redis, kind: str, value: str, muted: bool) -> Mutes:
    """Mute or unmute, then tell live viewers (one PUBLISH on the changes channel). Story
    mutes of stories that expired from Redis are dropped on the way. Returns the mutes now in
    force; raises ValueError for a kind or value that cannot be a mute."""
    check_mute(kind, value)
    field = f"{kind}:{value}"
    if muted:
        await redis.hset(keys.MUTES, field, orjson.dumps({"at": time.time()}))
    else:
        await redis.hdel(keys.MUTES, field)
    current = await read_mutes(redis)
    stories = sorted(current.stories)
    if stories:
        exists = await _exist(redis, [story_key(s) for s in stories])
        gone = [s for s, alive in zip(stories, exists, strict=True) if not alive]
        if gone:
            await redis.hdel(keys.MUTES, *(f"story:{s}" for s in gone))
            current = Mutes(current.entities, current.rules, current.stories - set(gone))
    await redis.publish(keys.CHANGES_CHANNEL, orjson.dumps(current.as_message()))
    return current


async def _exist(redis: Redis, names: list[str]) -> list[bool]:
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(name)
        return [bool(n) for n in await pipe.execute()]


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
