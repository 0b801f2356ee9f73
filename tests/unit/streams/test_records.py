"""Records round-trip through orjson and reject what an agent must dead-letter."""

from __future__ import annotations

import orjson
import pytest

from newswatch.streams import records
from newswatch.streams.records import (
    Alert,
    Article,
    Mention,
    NotARecordError,
    OutOfRangeError,
    RecordError,
    RecordTooLargeError,
    SchemaVersionError,
    TaggedArticle,
    ThemeHit,
)

ARTICLE = Article(
    id="feed:1",
    feed_id="feed",
    title="Titel",
    summary="Zusammenfassung",
    authors=["A"],
    lang="de",
    published=1_764_000_000.0,
)


def test_round_trips() -> None:
    tagged = TaggedArticle(
        article=ARTICLE,
        entities=["deepseek"],
        themes=[ThemeHit("export_controls", 3.5, ["Exportkontrollen"])],
        mentions=[Mention("deepseek", 0, 8, "DeepSeek")],
        lang="de",
    )
    alert = Alert(id="x1", rule="r", severity="high", title="t", entities=["deepseek"])
    assert Article.loads(ARTICLE.dumps()) == ARTICLE
    assert TaggedArticle.loads(tagged.dumps()) == tagged
    assert Alert.loads(alert.dumps()) == alert
    assert orjson.loads(ARTICLE.dumps())["schema_version"] == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"schema_version": 99, "id": "a", "feed_id": "f", "title": "t"}', "schema_version 99"),
        (b'{"id": "a", "feed_id": "f", "title": "t"}', "schema_version None"),
        (b'{"schema_version": 1, "id": "a", "title": "t"}', "missing field 'feed_id'"),
        (b'{"schema_version": 1, "id": 5, "feed_id": "f", "title": "t"}', "field 'id'"),
        (
            b'{"schema_version": 1, "id": "a", "feed_id": "f", "title": "t", "published": "x"}',
            "field 'published'",
        ),
        (
            b'{"schema_version": 1, "id": "a", "feed_id": "f", "title": "t", "authors": [1]}',
            "field 'authors'",
        ),
    ],
)
def test_bad_articles_are_rejected_with_a_reason(payload: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        Article.loads(payload)


def test_nested_record_is_validated() -> None:
    bad = orjson.loads(TaggedArticle(article=ARTICLE, entities=[], themes=[]).dumps())
    bad["article"]["schema_version"] = 7
    with pytest.raises(RecordError, match="schema_version 7"):
        TaggedArticle.loads(orjson.dumps(bad))
    bad = orjson.loads(TaggedArticle(article=ARTICLE, entities=[], themes=[]).dumps())
    bad["themes"] = [{"id": "chips", "score": "high"}]
    with pytest.raises(RecordError, match="themes"):
        TaggedArticle.loads(orjson.dumps(bad))


def test_alert_severity_is_checked() -> None:
    with pytest.raises(RecordError, match="severity"):
        Alert(id="x", rule="r", severity="urgent", title="t")
    payload = orjson.loads(Alert(id="x", rule="r", severity="low", title="t").dumps())
    payload["severity"] = "urgent"
    with pytest.raises(RecordError, match="severity"):
        Alert.loads(orjson.dumps(payload))


# ---- value limits -----------------------------------------------------------------------------


def article_payload(**changes: object) -> dict:
    payload = orjson.loads(ARTICLE.dumps())
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    "changes",
    [
        {"fetched_at": 1e300},
        {"fetched_at": -1e18},
        {"fetched_at": records.LATEST_EPOCH + 1},
        {"fetched_at": -0.5},
        {"published": 1e300},
        {"updated": -1e18},
        {"id": "x" * (records.KEY_CHARS + 1)},
        {"id": "a\nb"},
        {"feed_id": "feed\x00"},
        {"url": "https://example.test/\x1b[2J"},
        {"url": "https://example.test/" + "x" * records.URL_CHARS},
        {"lang": "de\u0085"},
    ],
)
def test_out_of_range_values_are_rejected_with_the_range_reason(changes: dict) -> None:
    with pytest.raises(OutOfRangeError) as caught:
        Article.loads(orjson.dumps(article_payload(**changes)))
    assert caught.value.reason == "range"
    assert (next(iter(changes)) in str(caught.value)) and len(str(caught.value)) < 300


def test_the_timestamp_window_is_inclusive() -> None:
    low = Article.loads(orjson.dumps(article_payload(fetched_at=records.EARLIEST_EPOCH)))
    high = Article.loads(orjson.dumps(article_payload(published=records.LATEST_EPOCH)))
    assert (low.fetched_at, high.published) == (0.0, records.LATEST_EPOCH)


def test_non_finite_numbers_are_rejected_from_dicts() -> None:
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(OutOfRangeError):
            Article.from_dict(article_payload(fetched_at=bad))


def test_free_text_is_cleaned_and_cut() -> None:
    payload = article_payload(
        title="Deep\x00Seek\x07\x1b[31m \u0085chips\tand\nmore\r",
        content="y" * (records.TEXT_CHARS + 10),
        authors=["a\x00b"] * (records.MAX_AUTHORS + 5),
        feed_name="n" * (records.LINE_CHARS * 3),
    )
    article = Article.loads(orjson.dumps(payload))
    assert article.title == "DeepSeek[31m chips\tand\nmore\r"  # tab, LF, CR kept
    assert len(article.content) == records.TEXT_CHARS
    assert article.authors == ["ab"] * records.MAX_AUTHORS
    assert len(article.feed_name) == records.LINE_CHARS


def test_tag_lists_over_the_limit_are_rejected() -> None:
    payload = orjson.loads(Alert(id="x", rule="r", severity="low", title="t").dumps())
    payload["entities"] = [f"e{i}" for i in range(records.MAX_TAGS + 1)]
    with pytest.raises(OutOfRangeError, match="entities"):
        Alert.loads(orjson.dumps(payload))
    payload["entities"] = [f"e{i}" for i in range(records.MAX_TAGS)]
    assert len(Alert.loads(orjson.dumps(payload)).entities) == records.MAX_TAGS


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"count": 2**60}, OutOfRangeError),
        ({"count": -1}, OutOfRangeError),
        ({"count": 1.5}, NotARecordError),
        ({"baseline": -1.0}, OutOfRangeError),
        ({"window_start": -1e18}, OutOfRangeError),
        ({"created_at": 1e300}, OutOfRangeError),
        ({"severity": "urgent"}, OutOfRangeError),
        ({"kind": "other"}, OutOfRangeError),
        ({"schema_version": "1"}, SchemaVersionError),
        ({"schema_version": 1.0}, SchemaVersionError),
        ({"schema_version": True}, SchemaVersionError),
    ],
)
def test_alert_values_are_checked(changes: dict, error: type) -> None:
    payload = orjson.loads(Alert(id="x", rule="r", severity="low", title="t").dumps())
    payload.update(changes)
    with pytest.raises(error):
        Alert.loads(orjson.dumps(payload))


def test_nested_errors_keep_their_reason() -> None:
    good = orjson.loads(TaggedArticle(article=ARTICLE, entities=[], themes=[]).dumps())
    bad = dict(good, article=dict(good["article"], fetched_at=1e300))
    with pytest.raises(OutOfRangeError, match=r"article.*fetched_at"):
        TaggedArticle.loads(orjson.dumps(bad))
    bad = dict(good, article=dict(good["article"], schema_version=3))
    with pytest.raises(SchemaVersionError):
        TaggedArticle.loads(orjson.dumps(bad))
    bad = dict(good, mentions=[{"entity": "e", "start": -1, "end": 2, "text": "x"}])
    with pytest.raises(OutOfRangeError):
        TaggedArticle.loads(orjson.dumps(bad))
    bad = dict(good, mentions=[{"entity": "e", "start": 1}])
    with pytest.raises(NotARecordError):
        TaggedArticle.loads(orjson.dumps(bad))


def test_error_classes_name_the_reason() -> None:
    cases = [
        (b"\xff", NotARecordError, "decode"),
        (b"[" * 5000, NotARecordError, "decode"),
        (b'{"schema_version": 2}', SchemaVersionError, "schema"),
        (orjson.dumps(article_payload(fetched_at=1e300)), OutOfRangeError, "range"),
    ]
    for payload, error, reason in cases:
        with pytest.raises(error) as caught:
            Article.loads(payload)
        assert caught.value.reason == reason and isinstance(caught.value, RecordError)
    with pytest.raises(NotARecordError):
        Article.loads(None)  # a tombstone
    assert set(records.RECORD_ERROR_REASONS) == {"decode", "schema", "range", "too_large"}


def test_oversized_payloads_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_PAYLOAD_BYTES", 1000)
    with pytest.raises(RecordTooLargeError) as caught:
        Article.loads(orjson.dumps(article_payload(content="x" * 2000)))
    assert caught.value.reason == "too_large"


# ---- trimming to the record size limit --------------------------------------------------------


def many_mentions(n: int) -> TaggedArticle:
    return TaggedArticle(
        article=ARTICLE,
        entities=["deepseek", "qwen"],
        themes=[ThemeHit("export_controls", 3.5, ["Exportkontrollen"] * 40)],
        mentions=[Mention("deepseek" if i % 2 else "qwen", i, i + 8, "DeepSeek") for i in range(n)],
    )


def test_a_record_that_fits_is_not_trimmed() -> None:
    tagged = many_mentions(10)
    assert tagged.dumps_within() == tagged.dumps()
    assert TaggedArticle.loads(tagged.dumps_within()).trimmed is False


def test_mentions_are_trimmed_first_then_evidence() -> None:
    tagged = many_mentions(20_000)
    full = len(tagged.dumps())
    body = tagged.dumps_within(full // 10)
    assert len(body) <= full // 10
    out = TaggedArticle.loads(body)
    assert out.trimmed and out.entities == tagged.entities and out.theme_ids == tagged.theme_ids
    per_entity = {e: sum(m.entity == e for m in out.mentions) for e in out.entities}
    assert set(per_entity.values()) <= {512, 64, 8, 1} and out.themes[0].evidence  # evidence kept

    bare = len(tagged._trimmed(0, records.MAX_EVIDENCE).dumps())
    out = TaggedArticle.loads(tagged.dumps_within(bare - 1))
    assert out.mentions == [] and len(out.themes[0].evidence) <= 1


def test_an_article_too_large_alone_is_refused() -> None:
    tagged = many_mentions(10)
    with pytest.raises(RecordTooLargeError) as caught:
        tagged.dumps_within(100)
    assert caught.value.reason == "too_large" and ARTICLE.id in str(caught.value)
