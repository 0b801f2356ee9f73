"""The chaos run: start the pipeline on a 3-broker cluster, run the scenarios one after another
while articles keep coming, let everything drain, judge with the ledger, write the report.

    python -m tests.chaos.run --minutes 3 --out build/chaos     # what `make chaos` runs
    python -m tests.chaos.run --minutes 1 --scenarios worker_kill9,webhook_down

(from the repository root, which `-m` puts on the module path, so `tests` imports.)

`--minutes` is the fault-injection budget: the fixed scenarios are scaled to it (whole-cluster
outage, burst sizes, repeats) and the random nemesis mix fills what is left. Start-up (about a
minute) and the final drain come on top. Exit status 0 only with 0 lost and 0 duplicates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.chaos import scenarios
from tests.chaos.feeds import FeedServer
from tests.chaos.ledger import Rules, judge, read_articles
from tests.chaos.pipeline import PARTITIONS, PREFIX, AlertTracker, Pipeline
from tests.chaos.report import plot
from tests.support.webhooks import Receiver

HOOK = "chaos"  # the receiver's endpoint name
RATE = 4.0  # articles per second published during the whole run (half of them alert)
CATCH_UP_TIMEOUT = 240.0
NEMESIS_MIN_S = 60.0
IN_FLIGHT_S = 5.0  # an article or alert younger than this is in flight, not late


@dataclass
class Scale:
    """Fault sizes for a run of `minutes`: the issue's sizes at 30 minutes, smaller below."""

    minutes: float
    kill_repeats: int = 2
    cluster_down_s: float = 20.0
    burst: int = 1000
    webhook_down_s: float = 15.0

    @classmethod
    def of(cls, minutes: float) -> Scale:
        if minutes >= 30:
            return cls(minutes, kill_repeats=5, cluster_down_s=120, burst=10_000, webhook_down_s=60)
        return cls(
            minutes,
            kill_repeats=2 if minutes >= 2 else 1,
            cluster_down_s=max(20.0, min(120.0, 4 * minutes)),
            burst=int(max(1000, min(10_000, 333 * minutes))),
            webhook_down_s=max(15.0, min(60.0, 2 * minutes)),
        )


@dataclass
class ScenarioResult:
    name: str
    faults: list[str] = field(default_factory=list)
    started: float = 0.0  # seconds since the run started
    ended: float = 0.0
    recovery_s: float | None = None
    error: str | None = None
    notes: dict = field(default_factory=dict)


@dataclass
class Chaos:
    """What the scenarios act on and what the sampler records."""

    pipeline: Pipeline
    feeds: FeedServer
    receiver: Receiver
    tracker: AlertTracker
    scale: Scale
    rng: random.Random
    deadline: float = 0.0
    t0: float = field(default_factory=time.monotonic)
    current: str = "baseline"
    results: list[ScenarioResult] = field(default_factory=list)
    fault_windows: list[tuple[float, float, str]] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    notes: dict = field(default_factory=dict)
    vanished: set[str] = field(default_factory=set)
    healed_at: float = 0.0
    healed_wall: float = 0.0  # time.time() of the same moment
    pending_hot: dict[str, float] = field(default_factory=dict)  # url -> published (epoch s)
    delivered: set[str] = field(default_factory=set)
    _delivered_seen: int = 0
    _published_seen: int = 0

    def now(self) -> float:
        return time.monotonic() - self.t0

    @contextlib.asynccontextmanager
    async def fault(self, label: str):
        began = self.now()
        print(f"[{began:7.1f}s] fault: {label}", flush=True)
        try:
            yield
        finally:
            self.healed_at = self.now()
            self.healed_wall = time.time()
            self.fault_windows.append((began, self.healed_at, label))
            self.results[-1].faults.append(label)

    # ---- progress ---------------------------------------------------------------------------

    def _refresh(self) -> None:
        items = self.feeds.items
        for item in items[self._published_seen :]:
            if item.hot:
                self.pending_hot[item.url] = item.at
        self._published_seen = len(items)
        for url in self.tracker.urls & self.pending_hot.keys():
            del self.pending_hot[url]
        new = self.receiver.ids(HOOK)[self._delivered_seen :]
        self._delivered_seen += len(new)
        self.delivered.update(new)

    def caught_up(self) -> bool:
        """Every alerting article published before the last fault ended or more than
        IN_FLIGHT_S ago has its alert in Redis, and every alert that reached Redis that long
        ago was delivered (articles keep coming: the newest are always on their way)."""
        self._refresh()
        horizon = max(time.time() - IN_FLIGHT_S, self.healed_wall)
        if any(at < horizon for at in self.pending_hot.values()):
            return False
        undelivered = self.tracker.seen.keys() - self.delivered
        return all(self.tracker.seen_at[a] >= horizon for a in undelivered)

    async def sampler(self) -> None:
        while True:
            await self.tracker.poll()
            self._refresh()
            self.samples.append(
                {
                    "t": round(self.now(), 2),
                    "published": len(self.feeds.items),
                    "alerts_seen": len(self.tracker.seen),
                    "webhook_unique": len(self.delivered),
                    "lag_articles": len(self.pending_hot),
                    "webhook_backlog": len(set(self.tracker.seen) - self.delivered),
                }
            )
            await asyncio.sleep(1.0)

    async def publisher(self) -> None:
        carry = 0.0
        while True:
            carry += RATE * 0.5
            whole = int(carry)
            carry -= whole
            if whole:
                self.feeds.publish(self.current, whole)
            await asyncio.sleep(0.5)

    async def wait_caught_up(self, timeout: float) -> float | None:
        """Seconds after the last heal until every hot article so far has its alert in Redis
        and every alert seen there was delivered; None if not within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.tracker.poll()
            if self.caught_up():
                return round(max(0.0, self.now() - self.healed_at), 1)
            await asyncio.sleep(0.5)
        return None


async def run(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    work = out / "work"
    if work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True)
    scale = Scale.of(args.minutes)
    names = args.scenarios.split(",") if args.scenarios else list(scenarios.DEFAULT)
    if args.minutes < 2 and not args.scenarios:
        names = list(scenarios.SMOKE)
    unknown = [n for n in names if n not in scenarios.ALL]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(scenarios.ALL)}")

    feeds = await FeedServer(keep_s=max(180.0, scale.cluster_down_s + 120)).start()
    receiver = await Receiver().start()
    feeds_file = work / "feeds.yaml"
    feeds_file.write_text(feeds.feeds_yaml())
    pipeline = Pipeline(work, workers=args.workers, pollers=args.pollers)
    if args.no_sink_repair:  # the Redis sink's repair off: what a Redis host crash loses
        pipeline.extra_env["NEWSWATCH_ALERTS__REPAIR_LOOKBACK_SECONDS"] = "0"
    rules = Rules()  # loads the tagger now, not after the run
    report: dict = {
        "brokers": pipeline.cluster.size,
        "workers": args.workers,
        "pollers": args.pollers,
        "chaos_minutes": args.minutes,
        "seed": args.seed,
        "sink_repair": not args.no_sink_repair,
        "scale": asdict(scale),
    }
    chaos: Chaos | None = None
    tasks: list[asyncio.Task] = []
    try:
        print("starting the cluster, redis-server, workers and pollers ...", flush=True)
        report["startup_s"] = {
            k: round(v, 1)
            for k, v in (await pipeline.start(feeds_file, receiver.url(HOOK))).items()
        }
        tracker = AlertTracker(pipeline.redis.url)
        chaos = Chaos(pipeline, feeds, receiver, tracker, scale, random.Random(args.seed))
        chaos.results.append(ScenarioResult("baseline"))
        tasks = [asyncio.create_task(chaos.sampler()), asyncio.create_task(chaos.publisher())]
        # Baseline: articles flow and alerts arrive before the first fault.
        chaos.healed_at, chaos.healed_wall = chaos.now(), time.time()
        await asyncio.sleep(2 * IN_FLIGHT_S)  # articles old enough to count as late exist
        flowing = await chaos.wait_caught_up(180)
        print(f"[{chaos.now():7.1f}s] pipeline flowing ({len(tracker.seen)} alerts)", flush=True)
        if flowing is None or not tracker.seen:
            raise RuntimeError("alerts did not flow before the first fault")
        chaos.results[-1].recovery_s = flowing
        chaos.results[-1].ended = chaos.now()
        chaos.deadline = time.monotonic() + args.minutes * 60

        for name in names:
            if name == "nemesis":
                # What is left of the budget, at least NEMESIS_MIN_S in runs of 2 minutes or
                # more (the fixed scenarios alone outlast a short budget on 2 cores).
                floor = NEMESIS_MIN_S if args.minutes >= 2 else 0.0
                chaos.deadline = max(chaos.deadline, time.monotonic() + floor)
                if time.monotonic() > chaos.deadline - 25:
                    print(f"[{chaos.now():7.1f}s] no time left for the nemesis mix", flush=True)
                    continue
            result = ScenarioResult(name, started=chaos.now())
            chaos.results.append(result)
            chaos.current = name
            chaos.notes = result.notes
            print(f"[{chaos.now():7.1f}s] scenario {name}", flush=True)
            try:
                await scenarios.ALL[name](chaos)
                result.recovery_s = await chaos.wait_caught_up(CATCH_UP_TIMEOUT)
            except Exception as exc:
                result.error = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            result.ended = chaos.now()
            print(
                f"[{chaos.now():7.1f}s] {name}: recovery {result.recovery_s}s"
                + (f" ERROR {result.error}" if result.error else ""),
                flush=True,
            )

        chaos.current = "drain"
        for task in tasks:
            task.cancel()
        tasks.append(asyncio.create_task(chaos.sampler()))
        chaos.healed_at, chaos.healed_wall = chaos.now(), time.time()
        drained = await chaos.wait_caught_up(CATCH_UP_TIMEOUT)
        await asyncio.sleep(5)  # late duplicates, if any, have a chance to show
        await tracker.poll()
        print(f"[{chaos.now():7.1f}s] drained ({drained}s); judging", flush=True)

        articles = await read_articles(
            pipeline.cluster.bootstrap, f"{PREFIX}.articles.v1", PARTITIONS
        )
        stream = await tracker.stream()
        hot_urls = {item.url for item in feeds.items if item.hot}
        hot_alerts = next((len(rules.alert_ids(a)) for a in articles if a.url in hot_urls), 0)
        verdicts = judge(feeds.items, articles, stream, receiver.ids(HOOK), rules, hot_alerts)
        for task in tasks:
            task.cancel()
        report["exit_codes"] = pipeline.stop()
        # Processes a kill -9 left behind (descendants of the killed daemon still running at
        # the end; the harness kills them then): see docs/chaos.md.
        report["orphans_after_kill9"] = dict(pipeline.orphans)
        report["duration_s"] = round(chaos.now(), 1)
        total = verdicts["total"]
        report.update(
            lost=total.lost,
            duplicates=total.duplicates,
            articles=total.articles,
            alerts_expected=total.alerts_expected,
            webhook_repeats=total.webhook_repeats,
            articles_lost=total.articles_lost,
            articles_repeated_in_topic=total.articles_repeated,
            alerts_in_stream=len(stream),
            alerts_vanished_at_redis_restart=sorted(chaos.vanished)[:50],
            alerts_vanished_then_repaired=len(chaos.vanished & {a for a, _ in stream}),
        )
        report["scenarios"] = []
        for result in chaos.results:
            v = verdicts.get(result.name)
            report["scenarios"].append(
                {
                    "name": result.name,
                    "faults": result.faults,
                    "articles": v.articles if v else 0,
                    "alerts_expected": v.alerts_expected if v else 0,
                    "lost": v.lost if v else 0,
                    "duplicates": v.duplicates if v else 0,
                    "webhook_repeats": v.webhook_repeats if v else 0,
                    "recovery_s": result.recovery_s,
                    "lost_redis": len(v.missing_redis) if v else 0,
                    "lost_webhook": len(v.missing_webhook) if v else 0,
                    "articles_lost": v.articles_lost if v else 0,
                    "articles_repeated_in_topic": v.articles_repeated if v else 0,
                    "missing_examples": sorted(set(v.missing_redis) | set(v.missing_webhook))[:10]
                    if v
                    else [],
                    "started_s": round(result.started, 1),
                    "ended_s": round(result.ended, 1),
                    **({"error": result.error} if result.error else {}),
                    **({"notes": result.notes} if result.notes else {}),
                }
            )
        report["fault_windows"] = [
            {"from_s": round(a, 1), "to_s": round(b, 1), "fault": label}
            for a, b, label in chaos.fault_windows
        ]
    finally:
        for task in tasks:
            task.cancel()
        pipeline.stop()
        await receiver.stop()
        await feeds.stop()

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "samples.json").write_text(json.dumps(chaos.samples) + "\n")
    plot(chaos.samples, chaos.fault_windows, chaos.results, out / "chaos.png")
    errors = [s["name"] for s in report["scenarios"] if "error" in s]
    summary = ("lost", "duplicates", "articles", "articles_lost")
    print(json.dumps({k: report[k] for k in summary}, indent=None))
    for s in report["scenarios"]:
        print(
            f"  {s['name']:24} articles {s['articles']:6} expected {s['alerts_expected']:6}"
            f" lost {s['lost']:4} dup {s['duplicates']:3} repeats {s['webhook_repeats']:4}"
            f" recovery {s['recovery_s']}"
        )
    print(f"report: {out / 'report.json'}  plot: {out / 'chaos.png'}")
    # Quiet articles the poller stage lost cost no alert, but they are lost all the same; and
    # a scenario that never recovered is a failure even when its alerts arrived in the end.
    stuck = [s["name"] for s in report["scenarios"] if s["recovery_s"] is None]
    ok = (
        report["lost"] == 0
        and report["duplicates"] == 0
        and report["articles_lost"] == 0
        and not errors
        and not stuck
    )
    return 0 if ok else 1


def main() -> None:
    # The harness sets every setting of the processes it starts; settings of the caller's
    # environment (and NEWSWATCH_CHAOS, the test's switch, which is no setting) stay out.
    for name in [n for n in os.environ if n.startswith("NEWSWATCH_")]:
        del os.environ[name]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", default="build/chaos")
    parser.add_argument("--scenarios", default="", help="comma-separated; default: all")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--pollers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--no-sink-repair",
        action="store_true",
        help="switch the Redis sink's repair off (to measure what redis_power_loss loses)",
    )
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
