"""The durable webhook outbox in Redis, one set of keys per endpoint.

    <p> = newswatch:webhooks:<endpoint>:
    <p>due            ZSET  alert id -> due time (epoch s); a claimed delivery is pushed to
                            now + lease, so a killed worker's deliveries come due again
    <p>jobs           HASH  alert id -> job JSON (body, content type, queued)
    <p>attempts       HASH  alert id -> attempts made
    <p>delivered:<id> STRING with TTL: delivered, never send again
    <p>dead           HASH  alert id -> job JSON
    <p>dead_info      HASH  alert id -> why it died (reason, status, attempts, at)
    <p>dead_at        ZSET  alert id -> when it died: the index that caps the dead letters
    <p>failing        STRING since when every delivery has failed (epoch s); deleted by the
                            first success (and by `enable`)
    <p>disabled       STRING why the endpoint is disabled (HTTP 410, or failing for days)

Every state change is one Lua script, so a delivery is always in exactly one place.

Dead letters are bounded: every script that adds some drops those older than the TTL and then
the oldest beyond the per-endpoint maximum (`prune_dead` does the same on a timer, for an
endpoint that no longer gets new ones). The scripts return how many they dropped, for the
`newswatch_webhook_dead_letters_dropped_total` counter.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from newswatch.streams.sinks.metrics import WEBHOOK_DEAD_LETTERS_DROPPED

PREFIX = "newswatch:webhooks:"

DEFAULT_DEAD_MAX = 10_000
DEFAULT_DEAD_TTL = 14 * 86_400

# Shared by the scripts that add dead letters: drop those that died before `cutoff`, then the
# oldest beyond `max`; returns the two counts. At most 1,000 expired ones per call (the rest
# go on the next call), so one call never holds Redis for long.
_TRIM_DEAD = """
local function trim_dead(dead, dead_info, dead_at, cutoff, max)
  local expired = redis.call('ZRANGEBYSCORE', dead_at, '-inf', '(' .. cutoff, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    redis.call('HDEL', dead, id)
    redis.call('HDEL', dead_info, id)
    redis.call('ZREM', dead_at, id)
  end
  local over = redis.call('ZCARD', dead_at) - tonumber(max)
  if over > 0 then
    local oldest = redis.call('ZRANGE', dead_at, 0, over - 1)
    for _, id in ipairs(oldest) do
      redis.call('HDEL', dead, id)
      redis.call('HDEL', dead_info, id)
    end
    redis.call('ZREMRANGEBYRANK', dead_at, 0, over - 1)
  else
    over = 0
  end
  return #expired, over
end
"""

_ENQUEUE = (
    _TRIM_DEAD
    + """
-- Queue deliveries for one or more endpoints in one call.
-- ARGV: now, dead-info JSON (used when an endpoint is disabled), dead-letter cutoff, dead-letter
--       max, then per endpoint: n, then n pairs (id, job JSON)
-- KEYS: per endpoint, in the same order: jobs, due, dead, disabled, dead_info, dead_at, then
--       the n delivered markers
-- Returns one string (cheaper to parse than an array), one segment per endpoint group,
-- separated by ';': one digit per delivery (1 queued, 0 already queued/delivered/dead,
-- 2 endpoint disabled: went to the dead letters), ',', dead letters dropped as expired, ',',
-- dropped as over the maximum.
local now, info, cutoff, max = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local segments = {}
local k, a = 1, 5
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  a = a + 1
  local jobs, due, dead = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local disabled, dead_info, dead_at = KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local is_disabled = redis.call('EXISTS', disabled) == 1
  local buried = 0
  local out = {}
  for i = 1, n do
    local id, job = ARGV[a], ARGV[a + 1]
    a = a + 2
    if redis.call('EXISTS', KEYS[k + 5 + i]) == 1
      or redis.call('HEXISTS', dead, id) == 1
      or redis.call('HEXISTS', jobs, id) == 1 then
      out[#out + 1] = '0'
    elseif is_disabled then
      redis.call('HSET', dead, id, job)
      redis.call('HSET', dead_info, id, info)
      redis.call('ZADD', dead_at, now, id)
      buried = buried + 1
      out[#out + 1] = '2'
    else
      redis.call('HSET', jobs, id, job)
      redis.call('ZADD', due, now, id)
      out[#out + 1] = '1'
    end
  end
  local expired, over = 0, 0
  if buried > 0 then
    expired, over = trim_dead(dead, dead_info, dead_at, cutoff, max)
  end
  segments[#segments + 1] = table.concat(out) .. ',' .. expired .. ',' .. over
  k = k + 6 + n
end
return table.concat(segments, ';')
"""
)

_CLAIM = """
-- KEYS: due, jobs, attempts   ARGV: now, lease until, max count
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  local job = redis.call('HGET', KEYS[2], id)
  if job then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = job
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or '0'
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

_COMPLETE = """
-- KEYS: jobs, due, attempts, dead, dead_info, dead_at, failing, delivered marker per id...
-- ARGV: TTL, ids...
-- (dead too: a delivery in flight when a 410 from another one disabled the endpoint)
-- A success ends the endpoint's failing streak.
redis.call('DEL', KEYS[7])
for i = 2, #ARGV do
  local id = ARGV[i]
  redis.call('SET', KEYS[6 + i], '1', 'EX', ARGV[1])
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
end
return #ARGV - 1
"""

_RESCHEDULE = """
-- KEYS: jobs, due, attempts, failing   ARGV: id, due time, attempts, now
-- A failed attempt: starts the failing streak unless one runs; returns its start.
redis.call('SET', KEYS[4], ARGV[4], 'NX')
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
return redis.call('GET', KEYS[4])
"""

_RELEASE = """
-- KEYS: jobs, due   ARGV: due time, ids...
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
  end
end
return 1
"""

_BURY = (
    _TRIM_DEAD
    + """
-- KEYS: jobs, due, attempts, dead, dead_info, dead_at, failing
-- ARGV: id, dead-info JSON, now, dead-letter cutoff, dead-letter max
-- Returns {failing since, "expired,over": dead letters dropped}. The last attempt failed:
-- as in _RESCHEDULE, it starts the failing streak unless one runs.
redis.call('SET', KEYS[7], ARGV[3], 'NX')
local dropped = '0,0'
local job = redis.call('HGET', KEYS[1], ARGV[1])
if job then
  redis.call('HSET', KEYS[4], ARGV[1], job)
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  local expired, over = trim_dead(KEYS[4], KEYS[5], KEYS[6], ARGV[4], ARGV[5])
  dropped = expired .. ',' .. over
end
return {redis.call('GET', KEYS[7]), dropped}
"""
)

_DISABLE = (
    _TRIM_DEAD
    + """
-- KEYS: disabled, jobs, due, attempts, dead, dead_info, dead_at
-- ARGV: disabled JSON, dead-info JSON, now, dead-letter cutoff, dead-letter max
-- Returns {deliveries moved to the dead letters, "expired,over": dead letters dropped}.
redis.call('SET', KEYS[1], ARGV[1])
local jobs = redis.call('HGETALL', KEYS[2])
for i = 1, #jobs, 2 do
  redis.call('HSET', KEYS[5], jobs[i], jobs[i + 1])
  redis.call('HSET', KEYS[6], jobs[i], ARGV[2])
  redis.call('ZADD', KEYS[7], ARGV[3], jobs[i])
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
local expired, over = trim_dead(KEYS[5], KEYS[6], KEYS[7], ARGV[4], ARGV[5])
return {#jobs / 2, expired .. ',' .. over}
"""
)

_PRUNE = (
    _TRIM_DEAD
    + """
-- KEYS: dead, dead_info, dead_at   ARGV: now, dead-letter cutoff, dead-letter max
-- Dead letters written before the index existed get one (their recorded time, else now).
if redis.call('HLEN', KEYS[1]) > redis.call('ZCARD', KEYS[3]) then
  for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
    if not redis.call('ZSCORE', KEYS[3], id) then
      local at = tonumber(ARGV[1])
      local raw = redis.call('HGET', KEYS[2], id)
      if raw then
        local ok, info = pcall(cjson.decode, raw)
        if ok and type(info) == 'table' and tonumber(info['at']) then at = tonumber(info['at']) end
      end
      redis.call('ZADD', KEYS[3], at, id)
    end
  end
end
local expired, over = trim_dead(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[3])
return {expired, over}
"""
)

_REPLAY = """
-- KEYS: dead, dead_info, jobs, due, attempts, dead_at   ARGV: now, ids... (none = all)
local ids = {}
if #ARGV > 1 then
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('HKEYS', KEYS[1])
end
local moved = 0
for _, id in ipairs(ids) do
  local job = redis.call('HGET', KEYS[1], id)
  if job then
    redis.call('HSET', KEYS[3], id, job)
    redis.call('ZADD', KEYS[4], ARGV[1], id)
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[5], id)
    redis.call('ZREM', KEYS[6], id)
    moved = moved + 1
  end
end
return moved
"""


# (alert id, body, content type): one delivery to queue.
Delivery = tuple[str, bytes, str]

# Deliveries per enqueue call: bounds the time one Lua call holds Redis (about 1 ms per 400).
ENQUEUE_CHUNK = 1_000


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery."""

    id: str
    body: bytes
    content_type: str
    queued: float
    attempts: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    endpoint: str
    reason: str
    status: int | None
    attempts: int
    at: float
    body: bytes


@dataclass(frozen=True, slots=True)
class Health:
    """One endpoint's state, read in one round trip."""

    disabled: dict[str, Any] | None
    pending: int
    dead: int
    failing_since: float | None


class Outbox:
    """The Redis side of one endpoint's deliveries.

    `dead_letter_max` and `dead_letter_ttl` (seconds) bound the dead letters (see the module
    doc); `dropped` counts those dropped by this object's calls, by reason ("ttl", "cap"),
    for whoever reports metrics.
    """

    def __init__(
        self,
        redis: Redis,
        endpoint: str,
        delivered_ttl: int,
        dead_letter_max: int = DEFAULT_DEAD_MAX,
        dead_letter_ttl: float = DEFAULT_DEAD_TTL,
    ) -> None:
        self.redis = redis
        self.endpoint = endpoint
        self.delivered_ttl = max(1, delivered_ttl)
        self.dead_letter_max = max(1, dead_letter_max)
        self.dead_letter_ttl = max(1.0, dead_letter_ttl)
        base = f"{PREFIX}{endpoint}:"
        self.due = base + "due"
        self.jobs = base + "jobs"
        self.attempts = base + "attempts"
        self.dead = base + "dead"
        self.dead_info = base + "dead_info"
        self.dead_at = base + "dead_at"
        self.failing_key = base + "failing"
        self.disabled_key = base + "disabled"
        self._delivered = base + "delivered:"
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._complete = redis.register_script(_COMPLETE)
        self._reschedule = redis.register_script(_RESCHEDULE)
        self._release = redis.register_script(_RELEASE)
        self._bury = redis.register_script(_BURY)
        self._disable = redis.register_script(_DISABLE)
        self._replay = redis.register_script(_REPLAY)
        self._prune = redis.register_script(_PRUNE)

    def count_dropped(self, expired: int, over: int) -> None:
        """Count dead letters dropped by a script (metric by endpoint and reason)."""
        if expired:
            WEBHOOK_DEAD_LETTERS_DROPPED.labels(self.endpoint, "ttl").inc(expired)
        if over:
            WEBHOOK_DEAD_LETTERS_DROPPED.labels(self.endpoint, "cap").inc(over)

    def dead_cutoff(self, now: float) -> str:
        """Dead letters that died before this time have expired."""
        return repr(now - self.dead_letter_ttl)

    @property
    def identity(self) -> tuple[object, ...]:
        """Which outbox this is: Redis server, database and endpoint."""
        options = self.redis.connection_pool.connection_kwargs
        where = (options.get("host"), options.get("port"), options.get("path"))
        return (*where, options.get("db", 0), self.endpoint)

    def delivered_key(self, alert_id: str) -> str:
        return self._delivered + alert_id

    async def enqueue(self, alert_id: str, body: bytes, content_type: str, now: float) -> int:
        """1 queued, 0 already queued/delivered/dead, 2 endpoint disabled (went to dead letters)."""
        ((code,),) = await enqueue_many([(self, [(alert_id, body, content_type)])], now)
        return code

    async def claim(self, now: float, lease_until: float, count: int) -> list[Job]:
        flat = await self._claim(
            keys=[self.due, self.jobs, self.attempts], args=[repr(now), repr(lease_until), count]
        )
        jobs = []
        for i in range(0, len(flat), 3):
            data = orjson.loads(flat[i + 1])
            jobs.append(
                Job(
                    id=_text(flat[i]),
                    body=data["body"].encode(),
                    content_type=data["content_type"],
                    queued=float(data["queued"]),
                    attempts=int(flat[i + 2]),
                )
            )
        return jobs

    async def complete(self, alert_ids: list[str]) -> None:
        """Record deliveries as done: never sent again while the marker lives."""
        if not alert_ids:
            return
        await self._complete(
            keys=[
                self.jobs,
                self.due,
                self.attempts,
                self.dead,
                self.dead_info,
                self.dead_at,
                self.failing_key,
                *(self.delivered_key(alert_id) for alert_id in alert_ids),
            ],
            args=[self.delivered_ttl, *alert_ids],
        )

    async def reschedule(
        self, alert_id: str, due: float, attempts: int, now: float | None = None
    ) -> float:
        """Record a failed attempt and its retry; returns since when the endpoint has been
        failing (this failure, unless a streak runs)."""
        now = time.time() if now is None else now
        since = await self._reschedule(
            keys=[self.jobs, self.due, self.attempts, self.failing_key],
            args=[alert_id, repr(due), attempts, repr(now)],
        )
        return float(since)

    async def release(self, alert_ids: list[str], due: float) -> None:
        """Make claimed deliveries due at `due` (a clean shutdown hands them to the next worker
        with `due` = now); ids no longer pending are left alone."""
        if alert_ids:
            await self._release(keys=[self.jobs, self.due], args=[repr(due), *alert_ids])

    async def bury(
        self, alert_id: str, reason: str, status: int | None, attempts: int, now: float
    ) -> tuple[float, int]:
        """Move a delivery to the dead letters (its last attempt failed); returns (failing
        since, dead letters dropped to stay within the TTL and maximum)."""
        since, dropped = await self._bury(
            keys=[
                self.jobs,
                self.due,
                self.attempts,
                self.dead,
                self.dead_info,
                self.dead_at,
                self.failing_key,
            ],
            args=[
                alert_id,
                _info(reason, status, attempts, now),
                repr(now),
                self.dead_cutoff(now),
                self.dead_letter_max,
            ],
        )
        self.count_dropped(*_split(dropped))
        return float(since), sum(_split(dropped))

    async def disable(self, reason: str, status: int | None, now: float) -> tuple[int, int]:
        """Disable the endpoint and move its pending deliveries to the dead letters; returns
        (deliveries moved, dead letters dropped to stay within the TTL and maximum)."""
        moved, dropped = await self._disable(
            keys=[
                self.disabled_key,
                self.jobs,
                self.due,
                self.attempts,
                self.dead,
                self.dead_info,
                self.dead_at,
            ],
            args=[
                orjson.dumps({"reason": reason, "status": status, "at": now}),
                _info("endpoint disabled", status, 0, now),
                repr(now),
                self.dead_cutoff(now),
                self.dead_letter_max,
            ],
        )
        self.count_dropped(*_split(dropped))
        return int(moved), sum(_split(dropped))

    async def enable(self) -> bool:
        """Deliver to the endpoint again; its failing streak starts afresh. Returns whether
        it was disabled."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.disabled_key)
            pipe.delete(self.failing_key)
            was_disabled, _ = await pipe.execute()
        return bool(was_disabled)

    async def disabled(self) -> dict[str, Any] | None:
        raw = await self.redis.get(self.disabled_key)
        return None if raw is None else orjson.loads(raw)

    async def failing_since(self) -> float | None:
        raw = await self.redis.get(self.failing_key)
        return None if raw is None else float(raw)

    async def health(self) -> Health:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.disabled_key)
            pipe.hlen(self.jobs)
            pipe.hlen(self.dead)
            pipe.get(self.failing_key)
            disabled, pending, dead, failing = await pipe.execute()
        return Health(
            disabled=None if disabled is None else orjson.loads(disabled),
            pending=int(pending),
            dead=int(dead),
            failing_since=None if failing is None else float(failing),
        )

    async def prune_dead(self, now: float | None = None) -> tuple[int, int]:
        """Drop dead letters older than the TTL, then the oldest beyond the maximum; returns
        how many (expired, over the maximum). At most 1,000 expired ones per call."""
        now = time.time() if now is None else now
        expired, over = await self._prune(
            keys=[self.dead, self.dead_info, self.dead_at],
            args=[repr(now), self.dead_cutoff(now), self.dead_letter_max],
        )
        self.count_dropped(int(expired), int(over))
        return int(expired), int(over)

    async def replay(self, alert_ids: list[str] | None = None, now: float | None = None) -> int:
        """Move dead letters (all, or these ids) back into the outbox, due now."""
        now = time.time() if now is None else now
        return int(
            await self._replay(
                keys=[self.dead, self.dead_info, self.jobs, self.due, self.attempts, self.dead_at],
                args=[repr(now), *(alert_ids or [])],
            )
        )

    async def purge(self, alert_ids: list[str] | None = None) -> int:
        """Delete dead letters (all, or these ids) for good."""
        if alert_ids is None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hlen(self.dead)
                pipe.delete(self.dead, self.dead_info, self.dead_at)
                count, _ = await pipe.execute()
            return int(count)
        if not alert_ids:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.dead, *alert_ids)
            pipe.hdel(self.dead_info, *alert_ids)
            pipe.zrem(self.dead_at, *alert_ids)
            count, _, _ = await pipe.execute()
        return int(count)

    async def dead_letters(self) -> list[DeadLetter]:
        jobs = await self.redis.hgetall(self.dead)
        infos = await self.redis.hgetall(self.dead_info)
        letters = []
        for raw_id, raw_job in jobs.items():
            info = orjson.loads(infos.get(raw_id, b"{}"))
            letters.append(
                DeadLetter(
                    id=_text(raw_id),
                    endpoint=self.endpoint,
                    reason=info.get("reason", "unknown"),
                    status=info.get("status"),
                    attempts=int(info.get("attempts", 0)),
                    at=float(info.get("at", 0.0)),
                    body=orjson.loads(raw_job)["body"].encode(),
                )
            )
        return sorted(letters, key=lambda letter: (letter.at, letter.id))

    async def counts(self) -> dict[str, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hlen(self.jobs)
            pipe.hlen(self.dead)
            pending, dead = await pipe.execute()
        return {"pending": int(pending), "dead": int(dead)}


async def enqueue_many(
    batches: Sequence[tuple[Outbox, Sequence[Delivery]]], now: float
) -> list[list[int]]:
    """Queue deliveries for several endpoints' outboxes (all on one Redis client): one Lua call
    per ENQUEUE_CHUNK deliveries, several calls pipelined in one round trip.

    Idempotent per alert id and endpoint, like `Outbox.enqueue`; returns its codes, one list
    per batch, in order.
    """
    flat = [
        (index, outbox, item) for index, (outbox, items) in enumerate(batches) for item in items
    ]
    results: list[list[int]] = [[] for _ in batches]
    if not flat:
        return results
    info = _info("endpoint disabled", None, 0, now)
    first = flat[0][1]  # the dead-letter bounds are the same for every endpoint
    bounds = (first.dead_cutoff(now), first.dead_letter_max)
    calls = [
        _enqueue_call(flat[i : i + ENQUEUE_CHUNK], now, info, bounds)
        for i in range(0, len(flat), ENQUEUE_CHUNK)
    ]
    groups = [outboxes for _, _, outboxes in calls]
    script = first._enqueue
    if len(calls) == 1:
        replies = [await script(keys=calls[0][0], args=calls[0][1])]
    else:
        async with first.redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in calls:
                await script(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
    codes: list[int] = []
    for reply, outboxes in zip(replies, groups, strict=True):
        for segment, outbox in zip(_text(reply).split(";"), outboxes, strict=True):
            digits, expired, over = segment.split(",")
            codes += [int(code) for code in digits]
            outbox.count_dropped(int(expired), int(over))
    for (index, _, _), code in zip(flat, codes, strict=True):
        results[index].append(code)
    return results


def _enqueue_call(
    chunk: list[tuple[int, Outbox, Delivery]], now: float, info: bytes, bounds: tuple[str, int]
) -> tuple[list[str], list[Any], list[Outbox]]:
    """KEYS and ARGV of one _ENQUEUE call, and the outbox of each group: consecutive
    deliveries of an outbox form a group."""
    keys: list[str] = []
    outboxes: list[Outbox] = []
    args: list[Any] = [repr(now), info, *bounds]
    i = 0
    while i < len(chunk):
        outbox = chunk[i][1]
        j = i
        while j < len(chunk) and chunk[j][1] is outbox:
            j += 1
        group = [item for _, _, item in chunk[i:j]]
        outboxes.append(outbox)
        keys += [
            outbox.jobs,
            outbox.due,
            outbox.dead,
            outbox.disabled_key,
            outbox.dead_info,
            outbox.dead_at,
        ]
        keys += [outbox.delivered_key(alert_id) for alert_id, _, _ in group]
        args.append(len(group))
        for alert_id, body, content_type in group:
            job = {"body": body.decode(), "content_type": content_type, "queued": now}
            args += [alert_id, orjson.dumps(job)]
        i = j
    return keys, args, outboxes


def _info(reason: str, status: int | None, attempts: int, now: float) -> bytes:
    return orjson.dumps({"reason": reason, "status": status, "attempts": attempts, "at": now})


def _split(pair: bytes | str) -> tuple[int, int]:
    """ "expired,over" from a script -> (expired, over)."""
    expired, _, over = _text(pair).partition(",")
    return int(expired), int(over)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
