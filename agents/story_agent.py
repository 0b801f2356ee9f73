"""The stories agent: every tagged article joins a story (agents/stories), in one global order.

Why one partition. A story gathers articles from every feed and language, so one engine must
see every article. The tag agent forwards each tagged article to the internal topic
`<app>-story-input`, which has ONE partition: its offsets are the engine's order, so the same
articles replayed give the same stories, and Kafka's group membership makes exactly one worker
run the engine at a time (another takes over at a rebalance).

State: Redis, not a Faust table. The engine is one object, not a key-value map: a table's
changelog would have to carry every story on every change. Instead the agent checkpoints the
engine's snapshot with the offset of the last record it holds (`StoryStore`, fenced: a higher
offset is never replaced by a lower one) every `CHECKPOINT_EVERY` seconds, and acknowledges a
record only once a checkpoint holds it, so the committed offset never passes the checkpoint.
A worker that gets the partition restores the checkpoint, skips the records it already holds
and goes on; records processed after the last checkpoint are simply processed again, with the
same result (the engine is deterministic). The price: the committed offset of this topic lags
by up to one checkpoint interval, and a takeover replays at most that much.

Out: the latest state of every story an article changed goes to `newswatch.stories.v1`
(keyed by story id, compacted: the last record per story is its state) and to Redis for the
API and the live page.

Alerts at story level (`StoryAlerting`, on by default with `stories.alerts`): the stage also
evaluates the rules on each tagged article and lets `agents/stories/alerts.py` decide what the
story's alerts say (one alert per rule and story, updates on meaningful change). That state is
checkpointed with the engine, in the same fenced write, so a takeover replays the same alert
ids and the same update sequence; the sinks drop what a replay sends again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from newswatch.agents import metrics
from newswatch.agents.alerting.engine import RuleEngine
from newswatch.agents.alerting.processing import dead_letter_reason
from newswatch.agents.stories import Assignment, StoryArticle, StoryEngine
from newswatch.agents.stories.alerts import StoryAlerter, UpdatePolicy, is_breaking
from newswatch.streams.records import Alert, RecordError, TaggedArticle
from newswatch.streams.sinks.stories import StoryStore

log = logging.getLogger(__name__)

#: Seconds between checkpoints while records arrive (bounds the replay after a takeover).
CHECKPOINT_EVERY = 10.0
#: Characters of body text the engine sees (its shingles and anchors need the lead, not all).
TEXT_CHARS = 6_000


def story_article(tagged: TaggedArticle) -> StoryArticle:
    """The engine's view of a tagged article."""
    article = tagged.article
    published = article.published if article.published is not None else article.fetched_at
    text = article.summary
    if article.content and article.content not in text:
        text = f"{text}\n{article.content}" if text else article.content
    return StoryArticle(
        id=article.id,
        title=article.title,
        published=float(published),
        text=text[:TEXT_CHARS],
        lang=tagged.lang or article.lang,
        feed=article.feed_id,
        url=article.url,
        entities=tuple(tagged.entities),
        themes=tuple(hit.id for hit in tagged.themes),
    )


class StoryAlerting:
    """The rules (the same RuleEngine as the tag agent's) and when story alerts update."""

    def __init__(self, rules: RuleEngine, policy: UpdatePolicy) -> None:
        self.rules = rules
        self.policy = policy


class StoryStage:
    """The engine, where it stands in the story-input partition, and its checkpoints.

    With `alerting`, each `add` also queues the story alerts the article raised (creations and
    updates); `take_alerts()` hands them over in order."""

    def __init__(
        self,
        store: StoryStore,
        new_engine: Callable[[], StoryEngine],
        restore_engine: Callable[[bytes], StoryEngine],
        checkpoint_every: float = CHECKPOINT_EVERY,
        clock: Callable[[], float] = time.monotonic,
        alerting: StoryAlerting | None = None,
        breaking: UpdatePolicy | None = None,
    ) -> None:
        self.alerting = alerting
        # The "breaking" flag of stories without story alerts (with them, the alerter sets it).
        self.breaking = breaking
        self.alerter: StoryAlerter | None = None
        self._alerts: list[Alert] = []
        self.store = store
        self.new_engine = new_engine
        self.restore_engine = restore_engine
        self.checkpoint_every = checkpoint_every
        self.clock = clock
        self.engine: StoryEngine | None = None
        self.last = -1  # offset of the last record the engine holds
        self.checkpointed = -1  # offset the stored checkpoint holds
        self._checkpoint_at = clock()

    async def load(self) -> None:
        """Start from the stored checkpoint (or an empty engine)."""
        offset, snapshot, alert_state = await self.store.load_checkpoint_parts()
        engine = None
        if snapshot is not None:
            try:
                engine = self.restore_engine(snapshot)
            except ValueError as exc:
                log.error("story checkpoint unusable (%s); starting with no open stories", exc)
                offset = -1
        self.engine = engine or self.new_engine()
        if self.alerting is not None:
            self.alerter = None
            if engine is not None and alert_state is not None:
                try:
                    self.alerter = StoryAlerter.restore(alert_state, self.alerting.policy)
                except ValueError as exc:
                    log.error("story alert state unusable (%s); open stories alert anew", exc)
            if self.alerter is None:
                self.alerter = StoryAlerter(self.alerting.policy)
        self.last = self.checkpointed = offset
        metrics.STORIES_OPEN.set(self.engine.stats()["open_stories"])
        log.info("story engine at offset %d (%d open stories)", offset, len(self._open()))

    def _open(self) -> list[Any]:
        return self.engine.open_stories() if self.engine is not None else []

    async def add(self, offset: int, value: bytes | None) -> Assignment | None:
        """The record at `offset`; None when the engine already holds it. Raises RecordError
        (bad record) or ValueError (an article the engine refuses): dead-letter those."""
        if self.engine is None:
            await self.load()
        if offset > self.last + 1:
            # The partition was elsewhere meanwhile (or this is the first record after a
            # start): the stored checkpoint is the newest state.
            await self.load()
            if offset > self.last + 1 and self.last >= 0:
                log.warning(
                    "story input: records %d-%d are in no checkpoint (retention or a lost "
                    "checkpoint); their articles are not in any story",
                    self.last + 1,
                    offset - 1,
                )
        if offset <= self.last:
            return None
        self.last = offset
        if value is None:
            raise RecordError("empty story-input record")
        tagged = TaggedArticle.loads(value)
        assert self.engine is not None
        assignment = self.engine.add(story_article(tagged))
        metrics.STORY_ASSIGNMENTS.labels(assignment.how).inc()
        if self.alerting is not None and self.alerter is not None:
            self._alert(tagged, assignment)
        elif self.breaking is not None:
            assignment.story["breaking"] = is_breaking(assignment.story, self.breaking)
        return assignment

    def _alert(self, tagged: TaggedArticle, assignment: Assignment) -> None:
        assert self.alerting is not None and self.alerter is not None
        self.alerter.close([story["id"] for story in assignment.closed])
        matches = self.alerting.rules.evaluate(tagged, now=tagged.article.fetched_at)
        result = self.alerter.add(assignment.story, matches)
        metrics.ALERTS_FOLDED.inc(result.folded)
        for update in result.updates:
            reason = update.reasons[0].split(":", 1)[0] if update.reasons else "sources"
            metrics.STORY_ALERT_UPDATES.labels(reason).inc()
        self._alerts.extend(result.records)

    def take_alerts(self) -> list[Alert]:
        """The story alerts queued since the last call, in order."""
        alerts, self._alerts = self._alerts, []
        return alerts

    def skip(self, offset: int) -> None:
        """A record that was dead-lettered still moves the position."""
        self.last = max(self.last, offset)

    def due(self) -> bool:
        return self.last > self.checkpointed and (
            self.clock() - self._checkpoint_at >= self.checkpoint_every
        )

    async def checkpoint(self) -> None:
        """Store the engine with the offset it holds (fenced)."""
        if self.engine is None or self.last <= self.checkpointed:
            return
        snapshot = self.engine.snapshot()
        alert_state = self.alerter.snapshot() if self.alerter is not None else None
        stored = await self.store.save_checkpoint(self.last, snapshot, alert_state)
        if not stored:
            log.warning("a newer story checkpoint exists (another worker ran the engine)")
        self.checkpointed = self.last
        self._checkpoint_at = self.clock()
        metrics.STORY_CHECKPOINT_BYTES.set(len(snapshot))
        metrics.STORIES_OPEN.set(self.engine.stats()["open_stories"])


def story_record(story: dict[str, Any]) -> bytes:
    return orjson.dumps(story)


class StoryRunner:
    """The stories agent's loop body and its idle checkpoints, sharing one lock: a batch is
    handled, or a checkpoint taken and the records it holds acknowledged, never both at once.
    `publish(stories)` sends the changed stories on; `publish_alerts(alerts)` the story alerts
    (before the stories: an alert is never behind the story it names); `dead_letter(event,
    reason, error)`."""

    def __init__(
        self,
        stage: StoryStage,
        publish: Callable[[list[dict[str, Any]]], Any],
        dead_letter: Callable[[Any, str, BaseException], Any],
        publish_alerts: Callable[[list[Alert]], Any] | None = None,
    ) -> None:
        self.stage = stage
        self.publish = publish
        self.publish_alerts = publish_alerts
        self.dead_letter = dead_letter
        self.stream: Any = None
        self.held: list[Any] = []
        self._lock = asyncio.Lock()

    async def handle(self, stream: Any, events: list[Any]) -> None:
        async with self._lock:
            self.stream = stream
            changed: dict[str, dict[str, Any]] = {}
            for event in events:
                offset = event.message.offset
                try:
                    assignment = await self.stage.add(offset, event.value)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # whatever one record does, the agent goes on
                    self.stage.skip(offset)
                    await self.dead_letter(event, dead_letter_reason(exc), exc)
                    continue
                if assignment is None:
                    continue
                for closed in assignment.closed:
                    changed[closed["id"]] = closed
                    metrics.ARTICLES_PER_STORY.observe(closed["size"])
                changed[assignment.story_id] = assignment.story
            alerts = self.stage.take_alerts()
            if alerts and self.publish_alerts is not None:
                await self.publish_alerts(alerts)
            if changed:
                await self.publish(list(changed.values()))
            self.held.extend(events)
            if self.stage.due():
                await self._checkpoint()

    async def flush(self, force: bool = False) -> None:
        """Checkpoint and acknowledge when due (or `force`), e.g. from a timer while idle."""
        async with self._lock:
            if force or self.stage.due():
                await self._checkpoint()

    async def _checkpoint(self) -> None:
        await self.stage.checkpoint()
        if self.stream is not None:
            for event in self.held:
                await self.stream.ack(event)
        self.held.clear()
