"""The Redis alert sink: one Lua script makes each alert appear exactly once.

The script (`redis_sink.lua`) does, atomically: `SET NX` the alert key with the dedup TTL, `XADD`
the alert to the `newswatch:alerts` stream (approximate MAXLEN), index it by time globally and
per entity and theme (ZSETs), count it in an hourly stats hash for `/api/stats`, and `PUBLISH`
it on `newswatch:alerts:live`. A replayed alert finds its key and changes nothing.

Story alerts (agents/stories/alerts.py): the creation (kind "story") is written like any
alert. An update (kind "story_update") runs `UPDATE_SCRIPT`: `SET NX` its own key (its id is
deterministic: the dedup marker), then overwrite the key of the alert it updates (`update_of`)
with the alert as of this update (its own id and kind "story", the update's story fields,
`sequence` and `reasons`), so that key always holds the alert's latest state; `XADD` the
update to the stream (one entry per update event: the stream is the history) and `PUBLISH`
it. Updates are not counted in the stats hash nor added to the time indexes: those count
alerts, and the alert is already there. Creation and updates of one alert share a Kafka key,
hence a partition, so they arrive in order.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from redis.asyncio import Redis

from newswatch.streams.records import Alert
from newswatch.streams.settings import Settings
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.metrics import REDIS_ALERTS_WRITTEN
from newswatch.streams.sinks.retry import retry_forever

SCRIPT = (Path(__file__).with_name("redis_sink.lua")).read_text(encoding="utf-8")
UPDATE_SCRIPT = """
-- KEYS[1] the update's key  KEYS[2] the key of the alert it updates  KEYS[3] stream
-- ARGV[1] update id  ARGV[2] JSON  ARGV[3] TTL (s)  ARGV[4] stream MAXLEN (~)  ARGV[5] channel
-- ARGV[6] the alert as of this update (JSON)
local found = redis.call('TYPE', KEYS[3])['ok']
if found ~= 'none' and found ~= 'stream' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[3] .. ' holds a ' .. found .. ', not a stream')
end
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  return 0
end
redis.call('SET', KEYS[2], ARGV[6], 'EX', ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', tonumber(ARGV[4]), '*', 'id', ARGV[1], 'data', ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[2])
return 1
"""
INDEX_SIZE = 10_000  # alerts kept per entity and per theme index
STATS_RETENTION = 86_400 + keys.STATS_BUCKET  # a bucket lives one day after it closes


class RedisAlertSink:
    """`await sink.write(alert)` -> True when new, False when already written.

    On Redis errors it retries with capped backoff until it succeeds or is cancelled, so the
    caller acknowledges its Kafka record only after the alert is durably in Redis.
    """

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._script = redis.register_script(SCRIPT)
        self._update = redis.register_script(UPDATE_SCRIPT)
        self._ttl = max(1, int(settings.alerts.dedup_ttl_days * 86_400))
        self._maxlen = settings.alerts.stream_maxlen

    async def write(self, alert: Alert) -> bool:
        (created,) = await self.write_many([alert])
        return created

    async def write_many(self, alerts: list[Alert]) -> list[bool]:
        """Write several alerts in one round trip (a pipeline of the same script); same
        guarantees as `write`, in order."""
        if not alerts:
            return []
        prepared = [
            self._update_keys_and_args(alert, alert.dumps())
            if alert.kind == "story_update"
            else self._keys_and_args(alert, alert.dumps())
            for alert in alerts
        ]

        async def attempt() -> list[int]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for alert, (script_keys, args) in zip(alerts, prepared, strict=True):
                    if alert.kind == "story_update":
                        await self._update(keys=script_keys, args=args, client=pipe)
                        continue
                    args[7] = self._stats_ttl(alert.created_at)
                    await self._script(keys=script_keys, args=args, client=pipe)
                return await pipe.execute()

        results = [bool(r) for r in await retry_forever("write_alert", attempt)]
        created = sum(results)
        REDIS_ALERTS_WRITTEN.labels("new").inc(created)
        REDIS_ALERTS_WRITTEN.labels("duplicate").inc(len(results) - created)
        return results

    def _update_keys_and_args(self, alert: Alert, data: bytes) -> tuple[list[str], list[object]]:
        assert alert.update_of is not None  # the record's own check
        script_keys = [keys.alert_key(alert.id), keys.alert_key(alert.update_of), keys.STREAM]
        latest = dataclasses.replace(alert, id=alert.update_of, kind="story", update_of=None)
        return script_keys, [
            alert.id,
            data,
            self._ttl,
            self._maxlen,
            keys.LIVE_CHANNEL,
            latest.dumps(),
        ]

    def _keys_and_args(self, alert: Alert, data: bytes) -> tuple[list[str], list[object]]:
        bucket = int(alert.created_at // keys.STATS_BUCKET) * keys.STATS_BUCKET
        entities = sorted(set(alert.entities))
        themes = sorted(set(alert.themes))
        script_keys = [
            keys.alert_key(alert.id),
            keys.STREAM,
            keys.INDEX_ALL,
            keys.stats_key(bucket),
            *(keys.entity_index(e) for e in entities),
            *(keys.theme_index(t) for t in themes),
        ]
        fields = [
            "total",
            f"severity:{alert.severity}",
            f"rule:{alert.rule}",
            *(f"entity:{e}" for e in entities),
            *(f"theme:{t}" for t in themes),
        ]
        args: list[object] = [
            alert.id,
            data,
            self._ttl,
            self._maxlen,
            keys.LIVE_CHANNEL,
            repr(float(alert.created_at)),
            INDEX_SIZE,
            0,  # stats TTL, computed per attempt
            *fields,
        ]
        return script_keys, args

    @staticmethod
    def _stats_ttl(created_at: float, now: float | None = None) -> int:
        """Seconds the alert's hourly bucket must live; 0 when it is already out of the window."""
        now = time.time() if now is None else now
        bucket = int(created_at // keys.STATS_BUCKET) * keys.STATS_BUCKET
        return max(0, int(bucket + STATS_RETENTION - now))
