"""Pure parts of the worker: dead letters, catalogue lookup, tagging glue, Faust options."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson
import pytest

from newswatch.agents.alerting import EntityInfo
from newswatch.agents.alerting.processing import catalogue_lookup, dead_letter_reason, tag_article
from newswatch.agents.metrics import lang_label
from newswatch.agents.pipeline import dead_letter, window_start
from newswatch.agents.tagging.catalogue import Catalogue as TaggingCatalogue
from newswatch.streams.records import Article, RecordError, ThemeHit
from newswatch.streams.settings import load_settings


@dataclass(frozen=True)
class Entity:
    id: str
    kind: str
    group: str | None = None
    parent: str | None = None


class FamilyCatalogue:
    """A catalogue (`agents/tagging/protocols.EntityCatalogue`) with a parent chain and a cycle."""

    entities = {
        "alibaba": Entity("alibaba", "company", "chinese_ai"),
        "qwen": Entity("qwen", "model", None, parent="alibaba"),
        "loop": Entity("loop", "model", None, parent="loop"),
    }

    entity_ids = sorted(entities)
    theme_ids: list[str] = []

    def entity(self, entity_id: str) -> Entity:
        return self.entities[entity_id]  # KeyError for an unknown id, as the protocol says


def test_catalogue_lookup_inherits_groups_from_parents() -> None:
    lookup = catalogue_lookup(FamilyCatalogue())
    assert lookup("alibaba") == EntityInfo("company", frozenset({"chinese_ai"}))
    assert lookup("qwen") == EntityInfo("model", frozenset({"chinese_ai"}))
    assert lookup("loop") == EntityInfo("model", frozenset())  # a parent cycle ends
    assert lookup("unknown") is None
    assert catalogue_lookup(TaggingCatalogue())("alibaba") is None  # an empty catalogue


def test_dead_letter_keeps_the_exact_bytes_and_the_error() -> None:
    record = orjson.loads(
        dead_letter(
            reason="schema",
            error=RecordError("article: unknown schema_version 9"),
            topic="newswatch.articles.v1",
            partition=2,
            offset=17,
            key=b"k\xff",
            value=b'{"schema_version": 9}',
        )
    )
    assert record["reason"] == "schema" and "schema_version 9" in record["error"]
    assert (record["topic"], record["partition"], record["offset"]) == (
        "newswatch.articles.v1",
        2,
        17,
    )
    assert base64.b64decode(record["key"]) == b"k\xff"
    assert base64.b64decode(record["value"]) == b'{"schema_version": 9}'


def test_decode_reasons() -> None:
    with pytest.raises(RecordError) as bad_json:
        Article.loads(b"not json")
    with pytest.raises(RecordError) as bad_version:
        Article.loads(b'{"schema_version": 2}')
    assert dead_letter_reason(bad_json.value) == "decode"
    assert dead_letter_reason(bad_version.value) == "schema"


@dataclass
class Result:
    entities: list[str]
    themes: list[ThemeHit]
    mentions: list = field(default_factory=list)
    lang: str | None = None


class FakeTagger:
    """A tagger (`agents/tagging/protocols.ArticleTagger`) with an empty catalogue."""

    catalogue = TaggingCatalogue()

    def tag(self, text: str, title: str | None = None, lang: str | None = None) -> Result:
        self.seen = (text, title, lang)
        return Result(["qwen"], [ThemeHit("open_source", 2.0)], [], None)


def test_tag_article_passes_title_text_and_language() -> None:
    tagger = FakeTagger()
    article = Article(id="a", feed_id="f", title="T", summary="S", content="C", lang="de")
    tagged = tag_article(tagger, article)
    assert tagger.seen == ("S\n\nC", "T", "de")
    assert tagged.entities == ["qwen"] and tagged.theme_ids == ["open_source"]
    assert tagged.lang == "de"  # falls back to the article's language


def test_window_start_floors_to_the_window() -> None:
    assert window_start(7199.9, 3600) == 3600
    assert window_start(7200.0, 3600) == 7200


@pytest.mark.parametrize(
    ("lang", "label"), [("de", "de"), ("zh-Hant", "zh"), ("xx", "other"), (None, "unknown")]
)
def test_language_labels_are_bounded(lang: str | None, label: str) -> None:
    assert lang_label(lang) == label


def test_faust_options_follow_settings() -> None:
    from newswatch.agents.app import TUNED, faust_options

    settings = load_settings(
        kafka_servers="k1:9092,k2:9093", web_port=7001, topic_partitions=6, app_id="nw-test"
    )
    options = faust_options(settings)
    assert options["broker"] == ["kafka://k1:9092", "kafka://k2:9093"]
    assert (options["web_port"], options["topic_partitions"]) == (7001, 6)
    assert options["consumer_auto_offset_reset"] == "earliest"
    assert options["broker_session_timeout"] == TUNED["broker_session_timeout"]


def test_sasl_settings_become_faust_credentials() -> None:
    import faust

    from newswatch.agents.app import faust_options

    settings = load_settings(
        kafka_servers="k1:9092",
        kafka_security={
            "protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "u",
            "sasl_password": "p",
        },
    )
    credentials = faust_options(settings)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "u" and credentials.password == "p"


async def test_worker_consumer_gets_the_short_fetch_wait() -> None:
    """The app's consumer transport overrides Faust's hard-coded 1.5 s fetch wait."""
    from newswatch.agents.app import FETCH_MAX_WAIT_MS, create_app

    settings = load_settings(kafka_servers="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings, tagger=FakeTagger())
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500
    names = {name.rsplit(".", 1)[-1] for name in app.agents}
    assert names == {"tag", "spikes", "stories", "alert-sinks"}
