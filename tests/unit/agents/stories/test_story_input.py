"""The story-input record (agents/stories/story_input.py): features made in another process
give exactly the stories the engine makes itself; bad items are named and the rest applied."""

from __future__ import annotations

import base64
from dataclasses import replace

import orjson
import pytest

from newswatch.agents.alerting import RuleEngine, load_rules
from newswatch.agents.alerting.processing import (
    StoryItems,
    catalogue_lookup,
    load_processor,
    tag_article,
)
from newswatch.agents.pipeline import load_tagger
from newswatch.agents.stories import StoryConfig, StoryEngine
from newswatch.agents.stories.engine import FeatureMaker
from newswatch.agents.stories.evaluate import check_row
from newswatch.agents.stories.gazetteer import Gazetteer
from newswatch.agents.stories.story_input import decode, join_items, story_article
from newswatch.streams.records import Article, RecordError, TaggedArticle
from newswatch.streams.settings import load_settings
from tests.support.environment import DATA

DEVSET = DATA / "stories" / "devset.jsonl"


@pytest.fixture(scope="module")
def tagged() -> list[TaggedArticle]:
    """The dev set as the worker sees it: articles, tagged, in publication order."""
    tagger = load_tagger(load_settings())
    rows = [check_row(orjson.loads(line)) for line in DEVSET.read_bytes().splitlines()]
    out = []
    for row in sorted(rows, key=lambda r: (r.published, r.id)):
        article = Article(
            id=row.id,
            feed_id=row.feed or "feed",
            title=row.title,
            summary=row.text,
            lang=row.lang,
            published=row.published,
            url=row.url,
        )
        out.append(tag_article(tagger, article))
    return out


@pytest.fixture(scope="module")
def items(tagged: list[TaggedArticle]) -> list[bytes]:
    return [StoryItems(None).item(t) for t in tagged]


def test_prepared_features_give_the_same_stories_and_state(
    tagged: list[TaggedArticle], items: list[bytes]
) -> None:
    direct = StoryEngine()
    expected = [direct.add(story_article(t)) for t in tagged]

    batched = StoryEngine()
    got = []
    records = list(join_items(items, max_bytes=20_000))
    assert len(records) > 3  # the dev set spans several records at this size
    for record in records:
        inputs, errors = decode(record, batched.maker)
        assert not errors
        assert all(i.prepared is not None for i in inputs)  # made with the same fingerprint
        got += [batched.add(i.article, i.prepared) for i in inputs]

    assert [(a.article_id, a.story_id, a.how, a.score) for a in got] == [
        (a.article_id, a.story_id, a.how, a.score) for a in expected
    ]
    assert batched.snapshot() == direct.snapshot()


def test_another_fingerprint_is_made_again_from_the_lede(
    tagged: list[TaggedArticle], items: list[bytes]
) -> None:
    other = FeatureMaker(StoryConfig(), Gazetteer.shipped())
    other.fingerprint = "f0:older-worker"
    stale = [StoryItemsWith(other).item(t) for t in tagged]
    engine, direct = StoryEngine(), StoryEngine()
    for record in join_items(stale):
        inputs, errors = decode(record, engine.maker)
        assert not errors and all(i.prepared is None for i in inputs)
        for i in inputs:
            engine.add(i.article, i.prepared)
    for t in tagged:
        direct.add(story_article(t))
    assert engine.snapshot() == direct.snapshot()


class StoryItemsWith(StoryItems):
    def __init__(self, maker: FeatureMaker) -> None:
        self.maker, self.rules = maker, None


def test_version_1_records_are_still_read(tagged: list[TaggedArticle]) -> None:
    engine = StoryEngine()
    inputs, errors = decode(tagged[0].dumps(), engine.maker)
    assert not errors and len(inputs) == 1
    assert inputs[0].tagged == tagged[0] and inputs[0].prepared is None
    assert inputs[0].alerts is None  # the stage evaluates the rules on the tagged article


def test_bad_items_are_named_and_the_others_kept(items: list[bytes]) -> None:
    maker = StoryEngine().maker
    good = [orjson.loads(i) for i in items[:4]]
    bad = [
        {**good[0], "published": "yesterday"},
        {**good[1], "id": ""},
        {**good[2], "anchors": ["no-kind"]},
        {**good[3], "sig": base64.b64encode(b"short").decode()},
        {**good[0], "weak": ["l:notananchor"]},
        {**good[1], "alerts": [{"id": "x"}]},
        {**good[2], "entities": "deepseek"},
        "not an object",
    ]
    record = orjson.dumps({"v": 2, "items": [good[0], *bad, good[3]]})
    inputs, errors = decode(record, maker)
    assert [i.article.id for i in inputs] == [good[0]["id"], good[3]["id"]]
    assert len(errors) == len(bad)
    assert [e.split(":")[0] for e in errors] == [f"item {n}" for n in range(1, len(bad) + 1)]
    assert "published" in errors[0] and "sig" in errors[3] and "alerts" in errors[5]


@pytest.mark.parametrize(
    "value",
    [None, b"", b"not json", b"[1, 2]", b'{"v": 3, "items": []}', b'{"v": 2, "items": {}}'],
)
def test_unusable_records_raise(value: bytes | None) -> None:
    with pytest.raises(RecordError):
        decode(value, StoryEngine().maker)


def test_join_items_keeps_order_and_size(items: list[bytes]) -> None:
    records = list(join_items(items, max_bytes=5_000))
    assert all(len(r) < 5_000 + max(map(len, items)) for r in records)
    ids = [item["id"] for r in records for item in orjson.loads(r)["items"]]
    assert ids == [orjson.loads(i)["id"] for i in items]
    assert list(join_items([])) == []


def test_the_child_carries_the_rule_matches_for_story_alerts(
    tagged: list[TaggedArticle],
) -> None:
    processor = load_processor(None, None, rules=False, stories="alerts")
    tagger = load_tagger(load_settings())
    rules = RuleEngine(load_rules(None), catalogue_lookup(tagger.catalogue))
    matched = 0
    for t in tagged[:60]:
        value = replace(t.article, fetched_at=1_790_000_000.0).dumps()
        out = processor.process(value)
        assert out.ok and out.alerts == ()  # no per-article alerts with story alerts
        (item,), errors = decode(next(join_items([out.story_item])), StoryEngine().maker)
        assert not errors
        expected = rules.evaluate(TaggedArticle.loads(out.tagged), now=1_790_000_000.0)
        assert [a.id for a in item.alerts or ()] == [a.id for a in expected]
        matched += bool(expected)
    assert matched  # the dev set raises alerts
    assert (
        load_processor(None, None, rules=True, stories="on")
        .process(tagged[0].article.dumps())
        .story_item
    )
    with pytest.raises(ValueError):
        load_processor(None, None, rules=True, stories="maybe")
