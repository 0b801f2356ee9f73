"""Ambiguous aliases: tagged with support, left alone without (issue 3's list)."""

from __future__ import annotations

import pytest

from newswatch.agents.tagging import Tagger


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kimi Räikkönen won in Spa again for Ferrari.", []),
        ("Moonshot's Kimi chatbot now reads two million characters.", ["kimi", "moonshot"]),
        ("Yi Jianlian scored 20 points and Wang Yi met Lavrov.", []),
        ("01.AI released Yi-34B, and Yi now tops the leaderboard.", ["01ai", "yi"]),
        ("Apache Spark 3.5 ships with a new streaming engine.", []),
        ("iFlytek upgraded Spark to rival GPT-4.", ["iflytek_spark"]),
        ("The minimax algorithm prunes the game tree with alpha-beta search.", []),
        ("Shanghai AI start-up MiniMax raised new funds.", ["minimax"]),
        ("Bert and Ernie sang on Sesame Street.", []),
        ("Baidu's Ernie chatbot has 300 million users.", ["baidu", "ernie"]),
        ("Refugees were held on Manus Island for years.", []),
        ("Manus, a Chinese AI agent, books flights on its own.", ["manus"]),
        ("早餐吃了两个豆包，喝了豆浆。", []),
        ("字节跳动的豆包大模型用户破亿。", ["bytedance", "doubao"]),
        ("混元太极是一种武术功法。", []),
        ("腾讯混元大模型开源。", ["hunyuan", "tencent"]),
        ("Divers went deep to seek the wreck; the deep seek lasted days.", []),
        ("The White House relaunched the Cancer Moonshot.", []),
        ("Moonshot AI, the Beijing start-up behind Kimi, raised $1bn.", ["kimi", "moonshot"]),
        ("The GLM with a logit link fits the binomial data well.", []),
        ("Zhipu released GLM-4.5 this week.", ["glm", "zhipu"]),
        ("She was a high flyer at the bank.", []),
        ("阿里山的日出很美。", []),
        ("Step 2: install the package and run the tests.", []),
    ],
)
def test_ambiguous_aliases(tagger: Tagger, text: str, expected: list[str]) -> None:
    assert tagger.tag(text).entities == expected


def test_company_and_model_are_separate(tagger: Tagger) -> None:
    assert tagger.tag("Alibabas Qwen 2.5").entities == ["alibaba", "qwen"]
    assert tagger.tag("Qwen2.5-Max beats GPT-4o").entities == ["qwen"]  # no implied company


@pytest.mark.parametrize(
    "text",
    [
        "Lương Văn Phong",
        "Luong Van Phong",
        "Lương Van Phong",
        "梁文锋",
        "梁文鋒",
        "Лян Вэньфэн",
        "량원펑",
        "Liang Wenfeng's",
    ],
)
def test_founder_in_every_script(tagger: Tagger, text: str) -> None:
    assert tagger.tag(f"DeepSeek: {text} spoke.").entities == ["deepseek", "liang_wenfeng"]


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Alibaba launched Qwen2.5-Max today", "Qwen2.5-Max"),
        ("Alibaba launched Qwen 2.5-Max today", "Qwen 2.5-Max"),
        ("QwQ-32B is out", "QwQ-32B"),
        ("DeepSeek-V3 and DeepSeek R1", "DeepSeek-V3"),
        ("Kimi k1.5 reasons well", "Kimi k1.5"),
        ("ByteDance's Doubao-1.5-pro", "Doubao-1.5-pro"),
        ("Baidu's ERNIE 4.5 model", "ERNIE 4.5"),
        ("GLM-4.5 from Zhipu", "GLM-4.5"),
    ],
)
def test_version_patterns_extend_mentions(tagger: Tagger, text: str, mention: str) -> None:
    assert mention in {m.text for m in tagger.tag(text).mentions}


def test_inflections(tagger: Tagger) -> None:
    assert tagger.tag("Die Modelle DeepSeeks und ByteDances").entities == ["bytedance", "deepseek"]
    assert tagger.tag("Успех Дипсика удивил рынок").entities == ["deepseek"]
    assert tagger.tag("딥시크가 새 모델을 공개했다").entities == ["deepseek"]


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("durch die Kontrolle seiner Exporte von Chips eingedämmt", "export_controls"),
        ("neue Exportkontrollen für KI-Chips", "export_controls"),
        ("Ausfuhrbeschränkungen für Halbleiter", "export_controls"),
        ("les contrôles à l'exportation de puces", "export_controls"),
        ("kiểm soát xuất khẩu chip", "export_controls"),
        ("美国对芯片实施出口管制", "export_controls"),
        ("半導体の輸出規制を強化", "export_controls"),
        ("반도체 수출 통제", "export_controls"),
        ("экспортный контроль на поставки чипов", "export_controls"),
    ],
)
def test_export_control_terms_in_many_languages(tagger: Tagger, text: str, theme: str) -> None:
    assert theme in tagger.tag(text).theme_ids


@pytest.mark.parametrize(
    "text",
    [
        "India banned rice exports to keep prices low.",
        "Indonesia melarang ekspor bijih nikel.",
        "Die Regierung verhängte ein Ausfuhrverbot für Rüstungsgüter.",
        "You can export modules from version control.",
    ],
)
def test_export_bans_on_goods_are_not_export_controls(tagger: Tagger, text: str) -> None:
    assert "export_controls" not in tagger.tag(text).theme_ids


def test_theme_hits_carry_score_and_evidence(tagger: Tagger) -> None:
    result = tagger.tag("DeepSeek released R1 as open source under the MIT license.")
    (hit,) = result.themes
    assert hit.id == "open_source"
    assert hit.score >= 1.0
    assert "open source" in hit.evidence
