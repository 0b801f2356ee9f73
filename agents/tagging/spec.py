"""The boundary between the tagging engine and its compiled core (`_native`): one place.

Everything the Python engine (`tagger.py`) and the Rust crate (`native/`) must agree on is
defined here and nowhere else:

- the constants: payload kinds (`Kind`), what a pattern's plan says about a missing right
  word boundary (`RightRule`), the character table's flags, the first letters a version or
  an inflection may start with, a term's repeat factors and the language codes the detector
  answers with. `native/src/consts.rs` is rendered from them (`rust_consts()`; regenerate
  with `python -m newswatch.agents.tagging.spec`), and a unit test fails when the file and
  this module drift apart;
- the structures handed over: `EngineSpec` (the compiled catalogue, built by
  `fastpath.engine_spec`) and `LangSpec` (langdetect.py's tables, `fastpath.lang_spec`).
  The Rust side reads them by attribute name (`#[derive(FromPyObject)]` structs of the same
  field names in `native/src/lib.rs`), so a field added, renamed or given the wrong type
  fails loudly when the engine is built, not as a shifted positional argument.

`_native.pyi` types the compiled module for mypy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

RUST_CONSTS = Path(__file__).resolve().parent / "native" / "src" / "consts.rs"


class Kind(IntEnum):
    """What a pattern stands for (one pattern may carry several payloads)."""

    ALIAS = 0  # an entity's alias
    AMBIG = 1  # an ambiguous alias: accepted only with context (see tagger.py)
    STOP = 2  # a phrase that contains an alias but is not the entity ("Kimi Räikkönen")
    SUPPORT = 3  # context that confirms an ambiguous alias (context automaton)
    BLOCK = 4  # context that vetoes an ambiguous alias (context automaton)
    GENERIC = 5  # generic AI context (context automaton)
    TERM = 6  # a theme's weighted term
    NEAR = 7  # one side of a theme's proximity rule
    REQ = 8  # a theme's `requires` term (context automaton)
    TSTOP = 9  # a phrase that contains a theme term but is not evidence
    PHRASE = 10  # a multi-word wildcard theme term, anchored on its first word


class RightRule(IntEnum):
    """What a missing right word boundary means for every payload of a pattern."""

    PER_PAYLOAD = 0  # payloads differ: each decides
    RULED_OUT = 1  # none of them can match glued to a following letter
    ALIAS_TAIL = 2  # all aliases: only a version or an inflection may follow (TAIL_STARTS)


# Character table entries (`fastpath.char_tables`): the normalised code point in the low 21
# bits, flags above.
MAPPED_MASK = (1 << 21) - 1
MAPPABLE = 1 << 21  # the character normalises to exactly the character in the low 21 bits
WORD = 1 << 22  # `normalize.is_word_char(ch)`: part of a word of a spaced script
DIGIT = 1 << 23  # ch.isdigit()

# The characters a version suffix ("2.5", "v3", "k1.5") or an inflection ("s", the first
# letter of a Latin case ending) may start with, besides digits and Cyrillic and Bengali
# letters: the compiled core skips an alias glued to any other letter without asking the
# rules (they would reject it). The equivalence tests hold it to `Tagger._alias`.
TAIL_STARTS = "0123456789vrkmtxzs" + "abehilnouy" + "áäéóöőůę"

# A term's weight counts 1x, 1.5x, 2x for 1, 2, 3+ matches (index: matches, capped at 3).
REPEAT = (0.0, 1.0, 1.5, 2.0)

# The language codes the detector answers with besides the detected languages, in the order
# the compiled detector indexes them (`LangSpec.codes`).
CODES = ("en", "und", "ko", "ja", "zh", "uk", "ru")


@dataclass(frozen=True, slots=True)
class Payload:
    """One meaning of a pattern, as both engines read it."""

    kind: Kind
    owner: str  # entity or theme id ("" for generic context)
    term: str  # the catalogue spelling (alias or term), for rules and evidence
    left: bool  # needs a word boundary on the left
    right: bool  # needs a word boundary on the right
    rule: int = -1  # NEAR: the proximity rule's index in its theme
    side: int = 0  # NEAR: which side of the rule (0: a, 1: b)


@dataclass(frozen=True, slots=True)
class PayloadSpec:
    """A `Payload` for the compiled core: ids as indexes into `EngineSpec.owners` / terms."""

    kind: int
    left: bool
    right: bool
    owner: int
    term: int
    rule: int  # >= 0
    side: int
    phrase: int  # PHRASE: index into `EngineSpec.phrases`, else 0


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """What all payloads of one pattern need, decided once: `payloads[first:last]` are its
    payloads; `simple` is the index of its one plain theme term or proximity side (recorded
    without the general path) or -1."""

    needs_left: bool  # every payload needs a left word boundary
    needs_right: RightRule
    first: int
    last: int
    simple: int


@dataclass(frozen=True, slots=True)
class InnerSpec:
    """A shorter pattern `sub` inside a longer one, at these offsets within it."""

    sub: int
    x_byte: int  # start, in UTF-8 bytes
    x_char: int  # start, in characters
    y_char: int  # end, in characters


@dataclass(frozen=True, slots=True)
class ThemeSpec:
    """A theme's threshold and weights (ids as indexes), for its upper bound and score."""

    owner: int
    threshold: float
    terms: list[tuple[int, float]]  # (term, weight)
    rules: list[tuple[int, float, float]]  # (proximity rule, weight, within words)
    entities: list[tuple[int, float]]  # (entity owner, weight)


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """Everything `_native.Engine` is built from: the compiled catalogue, flattened."""

    patterns: list[str]  # normalised, one per automaton pattern
    plans: list[PlanSpec]  # one per pattern
    payloads: list[PayloadSpec]  # every pattern's payloads, in pattern order
    inner: list[list[InnerSpec]]  # per pattern: the shorter patterns inside it
    table: list[int]  # character table of the BMP (see the flags above)
    astral_base: int  # first code point of the astral table
    astral: list[int]
    owners: list[str]  # entity and theme ids (sorted)
    phrases: list[re.Pattern[str]]  # compiled wildcard phrases (PayloadSpec.phrase)
    max_spans: int  # spans kept per theme term or proximity side
    max_mentions: int  # alias candidates kept per entity
    segment: int  # characters per automaton segment of a huge text
    themes: list[ThemeSpec]
    prefixes: list[str]  # particles glued before an Arabic or Hebrew word (sorted)


@dataclass(frozen=True, slots=True)
class LangSpec:
    """Everything `_native.LangDetector` is built from (langdetect.py's tables; scores in
    integer units, see `fastpath.lang_spec`)."""

    langs: list[str]  # sorted: index order is alphabetical order
    stopwords: list[tuple[str, list[tuple[int, int]]]]  # word -> (lang, share)
    letters: list[tuple[int, str]]  # (lang, its letters)
    letter_weight: int  # one letter hit, in share units
    lower: list[tuple[str, str]]  # str.lower() of the BMP characters it changes
    space: str  # every character str.isspace() accepts
    ranges: list[tuple[int, int | None]]  # script ranges: start, index into names
    names: list[str]  # script names
    refine_scripts: list[tuple[int, list[tuple[str, str]], str]]  # script, (lang, letters), default
    refine_latin: list[tuple[int, int, list[str], list[str]]]  # base, alt, their own words
    sample: int
    latin_sample: int
    codes: tuple[str, ...]  # CODES


def rust_consts() -> str:
    """The text of `native/src/consts.rs`, rendered from the constants above."""
    ascii_tail = "".join(c for c in TAIL_STARTS if c.isascii())
    wide_tail = ", ".join(f"0x{ord(c):X}" for c in TAIL_STARTS if not c.isascii())
    wide_count = sum(1 for c in TAIL_STARTS if not c.isascii())
    lines = [
        "// Generated from agents/tagging/spec.py by `python -m newswatch.agents.tagging.spec`;",
        "// do not edit (tests/unit/agents/tagging/test_native_spec.py fails when the two differ).",
        "",
        "// Payload kinds (spec.Kind).",
        *(f"pub const {k.name}: u8 = {k.value};" for k in Kind),
        "",
        "// A plan's needs_right (spec.RightRule).",
        *(f"pub const RIGHT_{r.name}: u8 = {r.value};" for r in RightRule),
        "",
        "// Character table entries: the mapped code point in the low 21 bits, flags above.",
        f"pub const MAPPED_MASK: u32 = 0x{MAPPED_MASK:X};",
        f"pub const MAPPABLE: u32 = 1 << {MAPPABLE.bit_length() - 1};",
        f"pub const WORD: u32 = 1 << {WORD.bit_length() - 1};",
        f"pub const DIGIT: u32 = 1 << {DIGIT.bit_length() - 1};",
        "",
        "// spec.TAIL_STARTS: its ASCII characters, and the others as code points.",
        f'pub const TAIL_ASCII: &[u8] = b"{ascii_tail}";',
        f"pub const TAIL_WIDE: [u32; {wide_count}] = [{wide_tail}];",
        "",
        "// spec.REPEAT: a term's weight factor for 1, 2, 3+ matches.",
        f"pub const REPEAT: [f64; {len(REPEAT)}] = [{', '.join(map(repr, REPEAT))}];",
        "",
        "// spec.CODES: indexes into LangSpec.codes.",
        *(f"pub const CODE_{code.upper()}: usize = {i};" for i, code in enumerate(CODES)),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    RUST_CONSTS.write_text(rust_consts(), encoding="utf-8")
    print(f"wrote {RUST_CONSTS}")
