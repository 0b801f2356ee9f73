"""Alert rules: a YAML file of declarative conditions, validated into frozen `Rule` objects.

A rule matches a tagged article when every condition it states holds:

- entity conditions (`entities`, `entity_groups`, `entity_kinds`) select the *matching entities*:
  an entity of the article matches when it passes each stated list (any-of within a list), so
  `entity_groups: [chinese_ai]` + `entity_kinds: [model]` means "a Chinese AI model". When any
  entity condition is stated, at least one entity must match;
- `themes` (any of) and `all_themes` (every one), each at or above `min_theme_score`;
- `languages` and `feeds`: the article's language / feed id is one of them.

`throttle` (seconds, or "30m", "2h", "1d") turns one alert per matching article into at most one
alert per rule and matching-entity set per throttle window; it works through the deterministic
alert id (see `engine.alert_id`), so every sink dedups it and a replay raises the same ids.

Errors name the rule and the field: `rules.yaml: rule 'x': severity: must be one of ...`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from newswatch.streams.errors import ConfigError
from newswatch.streams.records import SEVERITIES

DEFAULT_RULES_FILE = "default_rules.yaml"
DEFAULT_TITLE = "{entities}: {title}"

#: Fields a title template may use, e.g. "{entities}: {title}".
TEMPLATE_FIELDS = (
    "rule",
    "severity",
    "title",
    "entities",
    "themes",
    "feed",
    "feed_name",
    "lang",
    "url",
)

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_LIST_FIELDS = ("entities", "entity_groups", "entity_kinds", "themes", "all_themes", "languages")
_CONDITION_FIELDS = (*_LIST_FIELDS, "feeds", "min_theme_score")
_RULE_FIELDS = (
    "id",
    "description",
    "severity",
    "when",
    "throttle",
    "title",
    "enabled",
    "supersedes",
)


class RuleError(ConfigError, ValueError):
    """An invalid rules file; the message names the file, the rule and the field."""


@dataclass(frozen=True, slots=True)
class Conditions:
    """What an article must carry for a rule to fire. Empty means "no condition"."""

    entities: frozenset[str] = frozenset()
    entity_groups: frozenset[str] = frozenset()
    entity_kinds: frozenset[str] = frozenset()
    themes: frozenset[str] = frozenset()
    all_themes: frozenset[str] = frozenset()
    min_theme_score: float = 0.0
    languages: frozenset[str] = frozenset()
    feeds: frozenset[str] = frozenset()

    @property
    def has_entity_filter(self) -> bool:
        return bool(self.entities or self.entity_groups or self.entity_kinds)


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated alert rule."""

    id: str
    severity: str
    when: Conditions
    title: str = DEFAULT_TITLE
    description: str = ""
    throttle: float = 0.0  # seconds; 0 = one alert per matching article
    enabled: bool = True
    # Rules this one replaces when both fire on the same article (one story, one alert).
    supersedes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one file, in file order."""

    rules: tuple[Rule, ...]
    source: str = "<rules>"
    _by_id: Mapping[str, Rule] = field(default_factory=dict, compare=False, repr=False)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    def referenced(self) -> dict[str, set[str]]:
        """Every entity, group, kind and theme id the rules name (to check against a catalogue)."""
        out: dict[str, set[str]] = {
            "entities": set(),
            "groups": set(),
            "kinds": set(),
            "themes": set(),
        }
        for rule in self.rules:
            out["entities"] |= rule.when.entities
            out["groups"] |= rule.when.entity_groups
            out["kinds"] |= rule.when.entity_kinds
            out["themes"] |= rule.when.themes | rule.when.all_themes
        return out


def default_rules_path() -> Path:
    """The rules file shipped with newswatch."""
    return Path(str(resources.files("newswatch.agents.alerting") / DEFAULT_RULES_FILE))


def load_rules(path: Path | str | None = None) -> RuleSet:
    """Read and validate a rules file (the shipped defaults when `path` is None)."""
    source = Path(path) if path else default_rules_path()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{source}: cannot read rules file: {exc.strerror or exc}") from None
    return parse_rules(text, source=str(source))


def parse_rules(text: str, *, source: str = "<rules>") -> RuleSet:
    """Validate rules from YAML text; raises RuleError naming the rule and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"{source}: not valid YAML: {exc}") from None
    if isinstance(data, Mapping):
        unknown = set(data) - {"rules"}
        if unknown:
            raise RuleError(
                f"{source}: unknown top-level key(s) {sorted(unknown)}; expected 'rules'"
            )
        data = data.get("rules")
    if not isinstance(data, list):
        raise RuleError(f"{source}: expected a list of rules under 'rules'")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(data):
        rule = _parse_rule(raw, index, source)
        if rule.id in seen:
            raise RuleError(f"{source}: rule {rule.id!r}: id: duplicate rule id")
        seen.add(rule.id)
        rules.append(rule)
    for rule in rules:
        for other in sorted(rule.supersedes):
            if other not in seen or other == rule.id:
                raise RuleError(
                    f"{source}: rule {rule.id!r}: supersedes: {other!r} is not another rule"
                )
    return RuleSet(tuple(rules), source)


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like "90", "30m", "2h", "1d"."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30m, 2h or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError("must be a duration like 30m, 2h or a number of seconds")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


# ---- validation ---------------------------------------------------------------------------


def _parse_rule(raw: Any, index: int, source: str) -> Rule:
    where = f"{source}: rule #{index + 1}"
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: expected a mapping with id, severity, when")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise RuleError(
            f"{where}: id: must be lowercase letters, digits, '_' or '-' (got {rule_id!r})"
        )
    where = f"{source}: rule {rule_id!r}"

    def fail(name: str, message: str) -> RuleError:
        return RuleError(f"{where}: {name}: {message}")

    unknown = sorted(set(raw) - set(_RULE_FIELDS))
    if unknown:
        raise fail(unknown[0], f"unknown field (expected one of {', '.join(_RULE_FIELDS)})")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise fail("severity", f"must be one of {', '.join(SEVERITIES)} (got {severity!r})")
    when = _parse_conditions(raw.get("when"), fail)
    title = raw.get("title", DEFAULT_TITLE)
    if not isinstance(title, str) or not title.strip():
        raise fail("title", "must be a non-empty template string")
    _check_template(title, fail)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "must be a string")
    try:
        throttle = parse_duration(raw.get("throttle", 0))
    except ValueError as exc:
        raise fail("throttle", str(exc)) from None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", "must be true or false")
    supersedes = _id_list(raw.get("supersedes"), "supersedes", fail)
    return Rule(
        id=rule_id,
        severity=severity,
        when=when,
        title=title,
        description=description.strip(),
        throttle=throttle,
        enabled=enabled,
        supersedes=supersedes,
    )


def _parse_conditions(raw: Any, fail: Any) -> Conditions:
    if not isinstance(raw, Mapping) or not raw:
        raise fail("when", "must be a mapping with at least one condition")
    unknown = sorted(set(raw) - set(_CONDITION_FIELDS))
    if unknown:
        raise fail(
            f"when.{unknown[0]}",
            f"unknown condition (expected one of {', '.join(_CONDITION_FIELDS)})",
        )
    lists = {
        name: _id_list(raw.get(name), f"when.{name}", fail) for name in (*_LIST_FIELDS, "feeds")
    }
    score = raw.get("min_theme_score", 0.0)
    if isinstance(score, bool) or not isinstance(score, int | float) or score < 0:
        raise fail("when.min_theme_score", f"must be a number >= 0 (got {score!r})")
    conditions = Conditions(min_theme_score=float(score), **lists)
    if not (
        conditions.has_entity_filter
        or conditions.themes
        or conditions.all_themes
        or conditions.languages
        or conditions.feeds
    ):
        raise fail("when", "needs at least one entity, theme, language or feed condition")
    return conditions


def _id_list(value: Any, name: str, fail: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise fail(name, "must be a list of ids")
    items = list(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise fail(name, f"every item must be a non-empty string (got {item!r})")
    if not items:
        raise fail(name, "must not be empty (leave it out instead)")
    return frozenset(item.strip() for item in items)


def _check_template(template: str, fail: Any) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise fail("title", f"bad template: {exc}") from None
    for name in names:
        if name not in TEMPLATE_FIELDS:
            allowed = ", ".join("{" + known + "}" for known in TEMPLATE_FIELDS)
            raise fail("title", f"unknown placeholder {{{name}}} (use {allowed})")
