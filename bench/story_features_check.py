"""Before/after check for `FeatureMaker`: its features and signatures must not change (not a
test; run by hand before and after touching features.py or the signature).

    .venv/bin/python bench/story_features_check.py --save /tmp/features.pickle  # before
    .venv/bin/python bench/story_features_check.py --check /tmp/features.pickle # after

Articles: the dev set's, and the real feed entries of bench/tagging.py when `--feeds` exists,
each also as variants that reach other code paths (another language tag, no language, the
text cut at a few places, title alone). The saved file holds, per article, the `Features`
and the signature's bytes; `--check` recomputes them and reports every difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import stories as stories_bench  # bench/stories.py: the same article readers

from newswatch.agents.stories import StoryArticle, StoryEngine
from newswatch.agents.stories.engine import FeatureMaker
from newswatch.agents.stories.features import Features
from newswatch.agents.tagging import Tagger, fastpath


def variants(article: StoryArticle) -> list[StoryArticle]:
    """The article and a few edits of it that take other branches."""
    out = [article]
    for n, lang in enumerate(("de", None, "zh")):
        out.append(dataclasses.replace(article, id=f"{article.id}~lang{n}", lang=lang))
    text = article.text
    for n, cut in enumerate((1, 7, len(text) // 3, len(text) // 2 + 1)):
        out.append(dataclasses.replace(article, id=f"{article.id}~cut{n}", text=text[:cut]))
    out.append(dataclasses.replace(article, id=f"{article.id}~title", text=""))
    return out


def _record(feats: Features, sig: np.ndarray | None) -> tuple:
    return (feats, None if sig is None else (sig.tobytes(), str(sig.dtype)))


def compute(articles: list[StoryArticle]) -> dict[str, tuple]:
    maker = StoryEngine().maker
    out = {}
    for article in articles:
        feats = maker.features(article)
        out[article.id] = _record(feats, maker.signature(feats))
    return out


def compute_prepared(articles: list[StoryArticle], native: bool) -> dict[str, tuple]:
    """What `FeatureMaker.prepare` makes (the features without their shingles), with the
    shingles and signature made by the compiled core or by Python, as `compute` records."""
    engine = StoryEngine()
    maker = FeatureMaker(engine.config, engine.gazetteer, native=native)
    out = {}
    for article in articles:
        prepared = maker.prepare(article)
        out[article.id] = _record(prepared.features, prepared.signature)
    return out


def _without_shingles(record: tuple) -> tuple:
    return (dataclasses.replace(record[0], shingles=frozenset()), record[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save", type=Path)
    mode.add_argument("--check", type=Path)
    parser.add_argument(
        "--feeds", type=Path, default=stories_bench.ROOT.parent / "shared" / "feeds"
    )
    args = parser.parse_args()
    tagger = Tagger.load()
    base, _ = stories_bench.load(tagger)
    if args.feeds.is_dir():
        base += stories_bench.feed_articles(tagger, args.feeds)
    articles = [v for a in base for v in variants(a)]
    start = time.process_time()
    got = compute(articles)
    cpu = time.process_time() - start
    print(f"{len(articles)} articles ({len(base)} and variants), {cpu:.1f} s CPU")
    if args.save:
        args.save.write_bytes(pickle.dumps(got))
        print(f"saved to {args.save}")
        return
    want = pickle.loads(args.check.read_bytes())
    failed = False
    runs = [("features+signature", got)]
    if fastpath.load_native() is not None:
        runs.append(("prepare (compiled)", compute_prepared(articles, native=True)))
    runs.append(("prepare (Python)", compute_prepared(articles, native=False)))
    for name, made in runs:
        expected = want if made is got else {k: _without_shingles(v) for k, v in want.items()}
        diffs = [k for k in expected if made.get(k) != expected[k]]
        missing = set(expected) ^ set(made)
        for key in diffs[:20]:
            print(f"DIFF {key}:\n  want {expected[key]}\n  got  {made.get(key)}")
        print(f"{name}: {len(diffs)} differences, {len(missing)} articles not in both")
        failed |= bool(diffs or missing)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
