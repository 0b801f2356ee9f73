"""Version-2 story-input records (a batch of articles with features and rule matches made by
the tag agent's child) in the stories agent's stage on a real redis-server: the same stories
and story alerts as one article per record, across a takeover with replay; a bad item is
dead-lettered without losing its batch."""

from __future__ import annotations

import orjson
import pytest
import redis.asyncio as aioredis

from newswatch.agents.alerting.processing import StoryItems
from newswatch.agents.stories import StoryEngine
from newswatch.agents.stories.story_input import BadItemsError, join_items
from newswatch.agents.story_agent import StoryAlerting, StoryStage
from newswatch.streams.records import TaggedArticle
from newswatch.streams.sinks.stories import StoryStore
from tests.support.stories import alert_key as key
from tests.support.stories import alerting_stage as stage
from tests.support.stories import records
from tests.support.stories import run_alerting as run

pytestmark = [pytest.mark.redis]

PER_RECORD = 3


def batches(values: list[bytes], rules: object | None) -> list[bytes]:
    """The records the tag agent sends for tag batches of PER_RECORD articles."""
    items = StoryItems(rules)  # type: ignore[arg-type]
    out = []
    for start in range(0, len(values), PER_RECORD):
        chunk = [items.item(TaggedArticle.loads(v)) for v in values[start : start + PER_RECORD]]
        out += list(join_items(chunk))
    return out


def replaying(client: aioredis.Redis, values: list[bytes], **kw: object) -> StoryStage:
    async def replay(start: int, end: int) -> list[tuple[int, bytes | None]]:
        return [(offset, values[offset]) for offset in range(start, min(end, len(values)))]

    return StoryStage(
        StoryStore(client),
        StoryEngine,
        StoryEngine.restore,
        checkpoint_every=0,
        replay=replay,
        **kw,  # type: ignore[arg-type]
    )


async def test_batches_give_the_stories_of_single_records_across_a_takeover(
    redis_url: str,
) -> None:
    singles = records()
    values = batches(singles, None)
    assert len(values) == len(singles) // PER_RECORD
    client = aioredis.Redis.from_url(redis_url)
    try:
        reference = StoryStage(StoryStore(client), StoryEngine, StoryEngine.restore, 0)
        for offset, value in enumerate(singles):
            await reference.add(offset, value)
        assert reference.engine is not None
        expected = reference.engine.snapshot()
        await client.flushall()

        first = replaying(client, values)
        for offset in range(3):
            await first.add(offset, values[offset])
        await first.checkpoint()  # holds records 0-2
        await first.add(3, values[3])  # handled, never checkpointed
        second = replaying(client, values)  # handed record 5 first: replays 3-4
        assert await second.add(5, values[5]) is not None
        for offset in range(6, len(values)):
            await second.add(offset, values[offset])
        assert second.engine is not None
        assert second.engine.snapshot() == expected
    finally:
        await client.aclose()


async def test_batches_carry_the_rule_matches_to_the_same_alerts(
    redis_url: str,
    alerting: StoryAlerting,
) -> None:
    singles = records()
    values = batches(singles, alerting.rules)
    client = aioredis.Redis.from_url(redis_url)
    try:
        reference = await run(stage(client, alerting), singles, range(len(singles)))
        assert [a for a in reference if a.kind == "story"]
        await client.flushall()
        got = await run(stage(client, alerting), values, range(len(values)))
        assert key(got) == key(reference)
    finally:
        await client.aclose()


async def test_a_bad_item_is_named_and_its_batch_applied(redis_url: str) -> None:
    singles = records()
    good = batches(singles[:3], None)[0]
    data = orjson.loads(good)
    data["items"].insert(1, {**data["items"][0], "published": None})
    client = aioredis.Redis.from_url(redis_url)
    try:
        st = replaying(client, [orjson.dumps(data)])
        with pytest.raises(BadItemsError, match="item 1: published"):
            await st.add(0, orjson.dumps(data))
        assert st.engine is not None and st.engine.stats()["members"] == 3
        assert st.last == 0  # the record is done: dead-lettered, not handled again
    finally:
        await client.aclose()


async def test_slow_checkpoints_are_spaced_out(redis_url: str) -> None:
    """A checkpoint that took 3 s puts the next one 30 s later (at most a tenth of the time)."""
    singles = records()
    now = [0.0]
    client = aioredis.Redis.from_url(redis_url)
    try:
        st = StoryStage(
            StoryStore(client),
            StoryEngine,
            StoryEngine.restore,
            checkpoint_every=10,
            clock=lambda: now[0],
        )
        await st.add(0, singles[0])
        assert st.engine is not None
        snapshot = st.engine.snapshot

        def slow_snapshot() -> bytes:
            now[0] += 3.0
            return snapshot()

        st.engine.snapshot = slow_snapshot  # type: ignore[method-assign]
        now[0] = 10.0
        assert st.due()
        await st.checkpoint()  # 10 s -> 13 s
        await st.add(1, singles[1])
        now[0] = 13.0 + 10.0
        assert not st.due()  # the usual interval is not enough after a 3 s checkpoint
        now[0] = 13.0 + 30.0
        assert st.due()
    finally:
        await client.aclose()
