"""Filters, search and facet counts over a window of recent alerts. Pure: no I/O.

The page, its live updates, the polling fallback and the Atom feed share these filters, given
as query parameters: `entity`, `theme`, `severity`, `lang`, `rule`, `feed` (each may repeat:
any of the values, and all of the facets), `q` (search in title, summary, names and feed),
`status` (`open`: hide acknowledged alerts) and `muted=1` (show alerts hidden by a mute).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from newswatch.streams.errors import NewswatchError
from newswatch.streams.names import DisplayNames
from newswatch.streams.records import SEVERITIES
from newswatch.streams.sinks.mutes import Mutes

FACETS = ("severity", "entity", "theme", "rule", "lang", "feed")
MAX_VALUES = 20  # values per facet in one query
MAX_QUERY = 200  # characters of the search box
_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class FilterError(NewswatchError, ValueError):
    """A query parameter is invalid; the message names it."""


@dataclass(frozen=True)
class Filters:
    """What the reader asked for. Empty sets mean "no condition"."""

    severity: frozenset[str] = frozenset()
    entity: frozenset[str] = frozenset()
    theme: frozenset[str] = frozenset()
    rule: frozenset[str] = frozenset()
    lang: frozenset[str] = frozenset()
    feed: frozenset[str] = frozenset()
    q: str = ""
    open_only: bool = False
    show_muted: bool = False

    @classmethod
    def parse(cls, params: Any) -> Filters:
        """From a MultiDict-like (`getall`) or a plain mapping of query parameters."""
        allowed = {*FACETS, "q", "status", "muted", "after", "token"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise FilterError(f"unknown parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name in FACETS:
            given = _getall(params, name)
            given = [v.strip() for v in given if v and v.strip()]
            if len(given) > MAX_VALUES:
                raise FilterError(f"{name}: at most {MAX_VALUES} values")
            for value in given:
                if not _VALUE.match(value):
                    raise FilterError(f"{name}: {value[:40]!r} is not a valid value")
                if name == "severity" and value not in SEVERITIES:
                    raise FilterError(f"severity: must be one of {', '.join(SEVERITIES)}")
            values[name] = frozenset(given)
        q = " ".join(str(params.get("q") or "").split())
        if len(q) > MAX_QUERY:
            raise FilterError(f"q: at most {MAX_QUERY} characters")
        status = str(params.get("status") or "all")
        if status not in ("all", "open"):
            raise FilterError("status: must be 'all' or 'open'")
        muted = str(params.get("muted") or "0")
        if muted not in ("0", "1"):
            raise FilterError("muted: must be 0 or 1")
        return cls(**values, q=q, open_only=status == "open", show_muted=muted == "1")

    def query_items(self) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        for name in FACETS:
            items.extend((name, value) for value in sorted(getattr(self, name)))
        if self.q:
            items.append(("q", self.q))
        if self.open_only:
            items.append(("status", "open"))
        if self.show_muted:
            items.append(("muted", "1"))
        return items

    def query_string(self) -> str:
        return urlencode(self.query_items())

    def toggled(self, facet: str, value: str) -> Filters:
        """These filters with `value` of `facet` switched on or off (for facet links)."""
        current: frozenset[str] = getattr(self, facet)
        changes: dict[str, Any] = {facet: current ^ {value}}
        return replace(self, **changes)

    def without(self, facet: str) -> Filters:
        changes: dict[str, Any] = {facet: frozenset()}
        return replace(self, **changes)

    @property
    def active(self) -> bool:
        return bool(self.q or any(getattr(self, name) for name in FACETS))


@dataclass
class View:
    """The filtered list and what the page shows around it."""

    alerts: list[dict[str, Any]]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    muted_hidden: int = 0
    window: int = 0  # alerts looked at


_FIELD = {
    "severity": "severity",
    "entity": "entities",
    "theme": "themes",
    "rule": "rule",
    "lang": "lang",
    "feed": "feed_id",
}


def facet_values(alert: Mapping[str, Any], facet: str) -> Sequence[str]:
    value = alert.get(_FIELD[facet])
    if isinstance(value, list):
        return value
    return (value,) if value else ()


def search_text(alert: Mapping[str, Any], names: DisplayNames) -> str:
    parts = [
        str(alert.get("title") or ""),
        str(alert.get("summary") or ""),
        str(alert.get("feed_id") or ""),
        str(alert.get("rule") or ""),
        *names.entities(alert.get("entities") or ()),
        *names.themes(alert.get("themes") or ()),
    ]
    return " ".join(parts).casefold()


def matches(
    alert: Mapping[str, Any],
    filters: Filters,
    names: DisplayNames,
    *,
    acked: bool = False,
    skip: str | None = None,
) -> bool:
    for facet in FACETS:
        wanted: frozenset[str] = getattr(filters, facet)
        if facet == skip or not wanted:
            continue
        if not wanted.intersection(facet_values(alert, facet)):
            return False
    if filters.open_only and acked:
        return False
    if filters.q:
        text = search_text(alert, names)
        if not all(word.casefold() in text for word in filters.q.split()):
            return False
    return True


def build_view(
    alerts: Iterable[dict[str, Any]],
    filters: Filters,
    names: DisplayNames,
    *,
    acked: Iterable[str] = (),
    mutes: Mutes | None = None,
    limit: int = 200,
) -> View:
    """Filter `alerts` (newest first), count each facet's values over the alerts that match
    every *other* filter (so a reader sees what choosing a value would give), drop muted ones
    unless asked for, and keep the first `limit`."""
    mutes = mutes or Mutes()
    acked_ids = set(acked)
    window = list(alerts)
    visible: list[dict[str, Any]] = []
    muted_hidden = 0
    for alert in window:
        if mutes.mutes(alert) and not filters.show_muted:
            if matches(alert, filters, names, acked=alert.get("id") in acked_ids):
                muted_hidden += 1
            continue
        visible.append(alert)
    facets: dict[str, list[tuple[str, int]]] = {}
    for facet in FACETS:
        counts: Counter[str] = Counter()
        for alert in visible:
            if matches(alert, filters, names, acked=alert.get("id") in acked_ids, skip=facet):
                counts.update(set(facet_values(alert, facet)))
        for value in getattr(filters, facet):  # a chosen value stays listed, even at 0
            counts.setdefault(value, 0)
        if facet == "severity":
            order = {name: -rank for rank, name in enumerate(SEVERITIES)}
            facets[facet] = sorted(counts.items(), key=lambda item: order.get(item[0], 1))
        else:
            facets[facet] = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = [
        alert
        for alert in visible
        if matches(alert, filters, names, acked=alert.get("id") in acked_ids)
    ]
    return View(alerts=shown[:limit], facets=facets, muted_hidden=muted_hidden, window=len(window))


def _getall(params: Any, name: str) -> list[str]:
    if hasattr(params, "getall"):
        return [str(v) for v in params.getall(name, [])]
    value = params.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


#: The filters a story can be held to: a story has entities, themes and languages, but no
#: single severity, rule or feed (its alerts and articles do).
STORY_FACETS = {"entity": "entities", "theme": "themes", "lang": "languages"}


def story_matches(
    story: Mapping[str, Any], filters: Filters, names: DisplayNames, mutes: Mutes | None = None
) -> bool:
    """Does the stories panel show `story` under `filters`? Entity, theme and language filters
    apply (any of the values, all of the facets), the search words must occur in the headline
    or the names of its entities and themes, and a muted story shows only with `muted=1`. The
    other filters (severity, rule, feed, status) are about alerts and do not hide stories."""
    if mutes is not None and mutes.mutes_story(story) and not filters.show_muted:
        return False
    for facet, name in STORY_FACETS.items():
        wanted: frozenset[str] = getattr(filters, facet)
        values = story.get(name) or ()
        if wanted and not (isinstance(values, list) and wanted.intersection(values)):
            return False
    if filters.q:
        entities = [e for e in story.get("entities") or () if isinstance(e, str)]
        themes = [t for t in story.get("themes") or () if isinstance(t, str)]
        text = " ".join(
            [str(story.get("headline") or ""), *names.entities(entities), *names.themes(themes)]
        ).casefold()
        if not all(word.casefold() in text for word in filters.q.split()):
            return False
    return True
