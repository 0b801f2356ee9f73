"""Text normalisation with a map back to the original offsets.

The text side does only what is cheap: NFKC (skipped when the text already is NFKC, a fast C
check) and `str.lower()`. When both keep the length, offsets map 1:1 and no map is built (the
fast path: ASCII and NFKC text, most real articles). NFC text that NFKC changes (no-break
spaces, full-width punctuation, "…") is normalised in 256-character chunks: a chunk that kept
its length maps 1:1, one that grew is bisected down to the expanding characters. Decomposed
(non-NFC) text is normalised cluster by cluster (a base with its combining marks, jamo runs).
Only clusters that changed length are recorded, so mapping an offset is one bisect.

Per-script folds that change matching (`SCRIPT_FOLD`) follow NFKC and lower case on both
sides. Unified one for one: Arabic/Persian/Urdu letter variants (ی/ى -> ي, ک -> ك, أ/إ/آ/ٱ -> ا,
ھ/ہ -> ه), Greek accented vowels, Romanian ş/ţ -> ș/ț. Deleted: tatweel, Arabic harakat,
Hebrew niqqud and cantillation, the Devanagari and Bengali nukta, ZWJ and ZWNJ. A deletion
changes the length, so such text takes the mapped (chunked or cluster) path and offsets
still point into the original.

Diacritic folding is done on the *pattern* side instead (see `pattern_variants`): every alias
and term is compiled with and without diacritics, so "Lương Văn Phong" and "Luong Van Phong"
both match without a costly per-character `str.translate` over every article (8 MB/s measured,
an order of magnitude slower than the whole tagging pass).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass

_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised text and the way back to the original string.

    Offsets map 1:1 except inside the clusters whose length changed (listed in sorted arrays:
    normalised start/end, original start/end); a position is mapped with one bisect.
    """

    text: str
    original: str
    norm_starts: tuple[int, ...] = ()
    norm_ends: tuple[int, ...] = ()
    orig_starts: tuple[int, ...] = ()
    orig_ends: tuple[int, ...] = ()

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of the normalised span [start, end)."""
        if not self.norm_starts:
            return start, end
        return self._map(start, True), self._map(end - 1, False)

    def _map(self, pos: int, is_start: bool) -> int:
        i = bisect.bisect_right(self.norm_starts, pos) - 1
        if i < 0:
            return pos if is_start else pos + 1
        if pos < self.norm_ends[i]:  # inside a cluster that changed length
            return self.orig_starts[i] if is_start else self.orig_ends[i]
        mapped = self.orig_ends[i] + (pos - self.norm_ends[i])
        return mapped if is_start else mapped + 1


def clean(text: str) -> str:
    """Replace lone surrogates (invalid in UTF-8) by U+FFFD, keeping the length."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


# Per-script folds (see the module docstring): one character for one, or deleted ("").
SCRIPT_UNIFY = {
    "\u06cc": "\u064a", "\u0649": "\u064a", "\u06a9": "\u0643",  # ی ى -> ي, ک -> ك
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",  # alef forms
    "\u06be": "\u0647", "\u06c1": "\u0647",  # Urdu ھ ہ -> ه
    # Greek accents move with inflection (έλεγχος, ελέγχου): dropped.
    "ά": "α", "έ": "ε", "ή": "η", "ί": "ι", "ό": "ο", "ύ": "υ", "ώ": "ω", "ϊ": "ι", "ϋ": "υ",
    "ΐ": "ι", "ΰ": "υ",
    # Romanian cedilla letters, still common in the press, as the comma-below ones.
    "ş": "ș", "ţ": "ț",
}  # fmt: skip
_DROP_RANGES = (
    (0x0591, 0x05BD), (0x05BF, 0x05BF), (0x05C1, 0x05C2), (0x05C4, 0x05C5), (0x05C7, 0x05C7),
    (0x0610, 0x061A), (0x0640, 0x0640), (0x064B, 0x065F), (0x0670, 0x0670), (0x06D6, 0x06DC),
    (0x06DF, 0x06E4), (0x06E7, 0x06E8), (0x06EA, 0x06ED), (0x093C, 0x093C), (0x09BC, 0x09BC),
    (0x200C, 0x200D),
)  # fmt: skip
SCRIPT_DROP = frozenset(chr(c) for a, b in _DROP_RANGES for c in range(a, b + 1))
SCRIPT_FOLD: dict[str, str] = {**SCRIPT_UNIFY, **dict.fromkeys(SCRIPT_DROP, "")}
_FOLD_TABLE = str.maketrans(SCRIPT_FOLD)
_UNIFY_TABLE = str.maketrans(SCRIPT_UNIFY)
_FOLD_CHARS = re.compile("[" + "".join(re.escape(c) for c in sorted(SCRIPT_FOLD)) + "]")
_DROP_CHARS = re.compile("[" + "".join(re.escape(c) for c in sorted(SCRIPT_DROP)) + "]")


def is_word_char(ch: str) -> bool:
    """A letter or digit of a script that separates words with spaces: not CJK (from
    U+2E80 on), not Thai or Lao (U+0E00-U+0EFF), which are matched as substrings."""
    return ch.isalnum() and ch < "\u2e80" and not "\u0e00" <= ch <= "\u0eff"


def fold_script(text: str) -> str:
    """The per-script folds of already NFKC-normalised, lower-cased text."""
    if text.isascii() or not _FOLD_CHARS.search(text):
        return text
    return text.translate(_FOLD_TABLE)


def normalize(text: str) -> Normalized:
    """NFKC + lower case + per-script folds, with an offset map only where the length
    changed.

    Lone surrogates pass through; the matcher's caller replaces them (see `clean`) only
    when the automaton refuses the text, which keeps the common case free of a check.
    """
    if text.isascii():
        return Normalized(text.lower(), text)
    original = text
    if unicodedata.is_normalized("NFKC", text):
        low = _lower(text)
        if len(low) == len(text):
            if not _FOLD_CHARS.search(low):
                return Normalized(low, original)
            if not _DROP_CHARS.search(low):  # letter variants only: one for one
                return Normalized(low.translate(_UNIFY_TABLE), original)
    # The characters that keep most real text from being NFKC get their NFKC form (or, for
    # the usual expanders, a one-character stand-in no pattern contains) by C-speed
    # replace(), one character for one; most texts are NFKC afterwards and take the 1:1
    # path (no map).
    for char, replacement in _REPLACEMENTS:
        if char in text:
            text = text.replace(char, replacement)
    if unicodedata.is_normalized("NFKC", text):
        low = _lower(text)
        if len(low) == len(text):
            if not _FOLD_CHARS.search(low):
                return Normalized(low, original)
            if not _DROP_CHARS.search(low):
                return Normalized(low.translate(_UNIFY_TABLE), original)
    if not unicodedata.is_normalized("NFC", text):
        return _slow(text, original)  # decomposed text: compose cluster by cluster
    return _chunked(text, original)


_ASCII = bytes(range(128))


def _lower(text: str) -> str:
    """`text.lower()`, faster for text that is mostly ASCII (English with curly quotes).

    `str.lower()` takes its slow path over the whole string once any character is not
    ASCII; `bytes.lower()` is a C loop over ASCII letters. When the few non-ASCII characters
    (cut out by `bytes.translate`) have no lower case of their own, lowering the UTF-8 bytes
    is the same as `str.lower()`, about twice as fast on such text.
    """
    encoded = text.encode("utf-8", "surrogatepass")
    rest = encoded.translate(None, _ASCII)
    if len(rest) * 8 < len(encoded):
        others = rest.decode("utf-8", "surrogatepass")
        if others.lower() == others:
            return encoded.lower().decode("utf-8", "surrogatepass")
    return text.lower()


# Characters NFKC expands that real text is full of ("…" in half the non-ASCII feed entries
# measured) and a one-character stand-in that matches the same way.
_STAND_INS = (("…", "."), ("″", '"'), ("‴", '"'), ("™", " "), ("℠", " "), ("№", "n"))
# Characters NFKC maps to one other character, by frequency in real feed entries: no-break
# and thin spaces (in 2 of 3 non-NFKC texts), full-width CJK punctuation.
_ONE_TO_ONE = "\u00a0\u202f\u2009\u200a\u2011\uff0c\uff08\uff09\uff1a\uff1b\uff1f\uff01"
_REPLACEMENTS = _STAND_INS + tuple((c, unicodedata.normalize("NFKC", c)) for c in _ONE_TO_ONE)
CHUNK = 256


def _chunked(text: str, original: str) -> Normalized:
    """NFKC + lower chunk by chunk. A chunk that kept its length maps 1:1 (the text is NFC,
    so no composition shrinks a chunk while an expansion grows it); one whose length changed
    is bisected down to the characters that expand ("ﬁ" -> "fi", "㎏" -> "kg"). A chunk
    holding a deleted character (`SCRIPT_DROP`) is bisected too: an expansion beside it
    could keep its length while moving offsets."""
    pieces: list[str] = []
    breaks: list[tuple[int, int, int, int]] = []  # norm start, norm end, orig start, orig end
    out = 0
    unicode_normalize = unicodedata.normalize
    shrinking = _shrinking()
    drops = shrinking.search(text) is not None
    for first in range(0, len(text), CHUNK):
        stack = [(first, min(len(text), first + CHUNK))]
        while stack:
            a, b = stack.pop()
            piece = fold_script(unicode_normalize("NFKC", text[a:b]).lower())
            kept = len(piece) == b - a and not (drops and shrinking.search(text, a, b))
            if kept or b - a == 1:
                if len(piece) != b - a:
                    breaks.append((out, out + len(piece), a, b))
                pieces.append(piece)
                out += len(piece)
                continue
            mid = (a + b) // 2
            stack.append((mid, b))  # popped after (a, mid): pieces stay in text order
            stack.append((a, mid))
    return Normalized(
        "".join(pieces),
        original,
        tuple(x[0] for x in breaks),
        tuple(x[1] for x in breaks),
        tuple(x[2] for x in breaks),
        tuple(x[3] for x in breaks),
    )


def _slow(text: str, original: str) -> Normalized:
    """Normalise only the clusters NFKC or lower() may change; copy the rest."""
    pieces: list[str] = []
    norm_starts: list[int] = []
    norm_ends: list[int] = []
    orig_starts: list[int] = []
    orig_ends: list[int] = []
    pos = 0
    out = 0  # length of the normalised text so far
    for match in _unstable_pair()[0].finditer(text):
        a, b = match.span()
        if a > pos and _JOINS_BACK.match(text, a):
            a -= 1  # a combining mark or jamo composes with the character before it
        if a > pos:
            pieces.append(text[pos:a])
            out += a - pos
        piece = fold_script(unicodedata.normalize("NFKC", text[a:b]).lower())
        pieces.append(piece)
        if len(piece) != b - a:
            norm_starts.append(out)
            norm_ends.append(out + len(piece))
            orig_starts.append(a)
            orig_ends.append(b)
        out += len(piece)
        pos = b
    pieces.append(text[pos:])
    return Normalized(
        "".join(pieces).lower(),
        original,
        tuple(norm_starts),
        tuple(norm_ends),
        tuple(orig_starts),
        tuple(orig_ends),
    )


# Conjoining jamo compose into syllables; compatibility jamo become conjoining jamo under NFKC.
_JAMO = "\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff\u3131-\u318e\uffa0-\uffdc"
_JOINS_BACK: re.Pattern[str] = re.compile(".")  # replaced by _unstable_pair()


@functools.cache
def _unstable_pair() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Two regexes over the characters NFKC or lower() may change.

    The first finds clusters to normalize one by one: such a character, combining mark or
    conjoining jamo, with the marks and jamo that follow (a run that starts with a mark or
    jamo also takes the character before it, see `_slow`). The second finds only what can
    change the length (expansions like "…" -> "...", compositions): text without any of it
    is normalised in one C call with offsets kept 1:1.
    """
    global _JOINS_BACK
    changing, growing, marks = [], [], []
    for code in range(0x80, 0x10000):
        if 0x4E00 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7A3 or 0xD800 <= code <= 0xDFFF:
            continue  # CJK ideographs, Hangul syllables: stable; surrogates: cleaned before
        ch = chr(code)
        if unicodedata.combining(ch) or unicodedata.category(ch).startswith("M"):
            marks.append(code)
            continue
        if (
            0x1100 <= code < 0x1200
            or 0xA960 <= code < 0xA980
            or 0xD7B0 <= code < 0xD800
            or 0x3131 <= code < 0x318F
            or 0xFFA0 <= code < 0xFFDD
        ):
            continue  # jamo: handled as runs (see _JAMO)
        folded = unicodedata.normalize("NFKC", ch)
        if folded != ch or len(ch.lower()) != 1 or ch in SCRIPT_FOLD or ch.lower() in SCRIPT_FOLD:
            changing.append(code)
            grows = len(folded) != 1 or len(fold_script(folded.lower())) != 1
            if grows or not _stable_alone(folded):
                growing.append(code)
    astral = "\U0001d400-\U0001d7ff\U0001f100-\U0001f1ff\U0002f800-\U0002fa1f"
    m = _ranges(marks) + _JAMO + "\uff9e\uff9f"  # half-width voiced marks compose too
    _JOINS_BACK = re.compile(f"[{m}]")
    clusters = re.compile(f"[{_ranges(changing)}{astral}{m}][{m}]*")
    length_changing = re.compile(f"[{_ranges(growing)}{astral}{m}]")
    return clusters, length_changing


@functools.cache
def _shrinking() -> re.Pattern[str]:
    """Characters the per-script folds delete, alone or inside their NFKC form ("ﳲ" ->
    tatweel + marks -> nothing): where a chunk may shrink while another part grows."""
    codes = [ord(c) for c in SCRIPT_DROP]
    for code in range(0x80, 0x10000):
        if not 0xD800 <= code <= 0xDFFF:
            form = unicodedata.normalize("NFKC", chr(code))
            if form != chr(code) and _DROP_CHARS.search(form):
                codes.append(code)
    return re.compile(f"[{_ranges(codes)}]")


def _stable_alone(ch: str) -> bool:
    """A character that cannot compose with a neighbour (not a mark or jamo itself)."""
    return not (
        unicodedata.combining(ch)
        or unicodedata.category(ch).startswith("M")
        or "\u1100" <= ch < "\u1200"
        or "\u3131" <= ch < "\u318f"
    )


def warm_up() -> None:
    """Build the slow path's character classes now (about 0.2 s) rather than mid-stream."""
    _unstable_pair()
    _shrinking()


def _ranges(codes: list[int]) -> str:
    codes = sorted(set(codes))
    out = []
    start = prev = codes[0]
    for code in [*codes[1:], -1]:
        if code == prev + 1:
            prev = code
            continue
        out.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else ""))
        start = prev = code
    return "".join(out)


def key(text: str) -> str:
    """The normalised form of a pattern (same transform as the text side)."""
    return fold_script(unicodedata.normalize("NFKC", text).lower())


@functools.lru_cache(maxsize=65536)  # catalogue compile folds the same words many times
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


_JOINABLE = re.compile("[\u0590-\u06ff\u0900-\u09ff\u0e00-\u0e7f]")
_HYPHEN_JOINABLE = re.compile("[\u0590-\u05ff\u0900-\u09ff]")  # Hebrew, Indic: "דיפ-סיק"
_SPECIAL = {"đ": "d", "ø": "o", "ł": "l", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h"}
_APOSTROPHES = ("'", "’")


def pattern_variants(text: str) -> set[str]:
    """Every normalised spelling a pattern should match.

    Diacritics kept and folded (whole string and word by word, so a half-accented
    "Luong Văn Phong" matches too), hyphen <-> space for Latin compounds, both apostrophes.
    """
    base = key(text)
    variants = {base}
    folded = fold(base)
    # A short single word loses its identity without diacritics (Vietnamese "mở" -> "mo",
    # "cấm" -> "cam"): keep only the accented form then. Longer terms fold safely.
    if " " in folded or len(folded) > 4:
        variants.add(folded)
    words = base.split(" ")
    if 1 < len(words) <= 4:
        choices = [sorted({w, fold(w)}) for w in words]
        variants.update(" ".join(combo) for combo in itertools.product(*choices))
    for v in list(variants):
        # Arabic, Persian, Urdu, Hebrew, Indic and Thai press writes a foreign two-part name
        # with or without the space ("ديب سيك", "ديبسيك"; ZWNJ is already gone by now).
        if " " in v and _JOINABLE.search(v) and v.count(" ") <= 2:
            variants.add(v.replace(" ", ""))
            if v.count(" ") == 1 and _HYPHEN_JOINABLE.search(v):
                variants.add(v.replace(" ", "-"))
        if "-" in v and _JOINABLE.search(v):
            variants.add(v.replace("-", " "))
            variants.add(v.replace("-", ""))
        if "-" in v and v.replace("-", "").isascii():
            variants.add(v.replace("-", " "))
        if " " in v and v.isascii() and not any(c.isdigit() for c in v):
            variants.add(v.replace(" ", "-"))
        for a, b in itertools.permutations(_APOSTROPHES, 2):
            if a in v:
                variants.add(v.replace(a, b))
    return {v for v in variants if v.strip()}


def is_phrase(term: str) -> bool:
    """Whether a term has a wildcard inside ("контрол* за экспорт*"), not only at its ends."""
    return "*" in term.strip().strip("*")


def phrase_regex(term: str) -> re.Pattern[str]:
    """A regex matching a multi-word term whose words may end in `*` (any word ending).

    Used only at positions where the term's first word matched, so it costs nothing on
    texts without it. Words may be separated by spaces, hyphens or an apostrophe.
    """
    alternatives = []
    for variant in sorted(pattern_variants(term.strip().lstrip("*"))):
        parts = []
        for word in variant.split():
            wild = word.endswith("*")
            core = re.escape(word.rstrip("*").replace("’", "'")).replace("'", "['’]")
            parts.append(core + (r"\w*" if wild else r"(?!\w)"))
        alternatives.append(r"[\s\-]+".join(parts))
    return re.compile("|".join(f"(?:{a})" for a in dict.fromkeys(alternatives)))
