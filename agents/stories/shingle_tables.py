"""The character classes of the compiled shingler (`agents/tagging/native/src/shingles.rs`),
rendered from features.py's own regexes into `native/src/shingle_tables.rs`.

Python's `\\w` (Unicode word characters: `str.isalnum()` or "_", of Python's Unicode version)
differs from every definition Rust's `char` methods offer, so the compiled side reads these
tables instead of deciding for itself. After changing `features._WORD` or `features._NOT_CHAR`
(or moving to a Python with another Unicode version) run
`python -m newswatch.agents.stories.shingle_tables`;
tests/unit/agents/stories/test_native_shingles.py fails until you do.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

from newswatch.agents.stories.features import _NOT_CHAR, _WORD

RUST_TABLES = (
    Path(__file__).resolve().parent.parent / "tagging" / "native" / "src" / "shingle_tables.rs"
)

# Every code point once, in order (surrogates included: no class holds one).
_ALL = "".join(map(chr, range(sys.maxunicode + 1)))


def _ranges(pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """The code points `pattern` matches one at a time, as inclusive ranges."""
    single = re.compile(f"(?:{pattern.pattern})+")
    return [(m.start(), m.end() - 1) for m in single.finditer(_ALL)]


def word_ranges() -> list[tuple[int, int]]:
    """Python's `\\w`: the characters of `features._WORD`'s words."""
    return _ranges(_WORD)


def ngram_ranges() -> list[tuple[int, int]]:
    """The characters character n-grams keep: all but what `features._NOT_CHAR` deletes."""
    keep = re.compile(f"(?!{_NOT_CHAR.pattern})[\\s\\S]")
    return _ranges(keep)


def _render(name: str, doc: str, ranges: list[tuple[int, int]]) -> list[str]:
    lines = [f"// {doc}", f"pub static {name}: [(u32, u32); {len(ranges)}] = ["]
    row: list[str] = []
    for lo, hi in ranges:
        row.append(f"(0x{lo:X}, 0x{hi:X}),")
        if len(row) == 5:
            lines.append("    " + " ".join(row))
            row = []
    if row:
        lines.append("    " + " ".join(row))
    return [*lines, "];", ""]


def rust_tables() -> str:
    """The text of `native/src/shingle_tables.rs`."""
    lines = [
        "// Generated from agents/stories/features.py by",
        "// `python -m newswatch.agents.stories.shingle_tables`; do not edit",
        "// (tests/unit/agents/stories/test_native_shingles.py fails when the two differ).",
        f"// Unicode {unicodedata.unidata_version}. Inclusive code point ranges, sorted.",
        "",
        *_render("WORD", "Python's `\\w` (`features._WORD`).", word_ranges()),
        *_render(
            "NGRAM_KEEP",
            "What character n-grams keep (everything `features._NOT_CHAR` does not delete).",
            ngram_ranges(),
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    RUST_TABLES.write_text(rust_tables(), encoding="utf-8")
    print(f"wrote {RUST_TABLES}")
