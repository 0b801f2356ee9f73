"""The character tables of the compiled anchor finder (`native/src/anchors.rs`), from Python.

features.py's `numbers`, `model_codes` and `latin_names` run in the compiled core when it is
built (`features.native_anchors`). Their regexes carry Python's character semantics: `\\d`,
`\\s`, `\\w`, IGNORECASE classes and literals, `str.lower()`, `str.isupper()`. Rust's own
character classification follows another Unicode version, so the compiled side classifies
characters only by the tables rendered here, each computed by running the very regex
fragment (or str method) of features.py over every code point: the same answers by
construction. `native/src/anchor_tables.rs` is rendered by `rust_tables()` (regenerate with
`python -m newswatch.agents.stories.anchor_tables`); tests/unit/agents/stories/
test_native_anchors.py fails when the file and this module (or Python's Unicode version)
drift apart.

The word lists themselves (multipliers, percent words, stop words, months) are not copied
into Rust: features.py hands them to the compiled `Anchors` when it builds it. Only the
characters of those words are covered here (how IGNORECASE matches each of them), and the
compiled side refuses a word with a character not covered.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

from newswatch.agents.stories import features

RUST_TABLES = (
    Path(__file__).resolve().parent.parent / "tagging" / "native" / "src" / "anchor_tables.rs"
)

# Flag bits of CLASS_RANGES, each the set of characters one regex fragment of features.py
# matches (with the flags it is compiled with).
CLASSES: tuple[tuple[str, str, int], ...] = (
    ("DIGIT", r"\d", 0),  # _NUMBER, _VERSION, _THOUSANDS: decimal digits (Nd)
    ("SPACE", r"\s", 0),  # \s? before a unit, the sentence-start look-behinds, _DAY_AFTER
    ("WORD", r"\w", 0),  # \b of _MONTHS
    ("NUM_BEFORE", r"[0-9A-Za-z.,]", re.IGNORECASE),  # _NUMBER's look-behind
    ("THOUSANDS_SEP", "[.,\u00a0\u202f ]", re.IGNORECASE),  # _NUMBER's thousands separators
    ("FRAC_SEP", r"[.,]", re.IGNORECASE),  # _NUMBER's decimal separator
    ("UNIT_AFTER", r"[a-zа-яà-ỹ]", re.IGNORECASE),  # what may not follow a word unit
)
LATIN_END = 0x250  # [A-Za-zÀ-ɏ]: the letters of Latin names end at U+024F


def _all_chars() -> str:
    return "".join(map(chr, range(sys.maxunicode + 1)))


def covered_chars() -> str:
    """The characters of the unit and month words, in code point order."""
    words = [unit for unit, _, _ in features.native_unit_words()[0]]
    words += [unit for unit, _, _ in features.native_unit_words()[1]]
    words += features.native_month_words()
    return "".join(sorted(set("".join(words))))


def class_ranges(everything: str) -> list[tuple[int, int, int]]:
    """(first, last, flags): the runs of code points with the same non-zero flags."""
    flags = bytearray(len(everything))
    for bit, (_, fragment, re_flags) in enumerate(CLASSES):
        for match in re.finditer(fragment, everything, re_flags):
            flags[match.start()] |= 1 << bit
    runs: list[tuple[int, int, int]] = []
    for cp, value in enumerate(flags):
        if not value:
            continue
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == value:
            runs[-1] = (runs[-1][0], cp, value)
        else:
            runs.append((cp, cp, value))
    return runs


def digit_ranges(everything: str) -> list[tuple[int, int, int]]:
    """(first, last, value of first): the decimal digits in runs of consecutive values, the
    values `float()` reads them as (`unicodedata.decimal`)."""
    runs: list[tuple[int, int, int]] = []
    for match in re.finditer(r"\d", everything):
        cp = match.start()
        value = unicodedata.decimal(match.group())
        # The model codes keep the digits as written, lower-cased by the compiled side as
        # themselves: true of every digit (checked here, so a Unicode update cannot slip).
        assert match.group().lower() == match.group(), hex(cp)
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] + cp - runs[-1][0] == value:
            runs[-1] = (runs[-1][0], cp, runs[-1][2])
        else:
            runs.append((cp, cp, value))
    return runs


def folds(everything: str) -> list[tuple[int, int, bool]]:
    """(variant, word character, exact): the other characters an IGNORECASE regex matches
    for each character of the unit and month words; exact when the variant's `str.lower()`
    is that character (otherwise `unit.lower()` would not be the word: Python raises or
    differs, the compiled side hands such a text to Python)."""
    out: list[tuple[int, int, bool]] = []
    for char in covered_chars():
        assert char.lower() == char, f"unit and month words are lower case: {char!r}"
        for match in re.finditer(re.escape(char), everything, re.IGNORECASE):
            variant = match.group()
            if variant != char:
                out.append((ord(variant), ord(char), variant.lower() == char))
    out.sort()
    variants = [v for v, _, _ in out]
    assert len(variants) == len(set(variants)), "a character folds to two word characters"
    # The compiled side folds ASCII by to_ascii_lowercase and takes a word character as
    # itself: no ASCII character folds otherwise, no word character is another's variant.
    assert all(chr(v).lower() == chr(c) for v, c, _ in out if v < 0x80)
    assert not set(variants) & set(map(ord, covered_chars()))
    return out


def _rust_char(cp: int) -> str:
    return f"'\\u{{{cp:X}}}'"


def _rust_str(text: str) -> str:
    return '"' + "".join(f"\\u{{{ord(c):X}}}" for c in text) + '"'


def rust_tables() -> str:
    """The text of `native/src/anchor_tables.rs`."""
    everything = _all_chars()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    lines = [
        "// Generated from agents/stories/anchor_tables.py by",
        "// `python -m newswatch.agents.stories.anchor_tables` (Python "
        f"{python}, Unicode {unicodedata.unidata_version});",
        "// do not edit (tests/unit/agents/stories/test_native_anchors.py fails when the two",
        "// differ).",
        "",
        "// Flags of CLASS_RANGES: the characters a regex fragment of features.py matches.",
    ]
    for bit, (name, fragment, re_flags) in enumerate(CLASSES):
        flag_note = " (IGNORECASE)" if re_flags else ""
        lines.append(f"pub const {name}: u8 = 1 << {bit}; // {fragment!a}{flag_note}")
    ranges = class_ranges(everything)
    lines += [
        "",
        "/// (first, last, flags), sorted; a code point in no range has no flag.",
        f"pub static CLASS_RANGES: [(u32, u32, u8); {len(ranges)}] = [",
        *(f"    (0x{a:X}, 0x{b:X}, {f})," for a, b, f in ranges),
        "];",
    ]
    digits = digit_ranges(everything)
    lines += [
        "",
        "/// (first, last, value of first): decimal digits, values rising by one in a range.",
        f"pub static DIGIT_RANGES: [(u32, u32, u8); {len(digits)}] = [",
        *(f"    (0x{a:X}, 0x{b:X}, {v})," for a, b, v in digits),
        "];",
    ]
    folded = folds(everything)
    lines += [
        "",
        "/// The characters of the unit and month words this file covers.",
        f"pub const COVERED: &str = {_rust_str(covered_chars())};",
        "",
        "/// (variant, word character, exact), sorted: what IGNORECASE also matches for a word",
        "/// character; exact when the variant's str.lower() is the word character.",
        f"pub static FOLDS: [(char, char, bool); {len(folded)}] = [",
        *(f"    ({_rust_char(v)}, {_rust_char(c)}, {str(e).lower()})," for v, c, e in folded),
        "];",
    ]
    lines += [
        "",
        "/// U+0000..U+024F: (str.lower(), str.isupper()) of each character.",
        f"pub static LATIN: [(&str, bool); 0x{LATIN_END:X}] = [",
        *(
            f"    ({_rust_str(chr(cp).lower())}, {str(chr(cp).isupper()).lower()}),"
            for cp in range(LATIN_END)
        ),
        "];",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    RUST_TABLES.write_text(rust_tables(), encoding="utf-8")
    print(f"wrote {RUST_TABLES}")
