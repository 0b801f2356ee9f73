"""Redis memory per feed and per alert, for the capacity model (docs/capacity.md).

    .venv/bin/python bench/redis_memory.py [--feeds 2000] [--seen 60] [--alerts 5000]

Starts its own redis-server and writes through the real code paths: the poller's
`StateStore.commit` (a feed's state hash plus `--seen` remembered article keys, what a feed
that lists ~30 items and keeps them for the seen TTL holds) and the Redis alert sink's Lua
script (stream entry, SET NX marker, per-entity/theme indexes and stats). Prints bytes per feed
and per alert from `INFO memory` (used_memory before and after), so the figures include Redis's
own per-key overhead. One run; memory is deterministic up to allocator rounding.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
from pathlib import Path

from webhooks import make_alert  # bench/webhooks.py: the same typical alert

from newswatch.streams.embedded import RedisServer
from newswatch.streams.poller.state import FeedState, StateStore
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.redis_sink import RedisAlertSink


async def used(redis) -> int:
    await asyncio.sleep(0.05)
    return int((await redis.info("memory"))["used_memory"])


async def measure(url: str, feeds: int, seen: int, alerts: int) -> dict[str, float]:
    settings = load_settings(redis_url=url)
    redis = make_redis(settings)
    store = StateStore(redis, seen_ttl=60 * 86_400)
    before = await used(redis)
    for n in range(feeds):
        state = FeedState(
            etag=f'W/"{n:08x}-5f3c"',
            last_modified="Fri, 04 Dec 2026 10:00:00 GMT",
            next_due=1.79e9 + n,
            interval=1_800.0,
            last_fetch=1.79e9,
            last_success=1.79e9,
            last_status=200,
            title=f"Feed number {n} — technology news",
            entry_times=[1.79e9 - 3_600.0 * k for k in range(20)],
        )
        keys = [
            hashlib.blake2b(f"{n}:{k}".encode(), digest_size=16).hexdigest() for k in range(seen)
        ]
        await store.commit(f"feed{n:06d}", state, keys)
    per_feed = (await used(redis) - before) / feeds

    sink = RedisAlertSink(redis, settings)
    before = await used(redis)
    batch = [make_alert("mem", n) for n in range(alerts)]
    for start in range(0, alerts, 500):
        await sink.write_many(batch[start : start + 500])
    per_alert = (await used(redis) - before) / alerts
    alert_json = len(batch[0].to_json()) if hasattr(batch[0], "to_json") else float("nan")
    await redis.aclose()
    return {"per_feed": per_feed, "per_alert": per_alert, "alert_json": alert_json}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2_000)
    parser.add_argument("--seen", type=int, default=60)
    parser.add_argument("--alerts", type=int, default=5_000)
    args = parser.parse_args()
    server = RedisServer()
    with tempfile.TemporaryDirectory() as tmp:
        server.start(Path(tmp))
        try:
            figures = asyncio.run(measure(server.url, args.feeds, args.seen, args.alerts))
        finally:
            server.stop()
    print(f"redis memory, {args.feeds} feeds with {args.seen} seen keys each, {args.alerts} alerts")
    print(f"  per feed (state hash + seen set): {figures['per_feed']:,.0f} bytes")
    print(f"  per alert (stream entry + marker + indexes): {figures['per_alert']:,.0f} bytes")


if __name__ == "__main__":
    main()
