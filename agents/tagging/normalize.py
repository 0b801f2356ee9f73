"""Text normalisation with a map back to the original offsets.

The text side does only what is cheap: NFKC (skipped when the text already is NFKC, a fast C
check) and `str.lower()`. When both keep the length, offsets map 1:1 and no map is built (the
fast path, nearly every real article). Otherwise a slow path normalises grapheme clusters
(a base character plus its combining marks) one by one and records, for every output
character, the original span it came from.

Diacritic folding is done on the *pattern* side instead (see `pattern_variants`): every alias
and term is compiled with and without diacritics, so "Lương Văn Phong" and "Luong Van Phong"
both match without a costly per-character `str.translate` over every article (8 MB/s measured,
an order of magnitude slower than the whole tagging pass).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised text and the way back to the original string."""

    text: str
    original: str
    starts: list[int] | None = None  # original start index of each normalised char
    ends: list[int] | None = None  # original end index of each normalised char

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of the normalised span [start, end)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def clean(text: str) -> str:
    """Replace lone surrogates (invalid in UTF-8) by U+FFFD, keeping the length."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def normalise(text: str) -> Normalised:
    """NFKC + lower case, with an offset map only when the length changes."""
    if text.isascii():
        return Normalised(text.lower(), text)
    if unicodedata.is_normalized("NFKC", text):
        low = text.lower()
        if len(low) == len(text):
            return Normalised(low, text)
    return _slow(text)


def _slow(text: str) -> Normalised:
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    n = len(text)
    i = 0
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = unicodedata.normalize("NFKC", text[i:j]).lower()
        out.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return Normalised("".join(out), text, starts, ends)


def key(text: str) -> str:
    """The normalised form of a pattern (same transform as the text side)."""
    return unicodedata.normalize("NFKC", text).lower()


def fold(text: str) -> str:
    """Strip diacritics from Latin letters (đ -> d, ø -> o, ß -> ss); other scripts unchanged."""
    out = []
    for ch in text:
        special = _SPECIAL.get(ch)
        if special is not None:
            out.append(special)
            continue
        if "\u00c0" <= ch <= "\u024f" or "\u1e00" <= ch <= "\u1eff":
            base = unicodedata.normalize("NFD", ch)[0]
            out.append(base)
        elif unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        else:
            out.append(ch)
    return "".join(out)


_SPECIAL = {"đ": "d", "ø": "o", "ł": "l", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h"}
_APOSTROPHES = ("'", "’")


def pattern_variants(text: str) -> set[str]:
    """Every normalised spelling a pattern should match.

    Diacritics kept and folded (whole string and word by word, so a half-accented
    "Luong Văn Phong" matches too), hyphen <-> space for Latin compounds, both apostrophes.
    """
    base = key(text)
    variants = {base, fold(base)}
    words = base.split(" ")
    if 1 < len(words) <= 4:
        choices = [sorted({w, fold(w)}) for w in words]
        variants.update(" ".join(combo) for combo in itertools.product(*choices))
    for v in list(variants):
        if "-" in v and v.replace("-", "").isascii():
            variants.add(v.replace("-", " "))
        if " " in v and v.isascii() and not any(c.isdigit() for c in v):
            variants.add(v.replace(" ", "-"))
        for a, b in itertools.permutations(_APOSTROPHES, 2):
            if a in v:
                variants.add(v.replace(a, b))
    return {v for v in variants if v.strip()}
