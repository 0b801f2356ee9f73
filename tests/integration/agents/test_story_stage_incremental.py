"""Incremental checkpoints of the stories agent on a real redis-server: a worker that takes
over restores the per-story checkpoint and goes on exactly as one uninterrupted run; a
checkpoint in the previous, whole layout still restores and is migrated."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from newswatch.agents import metrics
from newswatch.agents.stories import StoryEngine
from newswatch.agents.story_agent import StoryStage
from newswatch.streams.sinks.stories import CHECKPOINT, CHECKPOINT_STORIES, StoryStore
from tests.support.stories import records

pytestmark = [pytest.mark.redis]


def stage(redis: aioredis.Redis, incremental: bool = True, alerting: Any = None) -> StoryStage:
    return StoryStage(
        StoryStore(redis),
        StoryEngine,
        StoryEngine.restore,
        checkpoint_every=0,
        alerting=alerting,
        restore_records=StoryEngine.restore_records if incremental else None,
    )


async def run(st: StoryStage, values: list[bytes], offsets: range, every: int = 1) -> list[Any]:
    """Feed `values[offsets]`, checkpointing after every `every` records; the assignments."""
    out = []
    for n, offset in enumerate(offsets):
        result = await st.add(offset, values[offset])
        out.append(None if result is None else (result.article_id, result.story_id, result.how))
        if every and n % every == every - 1:
            await st.checkpoint()
    return out


def snapshot(st: StoryStage) -> bytes:
    assert st.engine is not None
    return st.engine.snapshot()


async def test_a_takeover_restores_the_records_and_goes_on_identically(
    redis_url: str, alerting: Any
) -> None:
    values = records()
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushall()
        straight = stage(client, alerting=alerting)
        reference = await run(straight, values, range(len(values)), every=0)
        await client.flushall()

        first = stage(client, alerting=alerting)
        got = await run(first, values, range(0, 13))  # 13 incremental checkpoints
        assert await client.hexists(CHECKPOINT, "header")
        assert not await client.hexists(CHECKPOINT, "engine")
        assert first.alerter is not None
        assert await client.hget(CHECKPOINT, "alerts") == first.alerter.snapshot()

        second = stage(client, alerting=alerting)
        await second.load()
        assert snapshot(second) == snapshot(first)
        assert snapshot(second) == StoryEngine.restore(snapshot(first)).snapshot()
        assert second.engine is not None and first.engine is not None
        assert list(second.engine._stories) == list(first.engine._stories)
        got += await run(second, values, range(13, len(values)))
        assert got == reference
        assert snapshot(second) == snapshot(straight)

        third = stage(client, alerting=alerting)
        await third.load()
        assert snapshot(third) == snapshot(straight)
    finally:
        await client.aclose()


async def test_a_whole_checkpoint_restores_and_the_next_one_migrates_it(redis_url: str) -> None:
    values = records()
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushall()
        straight = stage(client)
        reference = await run(straight, values, range(len(values)), every=0)
        await client.flushall()

        old = stage(client, incremental=False)  # the previous version: whole snapshots
        got = await run(old, values, range(0, 10), every=10)
        assert await client.hexists(CHECKPOINT, "engine")

        new = stage(client)
        await new.load()
        assert snapshot(new) == snapshot(old)
        got += await run(new, values, range(10, 12))
        checkpoint = await client.hgetall(CHECKPOINT)
        assert b"engine" not in checkpoint and checkpoint[b"offset"] == b"11"
        assert new.engine is not None
        assert {k.decode() for k in await client.hkeys(CHECKPOINT_STORIES)} == set(
            new.engine._stories
        )

        after = stage(client)
        await after.load()
        assert snapshot(after) == snapshot(new)
        got += await run(after, values, range(12, len(values)))
        assert got == reference
    finally:
        await client.aclose()


async def test_changes_on_a_checkpoint_another_worker_replaced_go_out_whole(
    redis_url: str,
) -> None:
    values = records()
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushall()
        a = stage(client)
        await run(a, values, range(0, 6), every=6)  # checkpoint at offset 5
        b = stage(client)
        await run(b, values, range(6, 10), every=4)  # restores 5, checkpoints at 9
        # `a` never saw 9: its changes since 5 do not apply on 9's; it writes all it holds.
        await run(a, values, range(6, 13), every=7)
        assert await client.hget(CHECKPOINT, "offset") == b"12"
        c = stage(client)
        await c.load()
        assert snapshot(c) == snapshot(a)
    finally:
        await client.aclose()


async def test_the_metric_counts_the_bytes_written(redis_url: str) -> None:
    values = records()
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushall()
        st = stage(client)
        await run(st, values, range(0, 20), every=20)
        first = metrics.STORY_CHECKPOINT_BYTES._value.get()
        assert first >= len(snapshot(st)) * 0.9
        await run(st, values, range(20, 21))  # one article: one story's record and the header
        one = metrics.STORY_CHECKPOINT_BYTES._value.get()
        assert st.engine is not None
        assert 0 < one < first
    finally:
        await client.aclose()
