"""Per-article processing, the pure part of the tag agent: decode -> tag -> rules -> encode.

`ArticleProcessor.process_batch(values)` turns raw Kafka values into `Outcome`s: the encoded
TaggedArticle and Alert records to publish, or the reason a record belongs in the dead-letter
topic. It imports neither Faust nor Kafka, so `agents/tagpool.py` can run it in a child
process: the worker's event loop (Faust's per-record machinery, producers, the Redis sinks)
then keeps one core while tagging and rule evaluation use the other. The agent awaits the pool
for each batch and acknowledges the batch only after publishing its outcomes, so the delivery
guarantee is unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.agents.alerting.engine import EntityInfo, EntityLookup, RuleEngine
from newswatch.agents.alerting.rules import load_rules
from newswatch.streams.names import DisplayNames
from newswatch.streams.records import (
    MAX_RECORD_BYTES,
    Article,
    RecordError,
    RecordTooLargeError,
    TaggedArticle,
)

if TYPE_CHECKING:  # the tagging package is imported only where a tagger is loaded
    from newswatch.agents.tagging.protocols import CatalogueEntity, EntityCatalogue, TextTagger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one record: published records, or a dead-letter reason."""

    reason: str | None = None  # set: dead letter (a `DEADLETTER_REASONS` value)
    error: str | None = None
    article_id: str = ""
    tagged: bytes = b""
    alerts: tuple[tuple[str, str, str, bytes], ...] = ()  # (id, rule, severity, JSON)
    entities: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    lang: str | None = None
    fetched_at: float = 0.0
    story_item: bytes = b""  # the stories agent's input (agents/stories/story_input.py)

    @property
    def ok(self) -> bool:
        return self.reason is None


def _fitting(body: bytes, max_bytes: int = MAX_RECORD_BYTES) -> bytes:
    """An encoded alert, or RecordTooLargeError (alerts are small within the decode limits
    of their article; this guards records built some other way)."""
    if len(body) > max_bytes:
        raise RecordTooLargeError(f"alert: {len(body)} bytes exceeds {max_bytes}")
    return body


def tag_article(tagger: TextTagger, article: Article) -> TaggedArticle:
    """Run the tagging engine over one article."""
    result = tagger.tag(article.text, title=article.title, lang=article.lang)
    return TaggedArticle(
        article=article,
        entities=list(result.entities),
        themes=list(result.themes),
        mentions=list(result.mentions),
        lang=result.lang or article.lang,
    )


def dead_letter_reason(exc: BaseException) -> str:
    """The dead-letter reason for an exception: a RecordError says which (its class), anything
    else raised while handling a record is "processing"."""
    return exc.reason if isinstance(exc, RecordError) else "processing"


def catalogue_lookup(catalogue: EntityCatalogue) -> EntityLookup:
    """EntityLookup over the tagging catalogue: kind, and groups of the entity and its parents
    (None for an id the catalogue does not hold)."""
    cache: dict[str, EntityInfo | None] = {}

    def get(entity_id: str | None) -> CatalogueEntity | None:
        if not entity_id:
            return None
        try:
            return catalogue.entity(entity_id)
        except KeyError:
            return None

    def lookup(entity_id: str) -> EntityInfo | None:
        if entity_id in cache:
            return cache[entity_id]
        entity = get(entity_id)
        info = None
        if entity is not None:
            groups: set[str] = set()
            node: CatalogueEntity | None = entity
            seen: set[int] = set()
            while node is not None and id(node) not in seen:
                seen.add(id(node))
                if node.group:
                    groups.add(node.group)
                node = get(node.parent)
            info = EntityInfo(kind=entity.kind, groups=frozenset(groups))
        cache[entity_id] = info
        return info

    return lookup


class ArticleProcessor:
    """Decode, tag and (when `engine` is given) evaluate the rules for raw article values."""

    def __init__(
        self,
        tagger: TextTagger,
        engine: RuleEngine | None,
        max_bytes: int = MAX_RECORD_BYTES,
        stories: StoryItems | None = None,
    ) -> None:
        self.tagger = tagger
        self.engine = engine
        self.max_bytes = max_bytes
        self.stories = stories

    def process(self, value: bytes) -> Outcome:
        """Never raises (but for BaseExceptions such as KeyboardInterrupt): whatever goes
        wrong with one record becomes a dead-letter Outcome with its reason."""
        article_id = ""
        try:
            article = Article.loads(value)
            article_id = article.id
            try:
                tagged = tag_article(self.tagger, article)
            except Exception:  # a tagger bug must not stop the stream
                log.exception("tagger failed on article %s", article.id)
                raise
            alerts: tuple[tuple[str, str, str, bytes], ...] = ()
            if self.engine is not None:
                try:
                    raised = self.engine.evaluate(tagged)
                except Exception:
                    log.exception("rule evaluation failed on article %s", article.id)
                    raise
                alerts = tuple((a.id, a.rule, a.severity, _fitting(a.dumps())) for a in raised)
            story_item = b""
            if self.stories is not None:
                try:
                    story_item = self.stories.item(tagged)
                except Exception:
                    log.exception("story features failed on article %s", article.id)
                    raise
            return Outcome(
                article_id=article.id,
                tagged=tagged.dumps_within(self.max_bytes),
                alerts=alerts,
                entities=tuple(dict.fromkeys(tagged.entities)),
                themes=tuple(dict.fromkeys(tagged.theme_ids)),
                lang=tagged.lang,
                fetched_at=article.fetched_at,
                story_item=story_item,
            )
        except Exception as exc:
            error = str(exc) if isinstance(exc, RecordError) else repr(exc)
            return Outcome(
                reason=dead_letter_reason(exc), error=error[:2000], article_id=article_id
            )

    def process_batch(self, values: list[bytes]) -> list[Outcome]:
        return [self.process(value) for value in values]


class StoryItems:
    """Makes each tagged article's story-input item: the story engine's per-article work
    (features, MinHash signature) and, with story alerts, the rule matches the stories agent
    folds into story alerts, done here, off the stories agent's single partition."""

    def __init__(self, rules: RuleEngine | None) -> None:
        from newswatch.agents.stories import StoryConfig
        from newswatch.agents.stories.engine import FeatureMaker
        from newswatch.agents.stories.gazetteer import Gazetteer

        # The stories agent's engine runs with the default config and shipped gazetteer
        # (agents/pipeline.py); a difference shows in the fingerprint and is made again there.
        self.maker = FeatureMaker(StoryConfig(), Gazetteer.shipped())
        self.rules = rules

    def item(self, tagged: TaggedArticle) -> bytes:
        from newswatch.agents.stories.story_input import encode_item

        alerts = None
        if self.rules is not None:  # event time, as the stories agent did: replays match
            alerts = self.rules.evaluate(tagged, now=tagged.article.fetched_at)
        return encode_item(tagged, self.maker, alerts)


#: `stories` of load_processor: no story items, items without rule matches, items with them.
STORY_MODES = ("", "on", "alerts")


def load_processor(
    catalogue_dir: Path | None, rules_file: Path | None, rules: bool, stories: str = ""
) -> ArticleProcessor:
    """An ArticleProcessor over the shipped (or given) catalogue and rules; `stories` (one of
    `STORY_MODES`) adds the story-input items."""
    from newswatch.agents.tagging import Tagger

    if stories not in STORY_MODES:
        raise ValueError(f"stories: {stories!r} is not one of {STORY_MODES}")
    tagger = Tagger.load(catalogue_dir)
    engine = None
    if rules or stories == "alerts":
        engine = RuleEngine(
            load_rules(rules_file),
            catalogue_lookup(tagger.catalogue),
            DisplayNames.from_catalogue(tagger.catalogue),
        )
    items = StoryItems(engine if stories == "alerts" else None) if stories else None
    return ArticleProcessor(tagger, engine if rules else None, stories=items)
