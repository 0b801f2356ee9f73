"""The durable webhook outbox in Redis, one set of keys per endpoint.

    <p> = newswatch:webhooks:<endpoint>:
    <p>due            ZSET  alert id -> due time (epoch s); a claimed delivery is pushed to
                            now + lease, so a killed worker's deliveries come due again
    <p>jobs           HASH  alert id -> job JSON (body, content type, queued)
    <p>attempts       HASH  alert id -> attempts made
    <p>delivered:<id> STRING with TTL: delivered, never send again
    <p>dead           HASH  alert id -> job JSON
    <p>dead_info      HASH  alert id -> why it died (reason, status, attempts, at)
    <p>disabled       STRING why the endpoint is disabled (after HTTP 410)

Every state change is one Lua script, so a delivery is always in exactly one place.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

PREFIX = "newswatch:webhooks:"

_ENQUEUE = """
-- Queue deliveries for one or more endpoints in one call.
-- ARGV: now, dead-info JSON (used when an endpoint is disabled), then per endpoint:
--       n, then n pairs (id, job JSON)
-- KEYS: per endpoint, in the same order: jobs, due, dead, disabled, dead_info, then the
--       n delivered markers
-- Returns one digit per delivery, as one string (cheaper to parse than an array):
-- 1 queued, 0 already queued/delivered/dead, 2 endpoint disabled (went to the dead letters).
local now, info = ARGV[1], ARGV[2]
local out = {}
local k, a = 1, 3
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  a = a + 1
  local jobs, due, dead = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local disabled, dead_info = KEYS[k + 3], KEYS[k + 4]
  local is_disabled = redis.call('EXISTS', disabled) == 1
  for i = 1, n do
    local id, job = ARGV[a], ARGV[a + 1]
    a = a + 2
    if redis.call('EXISTS', KEYS[k + 4 + i]) == 1
      or redis.call('HEXISTS', dead, id) == 1
      or redis.call('HEXISTS', jobs, id) == 1 then
      out[#out + 1] = '0'
    elseif is_disabled then
      redis.call('HSET', dead, id, job)
      redis.call('HSET', dead_info, id, info)
      out[#out + 1] = '2'
    else
      redis.call('HSET', jobs, id, job)
      redis.call('ZADD', due, now, id)
      out[#out + 1] = '1'
    end
  end
  k = k + 5 + n
end
return table.concat(out)
"""

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
-- KEYS: jobs, due, attempts, dead, dead_info, delivered marker per id...   ARGV: TTL, ids...
-- (dead too: a delivery in flight when a 410 from another one disabled the endpoint)
for i = 2, #ARGV do
  local id = ARGV[i]
  redis.call('SET', KEYS[4 + i], '1', 'EX', ARGV[1])
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
end
return #ARGV - 1
"""

_RESCHEDULE = """
-- KEYS: jobs, due, attempts   ARGV: id, due time, attempts
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
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

_BURY = """
-- KEYS: jobs, due, attempts, dead, dead_info   ARGV: id, dead-info JSON
local job = redis.call('HGET', KEYS[1], ARGV[1])
if not job then return 0 end
redis.call('HSET', KEYS[4], ARGV[1], job)
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

_DISABLE = """
-- KEYS: disabled, jobs, due, attempts, dead, dead_info   ARGV: disabled JSON, dead-info JSON
redis.call('SET', KEYS[1], ARGV[1])
local jobs = redis.call('HGETALL', KEYS[2])
for i = 1, #jobs, 2 do
  redis.call('HSET', KEYS[5], jobs[i], jobs[i + 1])
  redis.call('HSET', KEYS[6], jobs[i], ARGV[2])
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return #jobs / 2
"""

_REPLAY = """
-- KEYS: dead, dead_info, jobs, due, attempts   ARGV: now, ids... (none = all)
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


class Outbox:
    """The Redis side of one endpoint's deliveries."""

    def __init__(self, redis: Redis, endpoint: str, delivered_ttl: int) -> None:
        self.redis = redis
        self.endpoint = endpoint
        self.delivered_ttl = max(1, delivered_ttl)
        base = f"{PREFIX}{endpoint}:"
        self.due = base + "due"
        self.jobs = base + "jobs"
        self.attempts = base + "attempts"
        self.dead = base + "dead"
        self.dead_info = base + "dead_info"
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
                *(self.delivered_key(alert_id) for alert_id in alert_ids),
            ],
            args=[self.delivered_ttl, *alert_ids],
        )

    async def reschedule(self, alert_id: str, due: float, attempts: int) -> None:
        await self._reschedule(
            keys=[self.jobs, self.due, self.attempts], args=[alert_id, repr(due), attempts]
        )

    async def release(self, alert_ids: list[str], due: float) -> None:
        """Make claimed deliveries due at `due` (a clean shutdown hands them to the next worker
        with `due` = now); ids no longer pending are left alone."""
        if alert_ids:
            await self._release(keys=[self.jobs, self.due], args=[repr(due), *alert_ids])

    async def bury(
        self, alert_id: str, reason: str, status: int | None, attempts: int, now: float
    ) -> None:
        await self._bury(
            keys=[self.jobs, self.due, self.attempts, self.dead, self.dead_info],
            args=[alert_id, _info(reason, status, attempts, now)],
        )

    async def disable(self, reason: str, status: int | None, now: float) -> int:
        """Disable the endpoint and move its pending deliveries to the dead letters."""
        return int(
            await self._disable(
                keys=[
                    self.disabled_key,
                    self.jobs,
                    self.due,
                    self.attempts,
                    self.dead,
                    self.dead_info,
                ],
                args=[
                    orjson.dumps({"reason": reason, "status": status, "at": now}),
                    _info("endpoint disabled", status, 0, now),
                ],
            )
        )

    async def enable(self) -> bool:
        return bool(await self.redis.delete(self.disabled_key))

    async def disabled(self) -> dict[str, Any] | None:
        raw = await self.redis.get(self.disabled_key)
        return None if raw is None else orjson.loads(raw)

    async def replay(self, alert_ids: list[str] | None = None, now: float | None = None) -> int:
        """Move dead letters (all, or these ids) back into the outbox, due now."""
        now = time.time() if now is None else now
        return int(
            await self._replay(
                keys=[self.dead, self.dead_info, self.jobs, self.due, self.attempts],
                args=[repr(now), *(alert_ids or [])],
            )
        )

    async def purge(self, alert_ids: list[str] | None = None) -> int:
        """Delete dead letters (all, or these ids) for good."""
        if alert_ids is None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hlen(self.dead)
                pipe.delete(self.dead, self.dead_info)
                count, _ = await pipe.execute()
            return int(count)
        if not alert_ids:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.dead, *alert_ids)
            pipe.hdel(self.dead_info, *alert_ids)
            count, _ = await pipe.execute()
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
    calls = [
        _enqueue_call(flat[i : i + ENQUEUE_CHUNK], now, info)
        for i in range(0, len(flat), ENQUEUE_CHUNK)
    ]
    script = flat[0][1]._enqueue
    if len(calls) == 1:
        replies = [await script(keys=calls[0][0], args=calls[0][1])]
    else:
        async with flat[0][1].redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await script(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
    codes = [int(code) for reply in replies for code in _text(reply)]
    for (index, _, _), code in zip(flat, codes, strict=True):
        results[index].append(code)
    return results


def _enqueue_call(
    chunk: list[tuple[int, Outbox, Delivery]], now: float, info: bytes
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of one _ENQUEUE call: consecutive deliveries of an outbox form a group."""
    keys: list[str] = []
    args: list[Any] = [repr(now), info]
    i = 0
    while i < len(chunk):
        outbox = chunk[i][1]
        j = i
        while j < len(chunk) and chunk[j][1] is outbox:
            j += 1
        group = [item for _, _, item in chunk[i:j]]
        keys += [outbox.jobs, outbox.due, outbox.dead, outbox.disabled_key, outbox.dead_info]
        keys += [outbox.delivered_key(alert_id) for alert_id, _, _ in group]
        args.append(len(group))
        for alert_id, body, content_type in group:
            job = {"body": body.decode(), "content_type": content_type, "queued": now}
            args += [alert_id, orjson.dumps(job)]
        i = j
    return keys, args


def _info(reason: str, status: int | None, attempts: int, now: float) -> bytes:
    return orjson.dumps({"reason": reason, "status": status, "attempts": attempts, "at": now})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
