"""Story alerts in the stories agent's stage on a real redis-server: the alert state is in the
checkpoint, so a takeover replays to the same alert ids and update sequence."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from newswatch.agents.stories import StoryEngine
from newswatch.agents.stories.alerts import UpdatePolicy
from newswatch.agents.story_agent import StoryAlerting, StoryStage
from newswatch.streams.sinks.stories import StoryStore
from tests.support.stories import alert_key as key
from tests.support.stories import alerting_stage as stage
from tests.support.stories import records
from tests.support.stories import run_alerting as run

pytestmark = [pytest.mark.redis]


async def test_takeover_replays_to_the_same_alerts(redis_url: str, alerting: StoryAlerting) -> None:
    values = records()
    client = aioredis.Redis.from_url(redis_url)
    try:
        reference = await run(stage(client, alerting), values, range(len(values)))
        created = [a for a in reference if a.kind == "story"]
        assert created and len({a.rule for a in created}) == len(created)
        assert [a for a in reference if a.kind == "story_update"]
        await client.flushall()

        first = stage(client, alerting)
        got = await run(first, values, range(0, 10))
        await first.checkpoint()
        lost = await run(first, values, range(10, 15))  # never checkpointed
        second = stage(client, alerting)
        replayed = await run(second, values, range(10, len(values)))
        assert key(got + replayed) == key(reference)
        # What the first owner sent after its checkpoint comes again with the same ids.
        assert {a.id for a in lost} <= {a.id for a in replayed}
    finally:
        await client.aclose()


async def test_a_checkpoint_without_alert_state_still_restores_the_stories(
    redis_url: str, alerting: StoryAlerting
) -> None:
    values = records()
    client = aioredis.Redis.from_url(redis_url)
    try:
        plain = StoryStage(StoryStore(client), StoryEngine, StoryEngine.restore, checkpoint_every=0)
        for offset in range(6):
            await plain.add(offset, values[offset])
        await plain.checkpoint()
        assert (await StoryStore(client).load_checkpoint_parts())[2] is None
        second = stage(client, alerting)
        alerts = await run(second, values, range(6, 12))
        assert second.engine is not None and second.engine.stats()["members"] == 12
        assert len([a for a in alerts if a.kind == "story"]) >= 1  # the story alerts anew
    finally:
        await client.aclose()


async def test_stories_are_flagged_breaking_without_story_alerts(redis_url: str) -> None:
    values = records()  # the main story: 20 sources within 24 minutes
    client = aioredis.Redis.from_url(redis_url)
    try:
        policy = UpdatePolicy(breaking_window=3_600, breaking_sources=5)
        st = StoryStage(
            StoryStore(client),
            StoryEngine,
            StoryEngine.restore,
            checkpoint_every=0,
            breaking=policy,
        )
        flags = []
        for offset in range(12):
            assignment = await st.add(offset, values[offset])
            assert assignment is not None
            if assignment.story["size"] > 1:
                flags.append((assignment.story["sources"], assignment.story["breaking"]))
        assert (4, False) in flags and (5, True) in flags
        assert st.take_alerts() == []
    finally:
        await client.aclose()
