"""Types of the compiled tagging core (`native/src/lib.rs`, built by setuptools-rust).

The structures it is built from are `spec.EngineSpec` and `spec.LangSpec`; offsets are
character offsets into the normalised text.
"""

from collections.abc import Iterable

from newswatch.agents.tagging.spec import EngineSpec, LangSpec

class Scanned:
    """What `Engine.scan` found (immutable)."""

    @property
    def text(self) -> str:
        """The normalised text ("" when nothing was found: no events, no themes)."""
    @property
    def themes(self) -> frozenset[str]:
        """The themes with evidence (those in `skip` left out)."""
    @property
    def events(self) -> tuple[tuple[int, int, int, bool], ...]:
        """Alias and stop-phrase events `(payload, start, end, right_ok)` in the reference
        engine's order; `payload` indexes `EngineSpec.payloads`."""
    @property
    def skip(self) -> frozenset[str]:
        """The themes that cannot reach their threshold whatever the rules decide."""

class Engine:
    def __init__(self, spec: EngineSpec) -> None:
        """ValueError when an index of `spec` points nowhere."""
    def scan(self, text: str) -> Scanned | None:
        """Normalise by the character table and scan; None when a character needs Python's
        `normalize()` (then call `scan_normalised`). UnicodeEncodeError on lone surrogates."""
    def scan_normalised(self, text: str) -> Scanned:
        """Scan a text `normalize()` has normalised."""
    def themes(
        self, scanned: Scanned, touched: list[str], entities: list[str]
    ) -> list[tuple[str, float, list[tuple[float, int, int]]]]:
        """`(theme, score, [(weight, start, end)])` for the themes of `touched` (sorted ids)
        that reach their threshold, given the accepted `entities`."""
    def matches(self, text: str) -> list[tuple[int, int, int]]:
        """The raw leftmost-longest matches `(pattern, start byte, end byte)` of a normalised
        text (for tests)."""
    def normalise(self, text: str) -> str | None:
        """NFKC + lower case by the table, or None when a character needs `normalize()`."""

class LangDetector:
    def __init__(self, spec: LangSpec) -> None:
        """ValueError when the tables are inconsistent."""
    def detect(self, text: str) -> str | None:
        """`langdetect.detect(text)`, or None for text with lone surrogates."""

# The story engine's near-duplicate fingerprint (native/src/shingles.rs): the shingles of a
# normalised, lower-cased text (`features.normalise`) and their MinHash signature, exactly as
# `features._shingles` and `engine.minhash_affine32` make them. Text with lone surrogates
# raises UnicodeEncodeError (Python makes those shingles).

class MinHasher:
    """datasketch's affine32 MinHash with crc32 as the shingle hash; signatures are the
    `num_perm` uint32 values in native byte order (`np.frombuffer(raw, np.uint32)`)."""

    def __init__(self, a: list[int], b: list[int]) -> None:
        """The permutations (uint32, same length). ValueError when the lengths differ."""
    @property
    def num_perm(self) -> int: ...
    def text_signature(self, lowered: str, unspaced: bool, min_shingles: int) -> bytearray | None:
        """The signature of the text's shingles (character 3-grams when `unspaced`, else word
        2-grams), or None when fewer than `min_shingles` of them are distinct."""
    def signature(self, shingles: Iterable[bytes]) -> bytearray:
        """The signature of a collection of shingles (all 0xFFFFFFFF when it is empty)."""

def shingles(lowered: str, unspaced: bool) -> list[bytes]:
    """The text's shingles in text order, duplicates included."""

class Anchors:
    """features.py's `numbers`, `model_codes` and `latin_names` of one text, in one call
    (`native/src/anchors.rs`; its character tables are rendered by
    agents/stories/anchor_tables.py)."""

    def __init__(
        self,
        word_units: list[tuple[str, bool, float]],
        sign_units: list[tuple[str, bool, float]],
        stop_words: list[str],
        months: list[str],
    ) -> None:
        """Units as (word, percent?, multiplier) in the regex's order (features.py's
        `native_unit_words`); ValueError for a character anchor_tables.rs does not cover."""
    def find(
        self, text: str, latin: bool, german: bool
    ) -> tuple[list[tuple[bool, float]], list[str], list[str], list[str]] | None:
        """`(amounts, model codes, names, weak names)`: amounts as (percent?, value) for
        Python to format; the strings as `model_codes` and `latin_names` make them (lists,
        maybe with repeats). None when Python's path must take the text (lone surrogates, a
        unit matched through a character whose lower case is not the unit's)."""
