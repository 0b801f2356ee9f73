"""Story fixtures: one story told by many outlets in several languages, as worker input
(`copies`) and as tagged records for the story stage (`records`), and a wait for a story in a
running worker's `/api/stories`."""

from __future__ import annotations

import asyncio
import time

import orjson

from newswatch.agents.alerting.processing import tag_article
from newswatch.agents.pipeline import load_tagger
from newswatch.streams.records import Article
from newswatch.streams.settings import load_settings
from tests.support.worker import WorkerHarness

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
    """20 reports of one story (Zhipu and Moonshot on the Entity List) in four languages,
    a minute apart, an hour ago."""
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


STORY = [
    ("en", "DeepSeek releases R2 model with open weights under MIT licence"),
    ("de", "DeepSeek veröffentlicht R2-Modell mit offenen Gewichten unter MIT-Lizenz"),
    ("fr", "DeepSeek publie le modèle R2 avec des poids ouverts sous licence MIT"),
    ("es", "DeepSeek lanza el modelo R2 con pesos abiertos bajo licencia MIT"),
]
OTHER = "City council approves new bicycle lanes downtown after a long debate"


def records() -> list[bytes]:
    """24 tagged records: 20 of one story (DeepSeek R2) in four languages, every sixth an
    unrelated local story."""
    tagger = load_tagger(load_settings())
    out = []
    t0 = 1_790_000_000.0
    for i in range(24):
        if i % 6 == 5:
            lang, title = "en", f"{OTHER} ({i})"
            summary = f"{title}. Shop owners in district {i} asked for more parking spaces."
        else:
            lang, title = STORY[i % 4]
            summary = title + ". The R2 model has 670 billion parameters, the company said."
        article = Article(
            id=f"a{i}",
            feed_id=f"feed-{i}",
            title=title,
            summary=summary,
            lang=lang,
            published=t0 + 60 * i,
            url=f"https://news{i}.example/a{i}",
        )
        out.append(tag_article(tagger, article).dumps())
    return out


# -- the stories agent's stage with story alerts (tests/integration/agents) ------------------


def story_alerting():
    """Story alerts with the shipped rules, updates at 3 and 5 sources, 2 minutes apart."""
    from newswatch.agents.alerting import RuleEngine, load_rules
    from newswatch.agents.alerting.processing import catalogue_lookup
    from newswatch.agents.stories.alerts import UpdatePolicy
    from newswatch.agents.story_agent import StoryAlerting

    tagger = load_tagger(load_settings())
    rules = RuleEngine(load_rules(None), catalogue_lookup(tagger.catalogue))
    return StoryAlerting(rules, UpdatePolicy(sources=(3, 5), min_interval=120))


def alerting_stage(redis, alerting):
    """A StoryStage that checkpoints on every record, with `alerting`."""
    from newswatch.agents.stories import StoryEngine
    from newswatch.agents.story_agent import StoryStage
    from newswatch.streams.sinks.stories import StoryStore

    return StoryStage(
        StoryStore(redis), StoryEngine, StoryEngine.restore, checkpoint_every=0, alerting=alerting
    )


async def run_alerting(stage, values: list[bytes], offsets: range) -> list:
    """Feed `values[offsets]` to the stage; the story alerts it raised, in order."""
    out: list = []
    for offset in offsets:
        await stage.add(offset, values[offset])
        out += stage.take_alerts()
    return out


def alert_key(alerts: list) -> list[tuple]:
    """What two runs must agree on: id, kind, sequence, reasons and sources of each alert."""
    return [(a.id, a.kind, a.sequence, tuple(a.reasons), a.sources) for a in alerts]
