"""Glue to the compiled hot path (`_native`, the Rust crate in `native/`), and its fallback.

`tagger.py` stays the reference implementation. When the extension is built, `Tagger` hands
it one `spec.EngineSpec` made here (`engine_spec`): the compiled catalogue (patterns,
payloads, the per-pattern plans only the compiled core uses) and a character table made from
Python's own `unicodedata` and `str` methods, so that the compiled normalisation and word
boundaries give the same answers as the Python code by construction. The language detector
gets a `spec.LangSpec` (`lang_spec`). Without the extension (no Rust toolchain at install
time) the pure-Python engine runs; which one is in use is logged once.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from newswatch.agents.tagging.normalize import (
    _REPLACEMENTS,
    SCRIPT_DROP,
    SCRIPT_UNIFY,
    is_word_char,
)
from newswatch.agents.tagging.spec import (
    CODES,
    DIGIT,
    MAPPABLE,
    WORD,
    EngineSpec,
    InnerSpec,
    Kind,
    LangSpec,
    Payload,
    PayloadSpec,
    PlanSpec,
    RightRule,
    ThemeSpec,
)

if TYPE_CHECKING:
    from newswatch.agents.tagging._native import LangDetector
    from newswatch.agents.tagging.catalogue import Catalogue

log = logging.getLogger(__name__)

# Table entries: the flags MAPPABLE, WORD and DIGIT of spec.py.
# Astral characters real text is full of (emoji, pictographs): mapped by table too; any other
# astral character sends the text to Python's normalize().
ASTRAL = (0x1F000, 0x1FB00)
_JAMO = ((0x1100, 0x1200), (0xA960, 0xA980), (0xD7B0, 0xD800), (0x3131, 0x318F), (0xFFA0, 0xFFDD))


def load_native() -> ModuleType | None:
    """The compiled module, or None when it was not built (logged once)."""
    return _load()


@functools.cache
def _load() -> ModuleType | None:
    try:
        from newswatch.agents.tagging import _native
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


@functools.cache
def _composes_back() -> frozenset[str]:
    """Characters that compose with the character before them under NFKC: the second
    character of every two-character canonical decomposition (mostly marks; a few vowel
    signs are starters) and conjoining jamo."""
    out = {chr(c) for a, b in _JAMO for c in range(a, b)}
    chars = [chr(c) for c in range(1, 0xD800)] + [chr(c) for c in range(0xE000, 0x10000)]
    nfd = _per_char(functools.partial(unicodedata.normalize, "NFD"), chars)
    for ch, decomposed in zip(chars, nfd, strict=True):
        if decomposed != ch:  # only these have a canonical decomposition
            parts = unicodedata.decomposition(ch).split()
            if len(parts) == 2 and not parts[0].startswith("<"):
                out.add(chr(int(parts[1], 16)))
    return frozenset(out)


def _entries(first: int, stop: int) -> list[int]:
    """Table entries of the code points [first, stop), with bulk `unicodedata` calls (one
    call per character would take half a second for the BMP).

    A character is MAPPABLE when `normalize()` turns it into exactly one character whatever
    its neighbours: its one-for-one replacement (`_REPLACEMENTS`) or else its NFKC form is
    one character, lowered to one character, and none of them reorders or composes with a
    neighbour (combining class 0, not a composition's second character). Text made of such
    characters keeps its length through every path of `normalize()`, which then equals this
    character-by-character mapping (the equivalence tests check it).
    """
    codes = range(first, stop)
    # Surrogates (never in text the compiled core sees) and NUL get a placeholder.
    chars = ["a" if 0xD800 <= c <= 0xDFFF or c == 0 else chr(c) for c in codes]
    replacements = dict(_REPLACEMENTS)
    nfkc = _per_char(_nfkc, chars)
    forms = [replacements.get(ch, form) for ch, form in zip(chars, nfkc, strict=True)]
    stable = _per_char(_nfkc, forms)
    # Lower case, then the per-script folds (normalize.SCRIPT_FOLD): a deleted character
    # becomes "" (not mappable), a unified letter its target.
    lowered = [
        "" if low in SCRIPT_DROP else SCRIPT_UNIFY.get(low, low)
        for low in _per_char(str.lower, forms)
    ]
    lowered_stable = _per_char(_nfkc, lowered)
    lowered_twice = _per_char(str.lower, lowered)
    combining = unicodedata.combining
    back = _composes_back()
    out = []
    for i, code in enumerate(codes):
        ch, form, low = chars[i], forms[i], lowered[i]
        entry = (WORD if is_word_char(ch) else 0) | (DIGIT if ch.isdigit() else 0)
        if (
            len(form) == 1
            and len(low) == 1
            and stable[i] == form
            and lowered_stable[i] == low
            and lowered_twice[i] == low
            and (ch != "a" or code == 0x61)  # not a placeholder
            and not any(c in SCRIPT_DROP for c in nfkc[i])  # "ﳲ" -> marks -> nothing
            # Astral characters only as themselves: `normalize()` leaves some astral
            # compatibility characters alone on one of its paths (see `_unstable_pair`).
            and (code < 0x10000 or nfkc[i] == ch)
            # Capital sigma: its lower case depends on the next letter.
            and form != "\u03a3"
            and not (combining(ch) or combining(form) or combining(low))
            and ch not in back
            and form not in back
            and low not in back
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


def _plan(payloads: Sequence[Payload], first: int) -> PlanSpec:
    """What the compiled core may decide for all payloads of a pattern before looking at
    each (`payloads` start at `first` in the flat list): shortcuts only, the reference
    engine checks every payload."""
    if all(p.right and p.kind > Kind.AMBIG for p in payloads):
        right = RightRule.RULED_OUT
    elif all(p.right and p.kind <= Kind.AMBIG for p in payloads):
        right = RightRule.ALIAS_TAIL
    else:
        right = RightRule.PER_PAYLOAD
    simple = -1
    if len(payloads) == 1 and payloads[0].kind in (Kind.TERM, Kind.NEAR):
        simple = first
    return PlanSpec(all(p.left for p in payloads), right, first, first + len(payloads), simple)


def engine_spec(
    patterns: list[str],
    payloads: list[tuple[Payload, ...]],
    inner: list[tuple[tuple[int, int, int], ...]],
    phrases: dict[str, re.Pattern[str]],
    catalogue: Catalogue,
    limits: tuple[int, int, int],
    prefixes: frozenset[str],
) -> tuple[EngineSpec, list[Payload]]:
    """The compiled core's `EngineSpec` for a tagger's compiled catalogue, and the flat list
    of payloads its events index. `limits`: (max spans per term, max mentions per entity,
    segment size), as the reference engine uses them."""
    flat: list[Payload] = []
    plans = []
    for group in payloads:
        plans.append(_plan(group, len(flat)))
        flat.extend(group)
    owners = sorted({p.owner for p in flat} | set(catalogue.themes) | set(catalogue.entities))
    terms = sorted({p.term for p in flat})
    phrase_ids = sorted(phrases)
    owner_at = {o: i for i, o in enumerate(owners)}
    term_at = {t: i for i, t in enumerate(terms)}
    phrase_at = {t: i for i, t in enumerate(phrase_ids)}
    table, astral_base, astral = char_tables()
    max_spans, max_mentions, segment = limits
    spec = EngineSpec(
        patterns=patterns,
        plans=plans,
        payloads=[
            PayloadSpec(
                kind=p.kind,
                left=p.left,
                right=p.right,
                owner=owner_at[p.owner],
                term=term_at[p.term],
                rule=max(p.rule, 0),
                side=p.side,
                phrase=phrase_at[p.term] if p.kind == Kind.PHRASE else 0,
            )
            for p in flat
        ],
        inner=[
            [InnerSpec(q, len(pattern[:a].encode()), a, b) for q, a, b in inner[index]]
            for index, pattern in enumerate(patterns)
        ],
        table=table,
        astral_base=astral_base,
        astral=astral,
        owners=owners,
        phrases=[phrases[t] for t in phrase_ids],
        max_spans=max_spans,
        max_mentions=max_mentions,
        segment=segment,
        themes=[
            ThemeSpec(
                owner=owner_at[theme.id],
                threshold=theme.threshold,
                terms=[(term_at[t], w) for t, w in dict(theme.terms).items() if t in term_at],
                rules=[(i, rule.weight, rule.within) for i, rule in enumerate(theme.near)],
                entities=[(owner_at[e], w) for e, w in theme.entities if e in owner_at],
            )
            for theme in catalogue.themes.values()
        ],
        prefixes=sorted(prefixes),
    )
    return spec, flat


def lang_spec() -> LangSpec:
    """langdetect.py's tables for the compiled detector (see `LangDetector` in lib.rs)."""
    from newswatch.agents.tagging import langdetect

    langs = sorted({lang for shares in langdetect._SHARES.values() for lang, _ in shares}
                   | {lang for lang, _ in langdetect._LETTERS}
                   | {lang for r in langdetect.LATIN_REFINE for lang in r[:2]})  # fmt: skip
    at = {lang: i for i, lang in enumerate(langs)}
    # Shares are 1/n (n languages share a stopword) and letter hits count 0.5: integers
    # in units of 1 / (2 * lcm of every n).
    unit = 2 * math.lcm(*(len(shares) for shares in langdetect._SHARES.values()))
    chars = [chr(c) for c in range(1, 0xD800)] + [chr(c) for c in range(0xE000, 0x10000)]
    lowered = _per_char(str.lower, chars)
    names = sorted({name for _, name in langdetect._RANGES if name})
    return LangSpec(
        langs=langs,
        stopwords=[
            (word, [(at[lang], round(share * unit)) for lang, share in shares])
            for word, shares in langdetect._SHARES.items()
        ],
        letters=[(at[lang], "".join(sorted(own))) for lang, own in langdetect._LETTER_SETS],
        letter_weight=unit // 2,
        lower=[(c, low) for c, low in zip(chars, lowered, strict=True) if low != c],
        space="".join(c for c in chars if c.isspace()),
        ranges=[(start, names.index(name) if name else None) for start, name in langdetect._RANGES],
        names=names,
        refine_scripts=[
            (names.index(script), list(choices), default)
            for script, (choices, default) in langdetect.REFINE.items()
        ],
        refine_latin=[
            (at[base], at[alt], sorted(base_words), sorted(alt_words))
            for base, alt, base_words, alt_words in langdetect.LATIN_REFINE
        ],
        sample=langdetect.SAMPLE,
        latin_sample=langdetect.LATIN_SAMPLE,
        codes=CODES,
    )


@functools.cache
def lang_detector() -> LangDetector | None:
    """`langdetect.detect()`, compiled (None without the module)."""
    module = load_native()
    if module is None:
        return None
    return module.LangDetector(lang_spec())
