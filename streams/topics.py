"""The topic table: every Kafka topic newswatch uses, declared once.

Names are `{prefix}.{name}.v1`; the prefix comes from settings (`topic_prefix`).
"""

from __future__ import annotations

from dataclasses import dataclass

from newswatch.streams.settings import Settings


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    value: str
    doc: str
    #: Topic-level configuration set when newswatch creates the topic.
    config: tuple[tuple[str, str], ...] = ()


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("articles", "article id", "Article", "new articles from the pollers"),
    TopicSpec("tagged", "article id", "TaggedArticle", "articles with entities and themes"),
    TopicSpec("alerts", "alert id", "Alert", "the durable record of every alert"),
    TopicSpec(
        "deadletter",
        "original key",
        "DeadLetter JSON",
        "records an agent could not decode or process, with the error",
    ),
    TopicSpec(
        "stories",
        "story id",
        "the story's latest state (JSON)",
        "stories as they change (compacted: the last record per story is its state)",
        config=(("cleanup.policy", "compact"),),
    ),
    TopicSpec(
        "feeds",
        "feed id",
        "FeedSpec JSON, or a tombstone (no value) for a removed feed",
        "the feed list shared by sharded pollers (compacted: the latest record per feed)",
        config=(("cleanup.policy", "compact"),),
    ),
)


def topic_configs() -> dict[str, dict[str, str]]:
    """Short name -> topic configuration for the topics that have one."""
    return {spec.name: dict(spec.config) for spec in TOPICS if spec.config}


def topic_names(settings: Settings) -> dict[str, str]:
    """Short name -> full topic name, e.g. {'articles': 'newswatch.articles.v1', ...}."""
    return {spec.name: settings.topic(spec.name) for spec in TOPICS}
