"""Property-based fuzzing of record decoding and the tag agent's processing (hypothesis).

The documented error path: decoding raises only `RecordError` (whose `reason` is one of
`RECORD_ERROR_REASONS`); `ArticleProcessor.process` never raises and returns either records
within `MAX_RECORD_BYTES` that decode again, or a dead-letter reason from `DEADLETTER_REASONS`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch.agents.metrics import DEADLETTER_REASONS
from newswatch.agents.pipeline import dead_letter, decode_count
from newswatch.streams import records
from newswatch.streams.records import (
    Alert,
    Article,
    RecordError,
    TaggedArticle,
)

FUZZ = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
SLOW_FUZZ = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
KINDS = (Article, TaggedArticle, Alert)
CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f]")

# Values at and beyond every limit: absurd timestamps, huge and negative numbers, long strings.
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e18, -0.0, 4_102_444_800.0, 4_102_444_800.5, 1.7e308]),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
)
texts = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=30),  # control characters
    st.sampled_from(
        ["", "x" * 600, "a\nb", "\x00", "de", "DeepSeek Qwen 深度求索 export controls"]
    ),
    st.builds(
        lambda s, n: s * n, st.sampled_from(["DeepSeek ", "Qwen ", "百度 "]), st.integers(0, 3000)
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


def field_value(name: str) -> st.SearchStrategy[Any]:
    """Mostly the right type for the field, with hostile values; sometimes anything."""
    typed = {
        "authors": st.lists(texts, max_size=30),
        "entities": st.lists(st.sampled_from(["deepseek", "qwen", "x\n", "e" * 600]), max_size=5),
        "themes": st.lists(st.sampled_from(["export_controls", "chips"]), max_size=3),
        "count": numbers,
        "severity": st.sampled_from(["low", "high", "urgent", ""]),
        "kind": st.sampled_from(["article", "spike", "other"]),
    }
    if name in typed:
        return st.one_of(typed[name], json_values)
    if name.endswith(("_at", "published", "updated", "window_start", "window_end", "time")):
        return st.one_of(numbers, st.none())
    return st.one_of(texts, st.none(), numbers)


ARTICLE_FIELDS = tuple(f.name for f in records._fields(Article) if f.name != "schema_version")
ALERT_FIELDS = tuple(f.name for f in records._fields(Alert) if f.name != "schema_version")
TIMESTAMPS = {"fetched_at", "published", "updated", "created_at", "window_start", "window_end",
              "source_time", "tagged_at"}  # fmt: skip


def record_dicts(fields: tuple[str, ...], required: tuple[str, ...]) -> st.SearchStrategy[dict]:
    """schema_version 1, the required fields as plausible strings, any others fuzzed."""

    @st.composite
    def build(draw: Any) -> dict:
        data: dict[str, Any] = {"schema_version": draw(st.sampled_from([1, 1, 1, 2, "1", None]))}
        for name in required:
            data[name] = draw(st.one_of(st.text(min_size=1, max_size=20), field_value(name)))
        for name in draw(st.lists(st.sampled_from(fields), max_size=len(fields), unique=True)):
            data[name] = draw(field_value(name))
        return data

    return build()


articles = record_dicts(ARTICLE_FIELDS, ("id", "feed_id", "title"))
alerts = record_dicts(ALERT_FIELDS, ("id", "rule", "severity", "title"))


def decode(kind: type, payload: bytes) -> Any:
    """Decode, allowing only the documented error."""
    try:
        return kind.loads(payload)
    except RecordError as exc:
        assert exc.reason in records.RECORD_ERROR_REASONS
        assert len(str(exc)) < 1000  # a message, not a dump of the payload
        return None


def dumps(data: Any) -> bytes | None:
    try:
        return orjson.dumps(data)
    except TypeError:  # integers beyond 64 bits: not JSON any producer could send via orjson
        return None


def assert_within_limits(record: Any) -> None:
    """A decoded record honours every limit, and decodes to itself again."""
    for spec in records._fields(type(record)):
        value = getattr(record, spec.name)
        if spec.name in TIMESTAMPS and value is not None:
            assert records.EARLIEST_EPOCH <= value <= records.LATEST_EPOCH
        if isinstance(value, str):
            assert len(value) <= records.TEXT_CHARS
            if spec.name in ("id", "feed_id", "rule", "url", "lang", "article_id"):
                assert not CONTROL.search(value)
            else:
                assert not CONTROL.search(
                    value.replace("\t", "").replace("\n", "").replace("\r", "")
                )
    assert type(record).loads(record.dumps()) == record


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_decode_or_raise_record_error(payload: bytes) -> None:
    for kind in KINDS:
        decode(kind, payload)
    with contextlib.suppress(RecordError):
        decode_count(payload)


@FUZZ
@given(json_values)
def test_arbitrary_json_decodes_or_raises_record_error(data: Any) -> None:
    payload = dumps(data)
    if payload is not None:
        for kind in KINDS:
            decode(kind, payload)


@FUZZ
@given(articles)
def test_schema_shaped_articles_decode_within_limits_or_raise_record_error(data: dict) -> None:
    payload = dumps(data)
    if payload is None:
        return
    article = decode(Article, payload)
    if article is not None:
        assert_within_limits(article)


@FUZZ
@given(alerts)
def test_schema_shaped_alerts_decode_within_limits_or_raise_record_error(data: dict) -> None:
    payload = dumps(data)
    if payload is None:
        return
    alert = decode(Alert, payload)
    if alert is not None:
        assert_within_limits(alert)
        assert len(alert.dumps()) <= records.MAX_RECORD_BYTES


@FUZZ
@given(st.binary(max_size=3000), st.one_of(st.none(), st.binary(max_size=3000)))
def test_dead_letters_are_json_within_the_record_limit(value: bytes, key: bytes | None) -> None:
    body = dead_letter(
        reason="decode", error=value.decode("latin-1"), topic="t", partition=0, offset=0,
        key=key, value=value,
    )  # fmt: skip
    assert len(body) <= records.MAX_RECORD_BYTES
    assert orjson.loads(body)["reason"] == "decode"


@functools.cache
def real_processor() -> Any:
    """The shipped catalogue and rules (loaded once: compiling takes a few seconds)."""
    from newswatch.agents.alerting.processing import load_processor

    return load_processor(None, None, rules=True)


@SLOW_FUZZ
@given(articles)
def test_processing_schema_shaped_articles_never_raises(data: dict) -> None:
    payload = dumps(data)
    if payload is None:
        return
    (out,) = real_processor().process_batch([payload])
    if not out.ok:
        assert out.reason in DEADLETTER_REASONS and out.reason != "processing", out.error
        return
    assert len(out.tagged) <= records.MAX_RECORD_BYTES
    tagged = TaggedArticle.loads(out.tagged)
    article = Article.loads(payload)  # fetched_at defaults to the time of decoding
    assert tagged.article == dataclasses.replace(article, fetched_at=tagged.article.fetched_at)
    for _id, _rule, _severity, body in out.alerts:
        assert len(body) <= records.MAX_RECORD_BYTES
        Alert.loads(body)


@SLOW_FUZZ
@given(st.binary(max_size=500))
def test_processing_arbitrary_bytes_never_raises(payload: bytes) -> None:
    (out,) = real_processor().process_batch([payload])
    assert not out.ok and out.reason in ("decode", "schema")
