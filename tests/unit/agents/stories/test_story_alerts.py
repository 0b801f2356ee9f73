"""The story-level alert decisions (agents/stories/alerts.py): once per rule and story, updates
on thresholds, new languages, higher severity and breaking, rate-limited in event time."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from newswatch.agents.stories.alerts import (
    StoryAlerter,
    UpdatePolicy,
    is_breaking,
    story_alert_id,
    story_update_id,
)
from newswatch.streams.records import Alert

T0 = 1_780_000_000.0
LANGS = ["en", "de", "fr", "es"]


def match(rule: str = "export", severity: str = "high", article: str = "a0") -> Alert:
    return Alert(
        id=f"{rule}-{article}",
        rule=rule,
        severity=severity,
        title=f"{rule} on {article}",
        entities=["zhipu"],
        themes=["export_controls"],
        article_id=article,
        created_at=T0,
    )


def story_after(n: int, *, step: float = 60.0, langs: list[str] = LANGS) -> dict[str, Any]:
    """The engine's story dict after its n-th article (n sources, one per outlet)."""
    articles = [
        {
            "id": f"a{i}",
            "feed": f"outlet-{i}",
            "lang": langs[i % len(langs)],
            "published": T0 + step * i,
        }
        for i in range(n)
    ]
    return {
        "id": "st-1",
        "headline": "US adds Zhipu to the Entity List",
        "last_seen": T0 + step * (n - 1),
        "sources": n,
        "languages": sorted({a["lang"] for a in articles}),
        "articles": articles[:10] + articles[-10:] if n > 20 else articles,
    }


def run(alerter: StoryAlerter, n: int, **kw: Any) -> list[Alert]:
    out: list[Alert] = []
    for i in range(1, n + 1):
        out += alerter.add(story_after(i, **kw), [match(article=f"a{i - 1}")]).records
    return out


def test_one_alert_per_rule_and_story_later_matches_fold() -> None:
    alerter = StoryAlerter(UpdatePolicy(min_interval=0))
    first = alerter.add(story_after(1), [match()])
    assert [a.id for a in first.created] == [story_alert_id("export", "st-1")]
    assert first.created[0].kind == "story" and first.created[0].sources == 1
    second = alerter.add(story_after(2), [match(article="a1")])
    assert second.created == () and second.folded == 1


def test_updates_on_thresholds_and_new_languages_only() -> None:
    alerter = StoryAlerter(UpdatePolicy(sources=(5, 10), min_interval=0))
    records = run(alerter, 12, step=3_600, langs=["en", "en", "de"])  # one an hour: not breaking
    updates = [r for r in records if r.kind == "story_update"]
    # article 3 brings German; articles 5 and 10 cross the thresholds; nothing else speaks.
    assert [(u.sources, u.reasons) for u in updates] == [
        (3, ["language:de"]),
        (5, ["sources:5"]),
        (10, ["sources:10"]),
    ]
    assert [u.sequence for u in updates] == [1, 2, 3]
    assert all(u.update_of == story_alert_id("export", "st-1") for u in updates)
    assert updates[0].id == story_update_id("export", "st-1", 1)


def test_rate_limit_in_event_time_keeps_the_held_back_change() -> None:
    # One article a minute, updates at most every 10 minutes.
    alerter = StoryAlerter(UpdatePolicy(sources=(5, 10, 25), min_interval=600))
    records = run(alerter, 40)
    updates = [r for r in records if r.kind == "story_update"]
    # The four languages and the 5-source threshold come within 10 minutes of the creation:
    # held back, then told together by the first article 10 minutes on (#11, 11 sources).
    assert [(u.sources, u.reasons) for u in updates] == [
        (11, ["sources:5", "sources:10", "language:de", "language:es", "language:fr", "breaking"]),
        (25, ["sources:25"]),
    ]
    times = [T0] + [T0 + 60 * (u.sources - 1) for u in updates]
    assert all(b - a >= 600 for a, b in itertools.pairwise(times))


def test_no_update_within_the_interval_whatever_changes() -> None:
    alerter = StoryAlerter(UpdatePolicy(sources=(2, 3, 4, 5), min_interval=3_600))
    records = run(alerter, 59)  # 58 minutes: every article crosses something at first
    assert [r.kind for r in records] == ["story"]
    out = alerter.add(story_after(61), [])  # one hour after the creation
    assert [u.reasons[:1] for u in out.updates] == [["sources:2"]]


def test_higher_severity_rule_creates_its_alert_and_updates_the_others() -> None:
    alerter = StoryAlerter(UpdatePolicy(min_interval=0))
    alerter.add(story_after(1), [match("mention", "medium")])
    out = alerter.add(story_after(2), [match("mention", "medium", "a1"), match("export")])
    assert [a.rule for a in out.created] == ["export"]
    assert out.created[0].story_severity == "high"
    assert [(u.rule, u.reasons) for u in out.updates] == [
        ("mention", ["language:de", "severity:high"])
    ]
    assert out.updates[0].severity == "medium" and out.updates[0].story_severity == "high"


def test_lower_severity_rule_is_no_update_reason() -> None:
    alerter = StoryAlerter(UpdatePolicy(min_interval=0, sources=(50,)))
    alerter.add(story_after(1, langs=["en"]), [match("export")])
    out = alerter.add(story_after(2, langs=["en"]), [match("mention", "low", "a1")])
    assert [a.rule for a in out.created] == ["mention"] and out.updates == ()


def test_articles_without_matches_still_drive_updates_of_an_alerted_story() -> None:
    alerter = StoryAlerter(UpdatePolicy(sources=(3,), min_interval=0))
    alerter.add(story_after(1, langs=["en"]), [match()])
    assert alerter.add(story_after(2, langs=["en"]), []).records == ()
    out = alerter.add(story_after(3, langs=["en"]), [])
    assert [u.reasons for u in out.updates] == [["sources:3"]]


def test_stories_without_alerts_keep_no_state() -> None:
    alerter = StoryAlerter()
    assert alerter.add(story_after(5), []).records == ()
    assert len(alerter) == 0


def test_breaking_is_distinct_sources_within_the_window() -> None:
    policy = UpdatePolicy(breaking_window=600, breaking_sources=5)
    assert not is_breaking(story_after(4, step=60), policy)
    assert is_breaking(story_after(5, step=60), policy)
    assert not is_breaking(story_after(5, step=300), policy)  # 5 sources over 20 minutes
    story = story_after(5, step=60)
    for article in story["articles"]:
        article["feed"] = "same-outlet"
    assert not is_breaking(story, policy)


def test_replay_from_a_snapshot_gives_the_same_ids_and_sequence() -> None:
    policy = UpdatePolicy(sources=(5, 10), min_interval=120)
    whole = run(StoryAlerter(policy), 15)
    first = StoryAlerter(policy)
    head: list[Alert] = []
    for i in range(1, 8):
        head += first.add(story_after(i), [match(article=f"a{i - 1}")]).records
    second = StoryAlerter.restore(first.snapshot(), policy)
    tail: list[Alert] = []
    for i in range(8, 16):
        tail += second.add(story_after(i), [match(article=f"a{i - 1}")]).records
    key = [(a.id, a.kind, a.sequence, a.reasons, a.sources) for a in whole]
    assert [(a.id, a.kind, a.sequence, a.reasons, a.sources) for a in head + tail] == key
    assert len({a.id for a in whole}) == len(whole)


def test_closed_stories_are_forgotten_and_state_is_bounded() -> None:
    alerter = StoryAlerter(UpdatePolicy(max_stories=2))
    for n in range(3):
        story = story_after(1) | {"id": f"st-{n}"}
        alerter.add(story, [match()])
    assert len(alerter) == 2
    alerter.close(["st-2"])
    assert len(alerter) == 1


def test_a_foreign_snapshot_is_refused() -> None:
    with pytest.raises(ValueError):
        StoryAlerter.restore(b'{"version": 99}')
    with pytest.raises(ValueError):
        StoryAlerter.restore(b"not json")


def test_update_records_survive_the_wire() -> None:
    alerter = StoryAlerter(UpdatePolicy(sources=(2,), min_interval=0))
    alerter.add(story_after(1), [match()])
    (update,) = alerter.add(story_after(2), []).updates
    again = Alert.loads(update.dumps())
    assert again == update and again.breaking is False and again.headline
