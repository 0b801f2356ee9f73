"""The stories agent: every tagged article joins a story (agents/stories), in one global order.

Why one partition. A story gathers articles from every feed and language, so one engine must
see every article. The tag agent forwards each tagged article to the internal topic
`<app>-story-input`, which has ONE partition: its offsets are the engine's order, so the same
articles replayed give the same stories, and Kafka's group membership makes exactly one worker
run the engine at a time (another takes over at a rebalance).

State: Redis, not a Faust table. The engine is one object, not a key-value map: a table's
changelog would have to carry every story on every change. Instead the agent checkpoints the
engine with the offset of the last record it holds (`StoryStore`, fenced: a higher offset is
never replaced by a lower one) every `CHECKPOINT_EVERY` seconds. With `restore_records` the
checkpoints are incremental: the records of the stories that changed since the last one, the
ids of the stories that closed and the engine's header (`StoryEngine.changes`); without it,
the whole snapshot. Records are acknowledged as soon as they are handled, like in every other
agent (holding them back until a checkpoint would make Faust's rebalances and shutdown wait
for them). So a worker that takes the partition over may be handed a record past its
checkpoint: it restores the checkpoint and reads the records in between straight from the
topic (`replay`), then goes on; records it already holds are skipped. The engine is
deterministic, so the stories come out as from one uninterrupted run. Only records the topic
no longer keeps (retention) can be missed: that is logged.

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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from newswatch.agents import metrics
from newswatch.agents.alerting.engine import RuleEngine
from newswatch.agents.alerting.processing import dead_letter_reason
from newswatch.agents.stories import Assignment, StoryEngine
from newswatch.agents.stories.alerts import StoryAlerter, UpdatePolicy, is_breaking
from newswatch.agents.stories.story_input import (
    TEXT_CHARS,
    BadItemsError,
    StoryInput,
    decode,
    story_article,
)
from newswatch.streams.records import Alert
from newswatch.streams.sinks.stories import BASE_MOVED, STORED, StoryStore

log = logging.getLogger(__name__)

#: Reads records [start, end) of the story-input partition: (offset, value) pairs.
Replay = Callable[[int, int], Awaitable[list[tuple[int, bytes | None]]]]

#: Seconds between checkpoints while records arrive (bounds the replay after a takeover).
CHECKPOINT_EVERY = 10.0
#: At most this share of the stage's time goes to checkpoints: a snapshot that took 3 s (a
#: large state: 100,000 articles a day) puts the next one 30 s later, not 10 s.
CHECKPOINT_SHARE = 0.1

__all__ = ["TEXT_CHARS", "StoryAlerting", "StoryRunner", "StoryStage", "story_article"]


class StoryAlerting:
    """The rules (the same RuleEngine as the tag agent's) and when story alerts update."""

    def __init__(self, rules: RuleEngine, policy: UpdatePolicy) -> None:
        self.rules = rules
        self.policy = policy


class StoryStage:
    """The engine, where it stands in the story-input partition, and its checkpoints.

    With `alerting`, each `add` also queues the story alerts the article raised (creations and
    updates); `take_alerts()` hands them over in order. With `restore_records` (e.g.
    `StoryEngine.restore_records`), checkpoints are incremental (the store's per-story layout;
    one in the previous, whole layout still loads, and the next checkpoint replaces it)."""

    def __init__(
        self,
        store: StoryStore,
        new_engine: Callable[[], StoryEngine],
        restore_engine: Callable[[bytes], StoryEngine],
        checkpoint_every: float = CHECKPOINT_EVERY,
        clock: Callable[[], float] = time.monotonic,
        alerting: StoryAlerting | None = None,
        breaking: UpdatePolicy | None = None,
        replay: Replay | None = None,
        restore_records: Callable[[bytes, Sequence[bytes]], StoryEngine] | None = None,
    ) -> None:
        self.replay = replay
        self.restore_records = restore_records
        self._base: int | None = None  # offset of the stored checkpoint the engine's changes follow
        self.changed: dict[str, dict[str, Any]] = {}  # story states changed since take_changed
        self.alerting = alerting
        # The "breaking" flag of stories without story alerts (with them, the alerter sets it).
        self.breaking = breaking
        self.alerter: StoryAlerter | None = None
        self._alerts: list[Alert] = []
        self._assigned: dict[str, Any] = {}  # how -> its assignment counter (labels() is slow)
        self.store = store
        self.new_engine = new_engine
        self.restore_engine = restore_engine
        self.checkpoint_every = checkpoint_every
        self.clock = clock
        self.engine: StoryEngine | None = None
        self.last = -1  # offset of the last record the engine holds
        self.checkpointed = -1  # offset the stored checkpoint holds
        self._checkpoint_at = clock()
        self._checkpoint_took = 0.0  # seconds the last checkpoint took

    async def load(self) -> None:
        """Start from the stored checkpoint (or an empty engine)."""
        header: bytes | None = None
        records: Sequence[bytes] = ()
        if self.restore_records is None:
            offset, snapshot, alert_state = await self.store.load_checkpoint_parts()
        else:
            stored = await self.store.load_checkpoint_state()
            offset, snapshot, alert_state = stored.offset, stored.snapshot, stored.alerts
            header, records = stored.header, stored.stories
        engine = None
        try:
            if header is not None and self.restore_records is not None:
                engine = self.restore_records(header, records)
            elif snapshot is not None:
                engine = self.restore_engine(snapshot)
        except ValueError as exc:
            log.error("story checkpoint unusable (%s); starting with no open stories", exc)
            offset = -1
        self._base = offset if engine is not None and header is not None else None
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
        """The record at `offset` (a batch of articles, agents/stories/story_input.py): the
        assignment of its last article, or None when the engine already holds the record.
        Raises RecordError (a bad record, or `BadItemsError` after the good items of a batch
        were applied) or ValueError (an article the engine refuses): dead-letter those.

        A record past the engine's position (the partition was elsewhere, or this is the first
        record after a start) first reloads the newest checkpoint, then replays the records
        between the checkpoint and this one from the topic."""
        if self.engine is None:
            await self.load()
        if offset > self.last + 1:
            await self.load()
            await self._replay_until(offset)
        if offset <= self.last:
            return None
        self.last = offset
        return self._apply_record(value)

    def _apply_record(self, value: bytes | None) -> Assignment | None:
        assert self.engine is not None
        inputs, errors = decode(value, self.engine.maker)
        last = None
        for item in inputs:
            last = self._apply(item)
        if errors:
            raise BadItemsError(
                f"{len(errors)} of {len(inputs) + len(errors)} story-input items unusable: "
                + "; ".join(errors[:5])
            )
        return last

    async def _replay_until(self, offset: int) -> None:
        if self.last < 0 and self.checkpointed < 0 and self.replay is None:
            return
        missing = offset - self.last - 1
        if self.replay is not None and missing > 0:
            records = await self.replay(self.last + 1, offset)
            for at, value in records:
                if at <= self.last or at >= offset:
                    continue
                self.last = at
                try:
                    self._apply_record(value)
                except Exception as exc:  # it was dead-lettered when it was first handled
                    log.info("story input: replayed record %d skipped (%r)", at, exc)
            log.info("story input: replayed %d record(s) after the checkpoint", len(records))
        if offset > self.last + 1 and self.last >= 0:
            log.warning(
                "story input: records %d-%d are gone from the topic (retention); their "
                "articles are not in any story",
                self.last + 1,
                offset - 1,
            )

    def _apply(self, item: StoryInput) -> Assignment:
        assert self.engine is not None
        assignment = self.engine.add(item.article, item.prepared)
        counter = self._assigned.get(assignment.how)
        if counter is None:
            counter = self._assigned[assignment.how] = metrics.STORY_ASSIGNMENTS.labels(
                assignment.how
            )
        counter.inc()
        if self.alerting is not None and self.alerter is not None:
            self._alert(item, assignment)
        elif self.breaking is not None:
            assignment.story["breaking"] = is_breaking(assignment.story, self.breaking)
        for closed in assignment.closed:
            self.changed[closed["id"]] = closed
            metrics.ARTICLES_PER_STORY.observe(closed["size"])
        if assignment.how != "duplicate":
            self.changed[assignment.story_id] = assignment.story
        return assignment

    def take_changed(self) -> list[dict[str, Any]]:
        """The latest state of every story changed since the last call."""
        changed, self.changed = list(self.changed.values()), {}
        return changed

    def _alert(self, item: StoryInput, assignment: Assignment) -> None:
        assert self.alerting is not None and self.alerter is not None
        self.alerter.close([story["id"] for story in assignment.closed])
        if item.alerts is not None:  # the tag agent's child evaluated the rules
            matches = list(item.alerts)
        elif item.tagged is not None:  # a version-1 record: the whole tagged article
            matches = self.alerting.rules.evaluate(item.tagged, now=item.tagged.article.fetched_at)
        else:  # made by a worker with story alerts off: no rule matches to fold
            log.warning("story input item %s carries no rule matches", item.article.id)
            matches = []
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
        interval = max(self.checkpoint_every, self._checkpoint_took / CHECKPOINT_SHARE)
        return self.last > self.checkpointed and self.clock() - self._checkpoint_at >= interval

    async def checkpoint(self) -> None:
        """Store the engine with the offset it holds (fenced)."""
        if self.engine is None or self.last <= self.checkpointed:
            return
        started = self.clock()
        alert_state = self.alerter.snapshot() if self.alerter is not None else None
        if self.restore_records is None:
            snapshot = self.engine.snapshot()
            stored = await self.store.save_checkpoint(self.last, snapshot, alert_state)
            written = len(snapshot)
        else:
            stored, written = await self._save_changes(alert_state)
        if not stored:
            log.warning("a newer story checkpoint exists (another worker ran the engine)")
        self.checkpointed = self.last
        self._checkpoint_at = self.clock()
        self._checkpoint_took = self._checkpoint_at - started
        metrics.STORY_CHECKPOINT_BYTES.set(written)
        metrics.STORIES_OPEN.set(self.engine.stats()["open_stories"])

    async def _save_changes(self, alert_state: bytes | None) -> tuple[bool, int]:
        """An incremental checkpoint: (stored, bytes written for the engine). Changes that
        do not follow the stored checkpoint (another worker wrote since) go out whole."""
        assert self.engine is not None
        answer = BASE_MOVED
        for _ in range(2):
            changes = self.engine.changes()
            base = None if changes.full else self._base
            answer = await self.store.save_checkpoint_records(
                self.last, base, changes.header, changes.stories, changes.closed, alert_state
            )
            if answer != BASE_MOVED:
                break
            self.engine.require_full()
        if answer == STORED:
            self.engine.checkpointed()
            self._base = self.last
            return True, changes.size
        # Not ours (nothing was written): what this engine stores next must be whole.
        self.engine.require_full()
        self._base = None
        return False, 0


def story_record(story: dict[str, Any]) -> bytes:
    return orjson.dumps(story)


class StoryRunner:
    """The stories agent's loop body and its idle checkpoints, sharing one lock: a batch is
    handled, or a checkpoint taken, never both at once. `publish(stories)` sends the changed
    stories on; `publish_alerts(alerts)` the story alerts (before the stories: an alert is
    never behind the story it names); `dead_letter(event, reason, error)`."""

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
        self._lock = asyncio.Lock()

    async def handle(self, stream: Any, events: list[Any]) -> None:
        async with self._lock:
            for event in events:
                offset = event.message.offset
                try:
                    await self.stage.add(offset, event.value)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # whatever one record does, the agent goes on
                    self.stage.skip(offset)
                    await self.dead_letter(event, dead_letter_reason(exc), exc)
            alerts = self.stage.take_alerts()
            if alerts and self.publish_alerts is not None:
                await self.publish_alerts(alerts)
            changed = self.stage.take_changed()
            if changed:
                await self.publish(changed)
            for event in events:
                await stream.ack(event)
            if self.stage.due():
                await self.stage.checkpoint()

    async def flush(self, force: bool = False) -> None:
        """Checkpoint when due (or `force`), e.g. from a timer while the input is idle."""
        async with self._lock:
            if force or self.stage.due():
                await self.stage.checkpoint()
