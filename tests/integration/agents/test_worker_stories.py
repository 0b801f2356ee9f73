"""Stories in a running worker, on Tansu and Apache Kafka: 20 copies of one story in four
languages become one story in `/api/stories` and on the stories topic; a restart keeps it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from newswatch.streams.records import Article
from tests.support.worker import WorkerHarness

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

VERSIONS = [
    (
        "en",
        "US adds Zhipu and Moonshot to export blacklist over AI chips",
        "The Commerce Department added Zhipu AI and Moonshot AI to the Entity List on Tuesday, "
        "citing their access to Nvidia H20 chips. Commerce Secretary Lutnick said 140 entities "
        "were named.",
    ),
    (
        "de",
        "USA setzen Zhipu und Moonshot wegen KI-Chips auf Exportliste",
        "Das US-Handelsministerium hat Zhipu AI und Moonshot AI am Dienstag auf die Entity List "
        "gesetzt, wegen ihres Zugangs zu Nvidia-H20-Chips. Handelsminister Lutnick nannte 140 "
        "Unternehmen.",
    ),
    (
        "fr",
        "Les États-Unis ajoutent Zhipu et Moonshot à la liste noire des exportations",
        "Le département du Commerce a inscrit Zhipu AI et Moonshot AI sur l'Entity List mardi, "
        "en raison de leur accès aux puces Nvidia H20. Le secrétaire Lutnick a cité 140 entités.",
    ),
    (
        "es",
        "EE. UU. incluye a Zhipu y Moonshot en la lista negra de exportaciones",
        "El Departamento de Comercio incluyó a Zhipu AI y Moonshot AI en la Entity List el "
        "martes por su acceso a los chips Nvidia H20. El secretario Lutnick citó 140 entidades.",
    ),
]


def copies(tag: str) -> list[Article]:
    t0 = time.time() - 3_600
    out = []
    for i in range(20):
        lang, title, lead = VERSIONS[i % 4]
        out.append(
            Article(
                id=f"{tag}-{i}",
                feed_id=f"outlet-{i}",
                title=title,
                url=f"https://outlet{i}.example/{tag}",
                summary=lead,
                lang=lang,
                published=t0 + 60 * i,
            )
        )
    return out


@pytest.fixture
def harness(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
) -> Iterator[WorkerHarness]:
    broker = request.getfixturevalue(request.param)
    h = WorkerHarness(broker.bootstrap, redis_url, tmp_path / "state")
    yield h
    h.stop()


async def wait_for_story(harness: WorkerHarness, size: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    stories: list[dict] = []
    while time.monotonic() < deadline:
        status, body = harness.http("/api/stories?limit=50")
        if status == 200:
            stories = orjson.loads(body)["stories"]
            if any(s["size"] >= size for s in stories):
                return max(stories, key=lambda s: s["size"])
        await asyncio.sleep(0.3)
    raise AssertionError(f"no story of {size} articles: {stories}\n{harness.log()}")


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
    assert harness.metric("newswatch_story_assignments_total") >= 20
    assert harness.terminate() == 0
