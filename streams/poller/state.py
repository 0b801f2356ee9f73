"""Per-feed state and the seen-article index in Redis.

Keys (prefix `newswatch:poll:`):
- `feed:{feed_id}`: hash with validators, schedule, health and recent entry times.
- `seen:{feed_id}`: sorted set of dedup keys (article id, canonical-link key) scored by the last
  time the feed listed them; entries older than the TTL are trimmed, and the whole key expires
  when the feed stops being polled.

- `pending`: hash of publish batches in flight (write-ahead intent: batch id -> article ids and
  their dedup keys), written *before* the articles are sent to Kafka.

An article's keys are added only after Kafka acknowledged it, in the same MULTI as the feed's
new validators and the removal of its pending batch. If the process dies between the ack and
that MULTI, the batch is still pending at the next start and `recovery` looks the articles up
in Kafka: those found are marked seen (no duplicate), the others are fetched and published
again (no loss).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

PREFIX = "newswatch:poll:"


@dataclass(slots=True)
class FeedState:
    """What we remember about one feed between polls (and across restarts)."""

    url: str | None = None  # effective URL after a confirmed permanent redirect
    origin: str | None = None  # the configured URL `url` was derived from
    etag: str | None = None
    last_modified: str | None = None
    next_due: float = 0.0
    interval: float | None = None
    last_fetch: float | None = None
    last_success: float | None = None
    last_unconditional: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    error_kind: str | None = None
    error_count: int = 0
    redirect_candidate: str | None = None
    redirect_seen: int = 0
    title: str | None = None
    entry_times: list[float] = field(default_factory=list)

    def to_redis(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if value is None:
                continue
            out[spec.name] = (
                orjson.dumps(value).decode() if spec.name == "entry_times" else str(value)
            )
        return out

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes]) -> FeedState:
        state = cls()
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        for key_b, value_b in raw.items():
            key, value = key_b.decode(), value_b.decode()
            if key not in types:
                continue
            kind = str(types[key])
            try:
                if key == "entry_times":
                    setattr(state, key, [float(v) for v in orjson.loads(value)][:50])
                elif kind.startswith("float"):
                    setattr(state, key, float(value))
                elif kind.startswith("int"):
                    setattr(state, key, int(value))
                else:
                    setattr(state, key, value)
            except (ValueError, TypeError, orjson.JSONDecodeError):
                continue  # a damaged field is forgotten, not fatal
        return state


def feed_key(feed_id: str) -> str:
    return f"{PREFIX}feed:{feed_id}"


def seen_key(feed_id: str) -> str:
    return f"{PREFIX}seen:{feed_id}"


PENDING_KEY = f"{PREFIX}pending"
TTL_REFRESH = 3_600.0  # seconds between EXPIRE refreshes of a feed's keys (TTL is days)
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(FeedState))


def connect(url: str, max_connections: int = 32) -> aioredis.Redis:
    """A client that retries transient connection errors with backoff (redis-py does not by
    default reconnect in a useful way)."""
    # A blocking pool: with hundreds of concurrent polls, callers wait for one of a few dozen
    # connections instead of failing with "Too many connections" (redis-py's default pool).
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=30,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=5),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


class StateStore:
    def __init__(self, client: aioredis.Redis, seen_ttl: float) -> None:
        self.client = client
        self.seen_ttl = seen_ttl
        # Write-behind buffer for state that is cheap to lose (a 304, a failure): flushed in
        # bulk by `flush()`. Losing it in a crash only means a feed is polled a little early.
        self._deferred: dict[str, tuple[dict[str, str], list[str]]] = {}
        # Per feed: the field names last written and when the TTLs were last refreshed, so a
        # routine save is a single HSET (HDEL and EXPIRE only when needed).
        self._written: dict[str, set[str]] = {}
        self._ttl_refreshed: dict[str, float] = {}

    def defer(self, feed_id: str, state: FeedState, still_listed: list[str] | None = None) -> None:
        """Queue a state save (the latest per feed wins) for the next `flush()`."""
        self._deferred[feed_id] = (state.to_redis(), list(still_listed or []))

    async def flush(self) -> int:
        """Write every deferred state in one pipeline; returns how many feeds were written."""
        if not self._deferred:
            return 0
        batch, self._deferred = self._deferred, {}
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                now = time.time()
                for feed_id, (fields, still_listed) in batch.items():
                    self._queue_state(pipe, feed_id, fields, now)
                    if still_listed:
                        pipe.zadd(seen_key(feed_id), dict.fromkeys(still_listed, now), xx=True)
                await pipe.execute()
        except Exception:
            for feed_id, item in batch.items():  # keep them for the next try, unless newer
                self._deferred.setdefault(feed_id, item)
            raise
        return len(batch)

    async def load(self, feed_ids: list[str]) -> dict[str, FeedState]:
        states: dict[str, FeedState] = {}
        for start in range(0, len(feed_ids), 500):
            batch = feed_ids[start : start + 500]
            async with self.client.pipeline(transaction=False) as pipe:
                for feed_id in batch:
                    pipe.hgetall(feed_key(feed_id))
                raws = await pipe.execute()
            for feed_id, raw in zip(batch, raws, strict=True):
                states[feed_id] = FeedState.from_redis(raw) if raw else FeedState()
        return states

    async def unseen(self, feed_id: str, keys: list[tuple[str, ...]]) -> list[bool]:
        """For each entry's key tuple: True when none of its keys was seen before."""
        flat = [k for group in keys for k in group]
        if not flat:
            return []
        scores = await self.client.zmscore(seen_key(feed_id), flat)
        result, i = [], 0
        for group in keys:
            result.append(all(score is None for score in scores[i : i + len(group)]))
            i += len(group)
        return result

    async def begin(self, batch_id: str, feed_id: str, keys: dict[str, list[str]]) -> None:
        """Record the intent to publish (article id -> dedup keys) before sending to Kafka."""
        record = {"feed": feed_id, "t": time.time(), "keys": keys}
        await self.client.hset(PENDING_KEY, batch_id, orjson.dumps(record))

    async def pending(self) -> dict[str, dict]:
        raw = await self.client.hgetall(PENDING_KEY)
        out = {}
        for batch_id, value in raw.items():
            try:
                out[batch_id.decode()] = orjson.loads(value)
            except orjson.JSONDecodeError:
                out[batch_id.decode()] = {"feed": "", "t": 0, "keys": {}}
        return out

    async def resolve(self, batch_id: str, feed_id: str, seen: list[str]) -> None:
        """After recovery: mark the keys of articles found in Kafka seen, drop the batch."""
        async with self.client.pipeline(transaction=True) as pipe:
            if seen and feed_id:
                pipe.zadd(seen_key(feed_id), dict.fromkeys(seen, time.time()))
                pipe.expire(seen_key(feed_id), int(self.seen_ttl))
            pipe.hdel(PENDING_KEY, batch_id)
            await pipe.execute()

    async def commit(
        self,
        feed_id: str,
        state: FeedState,
        seen: list[str],
        batch_id: str | None = None,
        still_listed: list[str] | None = None,
    ) -> None:
        """Save the feed state; with new articles, also mark their keys seen and close the
        pending batch, atomically (MULTI/EXEC). A plain 304 costs one round trip.

        `still_listed`: keys of known articles the feed still lists; their time is refreshed so
        an article that stays in a feed longer than the TTL is never forgotten and republished.
        """
        now = time.time()
        self._deferred.pop(feed_id, None)  # this save is newer
        fields = state.to_redis()
        async with self.client.pipeline(transaction=bool(seen or batch_id)) as pipe:
            if batch_id:
                pipe.hdel(PENDING_KEY, batch_id)
            if seen:
                pipe.zadd(seen_key(feed_id), dict.fromkeys(seen, now))
                pipe.zremrangebyscore(seen_key(feed_id), "-inf", now - self.seen_ttl)
            if still_listed:
                pipe.zadd(seen_key(feed_id), dict.fromkeys(still_listed, now), xx=True)
            self._queue_state(pipe, feed_id, fields, now)
            await pipe.execute()

    def _queue_state(self, pipe, feed_id: str, fields: dict[str, str], now: float) -> None:
        previous = self._written.get(feed_id)
        cleared = [
            n for n in _FIELD_NAMES if n not in fields and (previous is None or n in previous)
        ]
        if cleared:
            pipe.hdel(feed_key(feed_id), *cleared)  # fields that became None must not linger
        pipe.hset(feed_key(feed_id), mapping=fields)
        self._written[feed_id] = set(fields)
        if now - self._ttl_refreshed.get(feed_id, 0.0) > TTL_REFRESH:
            self._ttl_refreshed[feed_id] = now
            pipe.expire(feed_key(feed_id), int(self.seen_ttl))
            pipe.expire(seen_key(feed_id), int(self.seen_ttl))

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except Exception:
            return False
