"""Per-script normalisation and matching rules (Arabic, Persian, Urdu, Hebrew, Indic, Thai,
Latin case endings): what they match, what they refuse, and offsets into the original."""

from __future__ import annotations

import pytest

from newswatch.agents.tagging import Tagger
from newswatch.agents.tagging.normalize import key, normalize


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load(native=False)


@pytest.mark.parametrize(
    ("variant", "plain"),
    [
        ("دیپ\u200cسیک", "ديپسيك"),  # Persian yeh and keheh, ZWNJ
        ("ديـــبْ سِيك", "ديب سيك"),  # tatweel, harakat
        ("أليبابا", "اليبابا"),  # alef with hamza
        ("שָׁלוֹם", "שלום"),  # niqqud
        ("क़ीमत", "कीमत"),  # precomposed nukta letter
        ("ড়", "ড"),  # Bengali nukta
    ],
)
def test_script_folds(variant: str, plain: str) -> None:
    assert normalize(variant).text == plain
    assert key(variant) == plain


def test_offsets_point_into_the_original_after_deletions() -> None:
    text = "ﬁ قال ديـــبْ سِيك إن ﬁ"
    norm = normalize(text)
    start = norm.text.index("ديب سيك")
    a, b = norm.span(start, start + len("ديب سيك"))
    assert text[a:b] == "ديـــبْ سِيك"


@pytest.mark.parametrize(
    ("text", "entity", "mention"),
    [
        ("أعلنت وديب سيك اليوم", "deepseek", "ديب سيك"),  # و glued
        ("قالت لعلي بابا", "alibaba", "علي بابا"),  # ل glued
        ("ההודעה והעליבאבא פרסמה", "alibaba", "עליבאבא"),  # ו + ה glued
        ("ไบต์แดนซ์เปิดตัวโมเดลใหม่", "bytedance", "ไบต์แดนซ์"),  # Thai, no spaces
        ("Analitycy DeepSeeka ocenili", "deepseek", "DeepSeek"),  # Polish genitive
        ("কোম্পানি ডিপসিককে নিষিদ্ধ", "deepseek", "ডিপসিক"),  # Bengali case ending
    ],
)
def test_glued_particles_and_endings(tagger: Tagger, text: str, entity: str, mention: str) -> None:
    result = tagger.tag(text)
    assert entity in result.entities, result
    found = next(m for m in result.mentions if m.entity == entity)
    assert found.text == mention and text[found.start : found.end] == mention


@pytest.mark.parametrize(
    "text",
    [
        "ابديب سيك",  # not a particle: inside another word
        "كعلي بابا والأربعين حرامي",  # the folk tale, not the company
        "Kimia organik dan biologi",  # Malay "chemistry": too short an alias for endings
        "Qwenaxyz",
    ],
)
def test_refused(tagger: Tagger, text: str) -> None:
    assert tagger.tag(text).entities == []


@pytest.mark.parametrize(
    "text",
    [
        # Romanian "cip" and Polish/Dutch/Swedish/Hungarian "chip" are listed by form, not
        # as stems: English "cipher" and "chipotle" are no chips.
        "The ciphertext and the cipher suites of ML-KEM: ciphertexts, ciphers, cipher text.",
        "Chipotle chippa_a chipotles chippers, chipotle chipotle.",
    ],
)
def test_lookalike_stems_are_no_theme(tagger: Tagger, text: str) -> None:
    assert tagger.tag(text).theme_ids == []
