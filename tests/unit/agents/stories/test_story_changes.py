"""Incremental checkpoints of the story engine (`changes`, `checkpointed`, `restore_records`):
an engine rebuilt from the per-story records after any number of checkpoints is the engine
that never stopped (same snapshot bytes, same order of stories, same next assignments)."""

from __future__ import annotations

import random

import orjson
import pytest

from newswatch.agents.stories import Changes, StoryArticle, StoryConfig, StoryEngine
from newswatch.agents.stories.evaluate import Tagged, check_row, to_story_article
from newswatch.agents.tagging import Tagger
from tests.support.environment import DATA

HOUR = 3600.0
T0 = 1_738_000_000.0


class Records:
    """A per-story store in memory, applied the way the Redis script applies changes."""

    def __init__(self) -> None:
        self.header: bytes | None = None
        self.stories: dict[str, bytes] = {}

    def apply(self, changes: Changes) -> None:
        if changes.full:
            self.stories.clear()
        self.stories.update(changes.stories)
        for story_id in changes.closed:
            self.stories.pop(story_id, None)
        self.header = changes.header

    def checkpoint(self, engine: StoryEngine) -> Changes:
        changes = engine.changes()
        self.apply(changes)
        engine.checkpointed()
        return changes

    def restore(self, config: StoryConfig | None = None) -> StoryEngine:
        assert self.header is not None
        records = list(self.stories.values())
        random.Random(len(records)).shuffle(records)  # the store keeps no order
        return StoryEngine.restore_records(self.header, records, config)


def ordered(table: dict) -> list:
    return [(k, list(v) if isinstance(v, dict) else v) for k, v in table.items()]


def assert_same(restored: StoryEngine, engine: StoryEngine, orders: bool = False) -> None:
    """The same state. `orders`: also the insertion orders of the postings and the band
    index, which a restore makes in story order (a live engine in the order of its joins, so
    only its contents equal a restored one's)."""
    assert restored.snapshot() == engine.snapshot()
    assert list(restored._stories) == list(engine._stories)
    assert list(restored._singles) == list(engine._singles)
    assert restored._members == engine._members
    assert restored._postings._map == engine._postings._map
    assert restored._index._keys == engine._index._keys
    assert restored._index._tables == engine._index._tables
    if orders:
        assert ordered(restored._postings._map) == ordered(engine._postings._map)
        assert ordered(restored._index._keys) == ordered(engine._index._keys)
        assert [ordered(t) for t in restored._index._tables] == [
            ordered(t) for t in engine._index._tables
        ]
    assert restored.stats() == engine.stats()


def _run(engine: StoryEngine, articles: list[StoryArticle]) -> list[tuple[str, str, float]]:
    return [(r.story_id, r.how, r.score) for r in map(engine.add, articles)]


@pytest.fixture(scope="module")
def devset() -> list[StoryArticle]:
    tagger = Tagger.load()
    path = DATA / "stories" / "devset.jsonl"
    rows = [check_row(orjson.loads(line)) for line in path.read_bytes().splitlines()]
    articles = []
    for row in sorted(rows, key=lambda r: (r.published, r.id)):
        result = tagger.tag(row.text, title=row.title, lang=row.lang)
        articles.append(
            to_story_article(row, Tagged(tuple(result.entities), tuple(result.theme_ids)))
        )
    return articles


def art(aid: str, text: str, hours: float) -> StoryArticle:
    return StoryArticle(
        id=aid, title=f"Title {aid}", text=text, lang="en", published=T0 + hours * HOUR, feed="f"
    )


def noise(rng: random.Random) -> str:
    words = " ".join(f"w{rng.randint(0, 5_000)}" for _ in range(40))
    return f"{words} {rng.randint(10, 10_000)} million"


def test_records_after_many_checkpoints_equal_the_live_and_the_whole_snapshot(
    devset: list[StoryArticle],
) -> None:
    straight = StoryEngine()
    expected = _run(straight, devset)
    engine = StoryEngine()
    records = Records()
    done: list[tuple[str, str, float]] = []
    for start in range(0, len(devset), 7):
        done += _run(engine, devset[start : start + 7])
        changes = records.checkpoint(engine)
        assert changes.full == (start == 0)
        restored = records.restore()
        assert_same(restored, engine)
        assert_same(StoryEngine.restore(engine.snapshot()), restored, orders=True)
        if start in (7, 7 * 10, 7 * 30):  # the restored engine goes on like the live one
            tail = _run(restored, devset[start + 7 :])
            assert done + tail == expected
            assert restored.snapshot() == straight.snapshot()
    assert done == expected


def test_a_checkpoint_writes_only_the_stories_that_changed(devset: list[StoryArticle]) -> None:
    engine = StoryEngine()
    records = Records()
    _run(engine, devset[:200])
    first = records.checkpoint(engine)
    assert first.full and set(first.stories) == set(engine._stories)
    assignments = [engine.add(a) for a in devset[200:205]]
    changes = records.checkpoint(engine)
    assert not changes.full
    assert set(changes.stories) == {a.story_id for a in assignments}
    assert set(changes.closed) == {c["id"] for a in assignments for c in a.closed}
    assert orjson.loads(changes.header)["touch"] == engine._touch


def test_ties_in_activity_keep_their_order() -> None:
    rng = random.Random(3)
    engine = StoryEngine(StoryConfig(max_open_stories=12))
    records = Records()
    for i in range(30):  # all at one time: every story's activity is the same
        engine.add(art(f"a{i}", noise(rng), 0))
        if i % 4 == 3:
            records.checkpoint(engine)
    records.checkpoint(engine)
    restored = records.restore(StoryConfig(max_open_stories=12))
    assert_same(restored, engine)
    whole = StoryEngine.restore(engine.snapshot(), StoryConfig(max_open_stories=12))
    assert_same(restored, whole, orders=True)
    assert len({s.activity for s in engine._stories.values()}) == 1
    more = [art(f"b{i}", noise(rng), 0) for i in range(10)]  # evicts in that order
    assert [a.closed for a in map(restored.add, more)] == [a.closed for a in map(engine.add, more)]


def test_eviction_by_max_open_stories_deletes_the_records() -> None:
    rng = random.Random(5)
    config = StoryConfig(max_open_stories=5)
    engine = StoryEngine(config)
    records = Records()
    for i in range(5):
        engine.add(art(f"a{i}", noise(rng), i * 0.01))
    records.checkpoint(engine)
    evicted = [c["id"] for i in range(3) for c in engine.add(art(f"b{i}", noise(rng), 1)).closed]
    assert len(evicted) == 3
    changes = records.checkpoint(engine)
    assert sorted(changes.closed) == sorted(evicted)
    assert set(records.stories) == set(engine._stories)
    assert_same(records.restore(config), engine)


def test_closing_by_time_and_the_same_id_opened_again() -> None:
    config = StoryConfig(quiet_window=HOUR, quiet_window_single=HOUR)
    engine = StoryEngine(config)
    records = Records()
    first = engine.add(art("x", noise(random.Random(1)), 0))
    records.checkpoint(engine)
    closed = engine.tick(T0 + 5 * HOUR)
    assert [c["id"] for c in closed] == [first.story_id]
    again = engine.add(art("x", noise(random.Random(1)), 5))  # its story closed: a new one
    assert again.story_id == first.story_id and again.how == "new"
    changes = records.checkpoint(engine)
    assert changes.closed == [] and list(changes.stories) == [first.story_id]
    assert_same(records.restore(config), engine)
    engine.tick(T0 + 10 * HOUR)
    changes = records.checkpoint(engine)
    assert changes.closed == [first.story_id] and changes.stories == {}
    assert records.stories == {}
    assert_same(records.restore(config), engine)


def test_a_redelivered_article_changes_no_story() -> None:
    engine = StoryEngine()
    records = Records()
    article = art("d", noise(random.Random(2)), 0)
    engine.add(article)
    records.checkpoint(engine)
    assert engine.add(article).how == "duplicate"
    changes = records.checkpoint(engine)
    assert changes.stories == {} and changes.closed == []
    assert_same(records.restore(), engine)


def test_changes_are_whole_after_a_start_a_whole_restore_and_require_full() -> None:
    engine = StoryEngine()
    engine.add(art("a", noise(random.Random(4)), 0))
    assert engine.changes().full
    assert engine.changes().full  # not taken until checkpointed()
    engine.checkpointed()
    assert not engine.changes().full
    engine.require_full()
    assert engine.changes().full
    restored = StoryEngine.restore(engine.snapshot())
    assert set(restored.changes().stories) == set(engine._stories)
    assert restored.changes().full


def test_bad_records_are_refused() -> None:
    engine = StoryEngine()
    engine.add(art("a", noise(random.Random(4)), 0))
    changes = engine.changes()
    (record,) = changes.stories.values()
    with pytest.raises(ValueError, match="out of sequence"):
        StoryEngine.restore_records(changes.header, [record, record])
    with pytest.raises(ValueError, match="bad story checkpoint"):
        StoryEngine.restore_records(changes.header, [b"{not json"])
    with pytest.raises(ValueError, match="version"):
        StoryEngine.restore_records(b'{"version": 99}', [])
    with pytest.raises(ValueError, match="MinHash"):
        StoryEngine.restore_records(changes.header, [], StoryConfig(num_perm=128))
