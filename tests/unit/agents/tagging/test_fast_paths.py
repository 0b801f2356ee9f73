"""The speed-ups of the hot path give the same answers as the slow, obvious code."""

from __future__ import annotations

import unicodedata

import pytest

from newswatch.agents.tagging import Tagger, langdetect
from newswatch.agents.tagging.normalize import _chunked, _lower, normalize


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load()


@pytest.mark.parametrize(
    "text",
    [
        "Mostly ASCII with “curly quotes” and an apostrophe’s tail " * 20,
        "ÄÖÜ upper case letters that are not ASCII " * 20,
        "İstanbul grows by one character when lowered " * 20,
        "Дипсик и Алибаба " * 20,
        "lone \ud800 surrogate \udfff passes through " * 20,
        "ǅ title case digraph, Σ final sigma ΟΔΟΣ " * 20,
        "",
    ],
)
def test_lower_matches_str_lower(text: str) -> None:
    assert _lower(text) == text.lower()


@pytest.mark.parametrize(
    "text",
    [
        "DeepSeek\u00a0R1 wiped\u202f$600bn\u2009off Nvidia\u200a…",
        "深度求索（DeepSeek）：开源模型？是的！",
        "Qwen\u2011Max ™ № 5 ″quoted″",
        "ﬁne ㎏ ½ mixed with\u00a0no-break spaces",  # still needs the chunked map
    ],
)
def test_replacements_keep_the_offset_map(text: str) -> None:
    """Characters replaced one for one before the NFKC check keep offsets 1:1; whatever
    the path, the normalised text equals the chunked reference and spans map back."""
    norm = normalize(text)
    stood_in = text
    for expander, stand_in in (("…", "."), ("″", '"'), ("™", " "), ("№", "n")):
        stood_in = stood_in.replace(expander, stand_in)
    assert norm.text == _chunked(stood_in, text).text
    assert unicodedata.is_normalized("NFKC", norm.text)
    for start in range(len(norm.text)):
        a, b = norm.span(start, start + 1)
        assert 0 <= a < b <= len(text)


def test_no_break_spaces_and_full_width_punctuation_match(tagger: Tagger) -> None:
    text = "Alibabas\u00a0Qwen\u00a02.5 und 深度求索（DeepSeek）…"
    result = tagger.tag(text)
    assert result.entities == ["alibaba", "deepseek", "qwen"]
    for mention in result.mentions:
        assert text[mention.start : mention.end] == mention.text
    assert "Qwen\u00a02.5" in {m.text for m in result.mentions}


def test_alias_glued_to_a_letter_only_as_version_or_inflection(tagger: Tagger) -> None:
    assert tagger.tag("Qwen3 and Qwen2.5-Max").entities == ["qwen"]
    assert tagger.tag("Alibabas Modell").entities == ["alibaba"]
    assert tagger.tag("Успех Дипсика").entities == ["deepseek"]
    assert tagger.tag("Deepseeker and Alibabaland are no aliases").entities == []


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The company said on Tuesday that it would “review” the deal… and more", "en"),
        ("Die Firma sagte, dass sie den Vertrag „prüfen“ werde – und mehr", "de"),
        ("深度求索发布了新的开源模型，性能超越了同类产品。", "zh"),
        ("ディープシークが新しいモデルを公開した", "ja"),
        ("딥시크가 새로운 모델을 공개했다", "ko"),
        ("Компания выпустила новую модель", "ru"),
        ("Компанія випустила нову модель і її", "uk"),
        ("Η εταιρεία ανακοίνωσε ένα νέο μοντέλο τεχνητής νοημοσύνης", "el"),
        ("أعلنت الشركة عن نموذج جديد للذكاء الاصطناعي", "ar"),
        ("این شرکت یک مدل جدید هوش مصنوعی معرفی کرد", "fa"),
        ("کمپنی نے مصنوعی ذہانت کا نیا ماڈل پیش کیا ہے", "ur"),
        ("החברה הציגה מודל חדש של בינה מלאכותית", "he"),
        ("कंपनी ने नया एआई मॉडल पेश किया है", "hi"),
        ("প্রতিষ্ঠানটি নতুন এআই মডেল প্রকাশ করেছে", "bn"),
        ("บริษัทเปิดตัวโมเดลปัญญาประดิษฐ์ใหม่", "th"),
        # A few Han characters in Arabic text do not make it Chinese.
        ("ديبسيك (بالصينية: 深度求索) هي شركة صينية للذكاء الاصطناعي", "ar"),
        # Latin-script languages that share words: Malay/Indonesian, Czech/Slovak,
        # Swedish/Norwegian/Danish.
        ("Syarikat itu berkata bahawa kerajaan akan membantu pemaju tempatan", "ms"),
        ("Perusahaan itu mengatakan bahwa pemerintah akan membantu karena penting", "id"),
        ("Společnost uvedla, že model je podle testů lepší, než se čekalo", "cs"),
        ("Spoločnosť uviedla, že model je podľa testov lepší, než sa čakalo", "sk"),
        ("Bolaget säger att modellen inte är till salu och att det är för tidigt", "sv"),
        ("Selskapet sier at modellen ikke er til salgs etter avtalen med staten", "no"),
        ("Selskabet siger at modellen ikke er til salg efter aftalen med staten", "da"),
        ("Guvernul a anunțat că a fost aprobată o lege pentru companiei după vot", "ro"),
        ("A kormány szerint az új szabály után is van hogy nem lesz változás", "hu"),
        ("Ayon sa kumpanya, ang bagong modelo ay para sa mga negosyo sa bansa", "tl"),
    ],
)
def test_language_from_sorted_code_points(text: str, lang: str) -> None:
    assert langdetect.detect(text) == lang
