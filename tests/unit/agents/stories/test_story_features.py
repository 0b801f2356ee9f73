"""What the story engine reads from an article: shingles, numbers, codes, names, gazetteer."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.agents.stories import Gazetteer, GazetteerError
from newswatch.agents.stories.features import (
    extract,
    latin_names,
    model_codes,
    numbers,
    script_of,
    shingles,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wiping about $589 billion off its value", {"n:5.89e11"}),
        ("市值蒸发约5890亿美元", {"n:5.89e11"}),
        ("Rund 589 Milliarden Dollar Börsenwert", {"n:5.89e11"}),
        ("unos 589.000 millones de dólares", {"n:5.89e11"}),
        ("обошлось в 1,5 млрд долларов", {"n:1.5e9"}),
        ("시가총액 5000억 위안", {"n:5e11"}),
        ("100万token上下文", {"n:1e6"}),
        ("shares fell 17% on Monday", {"p:17"}),
        ("um 17 Prozent eingebrochen", {"p:17"}),
        ("株価が17％急落", {"p:17"}),
        ("упала на 17 процентов", {"p:17"}),
        ("a 600,000-unit order", {"n:6e5"}),
        ("Ernie 4.5 and version 2,5", {"n:4.5e0", "n:2.5e0"}),
    ],
)
def test_amounts_and_percentages_agree_across_languages(text: str, expected: set[str]) -> None:
    assert numbers(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "in 2025 the company said",  # a year
        "on June 17 the company said",  # a date
        "17日晚发布公告",
        "am 17. Juni",
        "le 17 février",
        "ngày 17 tháng 2",
        "17일 밝혔다",
        "five of 7 engineers",  # small counts
    ],
)
def test_years_dates_and_small_counts_are_not_anchors(text: str) -> None:
    assert numbers(text) == set()


def test_absurd_numbers_are_ignored() -> None:
    assert numbers("9" * 400 + " and 1" + "0" * 30 + " billion") == set()
    assert numbers("a serial 12345678901234567890123") == set()


def test_model_codes_are_spelled_one_way() -> None:
    assert model_codes("Nvidia's H20 chips and H20s") == {"m:h20"}
    assert model_codes("Qwen 2.5-Max beats Qwen2.5-Max") == {"m:qwen2.5"}
    assert model_codes("DeepSeek-R1 and V3.1") == {"m:r1", "m:v3.1"}
    assert "m:910c" in model_codes("Ascend 910C") and model_codes("昇腾910C芯片") == {"m:910c"}
    assert model_codes("in 2025, on June 30") == set()
    assert model_codes("MiniMax 17日开源") == set()


def test_latin_names_inside_cjk_and_cyrillic_text() -> None:
    names, weak = latin_names("据Bloomberg报道，Nvidia的H20芯片。", "unspaced", "zh")
    assert names == {"l:bloomberg", "l:nvidia"} and weak == set()
    names, _ = latin_names("Об этом сообщает Bloomberg со ссылкой на Nvidia.", "cyrillic", "ru")
    assert names == {"l:bloomberg", "l:nvidia"}


def test_capitalised_words_of_latin_text_are_weak_and_sentence_starts_skipped() -> None:
    text = "On Monday, the Commerce Department said Nvidia must stop. Lutnick agreed."
    names, weak = latin_names(text, "latin", "en")
    assert names == {"l:commerce", "l:department", "l:nvidia"}
    assert weak == names  # plain capitals: names in English, words elsewhere
    names, weak = latin_names("Laut Bericht hat TSMC und DeepSeek Exportkontrollen", "latin", "de")
    assert names == {"l:tsmc", "l:deepseek"} and weak == set()  # German: only CamelCase/caps


def test_scripts_and_shingles() -> None:
    assert script_of("深度求索发布DeepSeek-R1模型") == "unspaced"
    assert script_of("딥시크가 새 모델을 공개했다") == "unspaced"
    assert script_of("ดีปซีคเปิดตัวโมเดลใหม่") == "unspaced"
    assert script_of("DeepSeek выпустила модель") == "cyrillic"
    assert script_of("DeepSeek released a model") == "latin"
    assert shingles("", "one two three") == {b"one two", b"two three"}
    zh = shingles("", "深度求索发布")
    assert zh == {s.encode() for s in ("深度求", "度求索", "求索发", "索发布")}
    thai = shingles("", "ดีปซีค")  # Thai: character 3-grams, vowel marks kept
    assert len(thai) == 4 and "ดีป".encode() in thai


def test_gazetteer_finds_names_in_every_script_with_word_boundaries() -> None:
    gazetteer = Gazetteer.load()
    zh = "据路透社报道，美国商务部正在调查DeepSeek是否通过新加坡购买英伟达芯片"
    assert gazetteer.find(zh) == {"s:reuters", "g:us_commerce", "g:singapore", "g:nvidia"}
    ru = "По данным Рейтер, Минторг США проверяет закупки чипов Nvidia в Сингапуре"
    assert gazetteer.find(ru) == {"s:reuters", "g:us_commerce", "g:singapore", "g:nvidia"}
    assert gazetteer.find("엔비디아는 싱가포르를") == {"g:nvidia", "g:singapore"}
    assert gazetteer.find("metadata, artificial intelligence in the Amazonas") == set()
    assert gazetteer.find("Nvidias Aktie") == {"g:nvidia"}  # "nvidia*": German genitive


def test_broken_gazetteer_is_refused_with_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("actors:\n  nvidia: nvidia\n", encoding="utf-8")
    with pytest.raises(GazetteerError, match=r"actors\.nvidia"):
        Gazetteer.load(path)
    path.write_text("people:\n  x: [y]\n", encoding="utf-8")
    with pytest.raises(GazetteerError, match="unknown section"):
        Gazetteer.load(path)


def test_extract_joins_everything_and_drops_names_the_tagger_already_found() -> None:
    feats = extract(
        "DeepSeek R1 rattles Nvidia",
        "Nvidia fell 17%, losing $589 billion, Bloomberg said.",
        "en",
        ["deepseek"],
        ["market_impact"],
        {"g:nvidia", "s:bloomberg"},
    )
    assert {"e:deepseek", "t:market_impact", "g:nvidia", "s:bloomberg"} <= feats.anchors
    assert {"m:r1", "p:17", "n:5.89e11", "l:nvidia", "l:bloomberg"} <= feats.anchors
    assert "l:deepseek" not in feats.anchors
    assert feats.weak <= feats.anchors
