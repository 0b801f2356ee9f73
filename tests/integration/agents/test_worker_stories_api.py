"""`/api/stories` and `/api/stories/{id}` of a real worker, over stories a sink wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from newswatch.agents.stories import StoryArticle, StoryEngine
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.stories import RedisStorySink
from tests.support.worker import WorkerHarness

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


@pytest.fixture
def harness(tansu, redis_url: str, tmp_path: Path) -> Iterator[WorkerHarness]:
    h = WorkerHarness(tansu.bootstrap, redis_url, tmp_path / "state")
    yield h
    h.stop()


async def test_the_worker_serves_stories_from_redis(harness: WorkerHarness, redis_url: str) -> None:
    engine = StoryEngine()
    texts = {
        "en": "Nvidia shares plunged 17%, wiping $589 billion off its value after DeepSeek R1.",
        "zh": "受深度求索R1模型冲击，英伟达股价暴跌17%，市值蒸发约5890亿美元。",
    }
    state = None
    for n, (lang, text) in enumerate(texts.items()):
        state = engine.add(
            StoryArticle(
                id=f"a{n}",
                title=text[:30],
                text=text,
                lang=lang,
                published=1.75e9 + n,
                entities=("deepseek",),
                themes=("market_impact",),
            )
        ).story
    assert state is not None and state["size"] == 2
    redis = make_redis(load_settings(redis_url=redis_url))
    assert await RedisStorySink(redis).write(state)
    await redis.aclose()

    await harness.create_topics()
    harness.start()
    await harness.wait_ready()
    status, body = harness.http("/api/stories?entity=deepseek")
    assert status == 200
    listed = orjson.loads(body)
    assert listed["count"] == 1 and listed["stories"][0]["languages"] == ["en", "zh"]
    status, body = harness.http(f"/api/stories/{state['id']}")
    assert status == 200 and orjson.loads(body)["size"] == 2
    assert harness.http("/api/stories/st-00000000000000ff")[0] == 404
    assert harness.http("/api/stories/not-an-id")[0] == 400
    assert harness.http("/api/stories?limit=0")[0] == 400
    assert harness.terminate() == 0
