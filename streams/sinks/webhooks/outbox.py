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
    <p>circuit        HASH  the endpoint's circuit breaker: failures (endpoint failures in a
                            row), and while open: opened (epoch s), probes (failed ones),
                            probe_at (next probe no sooner), probe_id and probe_until (the
                            probe in flight and its lease). Deleted by any success.
    <p>suspects       HASH  alert id -> due score: deliveries rescheduled by the current run
                            of endpoint failures, made due at once if that run opens the circuit

Every state change is one Lua script, so a delivery is always in exactly one place, and the
circuit changes in the same script as the delivery that changes it: every worker process on
the endpoint (and the next one after a restart) sees one circuit.

The circuit (rules in `breaker.py`): `circuit_failures` endpoint failures in a row open it
(or two, when the second would dead-letter its delivery: an endpoint failure dead-letters a
delivery only when it is the first since the endpoint last answered).
While open, a claim returns nothing but, once `probe_at` has come and no probe is in flight,
one delivery: the probe. A delivery that fails while the circuit is open is held: its attempt
is not counted and it waits in `due` at its creation time, so it is due at once (and in order
of creation) when the circuit closes; a failed probe goes behind the others (the next probe
tries another delivery) and pushes `probe_at` along the probe intervals. The first success
closes the circuit. Deliveries that waited in backoff because of the failures that opened it
(`suspects`) are made due at once when it opens, so they wait for the probe, not their backoff.

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
-- KEYS: due, jobs, attempts, circuit   ARGV: now, lease until, max count, gate (1: obey the
-- circuit)
-- Returns {state, probe_at, probe_until, then id, job JSON, attempts per delivery}: state ''
-- (closed), 'open' (nothing may be sent now) or 'probe' (the one delivery is the probe).
local count = ARGV[3]
local state = ''
local circuit = {false, false, false}
if ARGV[4] == '1' then
  circuit = redis.call('HMGET', KEYS[4], 'opened', 'probe_at', 'probe_until')
end
if circuit[1] then
  local now = tonumber(ARGV[1])
  if now < (tonumber(circuit[2]) or 0) or now < (tonumber(circuit[3]) or 0) then
    return {'open', circuit[2] or '', circuit[3] or ''}
  end
  state = 'probe'
  count = 1
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, count)
local out = {state, circuit[2] or '', circuit[3] or ''}
for _, id in ipairs(ids) do
  local job = redis.call('HGET', KEYS[2], id)
  if job then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = job
    out[#out + 1] = redis.call('HGET', KEYS[3], id) or '0'
    if state == 'probe' then
      redis.call('HSET', KEYS[4], 'probe_id', id, 'probe_until', ARGV[2])
    end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
if state == 'probe' and #out == 3 then
  out[1] = 'open'
end
return out
"""

_COMPLETE = """
-- KEYS: jobs, due, attempts, dead, dead_info, dead_at, failing, circuit, suspects, delivered
--       marker per id...
-- ARGV: TTL, ids...
-- (dead too: a delivery in flight when a 410 from another one disabled the endpoint)
-- A success ends the endpoint's failing streak and its run of endpoint failures, and closes
-- its circuit: returns since when the circuit was open ('' when it was closed).
redis.call('DEL', KEYS[7])
local opened = redis.call('HGET', KEYS[8], 'opened') or ''
redis.call('DEL', KEYS[8], KEYS[9])
for i = 2, #ARGV do
  local id = ARGV[i]
  redis.call('SET', KEYS[8 + i], '1', 'EX', ARGV[1])
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
end
return opened
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
-- KEYS: jobs, due, circuit   ARGV: due time ('' = leave it), ids...
-- A released delivery that is the open circuit's probe is no longer in flight: the next
-- probe need not wait for its lease.
local probe = redis.call('HGET', KEYS[3], 'probe_id')
for i = 2, #ARGV do
  if ARGV[1] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
  end
  if probe == ARGV[i] then
    redis.call('HDEL', KEYS[3], 'probe_id', 'probe_until')
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
-- KEYS: disabled, jobs, due, attempts, dead, dead_info, dead_at, circuit, suspects
-- ARGV: disabled JSON, dead-info JSON, now, dead-letter cutoff, dead-letter max
-- Returns {deliveries moved to the dead letters, "expired,over": dead letters dropped}.
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[8], KEYS[9])
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

_FAIL = (
    _TRIM_DEAD
    + """
-- A failed attempt, with the circuit breaker.
-- KEYS: jobs, due, attempts, dead, dead_info, dead_at, failing, circuit, suspects
-- ARGV: 1 id, 2 now, 3 kind (down | answer | other: see breaker.py), 4 attempts made (when
--       the attempt counts), 5 retry due ('' = schedule spent: dead letter), 6 created at,
--       7 dead-info JSON, 8 dead-letter cutoff, 9 dead-letter max, 10 endpoint failures that
--       open the circuit (0: no breaker), 11 next probe no sooner than ('' or epoch s:
--       Retry-After), 12... probe intervals (s)
-- Returns {outcome, failing since, "expired,over" dead letters dropped, detail}; outcome:
--   retry         the attempt counts; due again at ARGV[5]
--   dead          the attempt counts and was the last: moved to the dead letters
--   held          the circuit is open: not counted, due at its creation time (for the close)
--   opened        this failure opened the circuit (detail: failures in a row): the
--                 threshold, or 2+ when this attempt was the last of its schedule; held
--   probe_failed  this was the open circuit's probe (detail: failed probes); not counted,
--                 due now (behind the held ones), next probe after the next interval
--   gone          no longer pending (delivered or dead meanwhile)
-- Every failure starts the failing streak unless one runs (disable_after_days).
local id, now = ARGV[1], tonumber(ARGV[2])
redis.call('SET', KEYS[7], ARGV[2], 'NX')
local since = redis.call('GET', KEYS[7])
if redis.call('HEXISTS', KEYS[1], id) == 0 then
  return {'gone', since, '0,0', ''}
end
local threshold = tonumber(ARGV[10])
local function probe_after(failed)
  local at = now + tonumber(ARGV[12 + math.min(failed, #ARGV - 12)])
  local not_before = tonumber(ARGV[11])
  if not_before and not_before > at then at = not_before end
  return string.format('%.6f', at)
end
local circuit = redis.call('HMGET', KEYS[8], 'opened', 'probe_id')
if threshold > 0 and ARGV[3] == 'down' then
  if circuit[1] then
    if circuit[2] == id then
      local probes = redis.call('HINCRBY', KEYS[8], 'probes', 1)
      redis.call('HSET', KEYS[8], 'probe_at', probe_after(probes))
      redis.call('HDEL', KEYS[8], 'probe_id', 'probe_until')
      redis.call('ZADD', KEYS[2], ARGV[2], id)
      return {'probe_failed', since, '0,0', tostring(probes)}
    end
    redis.call('ZADD', KEYS[2], ARGV[6], id)
    return {'held', since, '0,0', ''}
  end
  local failures = redis.call('HINCRBY', KEYS[8], 'failures', 1)
  -- Also open early rather than dead-letter a delivery in a run of endpoint failures: only
  -- a lone one (the endpoint answered others since) is the delivery's own.
  if failures >= threshold or (ARGV[5] == '' and failures >= 2) then
    redis.call('HSET', KEYS[8], 'opened', ARGV[2], 'probes', 0, 'probe_at', probe_after(0))
    redis.call('ZADD', KEYS[2], ARGV[6], id)
    local suspects = redis.call('HGETALL', KEYS[9])
    for i = 1, #suspects, 2 do
      local other, score = suspects[i], suspects[i + 1]
      -- Still waiting in the backoff that failure gave it (not claimed again since).
      if redis.call('ZSCORE', KEYS[2], other) == score then
        local created = now
        local ok, job = pcall(cjson.decode, redis.call('HGET', KEYS[1], other) or '')
        if ok and type(job) == 'table' and tonumber(job['queued']) then
          created = tonumber(job['queued'])
        end
        redis.call('ZADD', KEYS[2], string.format('%.6f', created), other)
      end
    end
    redis.call('DEL', KEYS[9])
    return {'opened', since, '0,0', tostring(failures)}
  end
elseif threshold > 0 and ARGV[3] == 'answer' then
  if circuit[1] then
    if circuit[2] == id then
      -- The endpoint answered: probe another delivery now.
      redis.call('HSET', KEYS[8], 'probe_at', ARGV[2])
      redis.call('HDEL', KEYS[8], 'probe_id', 'probe_until')
    end
  else
    redis.call('HDEL', KEYS[8], 'failures')
    redis.call('DEL', KEYS[9])
  end
end
if ARGV[5] == '' then
  local job = redis.call('HGET', KEYS[1], id)
  redis.call('HSET', KEYS[4], id, job)
  redis.call('HSET', KEYS[5], id, ARGV[7])
  redis.call('ZADD', KEYS[6], ARGV[2], id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[9], id)
  local expired, over = trim_dead(KEYS[4], KEYS[5], KEYS[6], ARGV[8], ARGV[9])
  return {'dead', since, expired .. ',' .. over, ''}
end
redis.call('HSET', KEYS[3], id, ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], id)
if threshold > 0 and ARGV[3] == 'down' then
  redis.call('HSET', KEYS[9], id, redis.call('ZSCORE', KEYS[2], id))
end
return {'retry', since, '0,0', ''}
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
class Claim:
    """What a claim returned: the deliveries to send, and the circuit as the claim saw it."""

    jobs: list[Job]
    open: bool = False  # the circuit is open: only a probe may be sent
    probe: bool = False  # jobs holds one delivery: the open circuit's probe
    wake_at: float | None = None  # open: no probe before this time (epoch s)


@dataclass(frozen=True, slots=True)
class Failure:
    """How the outbox recorded a failed attempt (see _FAIL): `outcome` retry, dead, held,
    opened, probe_failed or gone; `since` the failing streak's start; `count` the endpoint
    failures in a row that opened the circuit (opened) or the failed probes (probe_failed)."""

    outcome: str
    since: float
    count: int = 0


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
    circuit_opened: float | None = None  # since when the circuit is open; None: closed
    probes: int = 0  # failed probes since it opened


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
        self.circuit = base + "circuit"
        self.suspects = base + "suspects"
        self._delivered = base + "delivered:"
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._complete = redis.register_script(_COMPLETE)
        self._reschedule = redis.register_script(_RESCHEDULE)
        self._release = redis.register_script(_RELEASE)
        self._bury = redis.register_script(_BURY)
        self._fail = redis.register_script(_FAIL)
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
        """Up to `count` due deliveries, leased until `lease_until` (see `claim_due`)."""
        return (await self.claim_due(now, lease_until, count)).jobs

    async def claim_due(
        self, now: float, lease_until: float, count: int, gate: bool = True
    ) -> Claim:
        """Lease up to `count` due deliveries; while the circuit is open (and `gate`, i.e. the
        breaker is on), at most one: the probe, when its time has come."""
        state, probe_at, probe_until, *flat = await self._claim(
            keys=[self.due, self.jobs, self.attempts, self.circuit],
            args=[repr(now), repr(lease_until), count, "1" if gate else "0"],
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
        state = _text(state)
        if not state:
            return Claim(jobs)
        wake = max(float(probe_at or 0.0), float(probe_until or 0.0)) or None
        return Claim(jobs, open=True, probe=state == "probe", wake_at=wake)

    async def complete(self, alert_ids: list[str]) -> float | None:
        """Record deliveries as done: never sent again while the marker lives. A success
        closes the circuit: returns since when it was open (None: it was closed)."""
        if not alert_ids:
            return None
        opened = await self._complete(
            keys=[
                self.jobs,
                self.due,
                self.attempts,
                self.dead,
                self.dead_info,
                self.dead_at,
                self.failing_key,
                self.circuit,
                self.suspects,
                *(self.delivered_key(alert_id) for alert_id in alert_ids),
            ],
            args=[self.delivered_ttl, *alert_ids],
        )
        return float(opened) if opened else None

    async def fail(
        self,
        job: Job,
        *,
        kind: str,
        attempts: int,
        due: float | None,
        reason: str,
        status: int | None,
        now: float,
        open_after: int,
        probe_intervals: Sequence[float],
        not_before: float | None = None,
    ) -> Failure:
        """Record a failed attempt (see _FAIL): counted (retry at `due`, or dead letter when
        `due` is None), or held by the endpoint's circuit. `kind` is the failure's class
        (`breaker.failure_kind`), `open_after` the endpoint failures in a row that open the
        circuit (0: no breaker), `not_before` the earliest next probe (Retry-After)."""
        outcome, since, dropped, detail = await self._fail(
            keys=[
                self.jobs,
                self.due,
                self.attempts,
                self.dead,
                self.dead_info,
                self.dead_at,
                self.failing_key,
                self.circuit,
                self.suspects,
            ],
            args=[
                job.id,
                repr(now),
                kind,
                attempts,
                "" if due is None else repr(due),
                repr(job.queued),
                _info(reason, status, attempts, now),
                self.dead_cutoff(now),
                self.dead_letter_max,
                open_after,
                "" if not_before is None else repr(not_before),
                *(repr(float(step)) for step in probe_intervals or [1.0]),
            ],
        )
        self.count_dropped(*_split(dropped))
        return Failure(_text(outcome), float(since), int(detail or 0))

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
            await self._release(
                keys=[self.jobs, self.due, self.circuit], args=[repr(due), *alert_ids]
            )

    async def unclaim_probe(self, alert_id: str) -> None:
        """A claimed probe that will not be sent: the next probe need not wait for its lease
        (its due time is left as it is)."""
        await self._release(keys=[self.jobs, self.due, self.circuit], args=["", alert_id])

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
                self.circuit,
                self.suspects,
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
        """Deliver to the endpoint again; its failing streak starts afresh, its circuit
        closed. Returns whether it was disabled."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.disabled_key)
            pipe.delete(self.failing_key)
            pipe.delete(self.circuit, self.suspects)
            was_disabled, _, _ = await pipe.execute()
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
            pipe.hmget(self.circuit, "opened", "probes")
            disabled, pending, dead, failing, (opened, probes) = await pipe.execute()
        return Health(
            disabled=None if disabled is None else orjson.loads(disabled),
            pending=int(pending),
            dead=int(dead),
            failing_since=None if failing is None else float(failing),
            circuit_opened=None if opened is None else float(opened),
            probes=int(probes or 0),
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
