"""Benchmark `newswatch poll`: one poll process against a local feed server process.

Scenarios (fresh Tansu + redis-server per run):
- `unchanged`: 10,000 feeds whose state in Redis already holds validators; 95 % answer 304,
  5 % answer 200 with one new item. Time until every feed was polled once.
- `ingest`: 1,000 feeds x 50 new items (~70 KB each, never seen before), published to Kafka.
  Time until 50,000 articles were acknowledged by Kafka and marked seen.

Reported per run: seconds, feeds/s, articles/s, peak RSS of the poll process and of the whole
process tree (parse workers included), CPU seconds of the tree. Targets (issue 4): unchanged
<= 60 s, ingest <= 60 s, peak RSS <= 300 MB.

    .venv/bin/python bench/poller.py --scenario both --runs 1

The machine has 2 cores shared with other work, and the feed server, Tansu and Redis run on
the same cores as the poller: read the numbers as a lower bound, medians of few runs.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

from newswatch.streams.embedded import RedisServer, TansuBroker, free_port, wait_for_port
from newswatch.streams.poller.state import FeedState, feed_key

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def proc_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def rss_peak_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else 0.0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def metric(port: int, name: str, labels: str = "") -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    pattern = re.escape(name + (("{" + labels + "}") if labels else "")) + r" ([0-9.e+]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def run(scenario: str, workdir: Path) -> dict[str, float]:
    feeds, items, changed = (10_000, 1, 0.05) if scenario == "unchanged" else (1_000, 50, 1.0)
    logs = workdir / "logs"
    broker = TansuBroker().start(logs)
    store = RedisServer().start(workdir / "redis", persist=False)
    server_port = free_port()
    server = subprocess.Popen(
        [PY, str(ROOT / "bench" / "poller_feedserver.py"), "--port", str(server_port),
         "--feeds", str(feeds), "--items", str(items), "--changed", str(changed)],
    )  # fmt: skip
    poller = None
    try:
        wait_for_port("127.0.0.1", server_port, 20, server)
        feeds_file = workdir / f"feeds-{scenario}.yaml"
        with open(feeds_file, "w") as out:
            out.write("feeds:\n")
            for i in range(feeds):
                out.write(f"  - {{id: b{i}, url: 'http://127.0.0.1:{server_port}/feed/{i}.xml'}}\n")
        if scenario == "unchanged":  # validators from an earlier poll, due now
            client = redis.Redis.from_url(store.url)
            now = time.time()
            pipe = client.pipeline(transaction=False)
            for i in range(feeds):
                url = f"http://127.0.0.1:{server_port}/feed/{i}.xml"
                state = FeedState(origin=url, etag=f'"feed-{i}"', last_unconditional=now,
                                  last_success=now, next_due=now - 1)  # fmt: skip
                pipe.hset(feed_key(f"b{i}"), mapping=state.to_redis())
            pipe.execute()
            client.close()
        web_port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")},
            "NEWSWATCH_KAFKA_SERVERS": broker.bootstrap,
            "NEWSWATCH_REDIS_URL": store.url,
            "NEWSWATCH_FEEDS_FILE": str(feeds_file),
            "NEWSWATCH_WEB_PORT": str(web_port),
            "NEWSWATCH_LOG_LEVEL": "WARNING",
            "NEWSWATCH_POLLER__CONCURRENCY": "200",
            "NEWSWATCH_POLLER__PER_HOST": "200",  # every bench feed is on 127.0.0.1
            "NEWSWATCH_POLLER__ALLOWED_NETWORKS": "127.0.0.1/32",  # SSRF guard: allow it only
            "NEWSWATCH_POLLER__START_JITTER": "0",
            "NEWSWATCH_POLLER__MIN_INTERVAL": "3600",
        }
        started = time.monotonic()
        poller = subprocess.Popen(
            [PY, "-m", "newswatch.streams.cli", "poll"],
            env=env,
            stdout=open(workdir / f"poll-{scenario}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        peak_tree = 0.0
        done_at = None
        deadline = started + 300
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if poller.poll() is not None:
                raise RuntimeError((workdir / f"poll-{scenario}.log").read_text()[-3000:])
            tree = proc_tree(poller.pid)
            peak_tree = max(peak_tree, sum(rss_peak_mb(p) for p in tree))
            if scenario == "unchanged":
                polled = metric(web_port, "newswatch_poll_fetch_duration_seconds_count")
                finished = polled >= feeds
            else:
                new = metric(web_port, "newswatch_poll_articles_total", 'outcome="new"')
                finished = new >= feeds * items
            if os.environ.get("BENCH_VERBOSE"):
                polled = metric(web_port, "newswatch_poll_fetch_duration_seconds_count")
                lag = metric(web_port, "newswatch_poll_scheduler_lag_seconds")
                elapsed = time.monotonic() - started
                print(f"  t={elapsed:5.1f}s polled={polled:.0f} lag={lag:.1f}", flush=True)
            if finished:
                done_at = time.monotonic()
                break
        if done_at is None:
            raise RuntimeError(f"{scenario}: not finished within 300 s")
        tree = proc_tree(poller.pid)
        cpu = sum(cpu_seconds(p) for p in tree)
        cpu_main = cpu_seconds(poller.pid)
        main_rss = rss_peak_mb(poller.pid)
        articles = metric(web_port, "newswatch_poll_articles_total", 'outcome="new"')
        ready = metric(web_port, "newswatch_poll_fetch_duration_seconds_count")
        seconds = done_at - started
        return {
            "seconds": seconds,
            "feeds_per_s": ready / seconds,
            "articles": articles,
            "articles_per_s": articles / seconds,
            "rss_main_mb": main_rss,
            "rss_tree_mb": peak_tree,
            "cpu_s": cpu,
            "cpu_main_s": cpu_main,
        }
    finally:
        if poller is not None and poller.poll() is None:
            poller.send_signal(signal.SIGTERM)
            try:
                poller.wait(30)
            except subprocess.TimeoutExpired:
                poller.kill()
        server.terminate()
        server.wait(10)
        broker.stop()
        store.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["unchanged", "ingest", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    scenarios = ["unchanged", "ingest"] if args.scenario == "both" else [args.scenario]
    targets = {"unchanged": 60.0, "ingest": 60.0}
    for scenario in scenarios:
        results = []
        for n in range(args.runs):
            with tempfile.TemporaryDirectory(prefix=f"nw-bench-poller-{scenario}-") as tmp:
                result = run(scenario, Path(tmp))
            results.append(result)
            print(
                f"{scenario} run {n + 1}: " + ", ".join(f"{k}={v:.1f}" for k, v in result.items())
            )
        median = {k: statistics.median(r[k] for r in results) for k in results[0]}
        ratio = median["seconds"] / targets[scenario]
        print(
            f"{scenario} median of {len(results)}: {median['seconds']:.1f} s "
            f"(target {targets[scenario]:.0f} s, ratio {ratio:.2f}), "
            f"{median['feeds_per_s']:.0f} feeds/s, {median['articles_per_s']:.0f} articles/s, "
            f"peak RSS {median['rss_main_mb']:.0f} MB poll process / "
            f"{median['rss_tree_mb']:.0f} MB with parse workers (target 300), "
            f"CPU {median['cpu_s']:.1f} s ({median['cpu_main_s']:.1f} s in the poll process, "
            "the rest in parse workers)"
        )


if __name__ == "__main__":
    main()
