"""The stories agent's per-story checkpoint on a real redis-server: fenced, all or nothing,
read in chunks, and the previous whole layout replaced without loss."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from newswatch.streams.sinks.stories import (
    BASE_MOVED,
    CHECKPOINT,
    CHECKPOINT_STORIES,
    FENCED,
    LOAD_ATTEMPTS,
    STORED,
    StoryStore,
)

pytestmark = [pytest.mark.redis]


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[StoryStore]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushall()
    try:
        yield StoryStore(client)
    finally:
        await client.aclose()


async def state(store: StoryStore) -> tuple[dict[Any, Any], dict[Any, Any]]:
    return await store.redis.hgetall(CHECKPOINT), await store.redis.hgetall(CHECKPOINT_STORIES)


async def test_changes_apply_on_their_base_and_an_older_offset_writes_nothing(
    store: StoryStore,
) -> None:
    full = {"st-a": b"A1", "st-b": b"B1", "st-c": b"C1"}
    assert await store.save_checkpoint_records(10, None, b"h10", full, [], b"al10") == STORED
    assert await store.save_checkpoint_records(14, 10, b"h14", {"st-a": b"A2"}, ["st-b"]) == STORED
    loaded = await store.load_checkpoint_state()
    assert (loaded.offset, loaded.header, loaded.snapshot, loaded.alerts) == (
        14,
        b"h14",
        None,
        None,
    )
    assert sorted(loaded.stories) == [b"A2", b"C1"]

    before = await state(store)
    for offset, base in ((14, 10), (12, 10), (12, None)):  # not past the stored offset
        args = (offset, base, b"old", {"st-z": b"Z"}, ["st-a"], b"al")
        assert await store.save_checkpoint_records(*args) == FENCED
    # Changes made on top of offset 10, but 14 is stored: they would lose 14's.
    assert await store.save_checkpoint_records(20, 10, b"h20", {"st-z": b"Z"}, []) == BASE_MOVED
    assert await state(store) == before


async def test_a_failing_check_writes_nothing(store: StoryStore) -> None:
    assert await store.save_checkpoint_records(3, None, b"h3", {"st-a": b"A"}, []) == STORED
    await store.redis.delete(CHECKPOINT_STORIES)
    await store.redis.set(CHECKPOINT_STORIES, b"not a hash")
    before = await store.redis.hgetall(CHECKPOINT)
    with pytest.raises(ResponseError, match="not a hash"):
        await store.save_checkpoint_records(4, 3, b"h4", {"st-b": b"B"}, ["st-a"], b"al")
    assert await store.redis.hgetall(CHECKPOINT) == before
    assert await store.redis.get(CHECKPOINT_STORIES) == b"not a hash"


async def test_many_stories_are_written_and_read_in_chunks(store: StoryStore) -> None:
    stories = {f"st-{i:016x}": b"x" * (i % 50) + b"%d" % i for i in range(5_001)}
    assert await store.save_checkpoint_records(1, None, b"h", stories, []) == STORED
    closed = list(stories)[:4_003]
    assert await store.save_checkpoint_records(2, 1, b"h2", {}, closed) == STORED
    loaded = await store.load_checkpoint_state(scan_count=100)
    assert sorted(loaded.stories) == sorted(stories[k] for k in list(stories)[4_003:])
    # A full write replaces every stored story.
    assert await store.save_checkpoint_records(3, None, b"h3", {"st-new": b"N"}, []) == STORED
    assert (await store.load_checkpoint_state()).stories == [b"N"]


async def test_a_read_starts_over_when_a_checkpoint_lands_in_the_middle(
    store: StoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await store.save_checkpoint_records(1, None, b"h1", {"st-a": b"A1"}, []) == STORED
    scan = store.redis.hscan_iter
    calls = 0

    async def scan_with_a_write(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        nonlocal calls
        calls += 1
        async for item in scan(*args, **kwargs):
            if calls == 1:  # another worker checkpoints during the first read
                assert await store.save_checkpoint_records(2, 1, b"h2", {"st-b": b"B"}, ["st-a"])
            yield item

    monkeypatch.setattr(store.redis, "hscan_iter", scan_with_a_write)
    loaded = await store.load_checkpoint_state()
    assert calls == 2
    assert (loaded.offset, loaded.header, loaded.stories) == (2, b"h2", [b"B"])


async def test_a_read_that_keeps_being_interrupted_ends_in_one_transaction(
    store: StoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await store.save_checkpoint_records(1, None, b"h1", {"st-0": b"0"}, []) == STORED
    scan = store.redis.hscan_iter
    offset = 1

    async def scan_with_a_write(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        nonlocal offset
        async for item in scan(*args, **kwargs):
            offset += 1
            changes = {f"st-{offset}": b"%d" % offset}
            assert await store.save_checkpoint_records(offset, None, b"h%d" % offset, changes, [])
            yield item

    monkeypatch.setattr(store.redis, "hscan_iter", scan_with_a_write)
    loaded = await store.load_checkpoint_state()
    assert offset == 1 + LOAD_ATTEMPTS
    assert (loaded.offset, loaded.header) == (offset, b"h%d" % offset)
    assert loaded.stories == [b"%d" % offset]


async def test_the_whole_layout_loads_and_each_layout_replaces_the_other(
    store: StoryStore,
) -> None:
    assert await store.save_checkpoint(5, b"whole", b"alerts")
    loaded = await store.load_checkpoint_state()
    assert (loaded.offset, loaded.header, loaded.snapshot, loaded.alerts) == (
        5,
        None,
        b"whole",
        b"alerts",
    )
    # Changes cannot apply on a whole snapshot: only a full write replaces it.
    assert await store.save_checkpoint_records(6, 5, b"h6", {"st-a": b"A"}, []) == BASE_MOVED
    assert await store.save_checkpoint_records(6, None, b"h6", {"st-a": b"A"}, [], b"al") == STORED
    checkpoint, stories = await state(store)
    assert checkpoint == {b"offset": b"6", b"header": b"h6", b"alerts": b"al"}
    assert stories == {b"st-a": b"A"}
    assert await store.load_checkpoint() == (-1, None)  # no whole snapshot any more
    # And back: a whole checkpoint (a tool, an older worker) removes the per-story layout.
    assert await store.save_checkpoint(7, b"whole7")
    checkpoint, stories = await state(store)
    assert checkpoint == {b"offset": b"7", b"engine": b"whole7"} and stories == {}
    assert (await store.load_checkpoint_state()).snapshot == b"whole7"


async def test_nothing_stored(store: StoryStore) -> None:
    loaded = await store.load_checkpoint_state()
    assert (loaded.offset, loaded.header, loaded.stories, loaded.snapshot) == (-1, None, [], None)
