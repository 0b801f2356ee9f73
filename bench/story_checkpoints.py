"""Bytes and CPU per story checkpoint, whole snapshot against incremental (not a test; run by
hand).

    .venv/bin/python bench/story_checkpoints.py [--per-day 10000] [--days 2] [--every 20]
        [--whole-every 50]

The synthetic stream of bench/stories.py (`--per-day` articles a day for `--days` days) goes
through `StoryEngine.add`; every `--every` seconds of stream time (the stories agent
checkpoints about every 10-30 s) the engine's incremental checkpoint is taken
(`changes()` + `checkpointed()`: the header, the records of the stories that changed, the ids
of those that closed), and every `--whole-every`-th time also the whole `snapshot()`. Measured
over the last day (the first fills the state: at 36 h quiet window the plateau comes after
1.5 days): bytes and process CPU per checkpoint, medians and 95th percentiles. Writing to
Redis is not included (one script call either way; its cost follows the bytes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import stories as stories_bench  # bench/stories.py: the synthetic stream

from newswatch.agents.stories import StoryEngine
from newswatch.agents.tagging import Tagger

DAY = 86_400.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-day", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--every", type=float, default=20.0, help="seconds of stream time")
    parser.add_argument("--whole-every", type=int, default=50)
    args = parser.parse_args()
    _, by_story = stories_bench.load(Tagger.load())
    engine = StoryEngine()
    start = None
    next_at = 0.0
    measure_from = (args.days - 1) * DAY if args.days > 1 else DAY / 2
    inc_bytes: list[float] = []
    inc_cpu: list[float] = []
    whole_bytes: list[float] = []
    whole_cpu: list[float] = []
    stories_written: list[float] = []
    count = 0
    for article in stories_bench.synthetic(by_story, args.per_day, args.days):
        count += 1
        engine.add(article)
        start = article.published if start is None else start
        elapsed = article.published - start
        if elapsed < next_at:
            continue
        next_at = elapsed + args.every
        cpu = time.process_time()
        changes = engine.changes()
        engine.checkpointed()
        cpu = time.process_time() - cpu
        if elapsed < measure_from:
            continue
        inc_bytes.append(changes.size)
        inc_cpu.append(cpu)
        stories_written.append(len(changes.stories) + len(changes.closed))
        if len(inc_bytes) % args.whole_every == 1:
            cpu = time.process_time()
            whole = engine.snapshot()
            whole_cpu.append(time.process_time() - cpu)
            whole_bytes.append(len(whole))
            del whole
    stats = engine.stats()
    print(
        f"{count:,} articles, {args.per_day:,}/day for {args.days} day(s), a checkpoint every "
        f"{args.every:.0f} s of stream time; measured after {measure_from / 3600:.0f} h: "
        f"{len(inc_bytes)} incremental, {len(whole_bytes)} whole; at the end "
        f"{stats['open_stories']:,} open stories, {stats['members']:,} articles in them"
    )
    for name, sizes, cpus in (
        ("whole", whole_bytes, whole_cpu),
        ("incremental", inc_bytes, inc_cpu),
    ):
        print(
            f"  {name:12} bytes median {statistics.median(sizes) / 1e3:,.1f} kB, p95 "
            f"{pct(sizes, 0.95) / 1e3:,.1f} kB; CPU median {statistics.median(cpus) * 1e3:.2f} "
            f"ms, p95 {pct(cpus, 0.95) * 1e3:.2f} ms"
        )
    written = statistics.median(stories_written)
    print(f"  incremental: stories written or deleted, median {written:.0f}")
    print(
        f"  ratio whole/incremental (medians): bytes "
        f"{statistics.median(whole_bytes) / statistics.median(inc_bytes):,.0f}x, CPU "
        f"{statistics.median(whole_cpu) / max(statistics.median(inc_cpu), 1e-9):,.0f}x"
    )


if __name__ == "__main__":
    main()
