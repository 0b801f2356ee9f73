"""Stories in a running worker, on Tansu and Apache Kafka: 20 copies of one story in four
languages become one story in `/api/stories` and on the stories topic; a restart keeps it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.stories import copies, wait_for_story
from tests.support.worker import WorkerHarness

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def harness(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
) -> Iterator[WorkerHarness]:
    broker = request.getfixturevalue(request.param)
    h = WorkerHarness(broker.bootstrap, redis_url, tmp_path / "state")
    yield h
    h.stop()


@pytest.mark.parametrize("harness", ["tansu", "apache_kafka"], indirect=True)
async def test_twenty_copies_in_four_languages_make_one_story(harness: WorkerHarness) -> None:
    await harness.create_topics()
    harness.start()
    await harness.wait_ready()
    articles = copies("entity-list")
    await harness.publish_articles(articles[:12])
    story = await wait_for_story(harness, 12)

    # A restart in the middle: the next articles join the same story (checkpoint + replay).
    assert harness.terminate() == 0
    harness.start()
    await harness.wait_ready()
    await harness.publish_articles(articles[12:] + articles[:3])  # and a few redelivered
    story = await wait_for_story(harness, 20)

    assert story["size"] == 20
    assert story["sources"] == 20
    assert story["languages"] == ["de", "en", "es", "fr"]
    assert {a["id"] for a in story["articles"]} <= {a.id for a in articles}
    status, body = harness.http("/api/stories")
    assert [s["id"] for s in orjson.loads(body)["stories"]] == [story["id"]]
    status, body = harness.http(f"/api/stories/{story['id']}")
    assert status == 200 and orjson.loads(body)["size"] == 20
    assert harness.http("/api/stories/st-0000000000000000")[0] == 404
    assert harness.http("/api/stories/..%2Fetc")[0] in (400, 404)

    records = await harness.read_topic("stories", 1)
    assert records and {r.key for r in records} == {story["id"].encode()}
    # This process assigned the 8 new and 3 redelivered articles, plus any of the first 12
    # that its checkpoint did not hold yet (replayed): how many depends on checkpoint timing.
    assert harness.metric("newswatch_story_assignments_total") >= len(articles) - 12 + 3
    assert harness.terminate() == 0
