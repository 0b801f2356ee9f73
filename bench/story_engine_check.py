"""Before/after check for the story engine and the stories agent's stage: every output must
stay the same (not a test; run by hand before and after touching engine.py, story_input.py or
agents/story_agent.py).

    .venv/bin/python bench/story_engine_check.py --save /tmp/engine.pickle   # before
    .venv/bin/python bench/story_engine_check.py --check /tmp/engine.pickle  # after

Streams: the dev set's articles, the real feed entries of bench/tagging.py when `--feeds`
exists, and the synthetic stream of bench/stories.py (8,000 a day for 4 days: a large state,
stories closing), each through `StoryEngine.add` with the default settings and, for two of
them, with other settings (small bounds so eviction and the caps act; `normalise="min"` with
a time decay). Recorded per article: the Assignment (story id, how, score, the story's JSON
and the closed stories'), `explain()` of every few articles, redelivered articles, and the
snapshot every 1,000 articles (the engine continues from `restore()` of it). The feed entries
and the dev set also go through the stage (`StoryStage`, version-2 records of 50 items made
by the tag agent's code, with story alerts and without), with a takeover from a checkpoint
half-way: recorded are the assignments, the stories it publishes, the story alerts (their
`created_at`, wall-clock time, left out) and the final states.

The feature code makes the inputs: a change to features.py changes them too (check that with
bench/story_features_check.py).
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))

import stories as stories_bench  # bench/stories.py: the same article readers

from newswatch.agents.alerting import RuleEngine, load_rules
from newswatch.agents.alerting.processing import catalogue_lookup, load_processor
from newswatch.agents.stories import StoryArticle, StoryConfig, StoryEngine
from newswatch.agents.stories.alerts import UpdatePolicy
from newswatch.agents.stories.story_input import join_items
from newswatch.agents.story_agent import StoryAlerting, StoryStage, story_record
from newswatch.agents.tagging import Tagger
from newswatch.streams.records import Article

_CREATED_AT = re.compile(rb'"created_at":[-0-9.eE+]+')


def _wallclock_free(raw: bytes | None) -> bytes | None:
    return None if raw is None else _CREATED_AT.sub(b'"created_at":0', raw)


def _assignment(a: Any) -> tuple:
    return (
        a.article_id,
        a.story_id,
        a.how,
        a.score,
        orjson.dumps(a.story),
        tuple(orjson.dumps(c) for c in a.closed),
    )


def engine_run(
    articles: list[StoryArticle], config: StoryConfig | None = None, every: int = 7
) -> list[tuple]:
    engine = StoryEngine(config)
    out: list[tuple] = []
    for n, article in enumerate(articles):
        if n % every == 0:
            out.append(("explain", orjson.dumps(engine.explain(article))))
        out.append(_assignment(engine.add(article)))
        if n % (every * 2 - 1) == 0:  # redelivered
            out.append(_assignment(engine.add(article)))
        if n % 1000 == 999:
            snapshot = engine.snapshot()
            out.append(("snapshot", snapshot))
            engine = StoryEngine.restore(snapshot, config)
            out.append(("stats", engine.stats()))
    out.append(("final", engine.snapshot(), engine.stats()))
    return out


class _Store:
    """The stage's checkpoints in memory."""

    def __init__(self) -> None:
        self.parts: tuple[int, bytes | None, bytes | None] = (-1, None, None)

    async def load_checkpoint_parts(self) -> tuple[int, bytes | None, bytes | None]:
        return self.parts

    async def save_checkpoint(self, offset: int, snapshot: bytes, alerts: bytes | None = None):
        self.parts = (offset, snapshot, alerts)
        return True


async def stage_run(
    records: list[bytes], alerting: StoryAlerting | None, policy: UpdatePolicy
) -> list[tuple]:
    store = _Store()

    def new_stage() -> StoryStage:
        return StoryStage(
            store,  # type: ignore[arg-type]
            StoryEngine,
            StoryEngine.restore,
            checkpoint_every=0,
            alerting=alerting,
            breaking=None if alerting else policy,
        )

    stage = new_stage()
    out: list[tuple] = []
    for offset, record in enumerate(records):
        if offset == len(records) // 2:  # a takeover from the checkpoint
            await stage.checkpoint()
            stage = new_stage()
        assigned: list[tuple] = []
        apply = stage._apply

        def recorded(item: Any, apply: Any = apply, assigned: list = assigned) -> Any:
            assignment = apply(item)
            assigned.append(_assignment(assignment))
            return assignment

        stage._apply = recorded  # type: ignore[method-assign]
        await stage.add(offset, record)
        out.append(("assigned", assigned))
        out.append(("published", [story_record(s) for s in stage.take_changed()]))
        out.append(("alerts", [_wallclock_free(a.dumps()) for a in stage.take_alerts()]))
    assert stage.engine is not None
    alert_state = stage.alerter.snapshot() if stage.alerter else None
    out.append(("final", stage.engine.snapshot(), _wallclock_free(alert_state)))
    return out


def stage_records(articles: list[StoryArticle]) -> list[bytes]:
    """Version-2 story-input records of 50 items, made by the tag agent's processor (with the
    rule matches, as with story alerts on)."""
    processor = load_processor(None, None, rules=False, stories="alerts")
    made = []
    for a in articles:
        article = Article(
            id=a.id,
            feed_id=a.feed or "f",
            title=a.title,
            url=a.url,
            summary=a.text,
            published=a.published,
            fetched_at=a.published,
            lang=a.lang,
        )
        made.append(processor.process(article.dumps()).story_item)
    return [record for i in range(0, len(made), 50) for record in join_items(made[i : i + 50])]


def outputs(feeds: Path) -> dict[str, list[tuple]]:
    tagger = Tagger.load()
    devset, by_story = stories_bench.load(tagger)
    feed = stories_bench.feed_articles(tagger, feeds) if feeds.exists() else []
    print(f"{len(devset)} dev-set articles, {len(feed)} feed entries ({feeds})")
    synthetic = list(stories_bench.synthetic(by_story, 8_000, 4))
    small = StoryConfig(
        max_open_stories=200,
        max_anchors=15,
        max_indexed=2,
        max_articles_kept=5,
        max_members=4,
        max_postings=3,
        max_candidates=3,
    )
    res = {
        "dev": engine_run(devset),
        "feeds": engine_run(feed),
        "synthetic": engine_run(synthetic, every=97),
        "synthetic-small-bounds": engine_run(synthetic[:6000], small, every=5),
        "feeds-min-decay": engine_run(
            feed[:1500], StoryConfig(normalise="min", time_decay=0.1), every=3
        ),
    }
    rules = RuleEngine(load_rules(None), catalogue_lookup(tagger.catalogue))
    policy = UpdatePolicy(sources=(3, 5), min_interval=120)
    alerting = StoryAlerting(rules, policy)
    for name, articles in (("dev", devset), ("feeds", feed)):
        if not articles:
            continue
        records = stage_records(articles)
        res[f"stage-{name}"] = asyncio.run(stage_run(records, alerting, policy))
        res[f"stage-{name}-no-alerts"] = asyncio.run(stage_run(records, None, policy))
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="record the outputs to this file")
    group.add_argument("--check", type=Path, help="compare the outputs with this file")
    parser.add_argument(
        "--feeds",
        type=Path,
        default=stories_bench.ROOT.parent / "shared" / "feeds",
        help="Folder of real feed files (as bench/tagging.py); skipped when absent.",
    )
    args = parser.parse_args()
    got = outputs(args.feeds)
    if args.save:
        args.save.write_bytes(pickle.dumps(got))
        print({name: len(entries) for name, entries in got.items()})
        return
    saved = pickle.loads(args.check.read_bytes())
    same = True
    for name in sorted(set(saved) | set(got)):
        before, after = saved.get(name), got.get(name)
        if before == after:
            print(f"{name}: identical ({len(after or [])} entries)")
            continue
        same = False
        if before is None or after is None:
            print(f"{name}: only in {'the saved file' if after is None else 'this run'}")
            continue
        for n, (x, y) in enumerate(zip(before, after, strict=False)):
            if x != y:
                print(f"{name}: first difference at entry {n}:\n  {str(x)[:600]}\n  {str(y)[:600]}")
                break
        else:
            print(f"{name}: {len(before)} entries saved, {len(after)} now")
    print("IDENTICAL" if same else "DIFFERENT")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
