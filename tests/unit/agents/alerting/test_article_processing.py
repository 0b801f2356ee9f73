"""The tag agent's pure batch step: decode -> tag -> rules -> encode, inline and in a child."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pytest

from newswatch.agents.alerting import EntityInfo, RuleEngine, parse_rules
from newswatch.agents.alerting.processing import ArticleProcessor
from newswatch.agents.tagpool import ProcessorPool
from newswatch.streams.records import Alert, Article, TaggedArticle, ThemeHit

RULES = parse_rules(
    "- {id: cn, severity: high, when: {entity_groups: [chinese_ai], themes: [export_controls]}}"
)


@dataclass
class Result:
    entities: list[str]
    themes: list[ThemeHit]
    mentions: list = field(default_factory=list)
    lang: str | None = "en"


class KeywordTagger:
    def tag(self, text: str, title: str | None = None, lang: str | None = None) -> Result:
        if "boom" in text:
            raise RuntimeError("tagger bug")
        entities = ["qwen", "qwen"] if "Qwen" in text else []
        themes = [ThemeHit("export_controls", 3.0)] if "export" in text else []
        return Result(entities, themes)


def processor() -> ArticleProcessor:
    lookup = {"qwen": EntityInfo("model", frozenset({"chinese_ai"}))}.get
    return ArticleProcessor(KeywordTagger(), RuleEngine(RULES, lookup))


def article(article_id: str, text: str) -> bytes:
    return Article(id=article_id, feed_id="f", title="t", content=text, fetched_at=5.0).dumps()


def test_outcomes_carry_the_records_to_publish() -> None:
    hit, quiet = processor().process_batch(
        [article("a", "Qwen and export rules"), article("b", "weather")]
    )
    assert hit.ok and hit.article_id == "a" and hit.fetched_at == 5.0
    assert TaggedArticle.loads(hit.tagged).entities == ["qwen", "qwen"]
    assert hit.entities == ("qwen",)  # distinct, for metrics and spike counts
    ((alert_id, rule, severity, body),) = hit.alerts
    alert = Alert.loads(body)
    assert (
        (alert.id, alert.rule, alert.severity)
        == (alert_id, rule, severity)
        == (
            alert_id,
            "cn",
            "high",
        )
    )
    assert quiet.ok and quiet.alerts == () and quiet.entities == ()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff not json", "decode"),
        (orjson.dumps({"schema_version": 7}), "schema"),
        (orjson.dumps({"schema_version": 1, "id": "x"}), "decode"),  # missing fields
        (article("c", "boom"), "processing"),
    ],
)
def test_bad_records_become_dead_letter_outcomes(value: bytes, reason: str) -> None:
    (out,) = processor().process_batch([value])
    assert not out.ok and out.reason == reason and out.error


def test_without_rules_no_alerts_are_raised() -> None:
    (out,) = ArticleProcessor(KeywordTagger(), None).process_batch(
        [article("a", "Qwen and export rules")]
    )
    assert out.ok and out.alerts == ()


@pytest.mark.slow
async def test_pool_gives_the_same_outcomes_as_inline() -> None:
    """The child process loads the shipped catalogue and rules."""
    from newswatch.agents.alerting.processing import load_processor

    inline = load_processor(None, None, rules=True)
    values = [
        article("p1", "DeepSeek and Alibaba hit by new US export controls on AI chips."),
        article("p2", "The weather will be fine."),
        b"garbage",
    ]
    pool = ProcessorPool(None, None, rules=True, inline=lambda: inline)
    try:
        from_pool = await pool.process_batch(values)
    finally:
        pool.close()
    expected = inline.process_batch(values)

    def summary(outcomes: list) -> list:
        return [(o.reason, [a[:3] for a in o.alerts], o.entities, o.tagged[:0]) for o in outcomes]

    assert summary(from_pool) == summary(expected)
    assert from_pool[0].alerts  # the export-controls article alerts


@pytest.mark.slow
async def test_child_killed_with_batches_in_flight_every_batch_is_processed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The tag agent keeps several batches in the pool: a crash restarts the child once and
    every batch still gets its outcomes (one record at a time for the ones the crash hit)."""
    import asyncio
    import os
    import signal

    from newswatch.agents.alerting.processing import load_processor

    inline = load_processor(None, None, rules=True)
    batches = [
        [
            article(f"b{b}-{i}", f"DeepSeek story {i} about export controls on chips.")
            for i in range(300)
        ]
        for b in range(3)
    ]
    pool = ProcessorPool(None, None, rules=True, inline=lambda: inline)
    try:
        await pool.process_batch([])  # the child is up
        first = pool._pool
        tasks = [asyncio.ensure_future(pool.process_batch(values)) for values in batches]
        await asyncio.sleep(0)  # the tasks hand their batches to the pool
        # Killed at once, not after a fixed sleep: on a loaded machine this process can
        # oversleep while the child finishes all three batches, and nothing is in flight.
        assert not any(task.done() for task in tasks)
        for pid in list(first._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        results = await asyncio.gather(*tasks)
        restarted = pool._pool
        assert restarted is not first
        after = await pool.process_batch(batches[0][:2])
        assert pool._pool is restarted  # restarted once, and the new child works
    finally:
        pool.close()
    for values, outcomes in zip(batches, results, strict=True):
        assert [o.article_id for o in outcomes] == [
            o.article_id for o in inline.process_batch(values)
        ]
        assert all(o.ok and o.alerts for o in outcomes)
    assert [o.article_id for o in after] == ["b0-0", "b0-1"]
    assert sum("tagging process died" in r.message for r in caplog.records) == 1


@pytest.mark.slow
async def test_a_record_that_kills_the_child_is_dead_lettered_and_the_rest_processed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Processing it in the worker's process instead would take the worker down, on every
    restart: it is found by processing the batch one record at a time in fresh children."""
    from newswatch.agents.tagpool import CRASHES_PER_RECORD
    from tests.support.crashing_tagger import CrashingTagger, load_crashing

    values = [article(f"c{i}", "Qwen news") for i in range(5)]
    values.insert(2, article("bad", "segfault"))
    pool = ProcessorPool(
        None,
        None,
        rules=False,
        inline=lambda: ArticleProcessor(CrashingTagger(), None),  # would die here too
        loader=load_crashing,
    )
    try:
        outcomes = await pool.process_batch(values)
        after = await pool.process_batch([article("later", "Qwen again")])
    finally:
        pool.close()
    assert [o.ok for o in outcomes] == [True, True, False, True, True, True]
    assert outcomes[2].reason == "processing" and "died" in (outcomes[2].error or "")
    assert [o.entities for o in outcomes if o.ok] == [("qwen",)] * 5
    assert after[0].ok and after[0].article_id == "later"
    died = sum("tagging process died (" in r.message for r in caplog.records)
    assert died == 1 + CRASHES_PER_RECORD  # the batch, then each try of the bad record
