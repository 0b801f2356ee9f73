"""Story engine cost, side by side with tagging, and its memory over a 7-day window
(not a test; run by hand).

    .venv/bin/python bench/stories.py [--per-day 10000] [--days 7] [--runs 3] [--cpu N]
        [--feeds DIR] [--reference] [--cpu-only | --memory-only]

Part 1, CPU per article (one pinned core, medians of `--runs` interleaved runs, process CPU
time): the dev set's articles (tests/data/stories/devset.jsonl, 12 languages; short
passages) and, when `--feeds` exists, the real feed entries bench/tagging.py reads (longer
texts, mostly English) through

  tag      Tagger.tag() with the language given, as the worker calls it
  stories  StoryEngine.add() on the tagged articles (gazetteer, features, MinHash, LSH and
           anchor lookups, state update), fed as a fresh stream each run
  features FeatureMaker.prepare() alone (gazetteer, features, MinHash): the per-article part
           the worker runs in the tag agent's child process

and with `--reference` both again with the untuned feature code (features_reference.py and
datasketch's MinHash.update_batch; the same output), for before/after figures,

and the ratio stories/tag. The worker's per-article CPU is larger than tagging alone (Faust,
decoding, alert rules, publishing: 1.96 ms per article measured in bench/worker.py), so
stories/tag is an upper bound of the story stage's share of the worker.

Part 2, memory: a synthetic stream of `--per-day` articles a day for `--days` days, built from
the dev set's stories. Each synthetic story copies one dev-set story's articles (all its
languages) with numbers, Latin names and model codes replaced by values and pseudo-words of
its own, so stories from one template share only what real stories about the same entities
share (entities, themes, CJK names) and translations of one story still agree. 60 % of
stories are a single article, the rest 2-8 articles over a few hours. Published times advance
evenly, so stories close after the quiet window as in production. Reported: RSS (VmRSS of
this process) before and after, the engine's retained counts at the end, articles/s, and the
figure extrapolated to 100,000 articles a day (the state is proportional to the articles
inside the quiet window, so RSS above the baseline scales with the rate; say so when quoting
it).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import os
import random
import re
import statistics
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
from datasketch import MinHash

from newswatch.agents.stories import (
    Gazetteer,
    StoryArticle,
    StoryConfig,
    StoryEngine,
    features_reference,
)
from newswatch.agents.stories.engine import FeatureMaker, Prepared
from newswatch.agents.stories.evaluate import Tagged, check_row, to_story_article
from newswatch.agents.stories.features import Features
from newswatch.agents.tagging import Tagger

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT / "tests" / "data" / "stories" / "devset.jsonl"
DAY = 86400.0
_DIGITS = re.compile(r"\d+")
# Latin names and codes of a template ("Nvidia", "H20"): replaced per synthetic story.
_NAMES = re.compile(r"[A-Za-z][A-Za-z0-9\-]*\d[A-Za-z0-9\-]*|[A-Z][a-z]+")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(tagger: Tagger) -> tuple[list[StoryArticle], dict[str, list[StoryArticle]]]:
    rows = [check_row(orjson.loads(line)) for line in DEVSET.read_bytes().splitlines()]
    articles, by_story = [], {}
    for row in sorted(rows, key=lambda r: (r.published, r.id)):
        result = tagger.tag(row.text, title=row.title, lang=row.lang)
        article = to_story_article(row, Tagged(tuple(result.entities), tuple(result.theme_ids)))
        articles.append(article)
        by_story.setdefault(row.story, []).append(article)
    return articles, by_story


def feed_articles(tagger: Tagger, folder: Path) -> list[StoryArticle]:
    """Real feed entries (the corpus of bench/tagging.py, when its folder exists), tagged,
    with published times spread over one day in file order."""
    sys.path.insert(0, str(Path(__file__).parent))
    import tagging as tagging_bench  # bench/tagging.py: the same corpus reader

    tagging_bench.SHARED = folder.parent
    texts = tagging_bench.feed_texts()
    out = []
    for n, text in enumerate(texts):
        title, _, body = text.partition("\n")
        result = tagger.tag(body, title=title)
        out.append(
            StoryArticle(
                id=f"feed{n}",
                title=title[:300],
                text=body,
                lang=result.lang,
                published=1_750_000_000 + n * 86400 / max(len(texts), 1),
                entities=tuple(result.entities),
                themes=tuple(result.theme_ids),
            )
        )
    return out


class ReferenceFeatureMaker(FeatureMaker):
    """The FeatureMaker as it was before it was tuned (features_reference.py, datasketch's
    MinHash.update_batch): the same output, the old cost, for before/after figures."""

    def features(self, article: StoryArticle) -> Features:
        title = article.title[:500]
        text = article.text[: self.config.max_text_chars]
        keys = self.gazetteer.find(f"{title}\n{text}")
        return features_reference.extract(
            title, text, article.lang, article.entities, article.themes, keys
        )

    def __init__(self, config: StoryConfig, gazetteer: Gazetteer) -> None:
        super().__init__(config, gazetteer)
        # As the untuned FeatureMaker did: one MinHash, cleared per article.
        self._hasher = MinHash(
            num_perm=config.num_perm,
            seed=config.seed,
            permutations=self.perms,
            scheme="affine32",
            hashfunc=zlib.crc32,
        )

    def signature(self, feats: Features) -> np.ndarray | None:
        if len(feats.shingles) < self.config.min_shingles:
            return None
        self._hasher.clear()
        self._hasher.update_batch(sorted(feats.shingles))
        return self._hasher.hashvalues.copy()

    def prepare(self, article: StoryArticle) -> Prepared:
        feats = self.features(article)
        return Prepared(feats, self.signature(feats))


def _timed(fn, articles: list[StoryArticle]) -> float:
    """CPU ms per article of fn over articles."""
    gc.collect()
    start = time.process_time()
    for a in articles:
        fn(a)
    return (time.process_time() - start) * 1000 / len(articles)


def cpu_per_article(
    tagger: Tagger,
    articles: list[StoryArticle],
    runs: int,
    name: str = "dev-set",
    reference: bool = False,
) -> None:
    """Tagging, the story engine (`add`: features, signature, the stateful part) and its
    feature part alone (`FeatureMaker.prepare`: what the tag agent's child does per article);
    with `reference`, also both with shingles and signature made in Python instead of the
    compiled core (`-py`) and with the untuned feature code (`-ref`; interleaved runs)."""
    suffixes = ("", "-py", "-ref") if reference else ("",)
    cases = ["tag"] + [case + suffix for suffix in suffixes for case in ("stories", "features")]
    ms: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(runs):
        ms["tag"].append(_timed(lambda a: tagger.tag(a.text, title=a.title, lang=a.lang), articles))
        for suffix in suffixes:
            engine = StoryEngine()
            if suffix == "-py":
                engine.maker = FeatureMaker(engine.config, engine.gazetteer, native=False)
            elif suffix == "-ref":
                engine.maker = ReferenceFeatureMaker(engine.config, engine.gazetteer)
            ms["stories" + suffix].append(_timed(engine.add, articles))
            ms["features" + suffix].append(_timed(engine.maker.prepare, articles))
    med = {case: statistics.median(values) for case, values in ms.items()}
    chars = sum(len(a.title) + len(a.text) for a in articles) / len(articles)
    print(
        f"CPU per article, {len(articles)} {name} articles ({chars:.0f} characters on "
        f"average), median of {runs} runs"
    )
    for case, value in med.items():
        print(f"  {case:12s} {value:7.3f} ms  ({1000 / value:8.0f} articles/s)")
    tag, story = med["tag"], med["stories"]
    print(f"  stories/tag = {story / tag:.2f}; stories/worker (1.96 ms) = {story / 1.96:.2f}")
    print(f"  features = {med['features'] / story:.0%} of stories")
    if reference:
        for case in ("stories", "features"):
            print(
                f"  {case}: {med[case + '-ref'] / med[case]:.2f}x faster than the reference, "
                f"{med[case + '-py'] / med[case]:.2f}x than the Python shingles and signature"
            )


def synthetic(
    by_story: dict[str, list[StoryArticle]], per_day: int, days: int, seed: int = 11
) -> Iterator[StoryArticle]:
    """Distinct synthetic stories built on the dev set's articles (see the module doc), in
    (published, id) order. Made lazily: a story's articles come within 21 h of its start and
    stories start in order, so a heap of the articles not yet due is all that is held (700,000
    articles held at once would weigh more than the engine's state)."""
    rng = random.Random(seed)
    templates = [v for v in by_story.values() if len(v) > 1]
    syllables = [a + b for a in "bcdfgklmnprstvz" for b in "aeiou"]
    total = per_day * days
    step = DAY / per_day
    pending: list[tuple[float, str, StoryArticle]] = []
    made = 0
    story = 0
    while made < total:
        story += 1
        template = rng.choice(templates)
        size = 1 if rng.random() < 0.6 else rng.randint(2, 8)
        numbers: dict[str, str] = {}

        names: dict[str, str] = {}

        def pseudo() -> str:
            return "".join(rng.choice(syllables) for _ in range(3)).capitalize()

        def renumber(text: str, numbers: dict[str, str] = numbers, names=names) -> str:
            text = _NAMES.sub(lambda m: names.setdefault(m.group(), pseudo()), text)
            return _DIGITS.sub(
                lambda m: numbers.setdefault(m.group(), str(rng.randint(10, 99_999))), text
            )

        # Names and words of its own, so stories from one template are different events.
        own = [pseudo() for _ in range(12)]
        extra = f" {own[0]} {own[1]} said {' '.join(own[2:])} X{story}."
        start = made * step
        while pending and pending[0][0] < 1_750_000_000 + start:
            yield heapq.heappop(pending)[2]
        for k in range(min(size, total - made)):
            src = template[k % len(template)]
            made += 1
            article = StoryArticle(
                id=f"syn{story}-{k}",
                title=renumber(src.title) + f" {own[0]}",
                text=renumber(src.text) + extra,
                lang=src.lang,
                published=1_750_000_000 + start + k * rng.uniform(0, 3) * 3600,
                feed=f"feed{rng.randint(1, 400)}",
                url=f"https://feed.example/syn{story}-{k}",
                entities=src.entities,
                themes=src.themes,
            )
            heapq.heappush(pending, (article.published, article.id, article))
    while pending:
        yield heapq.heappop(pending)[2]


def memory(by_story: dict[str, list[StoryArticle]], per_day: int, days: int) -> None:
    gc.collect()
    engine = StoryEngine()
    before = rss_mb()
    peak = before
    start = time.perf_counter()
    cpu = time.process_time()
    print(
        f"\nMemory: {per_day * days} synthetic articles, {per_day}/day for {days} days, "
        f"quiet window {engine.config.quiet_window / 3600:.0f} h; RSS before {before:.0f} MB",
        flush=True,
    )
    count, made, held = 0, 0, 0
    for count, article in enumerate(synthetic(by_story, per_day, days), 1):
        engine.add(article)
        made += article.id.endswith("-0")  # a story's first article
        if count % 20_000 == 0:
            peak = max(peak, rss_mb())
        if count % per_day == 0:
            stats = engine.stats()
            held = max(held, stats["members"])
            print(
                f"  day {count // per_day}: RSS {rss_mb():.0f} MB, {stats['open_stories']:,} "
                f"open stories, {stats['members']:,} articles in them, "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    gc.collect()
    after = rss_mb()
    peak = max(peak, after)
    stats = engine.stats()
    print(f"  {count / wall:,.0f} articles/s wall, {cpu * 1000 / count:.3f} ms CPU per article")
    print(f"  RSS before {before:.0f} MB, after {after:.0f} MB, peak {peak:.0f} MB")
    print(f"  retained: {stats}")
    print(f"  {made} synthetic stories in, {engine.closed_total + stats['open_stories']} out")
    cpu = time.process_time()
    snapshot = engine.snapshot()
    cpu = time.process_time() - cpu
    print(
        f"  snapshot (the stories agent's checkpoint): {len(snapshot) / 1e6:.1f} MB, "
        f"{cpu * 1000:.0f} ms CPU; RSS after it {rss_mb():.0f} MB"
    )
    del snapshot
    grown = peak - before
    print(
        f"  state {grown:.0f} MB at {per_day}/day, {grown * 1024 / max(held, 1):.1f} KB per "
        "article in open stories (at the most seen at a day's end; the stream's end closes many)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-day", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument(
        "--feeds",
        type=Path,
        default=ROOT.parent / "shared" / "feeds",
        help="Folder of real feed files (as bench/tagging.py); skipped when absent.",
    )
    parser.add_argument("--memory-only", action="store_true", help="skip part 1 (CPU per article)")
    parser.add_argument("--cpu-only", action="store_true", help="skip part 2 (memory)")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="part 1 also with the untuned feature code (features_reference.py)",
    )
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    cpu = args.cpu if args.cpu is not None else cpus[-1]
    os.sched_setaffinity(0, {cpu})
    print(f"pinned to CPU {cpu}; load average {os.getloadavg()[0]:.1f}")
    tagger = Tagger.load()
    print(f"tagging engine: {tagger.engine}")
    articles, by_story = load(tagger)
    if not args.memory_only:
        cpu_per_article(tagger, articles, args.runs, reference=args.reference)
    if not args.memory_only and args.feeds.is_dir():
        feed = feed_articles(tagger, args.feeds)
        if feed:
            cpu_per_article(tagger, feed, args.runs, name="real feed", reference=args.reference)
    if not args.cpu_only:
        memory(by_story, args.per_day, args.days)


if __name__ == "__main__":
    main()
