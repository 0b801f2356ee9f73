"""Benchmark of the sinks: signed webhook deliveries/s to a local receiver, Redis sink writes/s.

    .venv/bin/python bench/webhooks.py [--alerts 3000] [--writes 5000] [--runs 3]

Starts its own redis-server (AOF on, as `newswatch up` runs it) and a receiver in a separate
process (aiohttp, answers 204, verifies every 50th signature). Prints medians of several runs
and ratios to the targets. The machine is shared: treat the figures as indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from newswatch.streams.embedded import RedisServer, free_port, wait_for_port
from newswatch.streams.records import Alert
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from newswatch.streams.sinks.webhooks import Outbox, WebhookDispatcher

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TARGET_DELIVERIES = 500.0
DEBUG = False

RECEIVER = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    from newswatch.streams.sinks.verify import verify_signature
    count = 0
    async def hook(request):
        global count
        body = await request.read()
        count += 1
        if count % 50 == 0:
            verify_signature(sys.argv[2], request.headers, body)
        return web.Response(status=204)
    async def total(_):
        return web.Response(text=str(count))
    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/count", total)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
)


def make_alert(run: int | str, n: int) -> Alert:
    """A typical alert (also used by bench/outbox.py)."""
    return Alert(
        id=f"bench:{run}:{n}",
        rule="bench",
        severity="high",
        title=f"DeepSeek releases model {n} amid new export controls",
        entities=["deepseek", "qwen"],
        themes=["export_controls", "model_release"],
        article_id=f"a{n}",
        url=f"https://example.org/{n}",
        summary="x" * 400,
    )


def receiver_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as response:
        return int(response.read())


async def deliveries(redis_url: str, port: int, run: int, count: int) -> tuple[float, float]:
    """(submits/s, deliveries/s) for `count` alerts to one endpoint: first queue them all
    (dispatcher not started), then start it and time the drain of the outbox."""
    settings = load_settings(
        redis_url=redis_url,
        webhooks={
            "endpoints": [
                {"name": "bench", "url": f"http://127.0.0.1:{port}/hook", "secrets": [SECRET]}
            ],
            "allowed_networks": ["127.0.0.1/32"],  # the SSRF guard allows the local receiver
        },
    )
    redis = make_redis(settings)
    dispatcher = WebhookDispatcher(settings, redis)
    outbox = Outbox(redis, "bench", 3600)
    before = await asyncio.to_thread(receiver_count, port)
    alerts = [make_alert(run, n) for n in range(count)]
    started = time.perf_counter()
    for item in alerts:
        await dispatcher.submit(item)
    submitted = time.perf_counter() - started
    started = time.perf_counter()
    await dispatcher.start()
    while (await outbox.counts())["pending"]:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    await dispatcher.stop()
    await redis.aclose()
    received = await asyncio.to_thread(receiver_count, port) - before
    assert received == count, f"receiver got {received} of {count}"
    return count / submitted, count / elapsed


async def sink_writes(redis_url: str, run: int, count: int, concurrency: int) -> float:
    """Alerts written per second by `concurrency` writers (0: write_many in batches of 100)."""
    settings = load_settings(redis_url=redis_url)
    redis = make_redis(settings)
    sink = RedisAlertSink(redis, settings)
    alerts = [make_alert(1000 + run * 10 + concurrency, n) for n in range(count)]
    queue = iter(alerts)

    async def writer() -> None:
        for item in queue:
            await sink.write(item)

    async def batches() -> None:
        for start in range(0, count, 100):
            await sink.write_many(alerts[start : start + 100])

    started = time.perf_counter()
    if concurrency:
        await asyncio.gather(*(writer() for _ in range(concurrency)))
    else:
        await batches()
    elapsed = time.perf_counter() - started
    await redis.aclose()
    return count / elapsed


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO if DEBUG else logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer().start(Path(tmp) / "redis")
        port = free_port()
        receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port), SECRET])
        try:
            wait_for_port("127.0.0.1", port, 15, receiver)
            submit_rates, delivery_rates, seq, conc, batched = [], [], [], [], []
            for run in range(args.runs):
                submit, delivered = await deliveries(redis.url, port, run, args.alerts)
                submit_rates.append(submit)
                delivery_rates.append(delivered)
                seq.append(await sink_writes(redis.url, run, args.writes, 1))
                conc.append(await sink_writes(redis.url, run, args.writes, 32))
                batched.append(await sink_writes(redis.url, run, args.writes, 0))
                print(
                    f"run {run + 1}: deliveries {delivered:,.0f}/s  submits {submit:,.0f}/s  "
                    f"sink writes {seq[-1]:,.0f}/s (1 writer) {conc[-1]:,.0f}/s (32 writers)"
                    f" {batched[-1]:,.0f}/s (write_many x100)",
                    flush=True,
                )
        finally:
            receiver.terminate()
            receiver.wait(10)
            redis.stop()
    med = statistics.median
    print(f"\nmedians of {args.runs} runs ({args.alerts} alerts, {args.writes} sink writes):")
    print(
        f"  signed webhook deliveries/s : {med(delivery_rates):,.0f}"
        f"  (target {TARGET_DELIVERIES:.0f}: x{med(delivery_rates) / TARGET_DELIVERIES:.2f})"
    )
    print(f"  dispatcher submits/s        : {med(submit_rates):,.0f}")
    print(f"  redis sink writes/s, 1      : {med(seq):,.0f}")
    print(
        f"  redis sink writes/s, 32     : {med(conc):,.0f}"
        f"  (x{med(conc) / med(seq):.2f} of 1 writer)"
    )
    print(
        f"  redis sink writes/s, batch  : {med(batched):,.0f}"
        f"  (x{med(batched) / med(seq):.2f} of 1 writer)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--writes", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
