"""Alerts at story level: a rule fires once per story; later articles update that alert.

Pure (no Faust, Kafka, Redis or clock): `StoryAlerter.add(story, matches)` takes the story an
article just joined (the engine's story dict after the article) and the per-article alerts the
rules raised for that article (`RuleEngine.evaluate`), and returns the records to publish:

- **creation** (kind "story"): the first article of a story that meets a rule raises the rule's
  one alert for the story, id `sha1("story", rule, story id)`. Later articles that meet the same
  rule are *folded* into it (counted, nothing published).
- **update** (kind "story_update"): when the story changed meaningfully since the last event
  of its alerts — its source count crossed a threshold (`UpdatePolicy.sources`, e.g. 5/10/25),
  it gained a language, a rule of higher severity than any before was met, or it became
  breaking — every alert of the story gets an update record, id
  `sha1("story-update", rule, story id, sequence)`, `update_of` the alert's id. At most one
  round of updates per story per `min_interval` seconds of *event time* (the story's
  `last_seen`, i.e. article publication times), so a replay of the same articles produces the
  same updates. A change held back by the interval is not lost: the next article of the story
  after the interval carries it (the reasons compare against what was last *sent*).

Why the stories agent evaluates the rules itself (with the same `RuleEngine` and rules file
as the tag agent) rather than receiving the tag agent's alerts in the story-input record: the
story-input record stays a plain `TaggedArticle` (no second schema, and no per-article alert
payload on a topic whose only job is ordering), the evaluation is cheap next to the story
engine, and the rules see exactly the record the story engine sees. The cost: rules changed
between a record's first processing and its replay apply on replay — the same as for any
re-processing in newswatch.

"Breaking" (`is_breaking`): a story is breaking when at least `breaking_sources` distinct
sources published it within `breaking_window` seconds before its latest article (event time,
over the story's latest articles as the engine keeps them). The flag goes on the story (the
stories topic, Redis, `/api/stories`) and on its alerts; becoming breaking is an update reason.

State (`snapshot`/`restore`, part of the stories agent's checkpoint): per story with alerts,
its rules' creation alerts, the sources/languages/severity/breaking last sent, the event time
of the last event and the update sequence. Stories that close are dropped; at most
`max_stories` are kept (the least recently active go first).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from newswatch.agents.alerting.engine import alert_id
from newswatch.streams.records import SEVERITIES, Alert

SNAPSHOT_VERSION = 1
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
#: Fields of the creation alert an update repeats (the alert as first raised).
_KEPT = (
    "rule",
    "severity",
    "title",
    "entities",
    "themes",
    "article_id",
    "url",
    "feed_id",
    "lang",
    "published",
    "summary",
)


@dataclass(frozen=True, slots=True)
class UpdatePolicy:
    """When an update of a story alert is due (see the module docstring)."""

    sources: tuple[int, ...] = (5, 10, 25)
    min_interval: float = 900.0
    breaking_window: float = 3_600.0
    breaking_sources: int = 5
    max_stories: int = 50_000

    def __post_init__(self) -> None:
        if any(t < 2 for t in self.sources):
            raise ValueError("source thresholds must be 2 or more")
        if self.min_interval < 0 or self.breaking_window <= 0 or self.breaking_sources < 2:
            raise ValueError("min_interval >= 0, breaking_window > 0, breaking_sources >= 2")
        object.__setattr__(self, "sources", tuple(sorted(set(self.sources))))


@dataclass(frozen=True, slots=True)
class StoryAlerts:
    """What one article did to the story's alerts."""

    created: tuple[Alert, ...] = ()
    updates: tuple[Alert, ...] = ()
    folded: int = 0  # rule matches absorbed by an alert the story already has

    @property
    def records(self) -> tuple[Alert, ...]:
        return self.created + self.updates


@dataclass(slots=True)
class _State:
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule -> creation alert
    sources: int = 0  # what the last event of the story's alerts told
    languages: list[str] = field(default_factory=list)
    severity: str = "low"  # the highest severity of the rules the story met
    sent_severity: str = "low"  # the story severity its alerts last told
    breaking: bool = False
    last_event: float = float("-inf")  # event time of the last creation or update
    sequence: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "sources": self.sources,
            "languages": self.languages,
            "severity": self.severity,
            "sent_severity": self.sent_severity,
            "breaking": self.breaking,
            "last_event": self.last_event if self.last_event != float("-inf") else None,
            "sequence": self.sequence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _State:
        last = data.get("last_event")
        return cls(
            alerts=dict(data["alerts"]),
            sources=int(data["sources"]),
            languages=list(data["languages"]),
            severity=str(data["severity"]),
            sent_severity=str(data["sent_severity"]),
            breaking=bool(data["breaking"]),
            last_event=float("-inf") if last is None else float(last),
            sequence=int(data["sequence"]),
        )


def is_breaking(story: dict[str, Any], policy: UpdatePolicy) -> bool:
    """At least `breaking_sources` distinct sources within `breaking_window` seconds before
    the story's latest article (event time)."""
    since = float(story.get("last_seen", 0.0)) - policy.breaking_window
    feeds = {
        a.get("feed") or a.get("id")
        for a in story.get("articles", ())
        if float(a.get("published") or 0.0) >= since
    }
    return len(feeds) >= policy.breaking_sources


def story_alert_id(rule: str, story_id: str) -> str:
    return alert_id("story", rule, story_id)


def story_update_id(rule: str, story_id: str, sequence: int) -> str:
    return alert_id("story-update", rule, story_id, sequence)


def higher(a: str, b: str) -> str:
    return a if _RANK.get(a, 0) >= _RANK.get(b, 0) else b


class StoryAlerter:
    """The per-story alert state and the decisions; see the module docstring."""

    def __init__(self, policy: UpdatePolicy | None = None) -> None:
        self.policy = policy or UpdatePolicy()
        self._stories: OrderedDict[str, _State] = OrderedDict()

    def __len__(self) -> int:
        return len(self._stories)

    def add(self, story: dict[str, Any], matches: list[Alert]) -> StoryAlerts:
        """The records for one article that joined `story` and met the rules of `matches`
        (its per-article alerts; spikes and other kinds are ignored)."""
        story_id = story["id"]
        event_time = float(story["last_seen"])
        breaking = is_breaking(story, self.policy)
        story["breaking"] = breaking
        state = self._stories.get(story_id)
        new_rules = [m for m in matches if m.kind == "article"]
        if state is None and not new_rules:
            return StoryAlerts()
        if state is None:
            state = self._stories[story_id] = _State()
        self._stories.move_to_end(story_id)
        created: list[Alert] = []
        folded = 0
        had_alerts = bool(state.alerts)
        for match in new_rules:
            if match.rule in state.alerts:
                folded += 1
                continue
            state.severity = (
                higher(match.severity, state.severity) if had_alerts or created else match.severity
            )
            alert = self._alert(
                story, match.to_dict(), kind="story", breaking=breaking, state=state
            )
            state.alerts[match.rule] = {name: alert.to_dict()[name] for name in _KEPT}
            created.append(alert)
        # Every creation alert carries the story's severity as of all rules met so far.
        created = [_replace(a, story_severity=state.severity) for a in created]
        updates: list[Alert] = []
        if not had_alerts:  # the story's first alerts tell its state as of now
            self._sent(state, story, breaking, event_time)
        else:
            reasons = self._reasons(state, story, breaking)
            if reasons and event_time - state.last_event >= self.policy.min_interval:
                state.sequence += 1
                fresh = {a.rule for a in created}
                updates = [
                    self._alert(
                        story,
                        kept,
                        kind="story_update",
                        breaking=breaking,
                        state=state,
                        reasons=reasons,
                    )
                    for kept in state.alerts.values()
                    if kept["rule"] not in fresh
                ]
                self._sent(state, story, breaking, event_time)
            elif created:
                state.last_event = max(state.last_event, event_time)
        self._evict()
        return StoryAlerts(created=tuple(created), updates=tuple(updates), folded=folded)

    def _reasons(self, state: _State, story: dict[str, Any], breaking: bool) -> list[str]:
        """What changed since the story's alerts last told it (empty: nothing worth a word)."""
        sources = int(story.get("sources", 0))
        reasons = [f"sources:{t}" for t in self.policy.sources if state.sources < t <= sources]
        languages = set(story.get("languages", ()))
        reasons += [f"language:{lang}" for lang in sorted(languages - set(state.languages))]
        if _RANK[state.severity] > _RANK[state.sent_severity]:
            reasons.append(f"severity:{state.severity}")
        if breaking and not state.breaking:
            reasons.append("breaking")
        return reasons

    @staticmethod
    def _sent(state: _State, story: dict[str, Any], breaking: bool, event_time: float) -> None:
        state.sources = int(story.get("sources", 0))
        state.languages = sorted(set(story.get("languages", ())))
        state.breaking = state.breaking or breaking
        state.sent_severity = state.severity
        state.last_event = max(state.last_event, event_time)

    def _alert(
        self,
        story: dict[str, Any],
        base: dict[str, Any],
        *,
        kind: str,
        breaking: bool,
        state: _State,
        reasons: list[str] | None = None,
    ) -> Alert:
        rule = base["rule"]
        fields = {name: base[name] for name in _KEPT if name in base}
        if kind == "story":
            fields["id"] = story_alert_id(rule, story["id"])
        else:
            fields["id"] = story_update_id(rule, story["id"], state.sequence)
            fields["update_of"] = story_alert_id(rule, story["id"])
            fields["sequence"] = state.sequence
            fields["reasons"] = reasons or []
        return Alert(
            kind=kind,
            story_id=story["id"],
            sources=int(story.get("sources", 0)),
            languages=sorted(set(story.get("languages", ())))[:64],
            headline=str(story.get("headline") or "")[:300],
            breaking=breaking,
            story_severity=state.severity,
            source_time=base.get("source_time"),
            **fields,
        )

    def close(self, story_ids: list[str]) -> None:
        """Forget stories that closed (no article joins them any more)."""
        for story_id in story_ids:
            self._stories.pop(story_id, None)

    def _evict(self) -> None:
        while len(self._stories) > self.policy.max_stories:
            self._stories.popitem(last=False)

    def snapshot(self) -> bytes:
        return orjson.dumps(
            {
                "version": SNAPSHOT_VERSION,
                "stories": [[sid, st.to_dict()] for sid, st in self._stories.items()],
            }
        )

    @classmethod
    def restore(cls, data: bytes, policy: UpdatePolicy | None = None) -> StoryAlerter:
        """Raises ValueError for a snapshot that is not one of ours."""
        try:
            raw = orjson.loads(data)
            if raw.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"story alert snapshot version {raw.get('version')!r}")
            alerter = cls(policy)
            for story_id, state in raw["stories"]:
                alerter._stories[str(story_id)] = _State.from_dict(state)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"story alert snapshot unusable: {exc!r}") from None
        return alerter


def _replace(alert: Alert, **changes: Any) -> Alert:
    data = alert.to_dict()
    data.update(changes)
    return Alert.from_dict(data)
