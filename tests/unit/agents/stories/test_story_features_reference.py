"""features.py and the engine's MinHash give exactly what the plain reference implementation
(features_reference.py, datasketch's MinHash) gives: on the dev set, edits of it that reach
other branches, and generated texts made of the pieces the regexes care about."""

from __future__ import annotations

import dataclasses
import re
import sys

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.agents.stories import Gazetteer, StoryArticle, StoryConfig, features
from newswatch.agents.stories import features_reference as reference
from newswatch.agents.stories.engine import FeatureMaker, minhash_affine32
from newswatch.agents.stories.evaluate import Tagged, check_row, to_story_article
from newswatch.agents.tagging import Tagger
from tests.support.environment import DATA

DEVSET = DATA / "stories" / "devset.jsonl"


@pytest.fixture(scope="module")
def devset() -> list[StoryArticle]:
    tagger = Tagger.load()
    rows = [check_row(orjson.loads(line)) for line in DEVSET.read_bytes().splitlines()]
    out = []
    for row in rows:
        result = tagger.tag(row.text, title=row.title, lang=row.lang)
        out.append(to_story_article(row, Tagged(tuple(result.entities), tuple(result.theme_ids))))
    return out


def _variants(article: StoryArticle) -> list[StoryArticle]:
    """The article, under other language tags, cut short, and title alone."""
    out = [article]
    out += [dataclasses.replace(article, lang=lang) for lang in ("de", None, "en", "zh")]
    text = article.text
    out += [dataclasses.replace(article, text=text[:cut]) for cut in (1, 5, len(text) // 2)]
    out.append(dataclasses.replace(article, text=""))
    return out


def _reference_features(maker: FeatureMaker, article: StoryArticle) -> features.Features:
    """What FeatureMaker.features made before it was tuned."""
    title = article.title[:500]
    text = article.text[: maker.config.max_text_chars]
    keys = maker.gazetteer.find(f"{title}\n{text}")
    return reference.extract(title, text, article.lang, article.entities, article.themes, keys)


def test_dev_set_features_and_signatures_equal_the_reference(
    devset: list[StoryArticle],
) -> None:
    config = StoryConfig()
    maker = FeatureMaker(config, Gazetteer.shipped())
    compared = 0
    for article in devset:
        for variant in _variants(article):
            want = _reference_features(maker, variant)
            got = maker.features(variant)
            assert got == want, variant.id
            sig = maker.signature(got)
            if len(want.shingles) < config.min_shingles:
                assert sig is None
                continue
            ref = reference.signature(want.shingles, config.num_perm, config.seed)
            assert sig is not None and sig.dtype == ref.dtype == np.uint32
            assert sig.tobytes() == ref.tobytes(), variant.id
            compared += 1
    assert compared > len(devset) * 4  # most variants are long enough to have a signature


def test_signature_of_empty_and_single_shingle_sets_equal_datasketch() -> None:
    maker = FeatureMaker(StoryConfig(), Gazetteer.shipped())
    a, b = (p.reshape(1, -1) for p in maker.perms)
    for shingles in (set(), {b"x"}, {b"one two", b"two three"}, {"深度求".encode()}):
        got = minhash_affine32(shingles, a, b)
        want = reference.signature(shingles, 64, 1)
        assert got.tobytes() == want.tobytes()


# Texts at the regexes' edges: a capital word after a sentence end and 0-3 spaces, at the
# text's start, after a line break; numbers and codes after ".", ",", letters, other digits.
_EDGES = [
    "Foo. Bar", "Foo.  Bar", "Foo.   Bar", "Foo.Bar", "x.\n Bar", "x.\n\nBar", "\nBar a Bar",
    "Bar", " Bar", "«Bar»", "a: Bar", "a;  Bar", "он сказал. Bar", "“Bar” a Bar.", "。Bar",
    "x .  Bar", "Über. Über", "a Über", "Ōsaka. Ōsaka", "ĉu Ĉu. Ĉu", "DeepSeek. DeepSeek",
    "Foo.  Commission and the Party.  Party", "Die Kommission. TSMC. DeepSeek",
    ".910C", ",910C", "a910C", "A 910C", "Ascend 910C", "x.5a", "9.5x", "1.2.3", "H20.5",
    "GLM-4.5", "Qwen 2.5-Max", "Qwen2.5", "in 2025", "June 30", "17日", "17 日", "17号",
    "1,000,000 billion", "1 000 000", "12 345,6 млн", "1\u00a0000 Mio", "٣٤ billion",
    "५० %", "50％", "50 per cent", "50 процентов", "600亿", "1.5 bn", "1,5 Mrd", "99 999 999",
    "$600 billion.", "600,000.5", "6.000,5 millones", "mil millones", "5 mil millones",
    "1e10", "0.5%", "0 %", "10", "9", "1900", "2100", "2101", "12345678901234567890123",
    "caffè latte", "naïve_user's Ü-Boot", "it’s “quoted” — and–dashed ‘x’", "a’b’é—c",
    "a\ud800b c", "x\u00a0y\u2003z", "١٢٣ abc",
]  # fmt: skip


@pytest.mark.parametrize("text", _EDGES)
def test_edge_texts_give_the_reference_features(text: str) -> None:
    for lang in ("en", "de", None):
        for script in ("latin", "unspaced", "cyrillic"):
            want = reference.latin_names(text, script, lang)
            assert features.latin_names(text, script, lang) == want
        assert features.shingles("T", text, script) == reference.shingles("T", text, script)
    assert features.numbers(text) == reference.numbers(text)
    assert features.model_codes(text) == reference.model_codes(text)


# Pieces of the same kinds for generated texts: many kinds, and a few kinds densely.
_PIECES = [
    " ", "  ", "   ", "\n", ". ", ".", "!", "? ", "。", "：", ":", ";", "«", "»", '"', "“",
    "„", ",", "-", "$", "%", "％", " %", "Nvidia", "DeepSeek", "TSMC", "Über", "Ōsaka",
    "Čapek", "ĉu", "the", "The", "In", "Commission", "Party", "a", "H", "H20", "H20s", "R1",
    "910C", "Qwen", "2.5", "-Max", "GLM-4.5", "GPT-4o", "V3.1", "1", "17", "600", "1,5",
    "1.5", "600,000", "6.000", "1 000", "1\u00a0000", "2025", "12345678901234567890123",
    "billion", "Milliarden", "млрд", "процентов", "亿", "万", "억", "日", "号", "June",
    "juin", "tháng", "年", "深度求索", "英伟达", "据", "报道", "Об", "этом", "Рейтер",
    "딥시크", "ดีปซีค", "٣", "५", "_", "x2", "DEC", "Mayo", "МАЯ", "août", "oct", "xjan",
    "è", "'", "\u2003", "\t", "ǅ", "’", "“", "—",
]  # fmt: skip
_FEW = [". ", ".", ",", " ", "  ", "\n", "Bar", "Bar", "Foo", "FooBar", "5", "17", "910C", "a"]


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)
    | st.lists(st.sampled_from(_FEW), max_size=30).map("".join),
    st.lists(st.sampled_from(_PIECES), max_size=8).map("".join),
    st.sampled_from(["en", "de", "zh", "ru", None]),
)
def test_generated_texts_give_the_reference_features(text: str, title: str, lang) -> None:
    for script in ("latin", "unspaced", "cyrillic"):
        assert features.latin_names(text, script, lang) == reference.latin_names(text, script, lang)
        assert features.shingles(title, text, script) == reference.shingles(title, text, script)
    assert features.numbers(text) == reference.numbers(text)
    assert features.model_codes(text) == reference.model_codes(text)
    assert features.script_of(text) == reference.script_of(text)
    gazetteer = Gazetteer.shipped()
    keys = gazetteer.find(f"{title}\n{text}")
    want = reference.extract(title, text, lang, ["deepseek"], ["t1"], keys)
    assert features.extract(title, text, lang, ["deepseek"], ["t1"], keys) == want
    assert features.extract_article(title, text, lang, ["deepseek"], ["t1"], gazetteer) == want


def test_separators_replaced_before_the_word_split_are_not_word_characters() -> None:
    for separator in features._UTF8_SEPARATORS:
        assert features._WORD.search(separator.decode()) is None


def test_month_lookahead_admits_every_character_a_month_word_can_start_with() -> None:
    """The look-ahead is a filter only if its class (case-insensitive) holds every character
    each first letter matches case-insensitively, in all of Unicode."""
    assert reference._MONTHS.pattern == rf"(?i)\b(?:{features._MONTH_WORDS})\w*"
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    admitted = set(re.findall(rf"(?i)[{features._MONTH_FIRSTS}]", every))
    for first in {word[0] for word in features._MONTH_WORDS.split("|")}:
        assert set(re.findall(f"(?i){re.escape(first)}", every)) <= admitted, first


def test_every_month_word_in_every_case_matches_where_the_reference_matches() -> None:
    for word in features._MONTH_WORDS.split("|"):
        for form in (word, word.capitalize(), word.upper(), f"x{word}", f"{word}s"):
            window = f"on 3 {form} 2025"
            assert bool(features._MONTHS.search(window)) == bool(reference._MONTHS.search(window))


@pytest.mark.parametrize(
    "window",
    [
        "on 17 June", "17. Juni", "le 17 JUIN", "17 de mayo", "17 МАЯ 2025", "ngày 17 tháng 6",
        "Sept. 17", "17 Decembre", "a dec 3", "xjan 3", "3 janx", "3 Ωjan", "17 İyun", "17 Jul.",
        "ABRIL 3", "3 oct", "3 Oktober", "3 août", "3 AOÛT", "3 март", "3 ФЕВРАЛЯ", "no month 3",
    ],
)  # fmt: skip
def test_months_regex_matches_where_the_reference_matches(window: str) -> None:
    assert bool(features._MONTHS.search(window)) == bool(reference._MONTHS.search(window))
    assert features.numbers(window) == reference.numbers(window)
