"""Stories in Redis: the write side (a sink for the story engine's states) and the read side
of `GET /api/stories` and `GET /api/stories/{id}`.

Keys (all under `newswatch:`):

- `story:<id>` STRING, the story's state as JSON (`StoryEngine` `Assignment.story`), with a
  TTL (`ttl`, 8 days by default: a week of stories plus a day);
- `stories:index` ZSET, story id by `last_seen`, trimmed to `max_index` entries;
- `stories:entity:<entity>` ZSET, the same per catalogue entity, for `?entity=`.

Writes are idempotent and never go back in time: a state replaces the stored one only if it
has at least as many articles, and an open state never replaces a closed one of the same size
(one Lua script, so concurrent writers and at-least-once replays cannot interleave).

The stories agent (agents/story_agent.py) also keeps here:

- `stories:live` PUBLISH channel: each changed story's JSON (a live view only, not a record);
- `stories:checkpoint` HASH {offset, header, alerts}: the engine's header (clock, counters),
  the story alerts' state (agents/stories/alerts.py; absent when story alerts are off) and
  the offset of the last story-input record both hold, written with a fence (a higher offset
  is never replaced by a lower one), so a stale worker cannot roll the state back;
- `stories:checkpoint:stories` HASH story id -> the open story's record: an incremental
  checkpoint writes only the stories that changed and deletes the ones that closed, in the
  same fenced script as the header (`save_checkpoint_records`).

The previous layout kept the whole engine snapshot in the field `engine` of the first hash
(`save_checkpoint`, still used by tools that checkpoint whole); each layout's write removes
the other's, so the first incremental checkpoint after an upgrade migrates it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from newswatch.streams.errors import NewswatchError, SinkError

PREFIX = "newswatch:"
STORIES_INDEX = f"{PREFIX}stories:index"
DEFAULT_TTL = 8 * 86400
DEFAULT_MAX_INDEX = 200_000
MAX_LIMIT = 500
MAX_ENTITY_INDEXES = 20  # per story: its most frequent entities
_STORY_ID = re.compile(r"^st-[0-9a-f]{16}$")
_ENTITY = re.compile(r"^[a-z0-9][a-z0-9_]{0,99}$")
_SCAN_CAP = 20_000


def story_key(story_id: str) -> str:
    return f"{PREFIX}story:{story_id}"


def entity_index(entity: str) -> str:
    return f"{PREFIX}stories:entity:{entity}"


class QueryError(NewswatchError, ValueError):
    """A bad query parameter or story id; the message names it (answer 400)."""


class StoryRecordError(SinkError, ValueError):
    """A story state that cannot be stored; the message says why."""


# KEYS: story key, global index, entity indexes...
# ARGV: json, size, closed (0/1), last_seen, ttl seconds, story id, max index entries
_WRITE = """
local old = redis.call('GET', KEYS[1])
if old then
  local ok, stored = pcall(cjson.decode, old)
  if ok and type(stored) == 'table' then
    local old_size = tonumber(stored['size']) or 0
    local new_size = tonumber(ARGV[2])
    if old_size > new_size then return 0 end
    if old_size == new_size and stored['status'] == 'closed' and ARGV[3] == '0' then
      return 0
    end
  end
  if old == ARGV[1] then
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[5])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[4], ARGV[6])
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[7]) + 1))
end
return 1
"""


def _check_story(story: Mapping[str, Any]) -> tuple[str, int, float, list[str]]:
    story_id = story.get("id")
    if not isinstance(story_id, str) or not _STORY_ID.match(story_id):
        raise StoryRecordError(f"story id {story_id!r} is not st-<16 hex digits>")
    size = story.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise StoryRecordError(f"story {story_id}: size must be a positive integer")
    last_seen = story.get("last_seen")
    if not isinstance(last_seen, int | float) or not math.isfinite(last_seen):
        raise StoryRecordError(f"story {story_id}: last_seen must be finite epoch seconds")
    entities = story.get("entities") or []
    if not isinstance(entities, list):
        raise StoryRecordError(f"story {story_id}: entities must be a list")
    valid = [e for e in entities if isinstance(e, str) and _ENTITY.match(e)]
    return story_id, size, float(last_seen), valid[:MAX_ENTITY_INDEXES]


class RedisStorySink:
    """Stores story states (see the module docstring). One instance per Redis client."""

    def __init__(
        self, redis: Redis, ttl: int = DEFAULT_TTL, max_index: int = DEFAULT_MAX_INDEX
    ) -> None:
        self.redis = redis
        self.ttl = ttl
        self.max_index = max_index
        self._script = redis.register_script(_WRITE)

    async def write(self, story: Mapping[str, Any]) -> bool:
        """Store one state; False if the stored one is as new or newer. Raises
        StoryRecordError for a state that is not a story."""
        keys, args = self._keys_and_args(story)
        return bool(await self._script(keys=keys, args=args))

    async def write_many(
        self, stories: Sequence[Mapping[str, Any]], encoded: Sequence[bytes] | None = None
    ) -> list[bool]:
        """`write` for a batch in one round trip (a pipeline of the script): what the stories
        agent sends after each batch of articles. `encoded`: the stories' JSON when the caller
        made it already (`orjson.dumps` of each). Raises StoryRecordError before writing any
        when one state is not a story."""
        if encoded is None:
            calls = [self._keys_and_args(story) for story in stories]
        else:
            calls = [
                self._keys_and_args(story, raw) for story, raw in zip(stories, encoded, strict=True)
            ]
        if not calls:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await self._script(keys=keys, args=args, client=pipe)
            return [bool(stored) for stored in await pipe.execute()]

    def _keys_and_args(
        self, story: Mapping[str, Any], encoded: bytes | None = None
    ) -> tuple[list[str], list[Any]]:
        story_id, size, last_seen, entities = _check_story(story)
        closed = "1" if story.get("status") == "closed" else "0"
        keys = [story_key(story_id), STORIES_INDEX, *(entity_index(e) for e in entities)]
        args = [
            orjson.dumps(story) if encoded is None else encoded,
            size,
            closed,
            repr(last_seen),
            self.ttl,
            story_id,
            self.max_index,
        ]
        return keys, args


# ---- read side ------------------------------------------------------------------------------


async def query_stories(
    redis: Redis,
    entity: str | None = None,
    since: float | None = None,
    min_sources: int | None = None,
    lang: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Stories by `last_seen`, newest first; `since` (epoch seconds) on `last_seen`."""
    if entity is not None and not _ENTITY.match(entity):
        raise QueryError("entity: must be a lowercase catalogue id (a-z, 0-9, _)")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit: must be between 1 and {MAX_LIMIT}")
    if since is not None and not math.isfinite(since):
        raise QueryError("since: must be a finite number of epoch seconds")
    if min_sources is not None and min_sources < 1:
        raise QueryError("min_sources: must be a positive integer")
    index = entity_index(entity) if entity else STORIES_INDEX
    floor = "-inf" if since is None else repr(float(since))
    batch = min(max(limit, 50), 500)
    found: list[dict[str, Any]] = []
    offset = 0
    while len(found) < limit and offset < _SCAN_CAP:
        ids = await redis.zrevrangebyscore(index, "+inf", floor, start=offset, num=batch)
        if not ids:
            break
        offset += len(ids)
        for raw in await redis.mget([story_key(_text(i)) for i in ids]):
            if raw is None:  # expired
                continue
            story = orjson.loads(raw)
            if min_sources and story.get("sources", 0) < min_sources:
                continue
            if lang and lang not in story.get("languages", ()):
                continue
            found.append(story)
            if len(found) >= limit:
                break
        if len(ids) < batch:
            break
    return found


async def get_story(redis: Redis, story_id: str) -> dict[str, Any] | None:
    if not _STORY_ID.match(story_id):
        raise QueryError("story id: must be st-<16 hex digits>")
    raw = await redis.get(story_key(story_id))
    return None if raw is None else orjson.loads(raw)


def parse_story_query(params: Mapping[str, str]) -> dict[str, Any]:
    """Query-string values -> keyword arguments of `query_stories`; raises QueryError."""
    unknown = set(params) - {"entity", "since", "min_sources", "lang", "limit"}
    if unknown:
        raise QueryError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    if params.get("entity"):
        kwargs["entity"] = params["entity"]
    if params.get("lang"):
        if not re.fullmatch(r"[a-z]{2,3}", params["lang"]):
            raise QueryError("lang: must be a 2- or 3-letter language code")
        kwargs["lang"] = params["lang"]
    for name, kind in (("since", float), ("min_sources", int), ("limit", int)):
        if params.get(name):
            try:
                kwargs[name] = kind(params[name])
            except ValueError:
                raise QueryError(f"{name}: must be a number") from None
    return kwargs


async def stories_response(redis: Redis, params: Mapping[str, str]) -> tuple[int, Any]:
    """`GET /api/stories`: (HTTP status, JSON-ready body)."""
    try:
        stories = await query_stories(redis, **parse_story_query(params))
    except QueryError as exc:
        return 400, {"error": str(exc)}
    return 200, {"stories": stories, "count": len(stories)}


async def story_response(redis: Redis, story_id: str) -> tuple[int, Any]:
    """`GET /api/stories/{id}`: (HTTP status, JSON-ready body)."""
    try:
        story = await get_story(redis, story_id)
    except QueryError as exc:
        return 400, {"error": str(exc)}
    if story is None:
        return 404, {"error": f"no story {story_id}"}
    return 200, story


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# ---- the stories agent's side: checkpoint and live channel ---------------------------------

LIVE_CHANNEL = f"{PREFIX}stories:live"
CHECKPOINT = f"{PREFIX}stories:checkpoint"

CHECKPOINT_STORIES = f"{PREFIX}stories:checkpoint:stories"

# KEYS: checkpoint hash, its stories hash. ARGV: offset, snapshot[, alerts]
_FENCED_SAVE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'offset') or '-1')
if tonumber(ARGV[1]) <= current then return 0 end
redis.call('HSET', KEYS[1], 'offset', ARGV[1], 'engine', ARGV[2])
redis.call('HDEL', KEYS[1], 'header')
redis.call('UNLINK', KEYS[2])
if ARGV[3] then
  redis.call('HSET', KEYS[1], 'alerts', ARGV[3])
else
  redis.call('HDEL', KEYS[1], 'alerts')
end
return 1
"""

#: `save_checkpoint_records` answers: stored, refused (a checkpoint at this offset or later is
#: stored), refused (the stored checkpoint is not the base these changes apply to).
STORED, FENCED, BASE_MOVED = 1, 0, -1

# KEYS: checkpoint hash, its stories hash.
# ARGV: offset, base offset ('full': replace every story), header, '1' + alerts or '0' + '',
#       number of stories n, then n (id, record) pairs, then the ids of closed stories.
# Every check comes before the first write, and the writes cannot fail on checked keys: the
# script applies all of it or nothing.
_FENCED_RECORDS = """
local current = tonumber(redis.call('HGET', KEYS[1], 'offset') or '-1')
if tonumber(ARGV[1]) <= current then return 0 end
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind ~= 'hash' and kind ~= 'none' then
  return redis.error_reply('ERR ' .. KEYS[2] .. ' is not a hash')
end
local full = ARGV[2] == 'full'
if not full then
  if tonumber(ARGV[2]) ~= current or redis.call('HEXISTS', KEYS[1], 'header') == 0 then
    return -1
  end
end
local n = tonumber(ARGV[6])
local last = 6 + 2 * n
if full then redis.call('UNLINK', KEYS[2]) end
local i = 7
while i <= last do
  local stop = math.min(i + 1999, last)
  redis.call('HSET', KEYS[2], unpack(ARGV, i, stop))
  i = stop + 1
end
i = last + 1
while i <= #ARGV do
  local stop = math.min(i + 1999, #ARGV)
  redis.call('HDEL', KEYS[2], unpack(ARGV, i, stop))
  i = stop + 1
end
redis.call('HSET', KEYS[1], 'offset', ARGV[1], 'header', ARGV[3])
redis.call('HDEL', KEYS[1], 'engine')
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'alerts', ARGV[5])
else
  redis.call('HDEL', KEYS[1], 'alerts')
end
return 1
"""

#: Chunked reads of the per-story checkpoint that may start over when a write lands in the
#: middle; then one atomic read (HGETALL in MULTI: consistent, but it holds Redis for the
#: whole state).
LOAD_ATTEMPTS = 3


@dataclass(frozen=True)
class StoredCheckpoint:
    """What `load_checkpoint_state` read. `header` and `stories` (records, any order): the
    per-story layout; `snapshot`: the previous, whole layout; all None/empty: nothing stored
    (offset -1)."""

    offset: int
    header: bytes | None
    stories: list[bytes]
    snapshot: bytes | None
    alerts: bytes | None


def _stored(
    offset: Any, header: Any, engine: Any, alerts: Any, records: Mapping[Any, Any]
) -> StoredCheckpoint:
    if offset is None or (header is None and engine is None):
        return StoredCheckpoint(-1, None, [], None, None)
    alert_state = None if alerts is None else bytes(alerts)
    if header is None:
        return StoredCheckpoint(int(offset), None, [], bytes(engine), alert_state)
    stories = [bytes(raw) for raw in records.values()]
    return StoredCheckpoint(int(offset), bytes(header), stories, None, alert_state)


class StoryStore:
    """What the stories agent keeps in Redis: story states (through `RedisStorySink`), the
    live channel, and the engine's fenced checkpoint."""

    def __init__(self, redis: Redis, ttl: float = DEFAULT_TTL) -> None:
        self.redis = redis
        self.sink = RedisStorySink(redis, ttl=max(1, int(ttl)))
        self._save = redis.register_script(_FENCED_SAVE)
        self._save_records = redis.register_script(_FENCED_RECORDS)

    async def load_checkpoint(self) -> tuple[int, bytes | None]:
        """(offset of the last record the snapshot holds, snapshot) or (-1, None)."""
        offset, engine, _ = await self.load_checkpoint_parts()
        return offset, engine

    async def load_checkpoint_parts(self) -> tuple[int, bytes | None, bytes | None]:
        """(offset, engine snapshot, story alert state) of the whole layout, read at once;
        (-1, None, None) when none is stored."""
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
        return bool(await self._save(keys=[CHECKPOINT, CHECKPOINT_STORIES], args=args))

    async def save_checkpoint_records(
        self,
        offset: int,
        base: int | None,
        header: bytes,
        stories: Mapping[str, bytes],
        closed: Sequence[str],
        alerts: bytes | None = None,
    ) -> int:
        """An incremental checkpoint, in one fenced script: the records of `stories` replace
        the stored ones, the `closed` ids are deleted, the header, alert state and offset are
        replaced. `base`: the offset of the checkpoint these changes apply to (FENCED when
        another is stored: BASE_MOVED), or None when `stories` is every open story (the
        stored ones are all replaced). Returns STORED, FENCED or BASE_MOVED."""
        args: list[object] = [
            offset,
            "full" if base is None else base,
            header,
            "0" if alerts is None else "1",
            b"" if alerts is None else alerts,
            len(stories),
        ]
        for story_id, record in stories.items():
            args += (story_id, record)
        args.extend(closed)
        keys = [CHECKPOINT, CHECKPOINT_STORIES]
        return int(await self._save_records(keys=keys, args=args))

    async def load_checkpoint_state(self, scan_count: int = 1_000) -> StoredCheckpoint:
        """The stored checkpoint in either layout. The stories are read in chunks (HSCAN);
        when a write lands in between (the offset moved), the read starts over, and after
        LOAD_ATTEMPTS such reads it is made in one transaction."""
        fields = ("offset", "header", "engine", "alerts")
        for _ in range(LOAD_ATTEMPTS):
            offset, header, engine, alerts = await self.redis.hmget(CHECKPOINT, *fields)
            if offset is None or header is None:
                return _stored(offset, header, engine, alerts, {})
            # A dict: HSCAN may return a field twice while the hash is being rehashed.
            records = {
                key: raw
                async for key, raw in self.redis.hscan_iter(CHECKPOINT_STORIES, count=scan_count)
            }
            if await self.redis.hget(CHECKPOINT, "offset") == offset:
                return _stored(offset, header, engine, alerts, records)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(CHECKPOINT, *fields)
            pipe.hgetall(CHECKPOINT_STORIES)
            (offset, header, engine, alerts), records = await pipe.execute()
        return _stored(offset, header, engine, alerts, records if header is not None else {})

    async def write(
        self, stories: list[dict[str, Any]], encoded: list[bytes] | None = None
    ) -> None:
        """The latest state of each story, and a live message for each that changed: two
        round trips per batch, whatever its size. `encoded`: the stories' JSON when the
        caller made it already (the stories agent sends the same bytes to Kafka)."""
        if encoded is None:
            encoded = [orjson.dumps(story) for story in stories]
        stored = await self.sink.write_many(stories, encoded)
        changed = [raw for raw, ok in zip(encoded, stored, strict=True) if ok]
        if changed:
            async with self.redis.pipeline(transaction=False) as pipe:
                for raw in changed:
                    pipe.publish(LIVE_CHANNEL, raw)
                await pipe.execute()
