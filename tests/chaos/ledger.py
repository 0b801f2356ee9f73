"""The ledger: which alerts must exist at the end, and which do.

Expected alert ids are computed here, in the harness, with the same tagger and rules the
workers run (alert ids are deterministic: rule + article id), from the articles the pollers
published to Kafka. Every item the feed server published must be among those articles (else
the poller stage lost it: `articles_lost`); every expected alert must be in the Redis stream
exactly once and must have reached the webhook receiver at least once.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from newswatch.agents.alerting import RuleEngine, load_rules
from newswatch.agents.alerting.processing import catalogue_lookup, tag_article
from newswatch.agents.pipeline import load_tagger
from newswatch.streams.records import Article
from newswatch.streams.settings import load_settings
from tests.chaos.feeds import Item


class Rules:
    """The workers' tagger and rule engine, in this process."""

    def __init__(self) -> None:
        tagger = load_tagger(load_settings())
        self._tagger = tagger
        self._engine = RuleEngine(load_rules(None), catalogue_lookup(tagger.catalogue))

    def alert_ids(self, article: Article) -> set[str]:
        return {a.id for a in self._engine.evaluate(tag_article(self._tagger, article))}


async def read_articles(
    bootstrap: str, topic: str, partitions_count: int, timeout: float = 120.0
) -> list[Article]:
    """Every record of the articles topic, up to its end offsets now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(partitions_count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[Article] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                break
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                out.extend(Article.loads(r.value) for r in records if r.value)
        return out
    finally:
        await consumer.stop()


@dataclass
class Verdict:
    """The ledger's findings for one scenario (or the whole run)."""

    articles: int = 0
    articles_lost: int = 0  # published by the feed server, never in the articles topic
    articles_repeated: int = 0  # the same article id more than once in the topic
    alerts_expected: int = 0
    missing_redis: list[str] = field(default_factory=list)
    missing_webhook: list[str] = field(default_factory=list)
    duplicates: int = 0  # alert ids more than once in the Redis stream (extra copies)
    webhook_repeats: int = 0  # accepted deliveries beyond the first per alert id

    @property
    def lost(self) -> int:
        return len(set(self.missing_redis) | set(self.missing_webhook)) + self.lost_unpublished

    lost_unpublished: int = 0  # expected alerts of articles the pollers never published


def judge(
    items: list[Item],
    articles: list[Article],
    stream: list[tuple[str, str]],
    delivered: list[str],
    rules: Rules,
    hot_alerts: int,
) -> dict[str, Verdict]:
    """Per scenario name (and "total") the verdict."""
    by_url: dict[str, Article] = {}
    repeats: Counter[str] = Counter()
    for article in articles:
        if article.url in by_url:
            repeats[article.url] += 1
        by_url.setdefault(article.url or "", article)
    scenario_of = {item.url: item.scenario for item in items}
    in_stream = Counter(alert_id for alert_id, _ in stream)
    deliveries = Counter(delivered)

    verdicts: dict[str, Verdict] = {}
    for item in items:
        v = verdicts.setdefault(item.scenario, Verdict())
        v.articles += 1
        v.articles_repeated += repeats.get(item.url, 0)
        article = by_url.get(item.url)
        if article is None:
            v.articles_lost += 1
            if item.hot:
                v.alerts_expected += hot_alerts
                v.lost_unpublished += hot_alerts
            continue
        for alert_id in rules.alert_ids(article):
            v.alerts_expected += 1
            if alert_id not in in_stream:
                v.missing_redis.append(alert_id)
            if alert_id not in deliveries:
                v.missing_webhook.append(alert_id)
    for alert_id, count in in_stream.items():
        if count > 1:
            url = next(u for a, u in stream if a == alert_id)
            verdicts.setdefault(scenario_of.get(url, "unknown"), Verdict()).duplicates += count - 1
    for alert_id, count in deliveries.items():
        if count > 1:
            url = next((u for a, u in stream if a == alert_id), "")
            v = verdicts.setdefault(scenario_of.get(url, "unknown"), Verdict())
            v.webhook_repeats += count - 1
    total = Verdict()
    for v in verdicts.values():
        total.articles += v.articles
        total.articles_lost += v.articles_lost
        total.articles_repeated += v.articles_repeated
        total.alerts_expected += v.alerts_expected
        total.missing_redis += v.missing_redis
        total.missing_webhook += v.missing_webhook
        total.duplicates += v.duplicates
        total.webhook_repeats += v.webhook_repeats
        total.lost_unpublished += v.lost_unpublished
    verdicts["total"] = total
    return verdicts
