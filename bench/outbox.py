"""Benchmark of queueing alerts in the webhook outbox: one `submit` per alert against
`submit_many` batches, to a local redis-server.

    .venv/bin/python bench/outbox.py [--alerts 1000] [--runs 5] [--endpoints 1 3]

Starts its own redis-server (AOF on, as `newswatch up` runs it). The dispatcher is not
started, so only the queueing is timed (what the worker's webhook-sink agent waits for before
it acknowledges a batch). Prints medians of several runs and the ratio of batched to single.
The machine is shared: treat the figures as indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from webhooks import make_alert  # bench/webhooks.py: the same typical alert

from newswatch.streams.embedded import RedisServer
from newswatch.streams.records import Alert
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.webhooks import WebhookDispatcher

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FORMATS = ("cloudevents", "slack", "json")
AGENT_BATCH = 500  # the worker's batch size (agents/pipeline.py BATCH_SIZE)


async def one_run(redis_url: str, endpoints: int, count: int, run: int) -> dict[str, float]:
    """Alerts queued per second by each way of submitting, on a fresh set of alert ids."""
    settings = load_settings(
        redis_url=redis_url,
        webhooks={
            "endpoints": [
                {
                    "name": f"e{n}",
                    "url": "http://127.0.0.1:9/hook",
                    "secrets": [SECRET],
                    "format": FORMATS[n % len(FORMATS)],
                }
                for n in range(endpoints)
            ]
        },
    )
    redis = make_redis(settings)
    dispatcher = WebhookDispatcher(settings, redis)
    rates = {}

    async def single(alerts: list[Alert]) -> None:
        for item in alerts:
            await dispatcher.submit(item)

    async def batched(alerts: list[Alert], size: int) -> None:
        for start in range(0, len(alerts), size):
            await dispatcher.submit_many(alerts[start : start + size])

    modes = {
        "submit x1": single,
        f"submit_many x{AGENT_BATCH}": lambda alerts: batched(alerts, AGENT_BATCH),
        f"submit_many x{count}": lambda alerts: batched(alerts, count),
    }
    for mode, call in modes.items():
        alerts = [make_alert(f"{run}:{endpoints}:{mode}", n) for n in range(count)]
        started = time.perf_counter()
        await call(alerts)
        rates[mode] = count / (time.perf_counter() - started)
    queued = 0
    for n in range(endpoints):
        queued += await redis.hlen(f"newswatch:webhooks:e{n}:jobs")
    assert queued == len(modes) * count * endpoints, queued
    await redis.flushall()
    await redis.aclose()
    return rates


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer().start(Path(tmp) / "redis")
        try:
            for endpoints in args.endpoints:
                runs = [
                    await one_run(server.url, endpoints, args.alerts, run)
                    for run in range(args.runs)
                ]
                single = statistics.median(r["submit x1"] for r in runs)
                print(
                    f"{endpoints} endpoint(s), {args.alerts} alerts, medians of {args.runs} runs:"
                )
                for mode in runs[0]:
                    rate = statistics.median(r[mode] for r in runs)
                    print(
                        f"  {mode:<18} {rate:>9,.0f} alerts/s  {1000 / rate:6.3f} ms/alert"
                        f"  x{rate / single:.1f}"
                    )
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--endpoints", type=int, nargs="+", default=[1, 3])
    asyncio.run(main(parser.parse_args()))
