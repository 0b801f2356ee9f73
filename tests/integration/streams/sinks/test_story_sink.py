"""Stories in Redis: the sink and `/api/stories` queries, on a real redis-server."""

from __future__ import annotations

import asyncio
import random

import pytest
from redis.asyncio import Redis

from newswatch.agents.stories import StoryArticle, StoryEngine
from newswatch.streams.sinks.stories import (
    STORIES_INDEX,
    RedisStorySink,
    StoryRecordError,
    stories_response,
    story_key,
    story_response,
)

pytestmark = pytest.mark.redis

T0 = 1_750_000_000.0
COPY = (
    "Nvidia shares plunged 17% on Monday, wiping about $589 billion off its market value, "
    "the biggest one-day loss in U.S. history, after DeepSeek's low-cost R1 model raised "
    "doubts about spending on AI chips."
)
VERSIONS = {
    "en": ("Nvidia sheds $589 billion as DeepSeek rattles AI trade", COPY),
    "zh": (
        "DeepSeek冲击美股 英伟达市值单日蒸发5890亿美元",
        "受深度求索低成本R1模型冲击，英伟达股价周一暴跌17%，市值蒸发约5890亿美元。",
    ),
    "de": (
        "DeepSeek-Schock: Nvidia verliert 589 Milliarden Dollar",
        "Die Nvidia-Aktie ist um 17 Prozent eingebrochen; rund 589 Milliarden Dollar "
        "Börsenwert lösten sich auf. Auslöser war das KI-Modell R1 von DeepSeek.",
    ),
    "ja": (
        "エヌビディア株17%急落、時価総額5890億ドル消失",
        "米エヌビディアの株価が17%急落し、時価総額が約5890億ドル減少した。DeepSeekの「R1」が不安を招いた。",
    ),
}


def twenty_copies() -> list[StoryArticle]:
    """20 copies of one story in 4 languages, from 20 feeds over a few hours."""
    out = []
    langs = list(VERSIONS)
    for n in range(20):
        lang = langs[n % 4]
        title, text = VERSIONS[lang]
        out.append(
            StoryArticle(
                id=f"a{n:02d}",
                title=title,
                text=text + (" " + "Updated." * (n // 4) if n >= 4 else ""),
                lang=lang,
                published=T0 + n * 600,
                feed=f"feed{n}",
                url=f"https://feed{n}.example/a{n}",
                entities=("deepseek",),
                themes=("market_impact",),
            )
        )
    return out


async def test_twenty_copies_in_four_languages_are_one_story(redis: Redis) -> None:
    sink = RedisStorySink(redis)
    engine = StoryEngine()
    states = [engine.add(a).story for a in twenty_copies()]
    assert len({s["id"] for s in states}) == 1
    written = [await sink.write(s) for s in states]
    assert all(written)
    status, body = await stories_response(redis, {})
    assert status == 200 and body["count"] == 1
    story = body["stories"][0]
    assert story["size"] == 20 and story["sources"] == 20
    assert story["languages"] == ["de", "en", "ja", "zh"]
    assert story["headline"] == VERSIONS["en"][0]
    status, one = await story_response(redis, story["id"])
    assert status == 200 and one == story
    assert 0 < await redis.ttl(story_key(story["id"])) <= 8 * 86400


async def test_states_never_go_back_in_time(redis: Redis) -> None:
    sink = RedisStorySink(redis)
    engine = StoryEngine()
    states = [engine.add(a).story for a in twenty_copies()]
    shuffled = states * 2
    random.Random(3).shuffle(shuffled)
    await asyncio.gather(*(sink.write(s) for s in shuffled))
    _, stored = await story_response(redis, states[-1]["id"])
    assert stored["size"] == 20
    assert await sink.write(states[5]) is False  # older
    assert await sink.write(states[-1]) is False  # the same
    closed = {**states[-1], "status": "closed"}
    assert await sink.write(closed) is True
    assert await sink.write(states[-1]) is False  # open never replaces closed of one size
    _, stored = await story_response(redis, states[-1]["id"])
    assert stored["status"] == "closed"


async def test_queries_filter_and_refuse_bad_input(redis: Redis) -> None:
    sink = RedisStorySink(redis)

    def story(n: int, **extra: object) -> dict[str, object]:
        base = {
            "id": f"st-{n:016x}",
            "status": "open",
            "headline": f"Story {n}",
            "first_seen": T0 + n,
            "last_seen": T0 + n * 100,
            "size": n,
            "sources": n,
            "languages": ["en"],
            "entities": ["deepseek"],
            "themes": [],
            "growth_rate": 0.0,
            "articles": [],
        }
        return {**base, **extra}

    for n in range(1, 8):
        assert await sink.write(story(n))
    await sink.write(story(9, entities=["qwen", "alibaba"], languages=["zh", "en"]))
    _, body = await stories_response(redis, {"limit": "3"})
    assert [s["size"] for s in body["stories"]] == [9, 7, 6]  # newest last_seen first
    _, body = await stories_response(redis, {"entity": "qwen"})
    assert [s["size"] for s in body["stories"]] == [9]
    _, body = await stories_response(redis, {"min_sources": "6"})
    assert [s["size"] for s in body["stories"]] == [9, 7, 6]
    _, body = await stories_response(redis, {"lang": "zh"})
    assert [s["size"] for s in body["stories"]] == [9]
    _, body = await stories_response(redis, {"since": str(T0 + 500)})
    assert [s["size"] for s in body["stories"]] == [9, 7, 6, 5]
    for params in ({"limit": "0"}, {"entity": "Bad Id"}, {"since": "soon"}, {"x": "1"}):
        status, body = await stories_response(redis, params)
        assert status == 400 and "error" in body
    assert (await story_response(redis, "nope"))[0] == 400
    assert (await story_response(redis, "st-00000000000000ff"))[0] == 404
    for bad in ({"id": "x", "size": 1, "last_seen": T0}, {**story(1), "size": 0}):
        with pytest.raises(StoryRecordError):
            await sink.write(bad)
    # an expired story leaves its index entry; queries skip it
    await redis.delete(story_key(story(7)["id"]))
    _, body = await stories_response(redis, {"limit": "2"})
    assert [s["size"] for s in body["stories"]] == [9, 6]
    assert await redis.zcard(STORIES_INDEX) == 8


async def test_the_index_is_trimmed(redis: Redis) -> None:
    sink = RedisStorySink(redis, max_index=5)
    for n in range(1, 11):
        await sink.write(
            {"id": f"st-{n:016x}", "size": 1, "last_seen": T0 + n, "entities": ["deepseek"]}
        )
    assert await redis.zcard(STORIES_INDEX) == 5
    _, body = await stories_response(redis, {})
    assert body["count"] == 5 and body["stories"][0]["id"] == f"st-{10:016x}"


async def test_write_many_is_write_for_a_batch(redis_url: str) -> None:
    """The batch path (one pipelined round trip) stores exactly what single writes store."""
    import redis.asyncio as aioredis

    from newswatch.streams.sinks.stories import RedisStorySink, get_story, query_stories

    client = aioredis.Redis.from_url(redis_url)
    try:
        sink = RedisStorySink(client)
        first = {"id": "st-00000000000000a1", "size": 2, "last_seen": 10.0, "entities": ["qwen"]}
        second = {"id": "st-00000000000000a2", "size": 1, "last_seen": 20.0, "entities": []}
        assert await sink.write_many([first, second]) == [True, True]
        older = dict(first, size=1, last_seen=30.0)
        assert await sink.write_many([older, second]) == [False, False]  # never back in time
        assert await get_story(client, first["id"]) == first
        assert [s["id"] for s in await query_stories(client, entity="qwen")] == [first["id"]]
        assert await sink.write_many([]) == []
    finally:
        await client.aclose()
