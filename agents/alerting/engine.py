"""Evaluate alert rules against tagged articles. Pure: no I/O, no clock unless given.

`RuleEngine(rules, lookup).evaluate(tagged)` returns the `Alert` records to publish. Alert ids
are deterministic, so a replayed article yields the same ids and every sink dedups them:

- one alert per article: `sha1("article", rule, article id)`;
- with a throttle window: `sha1("throttle", rule, matching entities, window start)`, where the
  window comes from the article's `fetched_at`, so a burst of similar articles collapses into
  one alert per window and the choice does not depend on worker state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from newswatch.agents.alerting.rules import Rule, RuleSet
from newswatch.streams.names import DisplayNames
from newswatch.streams.records import Alert, TaggedArticle

MAX_TITLE = 300
MAX_SUMMARY = 500


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """What the rules need to know about an entity: its kind and the groups it belongs to."""

    kind: str | None = None
    groups: frozenset[str] = frozenset()


#: entity id -> EntityInfo (None for an entity the catalogue does not know).
EntityLookup = Callable[[str], EntityInfo | None]


def alert_id(*parts: object) -> str:
    """A deterministic alert id: 32 hex chars of sha1 over the parts."""
    digest = hashlib.sha1("\x1f".join(str(part) for part in parts).encode("utf-8"))
    return digest.hexdigest()[:32]


def article_alert_id(rule: Rule, tagged: TaggedArticle, entities: Iterable[str]) -> str:
    if rule.throttle > 0:
        window = int(tagged.article.fetched_at // rule.throttle * rule.throttle)
        return alert_id("throttle", rule.id, ",".join(sorted(entities)), window)
    return alert_id("article", rule.id, tagged.article.id)


class RuleEngine:
    """Rules plus an entity lookup; `evaluate` is called once per tagged article.

    `names` turns the entity and theme ids of a title into display names ("DeepSeek, Huawei
    Ascend"); the alert's `entities` and `themes` fields keep the ids."""

    def __init__(
        self, rules: RuleSet, lookup: EntityLookup, names: DisplayNames | None = None
    ) -> None:
        self.rules = tuple(rule for rule in rules if rule.enabled)
        self._lookup = lookup
        self.names = names or DisplayNames()

    def evaluate(self, tagged: TaggedArticle, *, now: float | None = None) -> list[Alert]:
        matches = {}
        for rule in self.rules:
            match = self.match(rule, tagged)
            if match is not None:
                matches[rule.id] = (rule, match)
        # A firing rule that supersedes another takes its place: one story, one alert.
        replaced = {other for rule, _ in matches.values() for other in rule.supersedes}
        return [
            build_alert(rule, tagged, entities, themes, now=now, names=self.names)
            for rule_id, (rule, (entities, themes)) in matches.items()
            if rule_id not in replaced
        ]

    def match(self, rule: Rule, tagged: TaggedArticle) -> tuple[list[str], list[str]] | None:
        """(matching entities, matching themes) when the rule fires, else None."""
        when = rule.when
        article = tagged.article
        if when.feeds and article.feed_id not in when.feeds:
            return None
        if when.languages and (tagged.lang or article.lang) not in when.languages:
            return None
        scores = {hit.id: hit.score for hit in tagged.themes}
        strong = {theme for theme, score in scores.items() if score >= when.min_theme_score}
        if when.all_themes and not when.all_themes <= strong:
            return None
        if when.themes and not when.themes & strong:
            return None
        if when.has_entity_filter:
            entities = [e for e in tagged.entities if self._entity_matches(rule, e)]
            if not entities:
                return None
        else:
            entities = list(tagged.entities)
        wanted = when.themes | when.all_themes
        themes = [t for t in tagged.theme_ids if t in strong and (not wanted or t in wanted)]
        return entities, themes

    def _entity_matches(self, rule: Rule, entity: str) -> bool:
        when = rule.when
        if when.entities and entity not in when.entities:
            return False
        if not (when.entity_groups or when.entity_kinds):
            return True
        info = self._lookup(entity)
        if info is None:
            return False
        if when.entity_kinds and info.kind not in when.entity_kinds:
            return False
        return not (when.entity_groups and not when.entity_groups & info.groups)


def build_alert(
    rule: Rule,
    tagged: TaggedArticle,
    entities: list[str],
    themes: list[str],
    *,
    now: float | None = None,
    names: DisplayNames | None = None,
) -> Alert:
    article = tagged.article
    names = names or DisplayNames()
    title = render_title(
        rule,
        title=article.title,
        entities=names.entities(entities),
        themes=names.themes(themes),
        feed=article.feed_id,
        feed_name=article.feed_name,
        lang=tagged.lang or article.lang or "",
        url=article.url or "",
    )
    extra: dict[str, Any] = {"created_at": now} if now is not None else {}
    return Alert(
        id=article_alert_id(rule, tagged, entities),
        rule=rule.id,
        severity=rule.severity,
        title=title,
        kind="article",
        entities=entities,
        themes=themes,
        article_id=article.id,
        url=article.url,
        feed_id=article.feed_id,
        lang=tagged.lang or article.lang,
        published=article.published,
        summary=(article.summary or article.content)[:MAX_SUMMARY],
        source_time=article.fetched_at,
        **extra,
    )


def render_title(rule: Rule, **values: object) -> str:
    """Fill the rule's title template; lists (of display names) become comma-separated."""
    fields = {
        name: ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
        for name, value in values.items()
    }
    fields.setdefault("rule", rule.id)
    fields.setdefault("severity", rule.severity)
    for name in ("title", "entities", "themes", "feed", "feed_name", "lang", "url"):
        fields.setdefault(name, "")
    text = rule.title.format(**fields).strip()
    return text[:MAX_TITLE] if text else rule.id
