"""Stories in Redis: the story engine's checkpoint, the latest state of each story, queries.

Keys (one place to rename them):

- `newswatch:story:{id}`: STRING, the story's latest state as JSON (what `/api/stories/{id}`
  returns), expiring `story_ttl` after its last write;
- `newswatch:stories`: ZSET story id by last-seen time, newest first for `/api/stories`,
  trimmed to `MAX_LISTED`;
- `newswatch:stories:live`: PUBLISH channel, the story JSON on every change (live view only);
- `newswatch:stories:checkpoint`: HASH {offset, engine, alerts}: the engine's snapshot, the
  story alerts' state (agents/stories/alerts.py; absent when story alerts are off) and the
  offset of the last story-input record both hold. Written with a fence (only a higher offset
  replaces a lower one), so a stale worker cannot roll the state back.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from redis.asyncio import Redis

STORY_PREFIX = "newswatch:story:"
INDEX = "newswatch:stories"
LIVE_CHANNEL = "newswatch:stories:live"
CHECKPOINT = "newswatch:stories:checkpoint"
MAX_LISTED = 20_000
MAX_LIMIT = 500

_FENCED_SAVE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'offset') or '-1')
if tonumber(ARGV[1]) <= current then return 0 end
redis.call('HSET', KEYS[1], 'offset', ARGV[1], 'engine', ARGV[2])
if ARGV[3] then
  redis.call('HSET', KEYS[1], 'alerts', ARGV[3])
else
  redis.call('HDEL', KEYS[1], 'alerts')
end
return 1
"""


def story_key(story_id: str) -> str:
    return STORY_PREFIX + story_id


class StoryStore:
    """The Redis side of the stories agent and of the stories API."""

    def __init__(self, redis: Redis, story_ttl: float = 14 * 86_400.0) -> None:
        self.redis = redis
        self.story_ttl = max(1, int(story_ttl))
        self._save = redis.register_script(_FENCED_SAVE)

    async def load_checkpoint(self) -> tuple[int, bytes | None]:
        """(offset of the last record the snapshot holds, snapshot) or (-1, None)."""
        offset, engine, _ = await self.load_checkpoint_parts()
        return offset, engine

    async def load_checkpoint_parts(self) -> tuple[int, bytes | None, bytes | None]:
        """(offset, engine snapshot, story alert state), read at once; (-1, None, None)."""
        raw = await self.redis.hmget(CHECKPOINT, "offset", "engine", "alerts")
        if raw[0] is None or raw[1] is None:
            return -1, None, None
        return int(raw[0]), bytes(raw[1]), None if raw[2] is None else bytes(raw[2])

    async def save_checkpoint(
        self, offset: int, snapshot: bytes, alerts: bytes | None = None
    ) -> bool:
        """False when a checkpoint at this offset or later is already stored. The engine and
        the alert state are written together (one script), so they always match."""
        args: list[object] = [offset, snapshot] + ([alerts] if alerts is not None else [])
        return bool(await self._save(keys=[CHECKPOINT], args=args))

    async def write(self, stories: list[dict[str, Any]]) -> None:
        """The latest state of each story; one round trip."""
        if not stories:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for story in stories:
                data = orjson.dumps(story)
                pipe.set(story_key(story["id"]), data, ex=self.story_ttl)
                pipe.zadd(INDEX, {story["id"]: float(story["last_seen"])})
                pipe.publish(LIVE_CHANNEL, data)
            pipe.zremrangebyrank(INDEX, 0, -MAX_LISTED - 1)
            await pipe.execute()


async def query_stories(
    redis: Redis,
    entity: str | None = None,
    since: float | None = None,
    min_sources: int = 1,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Stories, most recently active first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: must be between 1 and {MAX_LIMIT}")
    if since is not None and not math.isfinite(since):
        raise ValueError("since: must be a finite number of epoch seconds")
    floor = "-inf" if since is None else repr(float(since))
    found: list[dict[str, Any]] = []
    offset, batch = 0, max(limit, 50)
    while len(found) < limit and offset < MAX_LISTED:
        ids = await redis.zrevrangebyscore(INDEX, "+inf", floor, start=offset, num=batch)
        if not ids:
            break
        offset += len(ids)
        values = await redis.mget([story_key(i.decode()) for i in ids])
        for value in values:
            if value is None:
                continue  # expired
            story = orjson.loads(value)
            if entity and entity not in story.get("entities", ()):
                continue
            if story.get("sources", 0) < min_sources:
                continue
            found.append(story)
            if len(found) == limit:
                break
    return found


async def get_story(redis: Redis, story_id: str) -> dict[str, Any] | None:
    value = await redis.get(story_key(story_id))
    return None if value is None else orjson.loads(value)
