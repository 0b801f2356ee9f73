"""Glue to the compiled hot path (`_native`, the Rust crate in `native/`), and its fallback.

`tagger.py` stays the reference implementation. When the extension is built, `Tagger` hands
it the compiled catalogue (patterns, payloads, plans) and a character table made here from
Python's own `unicodedata` and `str` methods, so that the compiled normalisation and word
boundaries give the same answers as the Python code by construction. Without the extension
(no Rust toolchain at install time) the pure-Python engine runs; which one is in use is
logged once.
"""

from __future__ import annotations

import functools
import logging
import math
import unicodedata
from collections.abc import Callable
from types import ModuleType

from newswatch.agents.tagging.normalize import _REPLACEMENTS

log = logging.getLogger(__name__)

# Table entry layout, shared with native/src/lib.rs.
MAPPABLE = 1 << 21  # the character normalises to exactly the character in the low 21 bits
WORD = 1 << 22  # ch.isalnum() and ch < "\u2e80": part of a word of a spaced script
DIGIT = 1 << 23  # ch.isdigit()
# Astral characters real text is full of (emoji, pictographs): mapped by table too; any other
# astral character sends the text to Python's normalise().
ASTRAL = (0x1F000, 0x1FB00)
_JAMO = ((0x1100, 0x1200), (0xA960, 0xA980), (0xD7B0, 0xD800), (0x3131, 0x318F), (0xFFA0, 0xFFDD))


def load_native() -> ModuleType | None:
    """The compiled module, or None when it was not built (logged once)."""
    return _load()


@functools.cache
def _load() -> ModuleType | None:
    try:
        from newswatch.agents.tagging import _native  # type: ignore[attr-defined]
    except ImportError as exc:
        log.warning("tagging engine: pure Python (compiled core not built: %s)", exc)
        return None
    log.info("tagging engine: compiled core (newswatch.agents.tagging._native)")
    return _native


def _per_char(transform: Callable[[str], str], chars: list[str]) -> list[str]:
    """`transform` of each character, in one call: joined by NUL, which NFKC and lower()
    leave alone and which composes with nothing."""
    return transform("\x00".join(chars)).split("\x00")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _entries(first: int, stop: int) -> list[int]:
    """Table entries of the code points [first, stop), with bulk `unicodedata` calls (one
    call per character would take half a second for the BMP)."""
    codes = range(first, stop)
    # Surrogates (never in text the compiled core sees) and NUL get a placeholder.
    chars = ["a" if 0xD800 <= c <= 0xDFFF or c == 0 else chr(c) for c in codes]
    replacements = dict(_REPLACEMENTS)
    # What `normalise()` makes of a character when the text keeps its length: the
    # one-for-one replacements first, then NFKC (the identity here), then lower case.
    sources = [replacements.get(ch, ch) for ch in chars]
    nfkc = _per_char(_nfkc, chars)
    nfkc_sources = _per_char(_nfkc, sources)
    lowered = _per_char(str.lower, sources)
    nfkc_lowered = _per_char(_nfkc, lowered)
    category, combining = unicodedata.category, unicodedata.combining
    # Marks and jamo compose with a neighbour; as a set, the loop below is cheap.
    composing = {chr(c) for a, b in _JAMO for c in range(max(a, first), min(b, stop))}
    singles = {ch for ch in chars + lowered if len(ch) == 1}
    composing.update(ch for ch in singles if category(ch)[0] == "M" or combining(ch))
    out = []
    for i, code in enumerate(codes):
        ch, source, low = chars[i], sources[i], lowered[i]
        entry = (WORD if code < 0x2E80 and ch.isalnum() else 0) | (DIGIT if ch.isdigit() else 0)
        if (
            (nfkc[i] == ch or ch in replacements)  # stable under NFKC, or replaced 1 for 1
            and len(low) == 1
            and nfkc_sources[i] == source
            and nfkc_lowered[i] == low
            and (ch != "a" or code == 0x61)  # not a placeholder
            and code != 0x03A3  # capital sigma: its lower case depends on the next letter
            and ch not in composing
            and source not in composing
            and low not in composing
        ):
            entry |= MAPPABLE | ord(low)
        out.append(entry)
    return out


# Ranges whose every character maps to itself and is no word of a spaced script (CJK
# ideographs, Hangul syllables, private use): filled without computing, the table builds in
# a third of the time. A test checks them against `_entries`.
IDENTITY_RANGES = ((0x4E00, 0xA000), (0xAC00, 0xD7A4), (0xE000, 0xF900))


@functools.cache
def char_tables() -> tuple[list[int], int, list[int]]:
    """(BMP table, astral base, astral table) of entries (see the constants above)."""
    bmp: list[int] = []
    at = 0
    for first, stop in IDENTITY_RANGES:
        bmp += _entries(at, first)
        bmp += [MAPPABLE | code for code in range(first, stop)]
        at = stop
    bmp += _entries(at, 0x10000)
    return bmp, ASTRAL[0], _entries(*ASTRAL)


@functools.cache
def lang_detector() -> object | None:
    """`langdetect.detect()` for Latin-script samples, compiled (None without the module).
    Its tables come from langdetect.py; see `LangDetector` in native/src/lib.rs."""
    module = load_native()
    if module is None:
        return None
    from newswatch.agents.tagging import langdetect

    langs = sorted({lang for shares in langdetect._SHARES.values() for lang, _ in shares}
                   | {lang for lang, _ in langdetect._LETTERS})  # fmt: skip
    at = {lang: i for i, lang in enumerate(langs)}
    # Shares are 1/n (n languages share a stopword) and letter hits count 0.5: integers
    # in units of 1 / (2 * lcm of every n).
    unit = 2 * math.lcm(*(len(shares) for shares in langdetect._SHARES.values()))
    stopwords = [
        (word, [(at[lang], round(share * unit)) for lang, share in shares])
        for word, shares in langdetect._SHARES.items()
    ]
    letters = [(at[lang], "".join(sorted(chars))) for lang, chars in langdetect._LETTER_SETS]
    chars = [chr(c) for c in range(0x370)] + [chr(c) for c in range(0x2000, 0x2070)]
    return module.LangDetector(
        langs, stopwords, letters, unit // 2, [c.lower() for c in chars],
        [c.isspace() for c in chars], langdetect.SAMPLE, langdetect.LATIN_SAMPLE, "en", "und",
    )  # fmt: skip
