"""The stories agent's state on a real redis-server: checkpoints, takeover, replay.

A worker that takes the story-input partition over restores the last checkpoint and replays
the records after it; the stories must come out exactly as from one uninterrupted run."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from newswatch.agents.stories import StoryEngine
from newswatch.agents.story_agent import StoryStage
from newswatch.streams.sinks.stories import StoryStore, get_story, query_stories
from tests.support.stories import records

pytestmark = [pytest.mark.redis]


def stage(redis: aioredis.Redis, values: list[bytes] | None = None) -> StoryStage:
    """A stage; with `values`, replays read them as the story-input topic would answer."""

    async def replay(start: int, end: int) -> list[tuple[int, bytes | None]]:
        assert values is not None
        return [(offset, values[offset]) for offset in range(start, min(end, len(values)))]

    return StoryStage(
        StoryStore(redis),
        StoryEngine,
        StoryEngine.restore,
        checkpoint_every=0,
        replay=replay if values is not None else None,
    )


async def run(st: StoryStage, values: list[bytes], offsets: range) -> dict[str, str]:
    assigned = {}
    for offset in offsets:
        result = await st.add(offset, values[offset])
        if result is not None:
            assigned[result.article_id] = result.story_id
    return assigned


async def test_takeover_replays_to_the_same_stories(redis_url: str) -> None:
    values = records()
    client = aioredis.Redis.from_url(redis_url)
    try:
        reference = await run(stage(client), values, range(len(values)))
        await client.flushall()

        first = stage(client)
        got = await run(first, values, range(0, 10))
        await first.checkpoint()  # holds offsets 0-9
        got |= await run(first, values, range(10, 15))  # processed, never checkpointed: lost

        second = stage(client)  # the next owner; Faust redelivers from the committed offset 10
        assert await second.add(4, values[4]) is None  # already in the checkpoint
        got |= await run(second, values, range(10, len(values)))
        assert got == reference

        # Records are acknowledged as they are handled, so the next owner may be handed offset
        # 15 first: it reads 10-14 back from the topic, and the stories come out the same.
        third = stage(client, values)
        assert await third.add(15, values[15]) is not None
        assert third.engine is not None and third.engine.stats()["members"] == 16
        assigned = {a: third.engine._members[a] for a in (f"a{i}" for i in range(16))}
        assert assigned == {a: reference[a] for a in assigned}
        assert len(set(reference.values())) >= 2  # the translated story, and the others
        story_ids = {reference[f"a{i}"] for i in range(24) if i % 6 != 5}
        assert len(story_ids) == 1
    finally:
        await client.aclose()


async def test_checkpoint_is_fenced(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    store = StoryStore(client)
    try:
        assert await store.save_checkpoint(10, b"ten")
        assert not await store.save_checkpoint(5, b"five")
        assert await store.load_checkpoint() == (10, b"ten")
    finally:
        await client.aclose()


async def test_a_gap_reloads_the_newest_checkpoint(redis_url: str) -> None:
    values = records()
    client = aioredis.Redis.from_url(redis_url)
    try:
        stale = stage(client, values)
        await run(stale, values, range(0, 3))  # then the partition moves elsewhere
        elsewhere = stage(client)
        await run(elsewhere, values, range(0, 12))
        await elsewhere.checkpoint()
        # The partition comes back: the next record is 14, the stale engine holds 0-2 only and
        # the newest checkpoint 0-11: it reloads that and replays 12-13 from the topic.
        assert (await stale.add(14, values[14])) is not None
        assert stale.engine is not None and stale.engine.stats()["members"] == 15
        changed = stale.take_changed()
        assert changed and all(story["id"].startswith("st-") for story in changed)
    finally:
        await client.aclose()


async def test_store_write_and_queries(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    store = StoryStore(client)
    try:
        stories = [
            {
                "id": "st-0000000000000001",
                "last_seen": 100.0,
                "size": 3,
                "sources": 3,
                "entities": ["deepseek"],
            },
            {
                "id": "st-0000000000000002",
                "last_seen": 200.0,
                "size": 1,
                "sources": 1,
                "entities": [],
            },
        ]
        await store.write(stories)
        assert [s["id"] for s in await query_stories(client)] == [
            "st-0000000000000002",
            "st-0000000000000001",
        ]
        assert [s["id"] for s in await query_stories(client, entity="deepseek")] == [
            "st-0000000000000001"
        ]
        assert await query_stories(client, min_sources=2) == [stories[0]]
        assert await get_story(client, "st-0000000000000001") == stories[0]
        assert await get_story(client, "st-0000000000000009") is None
        with pytest.raises(ValueError):
            await query_stories(client, limit=0)
    finally:
        await client.aclose()
