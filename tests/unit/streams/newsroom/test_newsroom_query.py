"""Filters, facets, search and mutes of the newsroom page (pure)."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from newswatch.streams.names import DisplayNames
from newswatch.streams.newsroom.query import FilterError, Filters, build_view, matches
from newswatch.streams.sinks.mutes import Mutes, parse_mutes

NAMES = DisplayNames({"deepseek": "DeepSeek", "qwen": "Qwen"}, {"chips": "Chips (GPUs)"})


def alert(i: int, **kw: object) -> dict:
    base = {
        "id": f"a{i}",
        "rule": "r1",
        "severity": "high",
        "title": f"story {i}",
        "summary": "",
        "entities": ["deepseek"],
        "themes": ["chips"],
        "lang": "en",
        "feed_id": "wire",
    }
    base.update(kw)
    return base


ALERTS = [
    alert(1),
    alert(2, entities=["qwen"], severity="critical", lang="zh"),
    alert(3, entities=["qwen", "deepseek"], themes=[], rule="r2", feed_id="keji"),
    alert(4, entities=[], themes=["chips"], severity="low", title="GPU curbs"),
]


def test_parse_repeated_values_and_options() -> None:
    params = MultiDict([("entity", "qwen"), ("entity", "deepseek"), ("status", "open")])
    filters = Filters.parse(params)
    assert filters.entity == {"qwen", "deepseek"} and filters.open_only
    assert Filters.parse(MultiDict(filters.query_items())) == filters


@pytest.mark.parametrize(
    "params, message",
    [
        ({"colour": "red"}, "unknown parameter"),
        ({"severity": "urgent"}, "severity"),
        ({"entity": "<script>"}, "entity"),
        ({"status": "closed"}, "status"),
        ({"q": "x" * 201}, "q:"),
    ],
)
def test_parse_rejects_bad_input(params: dict, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        Filters.parse(params)


def test_any_value_within_a_facet_all_facets_together() -> None:
    view = build_view(ALERTS, Filters(entity=frozenset({"qwen"})), NAMES)
    assert [a["id"] for a in view.alerts] == ["a2", "a3"]
    view = build_view(ALERTS, Filters(entity=frozenset({"qwen"}), lang=frozenset({"zh"})), NAMES)
    assert [a["id"] for a in view.alerts] == ["a2"]


def test_facet_counts_ignore_their_own_filter() -> None:
    view = build_view(ALERTS, Filters(entity=frozenset({"qwen"})), NAMES)
    # Entity counts are over every alert (choosing another entity would widen the list) ...
    assert dict(view.facets["entity"]) == {"deepseek": 2, "qwen": 2}
    # ... the other facets count within the qwen alerts.
    assert dict(view.facets["severity"]) == {"critical": 1, "high": 1}
    assert [name for name, _ in view.facets["severity"]] == ["critical", "high"]


def test_search_matches_names_titles_and_every_word() -> None:
    assert [a["id"] for a in build_view(ALERTS, Filters(q="gpu"), NAMES).alerts] == ["a4"]
    hits = build_view(ALERTS, Filters(q="qwen DEEPSEEK"), NAMES).alerts
    assert [a["id"] for a in hits] == ["a3"]
    assert [a["id"] for a in build_view(ALERTS, Filters(q="Chips"), NAMES).alerts] == [
        "a1",
        "a2",
        "a4",
    ]


def test_open_only_hides_acknowledged() -> None:
    view = build_view(ALERTS, Filters(open_only=True), NAMES, acked={"a1", "a3"})
    assert [a["id"] for a in view.alerts] == ["a2", "a4"]


def test_mutes_rule_or_every_entity() -> None:
    mutes = Mutes(entities=frozenset({"deepseek"}), rules=frozenset({"r2"}))
    assert mutes.mutes(ALERTS[0])  # its only entity is muted
    assert not mutes.mutes(ALERTS[1])
    assert mutes.mutes(ALERTS[2])  # rule r2
    assert not mutes.mutes(alert(5, entities=["deepseek", "qwen"]))  # also about Qwen
    assert not mutes.mutes(ALERTS[3])  # no entity, rule not muted
    view = build_view(ALERTS, Filters(), NAMES, mutes=mutes)
    assert [a["id"] for a in view.alerts] == ["a2", "a4"] and view.muted_hidden == 2
    shown = build_view(ALERTS, Filters(show_muted=True), NAMES, mutes=mutes)
    assert len(shown.alerts) == 4


def test_parse_mutes_from_redis_fields() -> None:
    mutes = parse_mutes({b"entity:qwen": b"{}", b"rule:r1": b"{}", b"bogus": b"", b"rule:": b""})
    assert mutes == Mutes(frozenset({"qwen"}), frozenset({"r1"}))


def test_matches_skip_facet() -> None:
    filters = Filters(entity=frozenset({"qwen"}))
    assert not matches(ALERTS[0], filters, NAMES)
    assert matches(ALERTS[0], filters, NAMES, skip="entity")
