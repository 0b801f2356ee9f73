"""The compiled core (`_native`) gives exactly the pure-Python engine's results.

The pure-Python engine is the reference; both run over the labelled sets, hostile input and
random mixes of scripts, and every field of every result must be equal: entities, mentions
with offsets into the original text, themes with score and evidence, language.
"""

from __future__ import annotations

import random

import orjson
import pytest

from newswatch.agents.tagging import Tagger, fastpath, langdetect
from newswatch.agents.tagging.normalize import normalize
from tests.support.environment import ROOT, shared_path, unavailable

DATA = ROOT / "tests" / "data" / "tagging"


@pytest.fixture(scope="module")
def engines() -> tuple[Tagger, Tagger]:
    if fastpath.load_native() is None:
        unavailable("the compiled tagging core is not built (needs cargo at install time)")
    return Tagger.load(native=False), Tagger.load(native=True)


def assert_same(engines: tuple[Tagger, Tagger], text: str, **kwargs: object) -> None:
    python, native = engines
    expected = python.tag(text, **kwargs).to_dict()  # type: ignore[arg-type]
    assert native.tag(text, **kwargs).to_dict() == expected, text[:200]  # type: ignore[arg-type]


def test_engines_report_themselves(engines: tuple[Tagger, Tagger]) -> None:
    assert [t.engine for t in engines] == ["python", "native"]


def labelled_rows() -> list[dict[str, object]]:
    rows = []
    for path in sorted(DATA.glob("*.jsonl")):
        rows += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return rows


def test_labelled_sets(engines: tuple[Tagger, Tagger]) -> None:
    rows = labelled_rows()
    assert len(rows) > 300
    for row in rows:
        assert_same(engines, str(row["text"]))
        assert_same(engines, str(row["text"]), title=str(row["id"]), lang=str(row["lang"]))


BAD = [
    "",
    " \n\t ",
    "lone \ud800 surrogate \udfff DeepSeek and Qwen2.5 export controls",
    "\ud83d",
    "control\x00chars\x07 DeepSeek\x1b[31m Kimi\x7f K2 \x0c chip export ban\u200b\u200d",
    "mixed 深度求索DeepSeek Дипсик딥시크ディープシーク Lương Văn Phong 阿里巴巴Qwen3-Max",
    "İstanbul ΟΔΟΣ Σ final sigma ǅ ﬁ ㎏ ½ Ⅻ ＤｅｅｐＳｅｅｋ full width … ™ №",
    "decomposed Lu\u031bo\u031b\u0300ng Va\u0306n Phong and Hangul \u1100\u1161\u11a8 jamo",
    "emoji 🚀 DeepSeek 🇨🇳 and 𝐃𝐞𝐞𝐩𝐒𝐞𝐞𝐤 maths letters 𠀀 ext-B 🧠 Qwen",
    "Qwen𝟐.5 astral digit after an alias, Kimi\U000104a0",
    "export restrictions à l'exportation des puces contrôles à l'exportation",
    "Exportkontrollen für KI-Chips: Nvidia H20, Ausfuhrbeschränkungen, 出口管制 半导体",
    # Per-script folds, glued particles, Thai without spaces, case endings.
    "وَأَعْلَنَتْ شركة «ديـــب سيك» وعلي بابا ولبايت دانس عن قيود التصدير على الرقائق",
    "دیپ‌سیک و علی‌بابا؛ كنترل صادرات تراشه‌ها ﳲ ﹱ ﻻ ۹۱۰",
    "ושָׁלוֹם לְדִּיפְּסִיק והעליבאבא, ה־בייטדאנס ומהוואווי; שבבים",
    "क़ीमत डीपसीक अलीबाबा ने चिप निर्यात नियंत्रण ‍ ড়ডিপসিককে আলিবাবার",
    "ไบต์แดนซ์เปิดตัวดีปซีค​ใหม่ อาลีบาบาควบคุมการส่งออกชิป",
    "DeepSeeka DeepSeekiem Alibabą Alibabánál DeepSeeket DeepSeekin Kimia Qwena Huaweiem",
]


@pytest.mark.parametrize("text", BAD)
def test_hostile_input(engines: tuple[Tagger, Tagger], text: str) -> None:
    assert_same(engines, text)
    assert_same(engines, text, title="DeepSeek\u00a0R1…")


@pytest.mark.slow
def test_ten_megabytes(engines: tuple[Tagger, Tagger]) -> None:
    """Huge texts are scanned in segments cut at the same places by both engines."""
    chunk = "DeepSeek Qwen 深度求索 export controls on chips, Nvidia H20… Kimi K2\n"
    text = chunk * (10_000_000 // len(chunk))
    assert_same(engines, text)
    assert_same(engines, text.replace("\n", " ")[:3_000_000] + "x" * 1_500_000)


def test_mention_cap_per_entity(engines: tuple[Tagger, Tagger]) -> None:
    """Past 2,000 mentions of an entity the compiled core stops reporting its aliases; the
    glued and inflected forms (which the rules may refuse) come before and after the cap."""
    text = "Alibabas Qwenx Qwen3 Alibaba DeepSeeks Дипсика Kimi K2 " * 3000
    assert_same(engines, text)
    assert_same(engines, "Alibabax " * 2500 + text[:4000])


# Characters from every path of normalize(): ASCII, Latin with diacritics, the one-for-one
# replacements, NFKC expanders, marks, jamo, Cyrillic, Greek, CJK, emoji, astral letters.
POOL = (
    "aAbBkKsSyYiI0123456789 .-_'’\n\t,;:!?()"
    "äöüßÄÖÜéèêçñãõìòđĐơưạảấầẩẫậắằẳẵặẹẻẽếềểễệ"
    "\u00a0\u202f\u2009\u200a\u2011\uff0c\uff08\uff09\uff1a\uff1b\uff1f\uff01…″‴™℠№"
    "ﬁ㎏½Ⅻ\u0301\u0300\u0306\u031b\u1100\u1161\u11a8\u3131ﾞﾟｶ"
    "дипсикДИПСИКёЁіїΣσςΟΔİı深度求索阿里巴巴通义千问豆包月之暗面한국어ディープシーク"
    "🚀🧠🇨🇳𝐃𝟐𠀀\u200b\u200d\x00\x07"
    "دیپسکيكیىأإآٱـًٌَُِّْٰ\u200cوبالﻻﳲש\u05b0\u05b8\u05bc\u05c1ובהלמ"
    "डीपसक\u093cक़ড\u09bcড়ไบต์แดนซ์ดีปซีค"
    "µ²₂｜％\u2005\ufe0f\ufe0e\u212b\u2126\u212aϹϒＤｅｅｐ\u0b3e\u0bbe\u0cd5\u1b35\u3099ｶﾞ"
)
_WORDS = (
    "deepseek qwen qwen2.5-max kimi k2 doubao ernie glm-4.5 yi minimax manus moonshot spark "
    "alibaba bytedance export controls chip ban entity list open-source open source weights "
    "nvidia h20 data security privacy market stocks restrictions contrôle à l'export "
    "exportkontrollen ausfuhr 出口管制 芯片 开源 数据安全 экспортный контроль чипы "
    "kiểm soát xuất khẩu lương văn phong "
    "ديب سيك ديبسيك علي بابا وعلي بابا بايدو دیپسیک علیبابا لדיפסיק דיפסיק ועליבאבא "
    "डीपसीक अलीबाबा ডিপসিক ดีปซีค ไบต์แดนซ์ deepseeka deepseekiem alibabę"
)
WORDS = _WORDS.split()


# Only characters the compiled core normalises itself (no expanders, marks or jamo).
SIMPLE_POOL = "".join(
    ch
    for ch in POOL
    if ord(ch) < 0x10000 and fastpath.char_tables()[0][ord(ch)] & fastpath.MAPPABLE
)


@pytest.mark.parametrize("pool", [POOL, SIMPLE_POOL], ids=["any", "one-for-one"])
def test_random_mixes(engines: tuple[Tagger, Tagger], pool: str) -> None:
    rng = random.Random(20261128)
    native = engines[1]._engine
    by_table = 0
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 60)):
            if rng.random() < 0.6:
                word = rng.choice(WORDS)
                parts.append(word.upper() if rng.random() < 0.2 else word)
            else:
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
            parts.append(rng.choice(" \n-'’…\u00a0"))
        text = "".join(parts)
        assert_same(engines, text)
        by_table += native.normalise(text) is not None
    if pool is SIMPLE_POOL:
        assert by_table == 300  # these exercise the compiled normalisation


def test_long_texts_of_glued_patterns(engines: tuple[Tagger, Tagger]) -> None:
    """Texts of 2 KB and more are searched as two streams joined in the middle (search.rs):
    catalogue patterns glued end to end, so matches overlap and run across the middle."""
    rng = random.Random(2026112822)
    patterns = engines[0].patterns
    glue = ["", "", " ", "-", "s ", "a", "2.5 ", "\n"]
    for _ in range(120):
        size = rng.randint(2_000, 9_000)
        parts: list[str] = []
        while sum(map(len, parts)) < size:
            parts.append(rng.choice(patterns))
            parts.append(rng.choice(glue))
        text = "".join(parts)
        assert len(text.encode()) >= 2048
        assert_same(engines, text)


def _overlapping_pairs(python: Tagger, wanted: int) -> list[str]:
    """Texts "x" + rest of "y" where pattern y starts inside pattern x, one search takes x
    and then finds a match inside y: a second stream started inside x takes y instead."""
    automaton = python._automaton
    patterns = [p for p in python.patterns if p.isascii()]
    out: list[str] = []
    for x in patterns:
        for y in patterns:
            for k in range(1, min(len(x), len(y))):
                if x != y and x[-k:] == y[:k]:
                    text = x + y[k:]
                    found = automaton.find_matches_as_indexes(text)
                    if len(found) > 1 and found[0][1:] == (0, len(x)):
                        out.append(text)
                    break
            if len(out) == wanted:
                return out
    return out


def test_two_stream_search_equals_one_search(engines: tuple[Tagger, Tagger]) -> None:
    """The compiled search joins its two streams only where they provably agree (search.rs):
    its matches equal ahocorasick-rs's leftmost-longest search when the middle of the text
    falls anywhere inside a match that a longer overlapping pattern straddles, and over
    glued patterns (ASCII: byte offsets are character offsets)."""
    python, native = engines
    search = native._engine.matches
    texts = _overlapping_pairs(python, 8)
    assert len(texts) == 8
    for text in texts:
        for j in range(1, len(text)):  # the middle (1,500) at every position of the pair
            padded = "." * (1_500 - j) + text + "." * (1_500 + j - len(text))
            assert search(padded) == python._automaton.find_matches_as_indexes(padded), text
    rng = random.Random(20261129)
    ascii_patterns = [p for p in python.patterns if p.isascii()]
    parts: list[str] = []
    while sum(map(len, parts)) < 6_000:
        parts.append(rng.choice(ascii_patterns))
        parts.append(rng.choice(["", "", " ", "-", "s", "a", "2"]))
    glued = "".join(parts)
    for size in range(4_000, 4_400, 2):  # the middle moves over 200 positions
        part = glued[:size]
        assert search(part) == python._automaton.find_matches_as_indexes(part), size


@pytest.mark.slow
def test_real_feed_entries(engines: tuple[Tagger, Tagger]) -> None:
    """The ~5,000 entries of the shared real-world feeds (loaded as bench/tagging.py does)."""
    shared_path("feeds")
    from bench import tagging as bench  # the repository root is on sys.path (tests/README.md)

    texts = bench.feed_texts()
    assert len(texts) > 1000
    for text in texts:
        assert_same(engines, text)


def test_char_table_shortcuts_are_exact() -> None:
    """The ranges `char_tables` fills without computing hold what computing gives."""
    table, base, astral = fastpath.char_tables()
    assert table == fastpath._entries(0, 0x10000)
    assert astral == fastpath._entries(base, base + len(astral))


def test_table_normalisation_equals_normalize(engines: tuple[Tagger, Tagger]) -> None:
    """Random strings over the whole character table: whenever the compiled core normalises
    a text itself, it gives `normalize()`'s text, with offsets 1:1 (no map)."""
    native = engines[1]._engine
    table, base, astral = fastpath.char_tables()
    mappable = [chr(c) for c in range(0x10000) if table[c] & fastpath.MAPPABLE]
    mappable += [chr(base + i) for i, e in enumerate(astral) if e & fastpath.MAPPABLE]
    other = [chr(c) for c in range(0xD800) if not table[c] & fastpath.MAPPABLE]
    rng = random.Random(7)
    by_table = 0
    for _ in range(3000):
        share = rng.choice((0.97, 0.995, 1.0))
        text = "".join(
            rng.choice(mappable) if rng.random() < share else rng.choice(other)
            for _ in range(rng.randint(1, 40))
        )
        folded = native.normalise(text)
        if folded is None:
            continue
        by_table += 1
        reference = normalize(text)
        assert (folded, reference.norm_starts) == (reference.text, ()), text
    assert by_table > 1500


_SCRIPT_WORDS = (
    "the der le el il o và của 的 是 在 한국어 ディープ дипсик іїє αβγ שלום مرحبا हिन्दी "
    "ไทย ÄÖÜß ñ ã ơư 𐐀𐐨 İ Σς ’ ' … \u00a0 \u3000 ᄀ ㄱ ｶ abc "
    "یک گچ ٹڈ ے فارسی اردو বাংলা ও yang bahawa kerana bahwa karena og ikke af efter av etter "
    "selskabet selskapet och är že sa sú se jsou și în hogy az ang ng sa mga őű ěř ľô æø ăș"
)


def test_language_detection_equals_langdetect(engines: tuple[Tagger, Tagger]) -> None:
    """The compiled detector answers as `langdetect.detect()` on the labelled sets and on
    random mixes of scripts, stopwords and letters."""
    detector = fastpath.lang_detector()
    texts = [str(row["text"]) for row in labelled_rows()]
    pool = _SCRIPT_WORDS.split(" ")
    rng = random.Random(11)
    for _ in range(3000):
        text = " ".join(rng.choice(pool) for _ in range(rng.randint(0, 120)))
        if rng.random() < 0.5:
            text = "".join(rng.sample(text, len(text)))
        texts.append(text)
    for text in texts:
        assert detector.detect(text) == langdetect.detect(text), text


class PanicException(BaseException):
    """Stands in for pyo3_runtime.PanicException (the name PyO3 gives a Rust panic)."""


class _PanickingEngine:
    def scan(self, text: str) -> object:
        raise PanicException("index out of bounds")


def test_a_panic_in_the_compiled_core_falls_back_to_python(
    engines: tuple[Tagger, Tagger], caplog: pytest.LogCaptureFixture
) -> None:
    python, _ = engines
    tagger = Tagger.load(native=True)
    tagger._engine = _PanickingEngine()
    text = "DeepSeek R1 and Alibaba's Qwen3 under US export controls on AI chips"
    assert tagger.tag(text).to_dict() == python.tag(text).to_dict()
    assert "compiled tagging core failed" in caplog.text
