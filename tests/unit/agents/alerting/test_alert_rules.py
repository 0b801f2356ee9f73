"""Alert rules: validation errors name the rule and field; evaluation; deterministic ids."""

from __future__ import annotations

import textwrap

import pytest

from newswatch.agents.alerting import (
    EntityInfo,
    RuleEngine,
    RuleError,
    load_rules,
    parse_rules,
)
from newswatch.agents.alerting.rules import parse_duration
from newswatch.streams.records import Article, TaggedArticle, ThemeHit

CATALOGUE = {
    "deepseek": EntityInfo("model", frozenset({"chinese_ai"})),
    "qwen": EntityInfo("model", frozenset({"chinese_ai"})),
    "alibaba": EntityInfo("company", frozenset({"chinese_ai"})),
    "openai": EntityInfo("company", frozenset({"us_ai"})),
}


def lookup(entity: str) -> EntityInfo | None:
    return CATALOGUE.get(entity)


def tagged(
    entities: list[str],
    themes: dict[str, float],
    *,
    article_id: str = "a1",
    lang: str = "en",
    feed: str = "feed-1",
    title: str = "Some title",
    fetched_at: float = 1_000_000.0,
) -> TaggedArticle:
    article = Article(
        id=article_id,
        feed_id=feed,
        title=title,
        url="https://example.test/a",
        summary="summary",
        lang=lang,
        fetched_at=fetched_at,
    )
    return TaggedArticle(
        article=article,
        entities=entities,
        themes=[ThemeHit(t, s) for t, s in themes.items()],
        lang=lang,
    )


def rules(text: str):
    return parse_rules(textwrap.dedent(text), source="rules.yaml")


# ---- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "- {id: r1, severity: urgent, when: {themes: [x]}}",
            "rule 'r1': severity: must be one of",
        ),
        ("- {id: r1, severity: low}", "rule 'r1': when: must be a mapping"),
        ("- {id: r1, severity: low, when: {colour: [x]}}", "rule 'r1': when.colour: unknown"),
        ("- {id: r1, severity: low, when: {themes: x1, min_theme_score: -1}}", "min_theme_score"),
        ("- {id: r1, severity: low, when: {themes: []}}", "rule 'r1': when.themes: must not be"),
        ("- {id: r1, severity: low, when: {themes: [1]}}", "when.themes: every item"),
        (
            "- {id: r1, severity: low, when: {min_theme_score: 1}}",
            "rule 'r1': when: needs at least",
        ),
        (
            "- {id: r1, severity: low, when: {themes: [x]}, title: '{nope}'}",
            "title: unknown placeholder",
        ),
        ("- {id: r1, severity: low, when: {themes: [x]}, title: '{'}", "rule 'r1': title: bad"),
        ("- {id: r1, severity: low, when: {themes: [x]}, throttle: soon}", "rule 'r1': throttle:"),
        (
            "- {id: r1, severity: low, when: {themes: [x]}, colour: red}",
            "rule 'r1': colour: unknown",
        ),
        ("- {id: 'Bad Id', severity: low, when: {themes: [x]}}", "rule #1: id:"),
        (
            "- {id: r1, severity: low, when: {themes: [x]}}\n"
            "- {id: r1, severity: low, when: {themes: [y]}}",
            "rule 'r1': id: duplicate",
        ),
        ("just text", "expected a list of rules"),
        ("rules: [1]", "rule #1: expected a mapping"),
        ("{rules: [], extra: 1}", "unknown top-level key"),
        ("- {id: r1, severity: low, when: {themes: [x]}, enabled: maybe}", "rule 'r1': enabled:"),
    ],
)
def test_invalid_rules_name_rule_and_field(body: str, expected: str) -> None:
    with pytest.raises(RuleError) as info:
        rules(body)
    assert expected in str(info.value)
    assert str(info.value).startswith("rules.yaml:")


def test_invalid_yaml_is_reported_with_the_file() -> None:
    with pytest.raises(RuleError, match=r"rules.yaml: not valid YAML"):
        rules("- {id: [")


def test_missing_file_is_a_rule_error(tmp_path) -> None:
    with pytest.raises(RuleError, match="cannot read rules file"):
        load_rules(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), ("90", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("1d", 86400.0)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


def test_shipped_defaults_load_and_cover_the_required_rules() -> None:
    shipped = load_rules()
    ids = {rule.id for rule in shipped}
    assert {
        "chinese_ai_export_controls",
        "chinese_model_release",
        "chinese_ai_data_security",
        "chinese_ai_market_shock",
    } <= ids
    assert shipped.get("chinese_ai_export_controls").severity == "high"
    release = shipped.get("chinese_model_release").when
    assert release.entity_kinds == {"model"} and release.themes == {"open_source"}


# ---- evaluation ---------------------------------------------------------------------------

RULES = """
- id: cn_export
  severity: high
  when: {entity_groups: [chinese_ai], themes: [export_controls], min_theme_score: 1.0}
  title: "{entities} x {themes}: {title}"
- id: cn_model_open
  severity: medium
  when: {entity_groups: [chinese_ai], entity_kinds: [model], themes: [open_source]}
- id: both_themes
  severity: critical
  when: {all_themes: [export_controls, chips]}
- id: german_deepseek
  severity: low
  when: {entities: [deepseek], languages: [de], feeds: [feed-de]}
- id: disabled
  severity: low
  enabled: false
  when: {themes: [export_controls]}
"""


def fired(article: TaggedArticle) -> dict[str, object]:
    engine = RuleEngine(rules(RULES), lookup)
    return {alert.rule: alert for alert in engine.evaluate(article, now=5.0)}


def test_group_and_theme_rule_fires_with_matching_entities_only() -> None:
    alerts = fired(tagged(["alibaba", "openai"], {"export_controls": 2.5}))
    assert set(alerts) == {"cn_export"}
    alert = alerts["cn_export"]
    assert alert.entities == ["alibaba"]  # openai is not in the group
    assert alert.themes == ["export_controls"]
    assert alert.severity == "high"
    assert alert.title == "alibaba x export_controls: Some title"
    assert alert.article_id == "a1" and alert.source_time == 1_000_000.0


def test_min_theme_score_blocks_weak_themes() -> None:
    assert fired(tagged(["alibaba"], {"export_controls": 0.5})) == {}


def test_entity_kind_and_group_must_hold_for_the_same_entity() -> None:
    # alibaba is chinese_ai but a company; openai would be a model nowhere: no release alert
    assert "cn_model_open" not in fired(tagged(["alibaba", "openai"], {"open_source": 3}))
    assert "cn_model_open" in fired(tagged(["qwen"], {"open_source": 3}))


def test_all_themes_needs_every_theme() -> None:
    assert "both_themes" not in fired(tagged([], {"export_controls": 3}))
    assert "both_themes" in fired(tagged([], {"export_controls": 3, "chips": 3}))


def test_language_and_feed_conditions() -> None:
    assert "german_deepseek" not in fired(tagged(["deepseek"], {}, lang="en", feed="feed-de"))
    assert "german_deepseek" not in fired(tagged(["deepseek"], {}, lang="de", feed="feed-en"))
    assert "german_deepseek" in fired(tagged(["deepseek"], {}, lang="de", feed="feed-de"))


def test_unknown_entities_never_match_group_rules() -> None:
    assert fired(tagged(["mystery"], {"export_controls": 3})) == {}


def test_disabled_rules_never_fire() -> None:
    assert "disabled" not in fired(tagged([], {"export_controls": 3}))


def test_alert_ids_are_deterministic_per_rule_and_article() -> None:
    one = fired(tagged(["alibaba"], {"export_controls": 2}, article_id="x"))["cn_export"]
    again = fired(tagged(["alibaba"], {"export_controls": 2}, article_id="x"))["cn_export"]
    other = fired(tagged(["alibaba"], {"export_controls": 2}, article_id="y"))["cn_export"]
    assert one.id == again.id != other.id
    assert len(one.id) == 32


def test_throttle_collapses_a_burst_into_one_id_per_window() -> None:
    engine = RuleEngine(
        rules("- {id: t, severity: low, throttle: 1h, when: {entity_groups: [chinese_ai]}}"),
        lookup,
    )

    def alert_id(article_id: str, fetched_at: float) -> str:
        (alert,) = engine.evaluate(
            tagged(["qwen"], {}, article_id=article_id, fetched_at=fetched_at)
        )
        return alert.id

    hour = 3600 * 1000
    assert alert_id("a", hour + 10) == alert_id("b", hour + 3000)
    assert alert_id("a", hour + 10) != alert_id("c", hour + 3600 + 10)


SUPERSEDING = """
- id: cn_export
  severity: high
  when: {entity_groups: [chinese_ai], themes: [export_controls]}
- id: cn_chip_export
  severity: critical
  supersedes: [cn_export]
  when: {entity_groups: [chinese_ai], all_themes: [export_controls, chips]}
"""


def test_a_superseding_rule_replaces_the_other_for_the_same_article() -> None:
    engine = RuleEngine(rules(SUPERSEDING), lookup)
    both = engine.evaluate(tagged(["deepseek"], {"export_controls": 2, "chips": 2}))
    assert [a.rule for a in both] == ["cn_chip_export"]
    only_export = engine.evaluate(tagged(["deepseek"], {"export_controls": 2}))
    assert [a.rule for a in only_export] == ["cn_export"]


def test_supersedes_must_name_another_rule() -> None:
    with pytest.raises(RuleError, match=r"rule 'r1': supersedes: 'nope' is not another rule"):
        rules("- {id: r1, severity: low, supersedes: [nope], when: {themes: [x]}}")
    with pytest.raises(RuleError, match=r"rule 'r1': supersedes: 'r1' is not another rule"):
        rules("- {id: r1, severity: low, supersedes: [r1], when: {themes: [x]}}")
