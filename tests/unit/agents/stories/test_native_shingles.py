"""The compiled shingler and MinHash (agents/tagging/native/src/shingles.rs) make exactly what
features.py's `_shingles` and engine.py's `minhash_affine32` make: the character tables
against Python for every code point, hostile texts, generated texts, and the fallback to
Python where the compiled core cannot read the text (lone surrogates) or is not built."""

from __future__ import annotations

import dataclasses
import itertools
import re
import sys
from types import ModuleType

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.agents.stories import Gazetteer, StoryArticle, StoryConfig, features, shingle_tables
from newswatch.agents.stories import engine as engine_module
from newswatch.agents.stories import features_reference as reference
from newswatch.agents.stories.engine import FeatureMaker, minhash_affine32
from newswatch.agents.stories.evaluate import Tagged, check_row, to_story_article
from newswatch.agents.tagging import Tagger, fastpath
from tests.support.environment import DATA, unavailable

DEVSET = DATA / "stories" / "devset.jsonl"

SCRIPTS = ("latin", "unspaced")


@pytest.fixture(scope="module")
def native() -> ModuleType:
    module = fastpath.load_native()
    if module is None:
        unavailable("the compiled tagging core is not built (needs cargo at install time)")
    assert module is not None
    return module


@pytest.fixture(scope="module")
def makers(native: ModuleType) -> tuple[FeatureMaker, FeatureMaker]:
    """(compiled, Python) makers with the engine's settings."""
    config, gazetteer = StoryConfig(), Gazetteer.shipped()
    return FeatureMaker(config, gazetteer, native=True), FeatureMaker(config, gazetteer, False)


# ---- the character tables --------------------------------------------------------------


def test_shingle_tables_rs_is_rendered_from_features() -> None:
    """Regenerate with `python -m newswatch.agents.stories.shingle_tables`."""
    assert shingle_tables.RUST_TABLES.read_text(encoding="utf-8") == shingle_tables.rust_tables()


def _members(ranges: list[tuple[int, int]]) -> set[int]:
    return {cp for lo, hi in ranges for cp in range(lo, hi + 1)}


def test_tables_hold_pythons_word_characters_and_ngram_characters() -> None:
    """Python's `\\w` is `str.isalnum()` or "_"; n-grams keep `\\w` but "_", Thai and the
    combining marks U+0300-036F, U+3099, U+309A."""
    word = _members(shingle_tables.word_ranges())
    keep = _members(shingle_tables.ngram_ranges())
    want_word = {cp for cp in range(sys.maxunicode + 1) if chr(cp).isalnum() or cp == 0x5F}
    assert word == want_word
    extra = {*range(0x0E00, 0x0E80), *range(0x0300, 0x0370), 0x3099, 0x309A}
    assert keep == (want_word - {0x5F}) | extra
    assert not any(0xD800 <= cp <= 0xDFFF for cp in word | keep)


def _chunks(size: int = 4096) -> list[str]:
    """Every code point but the surrogates, in chunks."""
    points = [cp for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
    return ["".join(map(chr, points[i : i + size])) for i in range(0, len(points), size)]


def _words_of_pairs(pairs: list[bytes]) -> list[bytes]:
    """The words in order, from word 2-grams in text order (a word holds no space)."""
    if not pairs:
        return []
    return [p.split(b" ")[0] for p in pairs] + [pairs[-1].split(b" ")[1]]


def _chars_of_grams(grams: list[bytes]) -> str:
    """The characters in order, from character 3-grams in text order."""
    if not grams:
        return ""
    decoded = [g.decode() for g in grams]
    return "".join(g[0] for g in decoded) + decoded[-1][1:]


def test_compiled_classes_equal_python_for_every_code_point(native: ModuleType) -> None:
    """Each code point alone between spaces is a word exactly when Python's `\\w+` finds it;
    in a run of code points, the compiled n-grams keep exactly what `_NOT_CHAR` leaves."""
    checked = 0
    for chunk in _chunks():
        spaced = " ".join(chunk)
        words = _words_of_pairs(native.shingles(spaced, False))
        assert words == [w.encode() for w in features._WORD.findall(spaced)], chunk[0]
        kept = _chars_of_grams(native.shingles(chunk, True))
        assert kept == features._NOT_CHAR.sub("", chunk), chunk[0]
        checked += len(chunk)
    assert checked == sys.maxunicode + 1 - 0x800


# ---- hostile and ordinary texts ----------------------------------------------------------

_TEXTS = [
    "",
    "a",
    "ab",
    "abc",
    " ",
    "\n",
    "...!?,;:-—–«»“”",
    "_",
    "___ _a_ __init__ foo_bar",
    "one",
    "one two",
    "one two three",
    "a b a b a b a b a b a b",  # 11 word 2-grams, 2 distinct
    "x y z x y z x y z w",  # 9 word 2-grams, 4 distinct
    "aaaaaaaaaaaaaa",  # one distinct 3-gram
    "深",
    "深度",
    "深度求索发布了新模型",
    "深度_求索，发布！",
    "deepseek 深度求索 発表しました 딥시크가 ดีปซีคเปิดตัว выпустила модель",
    "ดีปซีคเปิดตัวโมเดลใหม่ ที่ กรุงเทพฯ ๑๒๓",
    "e\u0301cole cafe\u0301 n\u0303",  # combining acute and tilde (not NFC-composed)
    "か\u3099き\u309aく \u3099\u309a",  # combining (semi-)voiced sound marks
    "\u0301\u0302\u0303",
    "😀 🚀 abc 👍🏽 x😀y 🇨🇳🇺🇸",
    "a\x00b c\x00d \x00 \x00\x00",
    "١٢٣ ٤٥ ५० 12 ½ ² x²",
    "\u200b\u200d\ufeff word\u00a0other\u2003third",
    "𝔡𝔢𝔢𝔭 𠀀𠀁𠀂 𐍈𐍉",  # astral letters and ideographs
    "\U0010ffff \U000e0001 \U000f0000",  # planes 15/16, tag characters
    "ǅ ǈ ǋ ß ŉ",
]


def _expected_words(text: str) -> list[bytes]:
    words = [w.encode() for w in features._WORD.findall(text)]
    if len(words) < 2:
        return words
    return [b" ".join(p) for p in itertools.pairwise(words)]


def _expected_grams(text: str) -> list[bytes]:
    chars = features._NOT_CHAR.sub("", text)
    if len(chars) < 3:
        return [chars.encode()] if chars else []
    return [chars[i : i + 3].encode() for i in range(len(chars) - 2)]


def _check(native: ModuleType, makers: tuple[FeatureMaker, FeatureMaker], text: str) -> None:
    compiled, python = makers
    hasher = compiled._hasher
    assert hasher is not None
    for script in SCRIPTS:
        unspaced = script == "unspaced"
        made = native.shingles(text, unspaced)
        assert made == (_expected_grams(text) if unspaced else _expected_words(text))
        want = features._shingles(text, script)
        assert frozenset(made) == want
        _, lowered = features.normalise("T", text)  # as the reference normalises
        assert set(native.shingles(lowered, unspaced)) == reference.shingles("T", text, script)
        full = minhash_affine32(want, python._perm_a, python._perm_b)
        assert bytes(hasher.signature(want)) == full.tobytes()
        assert bytes(hasher.signature(list(made))) == full.tobytes()  # duplicates: same
        for minimum in sorted({0, 1, len(want), len(want) + 1}):
            raw = hasher.text_signature(text, unspaced, minimum)
            if len(want) < minimum:
                assert raw is None
            else:
                assert raw is not None and bytes(raw) == full.tobytes()
        config = python.config
        got = compiled.text_signature(text, script)
        ref = python.text_signature(text, script)
        if len(want) < config.min_shingles:
            assert got is None and ref is None
        else:
            assert got is not None and ref is not None
            assert got.dtype == ref.dtype == np.uint32
            assert got.tobytes() == ref.tobytes()
            if want:
                datasketch = reference.signature(want, config.num_perm, config.seed)
                assert got.tobytes() == datasketch.tobytes()


@pytest.mark.parametrize("text", _TEXTS)
def test_hostile_texts_give_pythons_shingles_and_signatures(
    native: ModuleType, makers: tuple[FeatureMaker, FeatureMaker], text: str
) -> None:
    _check(native, makers, text)


def test_duplicated_shingles_count_once(makers: tuple[FeatureMaker, FeatureMaker]) -> None:
    compiled, _ = makers
    assert compiled._hasher is not None
    text = "a b a b a b a b a b a b"  # 11 shingles, 2 distinct
    assert compiled._hasher.text_signature(text, False, 3) is None
    assert compiled._hasher.text_signature(text, False, 2) is not None
    assert compiled.text_signature(text, "latin") is None  # min_shingles 6


def test_empty_set_signature_is_all_ones(makers: tuple[FeatureMaker, FeatureMaker]) -> None:
    compiled, _ = makers
    assert compiled._hasher is not None
    empty = np.frombuffer(compiled._hasher.text_signature("!!", False, 0), dtype=np.uint32)
    assert empty.tolist() == [0xFFFFFFFF] * 64
    assert bytes(compiled._hasher.signature(frozenset())) == empty.tobytes()


def test_one_megabyte_text(native: ModuleType, makers: tuple[FeatureMaker, FeatureMaker]) -> None:
    words = ["DeepSeek", "深度求索", "nvidia", "h20", "ดีปซีค", "exports", "600", "billion", "чипы"]
    text = " ".join(words[i * 7 % len(words)] + str(i % 997) for i in range(100_000))
    assert len(text.encode()) > 1_000_000
    _check(native, makers, text)
    _check(native, makers, text.replace(" ", ""))


def test_lone_surrogates_fall_back_to_python(
    native: ModuleType, makers: tuple[FeatureMaker, FeatureMaker]
) -> None:
    compiled, python = makers
    assert compiled._hasher is not None
    text = "alpha \ud800 beta\udfff gamma delta epsilon zeta eta theta 深度\ud83d求索发布"
    for script in SCRIPTS:
        with pytest.raises(UnicodeEncodeError):
            native.shingles(text, script == "unspaced")
        with pytest.raises(UnicodeEncodeError):
            compiled._hasher.text_signature(text, script == "unspaced", 0)
        got, ref = compiled.text_signature(text, script), python.text_signature(text, script)
        assert got is not None and ref is not None and got.tobytes() == ref.tobytes()


def _same_prepared(compiled: FeatureMaker, python: FeatureMaker, article: StoryArticle) -> bool:
    a, b = compiled.prepare(article), python.prepare(article)
    if a.features != b.features:
        return False
    if a.signature is None or b.signature is None:
        return a.signature is b.signature
    return a.signature.tobytes() == b.signature.tobytes()


_LEDES = [
    ("en", "Nvidia's H20 chips: DeepSeek said on Monday that exports of $600 billion were hit."),
    ("zh", "据路透社报道，英伟达H20芯片的出口受到限制，深度求索表示"),
    ("th", "ดีปซีคเปิดตัวโมเดลใหม่ของบริษัท"),
]


def test_prepare_equals_features_and_signature(
    makers: tuple[FeatureMaker, FeatureMaker],
) -> None:
    """`prepare` leaves out the shingles; everything else, and the signature, are those of
    `features` and `signature`, with the compiled core and without."""
    compiled, python = makers
    for lang, body in _LEDES:
        article = StoryArticle(id=lang, title="Title", text=body, lang=lang, published=1.0)
        for maker in (compiled, python):
            feats = maker.features(article)
            prepared = maker.prepare(article)
            assert prepared.features == dataclasses.replace(feats, shingles=frozenset())
            assert feats.shingles  # `features` keeps them
            signature = maker.signature(feats)
            assert signature is not None and prepared.signature is not None
            assert prepared.signature.tobytes() == signature.tobytes()
            assert prepared.signature.flags.writeable
        assert _same_prepared(compiled, python, article)


def test_dev_set_prepared_by_the_core_equals_python(
    makers: tuple[FeatureMaker, FeatureMaker],
) -> None:
    """Every dev-set article, also cut short and title alone: `prepare` with the compiled
    core gives Python's features and signature."""
    compiled, python = makers
    tagger = Tagger.load()
    rows = [check_row(orjson.loads(line)) for line in DEVSET.read_bytes().splitlines()]
    signed = 0
    for row in rows:
        result = tagger.tag(row.text, title=row.title, lang=row.lang)
        article = to_story_article(row, Tagged(tuple(result.entities), tuple(result.theme_ids)))
        text = article.text
        for cut in (len(text), 1, 5, len(text) // 2, 0):
            variant = dataclasses.replace(article, text=text[:cut])
            assert _same_prepared(compiled, python, variant), variant.id
            feats = python.features(variant)
            want = python.signature(feats)
            got = compiled.prepare(variant)
            assert got.features == dataclasses.replace(feats, shingles=frozenset())
            if want is not None:
                assert got.signature is not None and got.signature.tobytes() == want.tobytes()
                signed += 1
            else:
                assert got.signature is None
    assert signed > len(rows) * 2


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        st.characters(codec="utf-8")
        | st.sampled_from(list(" _.,\n\u0301\u3099\u0e31\u0e48深度ดี😀\x00ab")),
        max_size=60,
    )
)
def test_generated_texts_give_pythons_shingles(text: str) -> None:
    module = fastpath.load_native()
    if module is None:
        unavailable("the compiled tagging core is not built (needs cargo at install time)")
    for script in SCRIPTS:
        made = module.shingles(text, script == "unspaced")
        assert frozenset(made) == features._shingles(text, script)


# ---- construction and fallback -----------------------------------------------------------


def test_hasher_refuses_mismatched_permutations(native: ModuleType) -> None:
    with pytest.raises(ValueError, match="same, non-zero length"):
        native.MinHasher([1, 3], [5])
    with pytest.raises(ValueError, match="same, non-zero length"):
        native.MinHasher([], [])
    with pytest.raises(OverflowError):
        native.MinHasher([1 << 32], [0])
    hasher = native.MinHasher([1, 3], [5, 7])
    assert hasher.num_perm == 2
    with pytest.raises(TypeError):
        hasher.signature(["not bytes"])


def test_without_the_compiled_core_python_makes_the_signature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "load_native", lambda: None)
    config, gazetteer = StoryConfig(), Gazetteer.shipped()
    maker = FeatureMaker(config, gazetteer)
    assert not maker.native
    with pytest.raises(ImportError):
        FeatureMaker(config, gazetteer, native=True)
    text = "one two three four five six seven eight"
    signature = maker.text_signature(text, "latin")
    want = minhash_affine32(features._shingles(text, "latin"), maker._perm_a, maker._perm_b)
    assert signature is not None and signature.tobytes() == want.tobytes()


def test_the_engine_uses_the_compiled_core_when_built(native: ModuleType) -> None:
    assert FeatureMaker(StoryConfig(), Gazetteer.shipped()).native
    assert re.search(r"\bshingles::register\(m\)", _lib_rs())


def _lib_rs() -> str:
    return (shingle_tables.RUST_TABLES.parent / "lib.rs").read_text(encoding="utf-8")
