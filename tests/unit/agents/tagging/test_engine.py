"""The tagging engine's public interface, the seed article and hostile input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from newswatch.agents.tagging import Tagger, TaggingError
from newswatch.streams.records import Mention, ThemeHit
from tests.support.environment import shared_path

ENTITY_IDS = [
    "deepseek",
    "qwen",
    "alibaba",
    "doubao",
    "bytedance",
    "kimi",
    "moonshot",
    "ernie",
    "baidu",
    "hunyuan",
    "tencent",
    "glm",
    "zhipu",
    "minimax",
    "yi",
    "01ai",
    "baichuan",
    "stepfun",
    "iflytek_spark",
    "sensetime",
    "manus",
    "huawei_pangu",
    "huawei_ascend",
    "high_flyer",
    "liang_wenfeng",
]
THEME_IDS = ["chips", "data_security", "export_controls", "market_impact", "open_source"]


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load()


def test_canonical_ids_and_fields(tagger: Tagger) -> None:
    cat = tagger.catalogue
    assert set(ENTITY_IDS) <= set(cat.entity_ids)
    assert cat.theme_ids == THEME_IDS
    assert cat.entity("qwen").parent == "alibaba"
    assert cat.entity("kimi").parent == "moonshot"
    assert cat.entity("doubao").parent == "bytedance"
    assert cat.entity("huawei_ascend").kind == "chip"
    assert cat.entity("liang_wenfeng").kind == "person"
    for model in ("qwen", "kimi", "doubao", "ernie", "hunyuan", "glm", "yi"):
        assert cat.entity(model).kind == "model"
    assert set(ENTITY_IDS) <= cat.group_members("chinese_ai")
    with pytest.raises(KeyError):
        cat.entity("openai")


def test_compiles_fast_enough_to_matter(tagger: Tagger) -> None:
    assert tagger.pattern_count > 1000
    assert tagger.compile_seconds < 5  # target < 1 s; generous here, measured in bench/


def test_seed_article(tagger: Tagger) -> None:
    path = shared_path("seed")
    text = next(iter(sorted(path.glob("*.txt")))).read_text(encoding="utf-8")
    result = tagger.tag(text)
    assert result.lang == "de"
    assert set(result.entities) == {
        "deepseek", "qwen", "alibaba", "doubao", "bytedance", "kimi", "moonshot",
        "liang_wenfeng", "high_flyer",
    }  # fmt: skip
    assert set(result.theme_ids) == set(THEME_IDS)
    matched = {m.text for m in result.mentions}
    assert not any(("GPT" in t or "OpenAI" in t or "Meta" in t) for t in matched)
    assert "Luong Van Phong" in matched
    assert "Doubao-1.5-pro" in matched and "Kimi k1.5" in matched


def test_mentions_offsets_index_title_plus_text(tagger: Tagger) -> None:
    title = "ＤｅｅｐＳｅｅｋ und Straße"  # full-width: offsets must survive NFKC
    text = "İstanbul: Alibabas Qwen2.5-Max schlägt GPT-4; Lương Văn Phong äußert sich."
    result = tagger.tag(text, title=title)
    full = f"{title}\n\n{text}"
    assert result.entities == ["alibaba", "deepseek", "liang_wenfeng", "qwen"]
    for mention in result.mentions:
        assert isinstance(mention, Mention)
        assert full[mention.start : mention.end] == mention.text
    assert {m.text for m in result.mentions} >= {
        "ＤｅｅｐＳｅｅｋ",
        "Qwen2.5-Max",
        "Lương Văn Phong",
    }
    assert all(isinstance(t, ThemeHit) for t in result.themes)


def test_language_is_honoured_or_detected(tagger: Tagger) -> None:
    assert tagger.tag("DeepSeek", lang="pt-BR").lang == "pt"
    assert tagger.tag("深度求索发布了新的开源模型").lang == "zh"
    assert tagger.tag("ディープシークが新しいモデルを公開した").lang == "ja"
    assert tagger.tag("딥시크가 새로운 모델을 공개했다").lang == "ko"
    assert tagger.tag("Компания DeepSeek выпустила новую модель").lang == "ru"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "\x00\x01\x02 DeepSeek \x7f\x1b[31m",
        "lone \ud800 surrogate \udfff DeepSeek",
        "深度求索 DeepSeek Дипсик 딥시크 ディープシーク mixed \u202e scripts \u0301",
        "e\u0301\u0301\u0301" * 1000,
    ],
)
def test_hostile_input_gets_a_result(tagger: Tagger, text: str) -> None:
    result = tagger.tag(text)
    assert isinstance(result.entities, list)
    for mention in result.mentions:
        assert mention.end > mention.start


def test_ten_megabytes(tagger: Tagger) -> None:
    filler = "Die Regierung veröffentlichte am Montag einen Bericht über das Wetter. " * 30
    chunk = filler + "DeepSeek und Qwen: Exportkontrollen für Chips. 深度求索。 "
    text = chunk * (10_000_000 // len(chunk))
    result = tagger.tag(text)
    assert result.entities == ["deepseek", "qwen"]


def test_wrong_types_and_oversize_raise_clear_errors(tagger: Tagger) -> None:
    with pytest.raises(TaggingError):
        tagger.tag(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TaggingError, match="exceeds"):
        tagger.tag("x" * 20_000_001)


def test_import_pulls_no_faust_kafka_or_redis() -> None:
    code = (
        "import sys; from newswatch.agents.tagging import Tagger; Tagger.load().tag('DeepSeek');"
        "bad = [m for m in ('faust', 'aiokafka', 'redis') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_ten_megabytes_dense_with_aliases_stays_bounded(tagger: Tagger) -> None:
    result = tagger.tag("DeepSeek Qwen 深度求索 export controls " * 250_000)
    assert result.entities == ["deepseek", "qwen"]
    assert len(result.mentions) <= 4_000  # kept per entity, not one per occurrence
    assert "export_controls" in result.theme_ids
