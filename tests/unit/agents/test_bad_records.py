"""One bad record never stops an agent: dead letters, reasons, sink fallbacks, crash counting."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from redis import exceptions as redis_errors

from newswatch.agents import metrics, pipeline
from newswatch.agents.alerting import EntityInfo, RuleEngine, parse_rules
from newswatch.agents.alerting.processing import ArticleProcessor, dead_letter_reason
from newswatch.agents.pipeline import dead_letter, dead_letter_key, decode_count
from newswatch.streams.records import (
    MAX_RECORD_BYTES,
    Alert,
    Article,
    NotARecordError,
    OutOfRangeError,
    RecordTooLargeError,
    TaggedArticle,
    ThemeHit,
)

RULES = parse_rules(
    "- {id: cn, severity: high, when: {entity_groups: [chinese_ai], themes: [export_controls]}}"
)


# ---- dead-letter records ----------------------------------------------------------------------


def letter(value: bytes | None, key: bytes | None = b"k") -> dict:
    return orjson.loads(
        dead_letter(
            reason="decode",
            error="bad",
            topic="t",
            partition=0,
            offset=1,
            key=key,
            value=value,
        )
    )


def test_a_small_value_is_copied_exactly() -> None:
    record = letter(b"\x00\xff{")
    assert base64.b64decode(record["value"]) == b"\x00\xff{"
    assert "value_sha256" not in record


def test_a_large_value_or_key_is_referenced_not_copied() -> None:
    value = b"x" * (pipeline.DEADLETTER_VALUE_BYTES + 1)
    key = b"k" * (pipeline.DEADLETTER_KEY_BYTES + 1)
    body = dead_letter(
        reason="range", error="e" * 10_000, topic="t", partition=3, offset=9, key=key, value=value
    )
    assert len(body) < 10_000
    record = orjson.loads(body)
    assert record["value"] is None and record["key"] is None
    assert record["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert record["value_bytes"] == len(value)
    assert base64.b64decode(record["value_head"]) == value[: pipeline.DEADLETTER_HEAD_BYTES]
    assert record["key_bytes"] == len(key) and len(record["error"]) == 2000
    assert dead_letter_key(key) == hashlib.sha256(key).hexdigest().encode()
    assert dead_letter_key(b"short") == b"short" and dead_letter_key(None) is None


def test_a_null_value_is_recorded_as_null() -> None:
    record = letter(None, key=None)
    assert record["value"] is None and record["key"] is None


def test_reasons_come_from_exception_types() -> None:
    assert dead_letter_reason(NotARecordError("x")) == "decode"
    assert dead_letter_reason(OutOfRangeError("x")) == "range"
    assert dead_letter_reason(RecordTooLargeError("x")) == "too_large"
    assert dead_letter_reason(OverflowError("timestamp")) == "processing"
    assert dead_letter_reason(KeyError("x")) == "processing"
    assert set(metrics.DEADLETTER_REASONS) == {
        "decode",
        "schema",
        "range",
        "too_large",
        "processing",
        "sink",
    }
    assert metrics.deadletter_reason("anything else") == "processing"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b"nope", NotARecordError),
        (b'{"kind": "entity"}', NotARecordError),
        (b'{"kind": "entity", "key": "k", "n": "1", "window_start": 0}', NotARecordError),
        (b'{"kind": "entity", "key": "k", "n": 1, "window_start": 1e300}', OutOfRangeError),
        (b'{"kind": "entity", "key": "k", "n": 0, "window_start": 0}', OutOfRangeError),
        (b'{"kind": "other", "key": "k", "n": 1, "window_start": 0}', OutOfRangeError),
        (b'{"kind": "theme", "key": "", "n": 1, "window_start": 0}', OutOfRangeError),
        (b"[1]", NotARecordError),
    ],
)
def test_mention_counts_are_validated(value: bytes, error: type) -> None:
    with pytest.raises(error):
        decode_count(value)


def test_a_good_mention_count_decodes() -> None:
    body = b'{"kind": "entity", "key": "qwen", "n": 3, "window_start": 7200}'
    assert decode_count(body) == ("entity", "qwen", 3, 7200.0)


# ---- processing never raises ------------------------------------------------------------------


@dataclass
class Result:
    entities: list[str]
    themes: list[ThemeHit]
    mentions: list = field(default_factory=list)
    lang: str | None = "en"


class HostileTagger:
    """Raises whatever the text asks for; lots of mentions for "flood"."""

    def tag(self, text: str, title: str | None = None, lang: str | None = None) -> Result:
        for name, error in (
            ("overflow", OverflowError("int too large")),
            ("keyerror", KeyError("x")),
            ("recursion", RecursionError("deep")),
            ("memory", MemoryError()),
        ):
            if name in text:
                raise error
        if "flood" in text:
            from newswatch.streams.records import Mention

            mentions = [Mention("qwen", i, i + 4, "Qwen" * 50) for i in range(20_000)]
            return Result(["qwen"], [ThemeHit("export_controls", 3.0, ["export"] * 40)], mentions)
        return Result(["qwen"], [ThemeHit("export_controls", 3.0)])


class BrokenEngine(RuleEngine):
    def evaluate(self, tagged: TaggedArticle) -> list[Alert]:
        if "rules" in tagged.article.content:
            raise ZeroDivisionError("rule bug")
        return super().evaluate(tagged)


def processor() -> ArticleProcessor:
    lookup = {"qwen": EntityInfo("model", frozenset({"chinese_ai"}))}.get
    return ArticleProcessor(HostileTagger(), BrokenEngine(RULES, lookup))


def value(text: str, **changes: Any) -> bytes:
    payload = orjson.loads(Article(id="a", feed_id="f", title="t", content=text).dumps())
    payload.update(changes)
    return orjson.dumps(payload)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (value("overflow"), "processing"),
        (value("keyerror"), "processing"),
        (value("recursion"), "processing"),
        (value("memory"), "processing"),
        (value("rules"), "processing"),
        (value("fine", fetched_at=1e300), "range"),
        (value("fine", published=-1e18), "range"),
        (value("fine", schema_version=2), "schema"),
        (b"", "decode"),
    ],
)
def test_any_failure_on_one_record_is_an_outcome_not_an_exception(raw: bytes, reason: str) -> None:
    good = value("fine")
    outcomes = processor().process_batch([good, raw, good])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].reason == reason and outcomes[1].error


def test_a_huge_tagging_output_is_trimmed_to_the_record_limit() -> None:
    (out,) = processor().process_batch([value("flood")])
    assert out.ok and len(out.tagged) <= MAX_RECORD_BYTES
    tagged = TaggedArticle.loads(out.tagged)
    assert tagged.trimmed and tagged.entities == ["qwen"] and out.alerts


def test_a_record_too_large_even_trimmed_is_dead_lettered_too_large() -> None:
    lookup = {"qwen": EntityInfo("model", frozenset({"chinese_ai"}))}.get
    small = ArticleProcessor(HostileTagger(), RuleEngine(RULES, lookup), max_bytes=200)
    (out,) = small.process_batch([value("fine")])
    assert out.reason == "too_large" and out.article_id == "a"


# ---- sinks: a deterministic error dead-letters the alert, the rest is written -----------------


@dataclass
class Message:
    topic: str = "nw.alerts.v1"
    partition: int = 0
    offset: int = 0


@dataclass
class Event:
    key: bytes | None
    value: bytes | None
    message: Message = field(default_factory=Message)


def alert(alert_id: str) -> Alert:
    return Alert(id=alert_id, rule="r", severity="low", title="t")


@pytest.fixture
def dead(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    sent: list[tuple[str, str]] = []

    async def record(app: Any, deps: Any, event: Any, reason: str, error: Any) -> None:
        sent.append((event.key.decode(), reason))

    monkeypatch.setattr(pipeline, "_send_dead_letter", record)
    return sent


async def test_a_deterministic_batch_error_falls_back_to_one_by_one(dead: list) -> None:
    written: list[list[str]] = []

    async def write(alerts: list[Alert]) -> None:
        if any(a.id == "poison" for a in alerts):
            raise redis_errors.ResponseError("WRONGTYPE")
        written.append([a.id for a in alerts])

    decoded = [(Event(i.encode(), b""), alert(i)) for i in ("a", "poison", "b")]
    ok = await pipeline._write_or_dead_letter(None, None, decoded, write, "redis sink")
    assert [a.id for a in ok] == ["a", "b"]
    assert written == [["a"], ["b"]]
    assert dead == [("poison", "sink")]


async def test_a_transient_batch_error_is_raised_for_the_caller_to_wait(dead: list) -> None:
    async def write(alerts: list[Alert]) -> None:
        raise redis_errors.ConnectionError("down")

    decoded = [(Event(b"a", b""), alert("a"))]
    with pytest.raises(redis_errors.ConnectionError):
        await pipeline._write_or_dead_letter(None, None, decoded, write, "redis sink")
    assert dead == []


# ---- the dead letter itself never fails the agent ---------------------------------------------


class RefusingProducer:
    async def send(self, *args: Any) -> Any:
        raise OverflowError("timestamp out of range")


@dataclass
class App:
    producer: Any = field(default_factory=RefusingProducer)


@dataclass
class Deps:
    topics: dict = field(default_factory=lambda: {"deadletter": "nw.deadletter.v1"})


async def test_a_dead_letter_the_producer_refuses_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = metrics.DEADLETTERS.labels("nw.alerts.v1", "range")._value.get()
    event = Event(b"k" * 5000, b"v" * 10)
    await pipeline._send_dead_letter(App(), Deps(), event, "range", OutOfRangeError("x"))
    assert metrics.DEADLETTERS.labels("nw.alerts.v1", "range")._value.get() == before + 1
    assert "could not send the dead letter" in caplog.text


async def test_checked_sends_refuse_records_over_the_limit() -> None:
    with pytest.raises(RecordTooLargeError):
        await pipeline._send_checked(App(), "t", b"k", b"x" * (MAX_RECORD_BYTES + 1))


async def test_an_agent_that_raises_is_counted_as_a_crash() -> None:
    async def agent(stream: Any) -> None:
        raise RuntimeError("bug")

    before = metrics.AGENT_CRASHES.labels("spikes")._value.get()
    with pytest.raises(RuntimeError):
        await pipeline._counted("spikes", agent)(None)
    assert metrics.AGENT_CRASHES.labels("spikes")._value.get() == before + 1
