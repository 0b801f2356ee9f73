"""Story mutes and the stories panel's filters (pure): which alerts and stories a muted story
hides, how mutes travel between processes, and the lines of `newswatch stories tail`."""

from __future__ import annotations

import pytest

from newswatch.streams.cli.story_tail import StoryPrinter, format_story, story_state
from newswatch.streams.names import DisplayNames
from newswatch.streams.newsroom.query import Filters, build_view, story_matches
from newswatch.streams.records import Alert
from newswatch.streams.sinks.mutes import (
    Mutes,
    check_mute,
    mutes_from_message,
    parse_mutes,
)

NAMES = DisplayNames(
    {"deepseek": "DeepSeek", "huawei_ascend": "Huawei Ascend", "nvidia": "Nvidia"},
    {"export_controls": "Export controls"},
)
MUTED = "st-00000000000000aa"
OTHER = "st-00000000000000bb"


def story(story_id: str = OTHER, **kw: object) -> dict:
    base = {
        "id": story_id,
        "status": "open",
        "headline": "US curbs Nvidia H20 sales to China",
        "first_seen": 1_790_000_000.0,
        "last_seen": 1_790_003_600.0,
        "size": 3,
        "sources": 3,
        "languages": ["de", "en"],
        "entities": ["nvidia", "deepseek"],
        "themes": ["export_controls"],
        "breaking": False,
    }
    base.update(kw)
    return base


def record(kind: str, story_id: str, **kw: object) -> Alert:
    fields: dict = {
        "id": f"{kind}-{story_id}",
        "kind": kind,
        "rule": "r1",
        "severity": "high",
        "title": "Export controls x DeepSeek",
        "entities": ["deepseek"],
        "themes": ["export_controls"],
        "article_id": "a1",
        "story_id": story_id,
        "sources": 5,
    }
    if kind == "story_update":
        fields.update(update_of=f"story-{story_id}", sequence=1, reasons=["sources:5"])
    fields.update(kw)
    return Alert(**fields)


def test_a_muted_story_mutes_its_creation_and_its_updates_only() -> None:
    mutes = Mutes(stories=frozenset({MUTED}))
    for kind in ("story", "story_update"):
        assert mutes.mutes(record(kind, MUTED))  # the record, as the webhook sink sees it
        assert mutes.mutes(record(kind, MUTED).to_dict())  # the JSON, as the page sees it
        assert not mutes.mutes(record(kind, OTHER))
    plain = {"id": "x", "rule": "r1", "entities": ["deepseek"]}  # no story at all
    assert not mutes.mutes(plain)
    assert mutes and not Mutes()


def test_story_mutes_do_not_weaken_entity_and_rule_mutes() -> None:
    mutes = Mutes(entities=frozenset({"deepseek"}), rules=frozenset({"r2"}))
    assert mutes.mutes(record("story", OTHER))  # every entity muted
    assert mutes.mutes(record("story", OTHER, rule="r2", entities=["nvidia"]))
    assert not mutes.mutes(record("story", OTHER, entities=["deepseek", "nvidia"]))


def test_parse_and_messages_round_trip() -> None:
    fields = {
        b"entity:qwen": b"{}",
        b"rule:r1": b"{}",
        f"story:{MUTED}".encode(): b"{}",
        b"story:not-a-story": b"{}",  # hand-edited junk is ignored, not trusted
        b"feed:wire": b"{}",
    }
    mutes = parse_mutes(fields)
    assert mutes == Mutes(frozenset({"qwen"}), frozenset({"r1"}), frozenset({MUTED}))
    message = mutes.as_message()
    assert message == {
        "type": "mutes",
        "entities": ["qwen"],
        "rules": ["r1"],
        "stories": [MUTED],
    }
    assert mutes_from_message(message) == mutes
    assert mutes_from_message({"type": "mutes", "entities": ["qwen"]}) == Mutes(
        frozenset({"qwen"})
    )  # an older sender without stories


@pytest.mark.parametrize(
    ("kind", "value"),
    [("story", "st-123"), ("story", "ST-00000000000000AA"), ("feed", "wire"), ("rule", "a b")],
)
def test_check_mute_refuses_bad_kinds_and_values(kind: str, value: str) -> None:
    with pytest.raises(ValueError):
        check_mute(kind, value)


def test_check_mute_accepts_every_kind() -> None:
    for kind, value in (("story", MUTED), ("entity", "huawei_ascend"), ("rule", "r-1")):
        check_mute(kind, value)


def test_muted_story_alerts_leave_the_page_view() -> None:
    alerts = [record("story", MUTED).to_dict(), record("story", OTHER).to_dict()]
    mutes = Mutes(stories=frozenset({MUTED}))
    view = build_view(alerts, Filters(), NAMES, mutes=mutes)
    assert [a["story_id"] for a in view.alerts] == [OTHER] and view.muted_hidden == 1
    shown = build_view(alerts, Filters(show_muted=True), NAMES, mutes=mutes)
    assert len(shown.alerts) == 2


def test_story_panel_filters() -> None:
    mutes = Mutes(stories=frozenset({MUTED}), entities=frozenset({"nvidia"}))
    assert story_matches(story(), Filters(), NAMES, mutes)  # entity mutes do not hide stories
    assert not story_matches(story(MUTED), Filters(), NAMES, mutes)
    assert story_matches(story(MUTED), Filters(show_muted=True), NAMES, mutes)
    assert story_matches(story(), Filters(entity=frozenset({"deepseek", "qwen"})), NAMES)
    assert not story_matches(story(), Filters(entity=frozenset({"qwen"})), NAMES)
    assert story_matches(story(), Filters(lang=frozenset({"de"})), NAMES)
    assert not story_matches(story(), Filters(lang=frozenset({"zh"})), NAMES)
    assert not story_matches(story(), Filters(theme=frozenset({"chips"})), NAMES)
    assert story_matches(story(), Filters(q="h20 deepseek"), NAMES)  # headline and names
    assert not story_matches(story(), Filters(q="huawei"), NAMES)
    # Alert-only filters do not hide stories.
    assert story_matches(story(), Filters(severity=frozenset({"critical"})), NAMES)
    assert not story_matches(story(languages=None), Filters(lang=frozenset({"de"})), NAMES)


def test_stories_tail_line() -> None:
    line = format_story(
        story(headline="US curbs\nNvidia <H20>\x1b[31m", entities=["huawei_ascend", "nvidia"]),
        names=NAMES,
    )
    assert line.startswith("2026-09-21T15:13:20Z GROWN ")
    assert "GROWN" in line and "st-00000000000000bb" in line
    assert "3 sources, 3 articles, 2 languages (de, en)" in line
    assert "[Huawei Ascend, Nvidia]" in line  # display names, not ids
    assert line.endswith("US curbs Nvidia <H20> [31m") and "\n" not in line and "\x1b" not in line
    first = format_story(story(size=1, sources=1, languages=["en"]), names=NAMES)
    assert "NEW" in first and "1 source, 1 article, 1 language (en)" in first
    assert "BREAKING" in format_story(story(breaking=True), names=NAMES)
    assert "CLOSED" in format_story(story(status="closed", breaking=True), names=NAMES)
    assert format_story({"id": OTHER, "last_seen": "soon"}).startswith("- ")  # junk: no crash


def test_stories_tail_prints_each_state_once(capsys: pytest.CaptureFixture[str]) -> None:
    printer = StoryPrinter(as_json=False, colour=False, names=NAMES)
    assert printer.show(story(size=1, sources=1))
    assert not printer.show(story(size=1, sources=1))  # the same state again (a resync)
    assert printer.show(story(size=2, sources=2))  # grew
    printer.remember(story(MUTED))
    assert not printer.show(story(MUTED))
    assert story_state(story()) != story_state(story(headline="Another best source"))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "NEW" in out[0] and "GROWN" in out[1]
