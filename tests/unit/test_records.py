"""Records round-trip through orjson and reject what an agent must dead-letter."""

from __future__ import annotations

import orjson
import pytest

from newswatch.streams.records import (
    Alert,
    Article,
    Mention,
    RecordError,
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
