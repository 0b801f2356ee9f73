"""The compiled anchor finder (`_native.Anchors`, native/src/anchors.rs) gives exactly what
features.py's `numbers`, `model_codes` and `latin_names` give: on generated hostile texts
(seeded), on every code point in the places the regexes look at, and on the edge cases; and
its character tables (native/src/anchor_tables.rs) are what Python says today."""

from __future__ import annotations

import random
import re
import sys
import types

import pytest

from newswatch.agents.stories import anchor_tables, features
from newswatch.agents.tagging import fastpath
from tests.support.environment import unavailable

Found = tuple[set[str], set[str], set[str], set[str]]


@pytest.fixture(scope="module", autouse=True)
def _native_built() -> None:
    if features._NATIVE is None:
        unavailable("the compiled core (agents/tagging/_native) has no Anchors: not built")


def _python(text: str, script: str, lang: str | None) -> Found | Exception:
    try:
        names, weak = features.latin_names(text, script, lang)
        return features.numbers(text), features.model_codes(text), names, weak
    except Exception as exc:  # compared with what the native side does
        return exc


def _native(text: str, script: str, lang: str | None) -> Found | None:
    assert features._NATIVE is not None
    found = features._NATIVE.find(text, script == "latin", lang == "de")
    if found is None:
        return None
    amounts, codes, names, weak = found
    keys = {features._number_key(p, v) for p, v in amounts}
    return keys, set(codes), set(names), set(weak)


# Characters IGNORECASE matches for a unit letter but whose lower case is another: with
# them in a unit, Python raises KeyError (or differs), and the native side hands back None.
_INEXACT = {chr(v) for v, _, exact in anchor_tables.folds(anchor_tables._all_chars()) if not exact}


def _assert_same(text: str, script: str, lang: str | None) -> bool:
    """Native == Python; True when the native side answered (not handed back to Python)."""
    want = _python(text, script, lang)
    got = _native(text, script, lang)
    if got is None:
        # Only where Python's path must decide: lone surrogates, inexact unit letters.
        assert any("\ud800" <= c <= "\udfff" or c in _INEXACT for c in text), text[:200]
        return False
    assert not isinstance(want, Exception), (text[:200], want)
    assert got == want, (text[:300], script, lang)
    return True


# ---- generated hostile texts ---------------------------------------------------------------

_DIGITS = (
    "0123456789",
    "0123456789",
    "0123456789",
    "٠١٢٣٤٥٦٧٨٩",  # Arabic-Indic
    "०१२३४५६७८९",  # Devanagari
    "๐๑๒๓๔๕๖๗๘๙",  # Thai
    "０１２３４５６７８９",  # fullwidth (NFKC makes them ASCII; not every caller normalises)
    "".join(chr(0x1D7CE + i) for i in range(10)),  # mathematical bold (astral)
)
_SEPARATORS = (
    ".",
    ",",
    "\u00a0",
    "\u202f",
    " ",
    " ",
    "",
    "",
    "\n",
    "-",
    "\t",
    "  ",
    ". ",
    "\u3000",
)
_UNITS = [*features._MULTIPLIERS, *features._PERCENT_WORDS, "процентах", "milliardenx", "mn2"]
_WORDS = (
    "DeepSeek",
    "NVIDIA",
    "Nvidia",
    "Lutnick",
    "the",
    "The",
    "THE",
    "Ärger",
    "Łódź",
    "ŞAHİN",
    "İstanbul",
    "Über",
    "über",
    "ÉTAT",
    "État",
    "Ǆemal",
    "ǅ",
    "ß",
    "Straße",
    "Commission",
    "Party",
    "Party",
    "iPhone",
    "eBay",
    "McDonald",
    "O'Neil",
    "Jean-Luc",
    "x",
    "A",
    "I",
    "Ab",
    "H20",
    "H20s",
    "H20S",
    "GPT-4o",
    "Qwen 2.5-Max",
    "GLM-4.5",
    "910C",
    "Ascend 910C",
    "昇腾910C",
    "R1",
    "5G",
    "in 2025",
    "June 30",
    "on Monday",
    "v3.1",
    "Llama-3.1-405B",
    "Kimi K2",
    "A100s",
    "B200",
    "RTX 4090",
    "M3",
    "1.5.2",
    "2.5-Max",
    "K2-Instruct",
    "Mar",
    "mars",
    "MAI",
    "Juni",
    "tháng",
    "МАЯ",
    "января",
    "Dezember",
    "août",
    "AOÛT",
    "17日",
    "17 号",
    "17號",
    "17일",
    "June 17",
    "17. Juni",
    "17 de marzo",
    "mayo",
    "据Bloomberg报道",
    "英伟达",
    "路透社",
    "年",
    "月",
    "日",
    "時",
    "点",
    "號",
    "时",
    "Привет",
    "Москва",
    "млрд",
    "процентов",
    "ТЫС",
    "Tỷ",
    "TRIỆU",
    "Nghìn Tỷ",
    "phần trăm",
    "MILLIARDEN",
    "Milliarden",
    "per cent",
    "PER CENT",
    "mil millones",
    "Mil Millones",
    "%",
    "％",
    "パーセント",
    "퍼센트",
    "억",
    "조",
    "천",
    "만",
    "万",
    "亿",
    "億",
    "兆",
    "千",
    "ſ",
    "K",
    "ı",
    "İ",
    "Ω",
    "µ",
    "Å",
    "ǈ",
    "ﬀ",
    "\u0130",
    "e",
    "E",
    "1e308",
    "1E5",
    "inf",
    "nan",
    "_",
    "__",
    "٫",
    "’",
    "‘",
    "—",
    "–",
    "\x00",
    "\ufeff",
    "\u200b",
)
_PUNCT = (
    ".",
    "!",
    "?",
    "。",
    "！",
    "？",
    ":",
    ";",
    "«",
    "»",
    '"',
    "“",
    "”",
    "„",
    "\n",
    ",",
    "(",
    ")",
    "'",
    "-",
    "/",
    "$",
    "€",
    "¥",
    "+",
    " ",
    " ",
    " ",
    "  ",
    "\u00a0",
)


def _number(rng: random.Random) -> str:
    digits = rng.choice(_DIGITS)
    shape = rng.random()
    if shape < 0.3:  # thousands groups
        head = "".join(rng.choice(digits) for _ in range(rng.randint(1, 4)))
        sep = rng.choice(_SEPARATORS[:5])
        groups = [
            "".join(rng.choice(digits) for _ in range(rng.choice((3, 3, 3, 2, 4))))
            for _ in range(rng.randint(1, 4))
        ]
        return head + "".join(
            rng.choice((sep, sep, sep, rng.choice(_SEPARATORS))) + g for g in groups
        )
    if shape < 0.5:  # decimals
        return (
            "".join(rng.choice(digits) for _ in range(rng.randint(1, 4)))
            + rng.choice(".,")
            + "".join(rng.choice(digits) for _ in range(rng.randint(1, 4)))
        )
    if shape < 0.55:
        return "".join(rng.choice(digits) for _ in range(rng.randint(15, 30)))
    if shape < 0.6:
        return rng.choice(("1900", "2025", "2100", "2101", "1899", "31", "32", "0", "00", "0.0"))
    return "".join(rng.choice(digits) for _ in range(rng.randint(1, 5)))


def _cased(rng: random.Random, word: str) -> str:
    way = rng.random()
    if way < 0.4:
        return word
    if way < 0.6:
        return word.upper()
    if way < 0.75:
        return word.title()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def _piece(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        number = _number(rng)
        if rng.random() < 0.6:
            number += rng.choice(("", "", " ", "\u00a0", "\n")) + _cased(rng, rng.choice(_UNITS))
        return number
    if kind < 0.7:
        return rng.choice(_WORDS)
    if kind < 0.85:
        return rng.choice(_PUNCT)
    if kind < 0.95:  # a letter word of random Latin letters, maybe capitalised
        letters = "abcdefghijklmnopqrstuvwxyzäöüéèàçñłßđ"
        word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
        return _cased(rng, word)
    cp = rng.randrange(0x110000)
    return chr(cp) if not 0xD800 <= cp <= 0xDFFF else "\ufffd"


def _text(rng: random.Random) -> str:
    pieces = [_piece(rng) for _ in range(rng.randint(0, 40))]
    glue = (" ", " ", " ", "", "\n", ". ", ", ")
    return "".join(p + rng.choice(glue) for p in pieces)


@pytest.mark.parametrize("seed", range(4))
def test_generated_hostile_texts(seed: int) -> None:
    rng = random.Random(seed)
    answered = 0
    for case in range(1_000):
        text = _text(rng)
        script = ("latin", "unspaced", "cyrillic")[case % 3]
        lang = ("en", "de", None, "zh")[case % 4]
        answered += _assert_same(text, script, lang)
    # Most texts never meet a character that sends them to Python: the native side was tested.
    assert answered > 900


def test_generated_texts_find_every_kind_of_anchor() -> None:
    """The generator reaches every branch: not a comparison of empty sets."""
    rng = random.Random(0)
    seen: set[str] = set()
    for _ in range(300):
        found = _native(_text(rng), "latin", "en")
        if found is not None:
            seen.update(key[:2] for key in found[0] | found[1] | found[2])
            seen.update("w" for _ in found[3])
    assert seen >= {"n:", "p:", "m:", "l:", "w"}


# ---- every code point ----------------------------------------------------------------------


def _templates(c: str) -> str:
    """`c` where each regex looks: before and after a number, inside thousands, in a unit,
    next to a date, before and in a version, in and around Latin words."""
    return (
        f"{c}5 5{c} 1{c}234 12{c}345{c}678 5{c}5 1{c}5 5 {c}illion 5{c}million 5 mi{c}liard "
        f"17{c} 17 {c} {c}17 ju{c}e 17 Ju{c}i H{c}20 GPT{c}4 Qwen{c}2.5 2.5{c} 910{c} X{c}9 "
        f"A{c}b Ab{c} {c}Ab .{c}Ab {c} Cd. {c}Zz {c}{c}Yy zZ{c}\n"
    )


def test_every_code_point_in_every_place() -> None:
    """Every code point of the BMP; of the astral planes the decimal digits and every 29th
    of the rest (the whole range would take minutes; the classes of each astral character
    are the tables', rendered from Python and checked below)."""
    astral = {
        cp
        for first, last, _ in anchor_tables.digit_ranges(anchor_tables._all_chars())
        for cp in range(first, last + 1)
        if cp > 0xFFFF
    }
    astral |= set(range(0x10000, sys.maxunicode + 1, 29))
    code_points = [cp for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF] + sorted(astral)
    chunk = 64
    for n, start in enumerate(range(0, len(code_points), chunk)):
        text = "".join(_templates(chr(cp)) for cp in code_points[start : start + chunk])
        script = "latin" if n % 2 else "unspaced"
        answered = _assert_same(text, script, ("en", "de")[n // 2 % 2])
        assert answered or _INEXACT & set(text)


# ---- edge cases ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "9" * 400,
        "9" * 400 + " billion",
        "1" + ",000" * 200,
        "0." + "0" * 400 + "1",
        "1e308 1E308 1e309 5e-324",
        "999999999999999999 1000000000000000000 999999999999999.9 million",
        "\x00",
        "H20\x00 5\x00% Lutnick\x00Bloomberg \x00 17\x00日",
        "5 MİLLION 5 mıllion 5 MILLIONſ 5 \u212aM",
        "\ufeff5 %",
        "1,5 % 1.5% 1 000 000 1\u202f000 12\u00a0345,67 1.234.567,89 1,234.5",
        # _WORD_BEFORE: its look-behind sees before the 14-character window, `$` matches
        # before a last newline, 13 letters at most, a separator then the end
        "Abcdefghijklmnopq5 abcdefghijklm5 Abcdefghijklm 5 Abcdefghijkl-5 ab 5 Ab 5 Ab-910",
        "GPT\n4 GPT-\n4 GPT \n4 GPT\n\n4 x\n5a Qwen\n2.5 Qwen \n2.5 5\n5",
        # _VERSION's backtracking: a tail, digits of another script, a blocking character
        "H20ab H20abc H2٣ab 4٣٣.٣a 910C日 1.2.3x 2.5x点 5.5.5 12s 12S 12st R1\u00a0",
        # dates: the window, \b, the day markers after a space
        "xMay 17 May17 17May 17 \u3000日 17 号 1\u00a0June 3 мая 31 ДЕКАБРЯ 32 June",
    ],
)
@pytest.mark.parametrize(("script", "lang"), [("latin", "en"), ("latin", "de"), ("unspaced", "zh")])
def test_edge_cases(text: str, script: str, lang: str) -> None:
    _assert_same(text, script, lang)


def test_a_megabyte_of_text() -> None:
    rng = random.Random(7)
    text = "".join(_text(rng) for _ in range(2_000))
    text = (text * (1_000_000 // max(len(text), 1) + 1))[:1_000_000]
    assert _assert_same(text, "latin", "en")
    assert _assert_same(text, "unspaced", "zh")


def test_lone_surrogates_go_to_python() -> None:
    text = "Nvidia sold 600 billion H20 chips\ud800 to Lutnick"
    assert _native(text, "latin", "en") is None
    names, weak = features.latin_names(text, "latin", "en")
    want = (features.numbers(text), features.model_codes(text), names, weak)
    assert features.find_anchors(text, "latin", "en") == want
    assert "n:6e11" in want[0]


def test_an_inexact_unit_letter_goes_to_python() -> None:
    """IGNORECASE matches "İ" for "i", but "MİLLION".lower() is no unit: Python raises,
    and so does find_anchors (the native side hands the text back)."""
    assert _native("5 MİLLION", "latin", "en") is None
    with pytest.raises(KeyError):
        features.find_anchors("5 MİLLION", "latin", "en")
    assert _native("5 MILLION", "latin", "en") == ({"n:5e6"}, set(), {"l:million"}, set())


def test_find_anchors_is_the_native_answer() -> None:
    text = "据Bloomberg报道, Nvidia sold 600 billion H20 chips, 50 % more, on June 17."
    found = features.find_anchors(text, "unspaced", "zh")
    assert found == _native(text, "unspaced", "zh")
    assert found[0] == {"n:6e11", "p:50"}
    assert found[1] == {"m:h20"}
    # Every Latin word in Chinese text but the stop words ("on", "june") and "H" (one letter)
    assert found[2] == {"l:bloomberg", "l:nvidia", "l:sold", "l:billion", "l:chips", "l:more"}


# ---- the tables ----------------------------------------------------------------------------


def test_anchor_tables_rs_is_rendered_from_python() -> None:
    """Regenerate with `python -m newswatch.agents.stories.anchor_tables` after changing a
    unit or month word of features.py (or after a Python upgrade changes Unicode)."""
    rendered = anchor_tables.rust_tables()
    assert anchor_tables.RUST_TABLES.read_text(encoding="utf-8") == rendered


def test_the_thousands_separators_are_the_same_without_ignorecase() -> None:
    """_THOUSANDS has no IGNORECASE, _NUMBER has: one table serves both."""
    everything = anchor_tables._all_chars()
    sep = "[.,\u00a0\u202f ]"
    assert re.findall(sep, everything) == re.findall(sep, everything, re.IGNORECASE)


def test_a_word_with_an_uncovered_character_is_refused() -> None:
    from newswatch.agents.tagging._native import Anchors

    words, signs = features.native_unit_words()
    with pytest.raises(ValueError, match="not covered"):
        Anchors([*words, ("milliønen", False, 1e9)], signs, [], features.native_month_words())


def test_without_the_compiled_core_find_anchors_is_python(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Nvidia sold 600 billion H20 chips to Lutnick, 50 % more. Lutnick said so."
    native = features.find_anchors(text, "latin", "en")
    monkeypatch.setattr(features, "_NATIVE", None)
    assert features.find_anchors(text, "latin", "en") == _python(text, "latin", "en") == native
    # "Nvidia" only at the start (a sentence start), "Lutnick" also inside a sentence
    assert native[2] == native[3] == {"l:lutnick"}


def test_no_compiled_anchors_means_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A core not built, or built before `Anchors` existed: features.py runs its functions."""
    monkeypatch.setattr(fastpath, "load_native", lambda: None)
    assert features._load_native() is None
    monkeypatch.setattr(fastpath, "load_native", lambda: types.ModuleType("_native"))
    assert features._load_native() is None
