"""The streaming story engine: each tagged article joins an open story or starts one.

Two ways into a story, tried in this order:

1. **Near-duplicate** (syndicated or lightly rewritten copies): MinHash of the article's
   shingles (word 2-grams, character 3-grams for CJK/Thai; see features.py), looked up in a
   MinHash LSH index (banded as datasketch's MinHashLSH) of the articles of open stories; a
   hit whose estimated Jaccard similarity reaches ``near_duplicate`` joins that story.
2. **Same event, other words or language**: the article's anchors (entities, themes, actors,
   places, sources, model codes, amounts, percentages, Latin names; features.py) are looked
   up in an inverted index of open stories. A story is a match when (a) its last article is
   within ``join_window`` of this one, (b) it shares a catalogue entity when both have one,
   (c) the *specific* anchors they share (everything but entities and themes) weigh at least
   ``min_evidence`` and (d) the shared anchors weigh at least ``min_similarity`` of the mean
   of the article's anchor weight and the story's core weight (the anchors at least half of
   its articles hold; a Dice coefficient, so the specific anchors either side has and the
   other lacks count against the match). Each anchor's weight is its kind's weight times
   its specificity,
   ``1 / (1 + ln df)``, where df is the number of open stories that hold it: "DeepSeek" or
   "Nvidia" are in many stories and weigh little; "H20", "$5.6 billion" or "Lutnick" are in
   few and weigh much. That keeps two events about the same entities apart: they share
   entities and themes (no evidence) and differ in their specific anchors (similarity).

A story closes when nothing joined it for ``quiet_window`` (``quiet_window_single`` while it
has one article; event time: the largest `published` seen). Memory is bounded by counts,
not by time alone: at most ``max_open_stories`` stories (the least recently active closes
first), ``max_articles_kept`` article summaries, ``max_anchors`` anchors, ``max_members``
article ids and ``max_indexed`` LSH entries per story.

The engine is pure and deterministic: the same articles in the same order give the same
stories (ties go to the older story; no set iteration order leaks into a decision), and
`snapshot()` / `StoryEngine.restore()` carry the whole state across restarts.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import math
import zlib
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from datasketch import MinHash, MinHashLSH

from newswatch.agents.stories import features as _features
from newswatch.agents.stories.features import Features, extract_article
from newswatch.agents.stories.gazetteer import Gazetteer
from newswatch.agents.tagging.fastpath import load_native

SNAPSHOT_VERSION = 1
_SCHEME = "affine32"  # datasketch's permutation scheme; snapshots depend on it

# 1 / (1 + ln df) for the common document frequencies (df 0 counts as 1).
_SPECIFICITY = [1.0] + [1.0 / (1.0 + math.log(df)) for df in range(1, 4097)]

# Anchor kinds whose shared weight counts as evidence of the same event.
SPECIFIC_KINDS = frozenset("gsmnpl")


def _default_weights() -> dict[str, float]:
    return {
        "e": 1.0,  # tagger entity
        "t": 0.5,  # tagger theme
        "g": 1.5,  # gazetteer actor or place
        "s": 0.5,  # named source (many stories cite Reuters)
        "m": 3.0,  # model or product code
        "n": 2.0,  # amount
        "p": 2.0,  # percentage
        "l": 1.0,  # Latin-script name
    }


@dataclass(frozen=True)
class StoryConfig:
    """Thresholds and bounds. docs/stories.md explains how to tune them."""

    num_perm: int = 64  # 14 bands of 4 rows at threshold 0.5; ~110 B of RAM per band entry
    near_duplicate: float = 0.5  # estimated Jaccard of shingles
    min_shingles: int = 6  # shorter texts skip the near-duplicate test
    min_similarity: float = 0.35  # shared anchor weight over the mean of article and story
    min_evidence: float = 0.5  # weight of shared specific anchors
    weak_factor: float = 0.3  # weight of a plainly capitalised word of Latin text
    normalise: str = "dice"  # similarity over the article's weight, "min" or "dice" of both
    time_decay: float = 0.0  # similarity lost per day between the story's last article and this
    max_candidates: int = 24  # stories scored in full, the best by shared specific weight
    # Only the lede is read: news puts the event's facts first, copies share their start, and
    # a 10,000-character article then costs what a 1,200-character one does.
    max_text_chars: int = 1_200
    join_window: float = 2 * 86400.0  # seconds between a story's last article and this one
    quiet_window: float = 36 * 3600.0  # a story closes after this long without an article
    # A story of one article closes sooner: copies and translations come within hours, and
    # most articles stay alone (the window holds memory down, see docs/stories.md).
    quiet_window_single: float = 12 * 3600.0
    growth_window: float = 6 * 3600.0  # growth rate: articles per hour over this window
    max_open_stories: int = 500_000
    max_articles_kept: int = 20
    max_anchors: int = 80
    max_indexed: int = 4  # LSH entries per story, at most one per language
    max_members: int = 2_000  # article ids remembered per story (redelivery is idempotent)
    max_postings: int = 256  # an anchor in more open stories does not nominate candidates
    headline_langs: tuple[str, ...] = ("en",)  # preferred languages for the headline
    weights: dict[str, float] = field(default_factory=_default_weights)
    seed: int = 1

    def __post_init__(self) -> None:
        if self.normalise not in ("dice", "article", "min"):
            raise ValueError(f"normalise: {self.normalise!r} is not dice, article or min")
        for name in ("near_duplicate", "min_similarity"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be in (0, 1]")
        for name in ("join_window", "quiet_window", "quiet_window_single", "growth_window"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be a positive number of seconds")
        if self.quiet_window_single > self.quiet_window:
            raise ValueError("quiet_window_single: must not exceed quiet_window")
        for name in (
            "num_perm",
            "max_open_stories",
            "max_articles_kept",
            "max_anchors",
            "max_indexed",
            "max_members",
            "max_postings",
            "max_candidates",
            "max_text_chars",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")


@dataclass(frozen=True, slots=True)
class StoryArticle:
    """The input: an article with what the tagger found."""

    id: str
    title: str
    published: float
    text: str = ""
    lang: str | None = None
    feed: str = ""
    url: str | None = None
    entities: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where one article went, and the story's state after it joined."""

    article_id: str
    story_id: str
    how: str  # "new", "near_duplicate" or "similar"
    score: float
    story: dict[str, Any]
    closed: tuple[dict[str, Any], ...] = ()  # stories that closed before this article


def story_id_for(article_id: str) -> str:
    """Deterministic: a story is named after the article that started it."""
    return "st-" + hashlib.blake2b(article_id.encode(), digest_size=8).hexdigest()


class Story:
    """One open story. Mutable; the engine owns it."""

    __slots__ = (
        "activity",
        "anchors",
        "entities",
        "feeds",
        "first_seen",
        "headline",
        "headline_rank",
        "id",
        "indexed",
        "langs",
        "last_seen",
        "mass",
        "members",
        "ordinal",
        "recent",
        "size",
        "summaries",
        "themes",
        "touch",
    )

    def __init__(self, story_id: str, ordinal: int) -> None:
        self.id = story_id
        self.ordinal = ordinal
        self.headline = ""
        self.headline_rank: tuple[int, float, str] = (99, math.inf, "")
        self.first_seen = math.inf
        self.last_seen = -math.inf
        self.activity = -math.inf  # engine clock when the last article joined
        self.size = 0
        self.summaries: list[dict[str, Any]] = []
        self.langs: dict[str, int] = {}
        self.feeds: dict[str, int] = {}
        self.entities: dict[str, int] = {}
        self.themes: dict[str, int] = {}
        self.anchors: dict[str, int] = {}
        self.recent: list[float] = []  # sorted: publication times within the growth window
        self.indexed: list[tuple[str, np.ndarray]] = []
        self.members: list[str] = []
        self.mass = 0.0  # weight of its core anchors, as of its last article (see _join)
        # The engine's join counter when the last article joined: sorting by it gives the
        # engine's order of stories (least recently active first, ties in `activity`
        # included), so per-story checkpoint records restore the same order.
        self.touch = 0

    def growth_rate(self, window: float) -> float:
        """Articles per hour over the last `window` seconds before its last article."""
        count = len(self.recent) - bisect.bisect_right(self.recent, self.last_seen - window)
        return round(count / (window / 3600.0), 3)

    def to_dict(self, config: StoryConfig, status: str = "open") -> dict[str, Any]:
        def top(counts: dict[str, int]) -> list[str]:
            # Most frequent first, then by name: the names sorted, then a stable sort by count
            # (reverse keeps the order of equals), with no Python key function.
            return sorted(sorted(counts), key=counts.__getitem__, reverse=True)

        return {
            "id": self.id,
            "status": status,
            "headline": self.headline,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "size": self.size,
            "sources": len(self.feeds),
            "languages": sorted(self.langs),
            "entities": top(self.entities),
            "themes": top(self.themes),
            "growth_rate": self.growth_rate(config.growth_window),
            "articles": list(self.summaries),
        }


@functools.lru_cache(maxsize=8)
def _band_ranges(threshold: float, num_perm: int) -> tuple[tuple[int, int], ...]:
    """The bands datasketch's MinHashLSH picks for these settings (the (b, r) that minimise
    its weighted false positive and negative rates at `threshold`): 14 bands of 4 rows for
    64 permutations at 0.5."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return tuple((int(start), int(end)) for start, end in lsh.hashranges)


class _BandIndex:
    """The MinHash LSH index of the articles of open stories: datasketch's MinHashLSH, banded
    the same way (`_band_ranges`), so a query finds the same keys, without its per-call cost.

    MinHashLSH wants a LeanMinHash per call (a conversion and range check of the hash values)
    and hashes each band separately (a numpy byteswap per band, 14 per query and insert);
    here a signature's band keys are sliced out of one `tobytes()`, made once per article and
    used for both its query and its insert. Two bands are equal exactly when their bytes are,
    so the candidates are datasketch's. Not part of the snapshot: restore rebuilds it from
    the stories' signatures.

    Each band table maps a band key to the key holding it, or to a list when several share
    it: datasketch's default table keeps a set per band key (~330 bytes each, 14 per indexed
    article) and almost every band key has a single holder."""

    __slots__ = ("_keys", "_num_perm", "_ranges", "_tables")

    def __init__(self, config: StoryConfig) -> None:
        self._num_perm = config.num_perm
        self._ranges = tuple(
            (4 * s, 4 * e) for s, e in _band_ranges(config.near_duplicate, config.num_perm)
        )
        self._tables: tuple[dict[bytes, str | list[str]], ...] = tuple({} for _ in self._ranges)
        self._keys: dict[str, tuple[bytes, ...]] = {}  # key -> its band keys

    def bands(self, signature: np.ndarray) -> tuple[bytes, ...]:
        """The band keys of a signature: its values as 32-bit integers (datasketch's affine32
        hash values), `_ranges` of the bytes. Raises ValueError as datasketch did for a
        signature of another length or with a value that is not a 32-bit hash."""
        if len(signature) != self._num_perm:
            raise ValueError(
                f"Expecting minhash with length {self._num_perm}, got {len(signature)}"
            )
        kind, width = signature.dtype.kind, signature.dtype.itemsize
        # Only integers wider than 32 bits can exceed it, only signed ones be negative; the
        # ufuncs' reduce, not ndarray.max(): its Python wrapper cost more than the band keys.
        if ((kind == "u" and width > 4) or kind == "i") and (
            int(np.maximum.reduce(signature)) > 0xFFFFFFFF
            or (kind == "i" and int(np.minimum.reduce(signature)) < 0)
        ):
            raise ValueError(f"hash values out of range for scheme {_SCHEME!r}")
        raw = signature.astype(np.uint32).tobytes()
        return tuple([raw[s:e] for s, e in self._ranges])

    def query(self, bands: tuple[bytes, ...]) -> dict[str, None]:
        """The keys sharing at least one band with `bands`, each once."""
        found: dict[str, None] = {}
        for band, table in zip(bands, self._tables, strict=True):
            held = table.get(band)
            if held is None:
                continue
            if held.__class__ is str:
                found[held] = None
            else:
                for key in held:
                    found[key] = None
        return found

    def insert(self, key: str, bands: tuple[bytes, ...]) -> None:
        if key in self._keys:
            raise ValueError("The given key already exists")
        self._keys[key] = bands
        for band, table in zip(bands, self._tables, strict=True):
            held = table.get(band)
            if held is None:
                table[band] = key
            elif isinstance(held, str):
                if held != key:
                    table[band] = [held, key]
            elif key not in held:
                held.append(key)

    def remove(self, key: str) -> None:
        bands = self._keys.pop(key, None)
        if bands is None:
            raise ValueError("The given key does not exist")
        for band, table in zip(bands, self._tables, strict=True):
            held = table.get(band)
            if isinstance(held, str):
                if held == key:
                    del table[band]
            elif held is not None:
                held.remove(key)
                if len(held) == 1:
                    table[band] = held[0]

    def __len__(self) -> int:
        return len(self._keys)


class _Postings:
    """Anchor -> open story ids, in insertion order. Most anchors belong to one story: that
    story's id is stored as a plain string, a dict only from the second story on (a small
    dict costs ~110 bytes, and there is one per distinct anchor)."""

    __slots__ = ("_map", "held")

    def __init__(self) -> None:
        self._map: dict[str, str | dict[str, None]] = {}
        #: anchor -> its raw entry (a story id, or a dict of them) or None: the scoring loops
        #: read it without a method call per anchor.
        self.held = self._map.get

    def add(self, anchor: str, story_id: str) -> None:
        held = self._map.get(anchor)
        if held is None:
            self._map[anchor] = story_id
        elif isinstance(held, str):
            if held != story_id:
                self._map[anchor] = {held: None, story_id: None}
        else:
            held[story_id] = None

    def add_all(self, anchors: Iterable[str], story_id: str) -> None:
        """`add` of each anchor, in one call."""
        entries = self._map
        for anchor in anchors:
            held = entries.get(anchor)
            if held is None:
                entries[anchor] = story_id
            elif held.__class__ is str:
                if held != story_id:
                    entries[anchor] = {held: None, story_id: None}
            else:
                held[story_id] = None  # type: ignore[index]

    def remove(self, anchor: str, story_id: str) -> None:
        held = self._map.get(anchor)
        if held is None:
            return
        if isinstance(held, str):
            if held == story_id:
                del self._map[anchor]
            return
        held.pop(story_id, None)
        if len(held) == 1:
            self._map[anchor] = next(iter(held))

    def remove_all(self, anchors: Iterable[str], story_id: str) -> None:
        """`remove` of each anchor, in one call."""
        entries = self._map
        for anchor in anchors:
            held = entries.get(anchor)
            if held is None:
                continue
            if held.__class__ is str:
                if held == story_id:
                    del entries[anchor]
                continue
            held.pop(story_id, None)  # type: ignore[union-attr]
            if len(held) == 1:
                entries[anchor] = next(iter(held))

    def get(self, anchor: str) -> tuple[str, ...] | dict[str, None]:
        held = self._map.get(anchor)
        if held is None:
            return ()
        return (held,) if isinstance(held, str) else held

    def count(self, anchor: str) -> int:
        held = self._map.get(anchor)
        if held is None:
            return 0
        return 1 if isinstance(held, str) else len(held)

    def total(self) -> int:
        return sum(1 if isinstance(h, str) else len(h) for h in self._map.values())


@dataclass(frozen=True, slots=True)
class Prepared:
    """An article's features and MinHash signature, made ahead of `StoryEngine.add` (by the
    tag agent's child process, see agents/stories/story_input.py). Only the fingerprint of
    the maker that made it tells whether the engine may use it."""

    features: Features  # its `shingles` left empty: the signature stands for them
    signature: np.ndarray | None  # None: too few shingles for the near-duplicate test


_FMIX32 = tuple(np.uint32(c) for c in (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16))
_MAX32 = np.uint32(0xFFFFFFFF)


def minhash_affine32(shingles: Collection[bytes], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """datasketch's MinHash (scheme "affine32", hash function zlib.crc32) of shingles, with
    permutations `a`, `b` of shape (1, num_perm): each shingle's crc32, MurmurHash3's 32-bit
    finaliser, then the minimum of (a * h + b) mod 2**32 per permutation. The minimum does
    not depend on the order of the shingles."""
    if not shingles:
        return np.full(a.shape[1], _MAX32, dtype=np.uint32)
    hv = np.fromiter(map(zlib.crc32, shingles), dtype=np.uint32, count=len(shingles))
    s1, m1, s2, m2, s3 = _FMIX32
    hv ^= hv >> s1
    hv *= m1
    hv ^= hv >> s2
    hv *= m2
    hv ^= hv >> s3
    phv = hv.reshape(-1, 1) * a
    phv += b
    return phv.min(axis=0)


class FeatureMaker:
    """The per-article work of the engine that needs no state: anchors, shingles, MinHash.

    Pure: the same article gives the same `Prepared` in every process with the same settings,
    which `fingerprint` names (feature code version, MinHash and lede settings, gazetteer)."""

    #: Raise when features.py or the signature changes what it makes of the same article.
    VERSION = 1

    def __init__(
        self, config: StoryConfig, gazetteer: Gazetteer, native: bool | None = None
    ) -> None:
        """`native`: make shingles and signatures in the compiled core (True: insist, an
        ImportError without it; None: when it is built; False: in Python)."""
        self.config = config
        self.gazetteer = gazetteer
        self.perms = MinHash(
            num_perm=config.num_perm, seed=config.seed, scheme=_SCHEME
        ).permutations
        # The signature is datasketch's affine32 MinHash with crc32 (C, deterministic across
        # processes) as the shingle hash instead of its default SHA-1: the same values as
        # MinHash.update_batch without its per-call checks and copies
        # (features_reference.signature is that reference). The compiled core
        # (native/src/shingles.rs) makes the shingles of the normalised text and their
        # signature in one call; `minhash_affine32` (one numpy pass) is the Python path.
        self._perm_a, self._perm_b = (p.reshape(1, -1) for p in self.perms)
        module = load_native() if native is not False else None
        if native and module is None:
            raise ImportError("the compiled core (newswatch.agents.tagging._native) is not built")
        self._hasher = (
            None if module is None else module.MinHasher(*(p.tolist() for p in self.perms))
        )
        self.fingerprint = (
            f"f{self.VERSION}:{_SCHEME}:{config.num_perm}:{config.seed}:{config.max_text_chars}"
            f":{config.min_shingles}:{gazetteer.digest}"
        )

    def features(self, article: StoryArticle) -> Features:
        title = article.title[:500]
        text = article.text[: self.config.max_text_chars]
        return extract_article(
            title, text, article.lang, article.entities, article.themes, self.gazetteer
        )

    @property
    def native(self) -> bool:
        """Whether the compiled core makes the shingles and signatures."""
        return self._hasher is not None

    def signature(self, feats: Features) -> np.ndarray | None:
        if len(feats.shingles) < self.config.min_shingles:
            return None
        if self._hasher is not None:
            return np.frombuffer(self._hasher.signature(feats.shingles), dtype=np.uint32)
        return minhash_affine32(feats.shingles, self._perm_a, self._perm_b)

    def prepare(self, article: StoryArticle) -> Prepared:
        """The features (without their shingles) and the signature: what `add` reads.
        The same `Features` but for `shingles`, and the same signature as `features` and
        `signature` give (bench/story_features_check.py compares them)."""
        full, lowered = _features.normalise(
            article.title[:500], article.text[: self.config.max_text_chars]
        )
        keys = self.gazetteer.find_normalized(lowered)
        feats = _features.extract_normalised(
            full, lowered, article.lang, article.entities, article.themes, keys, with_shingles=False
        )
        return Prepared(feats, self.text_signature(lowered, feats.script))

    def text_signature(self, lowered: str, script: str) -> np.ndarray | None:
        """The signature of the shingles of `features.normalise`'s lower-cased text."""
        if self._hasher is not None:
            try:
                raw = self._hasher.text_signature(
                    lowered, script == "unspaced", self.config.min_shingles
                )
            except UnicodeEncodeError:
                pass  # lone surrogates: Python reads them ("surrogatepass")
            else:
                return None if raw is None else np.frombuffer(raw, dtype=np.uint32)
        shingles = _features._shingles(lowered, script)
        if len(shingles) < self.config.min_shingles:
            return None
        return minhash_affine32(shingles, self._perm_a, self._perm_b)


class StoryEngine:
    """Assigns articles to stories; see the module docstring."""

    def __init__(self, config: StoryConfig | None = None, gazetteer: Gazetteer | None = None):
        self.config = config or StoryConfig()
        self.gazetteer = gazetteer or Gazetteer.shipped()
        cfg = self.config
        self.maker = FeatureMaker(cfg, self.gazetteer)
        self._index = _BandIndex(cfg)
        self._stories: OrderedDict[str, Story] = OrderedDict()  # least recently active first
        self._singles: OrderedDict[str, None] = OrderedDict()  # one-article stories, same order
        self._postings = _Postings()
        self._members: dict[str, str] = {}  # article id -> open story id
        self._clock = -math.inf
        self._ordinal = 0
        self.closed_total = 0
        # Incremental checkpoints (`changes`): the join counter, the stories joined and the
        # stories closed since the last checkpoint, and whether the next one must be whole.
        self._touch = 0
        self._dirty: dict[str, None] = {}
        self._gone: dict[str, None] = {}
        self._full = True

    # ---- public API ---------------------------------------------------------------------

    def add(self, article: StoryArticle, prepared: Prepared | None = None) -> Assignment:
        """Assign one article; returns its story's state after the article joined.

        `prepared`: its features and signature, made by a `FeatureMaker` whose fingerprint is
        `self.maker.fingerprint` (the caller checks that); made here when None."""
        if not math.isfinite(article.published):
            raise ValueError(f"article {article.id!r}: published must be a finite number")
        known = self._stories.get(self._members.get(article.id, ""))
        if known is not None:  # redelivered: same answer, no change
            return Assignment(article.id, known.id, "duplicate", 1.0, known.to_dict(self.config))
        prepared = prepared or self.maker.prepare(article)
        signature = prepared.signature
        # The LSH band keys, for the near-duplicate query and the index: made (and a bad
        # signature refused) before anything changes.
        bands = None if signature is None else self._index.bands(signature)
        closed = self._advance(article.published)
        feats = prepared.features
        anchors = sorted(feats.anchors)
        story, how, score = self._match(article, feats, anchors, signature, bands)
        if story is None:
            self._ordinal += 1
            story_id = story_id_for(article.id)
            if story_id in self._stories:  # its id's story is open and full: still unique
                story_id = story_id_for(f"{article.id}#{self._ordinal}")
            story = Story(story_id, self._ordinal)
            self._stories[story.id] = story
            how, score = "new", 1.0
        self._join(story, article, anchors, signature, bands)
        closed += self._evict()
        return Assignment(
            article.id, story.id, how, round(score, 4), story.to_dict(self.config), tuple(closed)
        )

    def tick(self, now: float) -> list[dict[str, Any]]:
        """Advance the clock without an article (idle stream); returns stories that closed."""
        return self._advance(now)

    def features(self, article: StoryArticle) -> Features:
        return self.maker.features(article)

    def story(self, story_id: str) -> dict[str, Any] | None:
        story = self._stories.get(story_id)
        return story.to_dict(self.config) if story else None

    def open_stories(self) -> list[dict[str, Any]]:
        return [s.to_dict(self.config) for s in self._stories.values()]

    def stats(self) -> dict[str, int]:
        """Counts of retained entries, the engine's memory in units that can be bounded."""
        stories = self._stories.values()
        return {
            "open_stories": len(self._stories),
            "articles_kept": sum(len(s.summaries) for s in stories),
            "anchors": sum(len(s.anchors) for s in stories),
            "indexed": sum(len(s.indexed) for s in stories),
            "postings": self._postings.total(),
            "members": len(self._members),
            "closed_total": self.closed_total,
        }

    # ---- matching -----------------------------------------------------------------------

    def _in_window(self, story: Story, published: float) -> bool:
        window = self.config.join_window
        return story.first_seen - window <= published <= story.last_seen + window

    def _match(
        self,
        article: StoryArticle,
        feats: Features,
        anchors: list[str],
        signature: np.ndarray | None,
        bands: tuple[bytes, ...] | None,
    ) -> tuple[Story | None, str, float]:
        """(the story to join or None, how, score); `bands`: the signature's LSH band keys."""
        if signature is not None and bands is not None and self._stories:
            best: tuple[float, int, Story] | None = None
            num_perm = self.config.num_perm
            near_duplicate = self.config.near_duplicate
            seen: set[str] = set()
            for key in self._index.query(bands):
                story_id = key.rsplit("#", 1)[0]
                if story_id in seen:  # a story indexed in several languages: scored once
                    continue
                seen.add(story_id)
                story = self._stories.get(story_id)
                if story is None or not self._in_window(story, article.published):
                    continue
                for _, other in story.indexed:
                    sim = float(np.count_nonzero(other == signature)) / num_perm
                    if sim >= near_duplicate and (
                        best is None or (sim, -story.ordinal) > (best[0], -best[1])
                    ):
                        best = (sim, story.ordinal, story)
            if best is not None:
                return best[2], "near_duplicate", best[0]
        story, score = self._similar(article, feats, anchors)
        if story is not None:
            return story, "similar", score
        return None, "new", 0.0

    def _weights(self, anchors: list[str], extra: int) -> list[float]:
        """Each anchor's weight: its kind's weight times its specificity 1 / (1 + ln df),
        df = the open stories holding it + `extra` (df 0 counts as 1). One pass, no method
        call per anchor: this is the engine's innermost loop."""
        kind_weight = self.config.weights.get
        postings = self._postings.held
        table = _SPECIFICITY
        size = len(table)
        out = []
        for anchor in anchors:
            held = postings(anchor)
            df = extra if held is None else (1 if held.__class__ is str else len(held)) + extra
            spec = table[df] if df < size else 1.0 / (1.0 + math.log(df))
            out.append(kind_weight(anchor[0], 1.0) * spec)
        return out

    def _similar(
        self, article: StoryArticle, feats: Features, anchors: list[str]
    ) -> tuple[Story | None, float]:
        """The best matching candidate story and its similarity, or (None, 0.0): the verdicts
        of `_score_candidates`, without the reasons of the candidates that do not match (it
        runs for every article; `explain` gives them)."""
        weights, evidence = self._evidence(feats, anchors)
        if not evidence:
            return None, 0.0
        cfg = self.config
        # A candidate with too little evidence cannot match: leave it out before ranking. The
        # ranking is by evidence, so the others keep their places among the best.
        ranked = self._ranked(evidence, cfg.min_evidence)
        total = sum(weights.values())
        weighted = list(weights.items())
        entities = set(article.entities)
        published = article.published
        window = cfg.join_window
        min_similarity = cfg.min_similarity
        normalise = cfg.normalise
        best: tuple[float, int, Story] | None = None
        for story in ranked:
            if not story.first_seen - window <= published <= story.last_seen + window:
                continue  # outside join window
            if entities and story.entities and entities.isdisjoint(story.entities):
                continue  # no shared entity
            held_anchors = story.anchors
            shared = sum([w for a, w in weighted if a in held_anchors])
            if normalise != "min" and 2 * shared < min_similarity * total:
                continue  # the Dice similarity is at most 2 x shared / total
            similarity = self._similarity(shared, total, story, published)
            if similarity >= min_similarity and (
                best is None or (similarity, -story.ordinal) > (best[0], -best[1])
            ):
                best = (similarity, story.ordinal, story)
        return (best[2], best[0]) if best else (None, 0.0)

    def _similarity(self, shared: float, total: float, story: Story, published: float) -> float:
        cfg = self.config
        denominator = total
        if cfg.normalise == "min":
            denominator = min(total, story.mass)
        elif cfg.normalise == "dice":
            denominator = (total + story.mass) / 2
        similarity = shared / denominator if denominator else 0.0
        gap = max(0.0, published - story.last_seen, story.first_seen - published)
        return similarity - cfg.time_decay * gap / 86400.0

    def _evidence(
        self, feats: Features, anchors: list[str]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """(the article's anchor weights, in `anchors` order; the open stories sharing one of
        its specific anchors -> the weight they share)."""
        cfg = self.config
        # df counts this article as one more holder, so an anchor new to every story weighs
        # as much as one held by a single story.
        weights = dict(zip(anchors, self._weights(anchors, 1), strict=True))
        for anchor in feats.weak:
            weights[anchor] *= cfg.weak_factor
        evidence: dict[str, float] = {}
        get = evidence.get
        postings = self._postings.held
        max_postings = cfg.max_postings
        for anchor, weight in weights.items():
            if anchor[0] not in SPECIFIC_KINDS:
                continue
            held = postings(anchor)
            if held is None:
                continue
            if held.__class__ is str:
                evidence[held] = get(held, 0.0) + weight
            elif len(held) <= max_postings:
                for story_id in held:
                    evidence[story_id] = get(story_id, 0.0) + weight
        return weights, evidence

    def _ranked(self, evidence: dict[str, float], floor: float | None = None) -> list[Story]:
        """The `max_candidates` stories of `evidence` with the most, the older first among
        equals (with `floor`: of those with at least that much)."""
        stories = self._stories
        items = evidence.items()
        if floor is not None:
            items = [item for item in items if item[1] >= floor]  # type: ignore[assignment]
        # Ordinals are unique, so this is the order heapq.nsmallest gave with the key
        # (-evidence, ordinal); the insertion index keeps ties stable regardless.
        keyed = sorted(
            [
                (-weight, stories[story_id].ordinal, n, story_id)
                for n, (story_id, weight) in enumerate(items)
            ]
        )
        return [stories[story_id] for *_, story_id in keyed[: self.config.max_candidates]]

    def explain(self, article: StoryArticle) -> list[dict[str, Any]]:
        """How the article scores against its candidate stories, without changing state."""
        feats = self.features(article)
        return [
            {
                "story": story.id,
                "headline": story.headline,
                "evidence": round(evidence, 3),
                "similarity": round(similarity, 3),
                "verdict": verdict,
                "shared": sorted(a for a in feats.anchors if a in story.anchors),
            }
            for story, evidence, similarity, verdict in self._score_candidates(
                article, feats, sorted(feats.anchors)
            )
        ]

    def _score_candidates(
        self, article: StoryArticle, feats: Features, anchors: list[str]
    ) -> Iterable[tuple[Story, float, float, str]]:
        """(story, evidence, similarity, verdict) of the best candidate stories, for
        `explain` (`_similar` reaches the same verdicts for every article). `anchors`: the
        article's, sorted (sums of floats depend on their order: every sum here runs in this
        order)."""
        cfg = self.config
        weights, evidence = self._evidence(feats, anchors)
        total = sum(weights.values())
        entities = set(article.entities)
        for story in self._ranked(evidence):
            story_evidence = evidence[story.id]
            verdict = ""
            if not self._in_window(story, article.published):
                verdict = "outside join window"
            elif entities and story.entities and entities.isdisjoint(story.entities):
                verdict = "no shared entity"
            elif story_evidence < cfg.min_evidence:
                verdict = "too little evidence"
            shared = sum([w for a, w in weights.items() if a in story.anchors])
            similarity = self._similarity(shared, total, story, article.published)
            if not verdict:
                verdict = "too dissimilar" if similarity < cfg.min_similarity else "match"
            yield story, story_evidence, similarity, verdict

    def _story_mass(self, story: Story) -> float:
        """The weight of a story's anchors held by at least half of its articles. Computed
        when an article joins and kept: recomputing it for every candidate of every article
        was the engine's largest cost, and the specificities it reads change slowly."""
        need = story.size / 2
        return sum(self._weights([a for a, n in story.anchors.items() if n >= need], 0))

    # ---- state updates ------------------------------------------------------------------

    def _join(
        self,
        story: Story,
        article: StoryArticle,
        anchors: list[str],
        signature: np.ndarray | None,
        bands: tuple[bytes, ...] | None,
    ) -> None:
        """`anchors`: the article's, sorted; `bands`: its signature's LSH band keys."""
        cfg = self.config
        story.size += 1
        if len(story.members) < cfg.max_members:
            story.members.append(article.id)
            self._members[article.id] = story.id
        story.first_seen = min(story.first_seen, article.published)
        story.last_seen = max(story.last_seen, article.published)
        story.activity = self._clock
        self._stories.move_to_end(story.id)
        self._touch += 1
        story.touch = self._touch
        self._dirty[story.id] = None
        self._gone.pop(story.id, None)
        if story.size == 1:
            self._singles[story.id] = None
        else:
            self._singles.pop(story.id, None)
        if article.lang:
            story.langs[article.lang] = story.langs.get(article.lang, 0) + 1
        feed = article.feed or "(unknown)"
        if feed in story.feeds or len(story.feeds) < 1_000:
            story.feeds[feed] = story.feeds.get(feed, 0) + 1
        for name in article.entities:
            story.entities[name] = story.entities.get(name, 0) + 1
        for name in article.themes:
            story.themes[name] = story.themes.get(name, 0) + 1
        held = story.anchors
        added = []
        for anchor in anchors:
            if anchor in held:
                held[anchor] += 1
            elif len(held) < cfg.max_anchors:
                held[anchor] = 1
                added.append(anchor)
        self._postings.add_all(added, story.id)
        summary = {
            "id": article.id,
            "feed": article.feed,
            "url": article.url,
            "lang": article.lang,
            "title": article.title,
            "published": article.published,
        }
        if len(story.summaries) < cfg.max_articles_kept:
            story.summaries.append(summary)
        else:  # keep the first half, rotate the latest
            story.summaries[cfg.max_articles_kept // 2 :] = [
                *story.summaries[cfg.max_articles_kept // 2 + 1 :],
                summary,
            ]
        # Sorted, so dropping the times that left the window and counting are O(log n), not a
        # pass over up to 1,000 times per article of a big story.
        del story.recent[: bisect.bisect_right(story.recent, story.last_seen - cfg.growth_window)]
        if len(story.recent) < 1_000:
            bisect.insort(story.recent, article.published)
        rank = self._headline_rank(article)
        if article.title and rank < story.headline_rank:
            story.headline, story.headline_rank = article.title, rank
        # Index the article for near-duplicates if it is the story's first in its language
        # (copies are made within a language; each LSH entry costs ~b x 110 bytes).
        lang_tag = f":{article.lang or ''}"
        if (
            signature is not None
            and bands is not None
            and len(story.indexed) < cfg.max_indexed
            and not any(key.endswith(lang_tag) for key, _ in story.indexed)
        ):
            key = f"{story.id}#{len(story.indexed)}{lang_tag}"
            self._index.insert(key, bands)
            story.indexed.append((key, signature))
        self._refresh_mass(story)

    def _refresh_mass(self, story: Story) -> None:
        story.mass = self._story_mass(story)

    def _headline_rank(self, article: StoryArticle) -> tuple[int, float, str]:
        langs = self.config.headline_langs
        lang_rank = langs.index(article.lang) if article.lang in langs else len(langs)
        return (lang_rank, article.published, article.id)

    def _advance(self, now: float) -> list[dict[str, Any]]:
        self._clock = max(self._clock, now)
        closed = []
        horizon = self._clock - self.config.quiet_window_single
        while self._singles:
            story = self._stories[next(iter(self._singles))]
            if story.activity >= horizon:
                break
            closed.append(self._close(story))
        horizon = self._clock - self.config.quiet_window
        while self._stories:
            story = next(iter(self._stories.values()))
            if story.activity >= horizon:
                break
            closed.append(self._close(story))
        return closed

    def _evict(self) -> list[dict[str, Any]]:
        closed = []
        while len(self._stories) > self.config.max_open_stories:
            closed.append(self._close(next(iter(self._stories.values()))))
        return closed

    def _close(self, story: Story) -> dict[str, Any]:
        del self._stories[story.id]
        self._dirty.pop(story.id, None)
        self._gone[story.id] = None
        self._singles.pop(story.id, None)
        self._postings.remove_all(story.anchors, story.id)
        for key, _ in story.indexed:
            self._index.remove(key)
        for member in story.members:
            self._members.pop(member, None)
        self.closed_total += 1
        return story.to_dict(self.config, status="closed")

    # ---- snapshot / restore -------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as JSON bytes (signatures base64), for restarts."""
        return orjson.dumps(
            {
                **self._header_state(),
                "stories": [self._story_state(s) for s in self._stories.values()],
            }
        )

    def _header_state(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "num_perm": self.config.num_perm,
            "seed": self.config.seed,
            "clock": self._clock if math.isfinite(self._clock) else None,
            "ordinal": self._ordinal,
            "closed_total": self.closed_total,
        }

    @staticmethod
    def _story_state(s: Story) -> dict[str, Any]:
        return {
            "id": s.id,
            "ordinal": s.ordinal,
            "headline": s.headline,
            "headline_rank": list(s.headline_rank),
            "first_seen": s.first_seen,
            "last_seen": s.last_seen,
            "activity": s.activity,
            "size": s.size,
            "summaries": s.summaries,
            "langs": s.langs,
            "feeds": s.feeds,
            "entities": s.entities,
            "themes": s.themes,
            "anchors": s.anchors,
            "recent": s.recent,
            "mass": s.mass,
            "members": s.members,
            "indexed": [
                [key, base64.b64encode(sig.astype("<u8").tobytes()).decode()]
                for key, sig in s.indexed
            ],
        }

    def changes(self) -> Changes:
        """What changed since the last `checkpointed()`: the header, the records of the stories
        that articles joined and the ids of the stories that closed, or every open story
        (`full`) after a start, a restore from a whole snapshot or `require_full()`.
        Changes nothing: call `checkpointed()` once they are stored."""
        header = orjson.dumps({**self._header_state(), "touch": self._touch})
        if self._full:
            ids: Iterable[str] = self._stories
            closed: list[str] = []
        else:
            ids, closed = self._dirty, list(self._gone)
        stories = {
            sid: orjson.dumps(
                {**self._story_state(self._stories[sid]), "touch": self._stories[sid].touch}
            )
            for sid in ids
        }
        return Changes(self._full, header, stories, closed)

    def checkpointed(self) -> None:
        """The last `changes()` are stored: the next ones start from here."""
        self._dirty.clear()
        self._gone.clear()
        self._full = False

    def require_full(self) -> None:
        """The next `changes()` are the whole state (the stored checkpoint is not ours)."""
        self._full = True

    @classmethod
    def restore(
        cls,
        data: bytes,
        config: StoryConfig | None = None,
        gazetteer: Gazetteer | None = None,
    ) -> StoryEngine:
        """An engine in the state `snapshot()` saved. Raises ValueError on a bad snapshot."""
        engine = cls(config, gazetteer)
        try:
            state = orjson.loads(data)
            engine._restore_header(state)
            for item in state["stories"]:
                engine._restore_story(item)
        except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
            raise ValueError(f"bad story snapshot: {exc!r}") from None
        for touch, story in enumerate(engine._stories.values(), start=1):
            story.touch = touch
        engine._touch = len(engine._stories)
        return engine  # its first `changes()` are whole: the records carry new touches

    def _restore_header(self, state: dict[str, Any]) -> None:
        """The engine-wide fields of a snapshot or checkpoint header, after checking that it
        was written by this snapshot version with these MinHash settings."""
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown snapshot version {state.get('version')!r}")
        if (state["num_perm"], state["seed"]) != (self.config.num_perm, self.config.seed):
            raise ValueError("snapshot was taken with other MinHash settings")
        self._clock = state["clock"] if state["clock"] is not None else -math.inf
        self._ordinal = int(state["ordinal"])
        self.closed_total = int(state["closed_total"])

    @classmethod
    def restore_records(
        cls,
        header: bytes,
        stories: Iterable[bytes],
        config: StoryConfig | None = None,
        gazetteer: Gazetteer | None = None,
    ) -> StoryEngine:
        """An engine in the state an incremental checkpoint holds: the header and one record
        per open story, in any order (`changes()`). The same engine as `restore()` of the
        whole snapshot taken at that point. Raises ValueError on a bad checkpoint."""
        engine = cls(config, gazetteer)
        try:
            state = orjson.loads(header)
            engine._restore_header(state)
            engine._touch = int(state["touch"])
            items = [orjson.loads(raw) for raw in stories]
            items.sort(key=lambda item: int(item["touch"]))
            for item in items:
                touch = int(item["touch"])
                if touch > engine._touch or item["id"] in engine._stories:
                    raise ValueError(f"story {item['id']}: a record out of sequence")
                engine._restore_story(item)
                engine._stories[item["id"]].touch = touch
        except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
            raise ValueError(f"bad story checkpoint: {exc!r}") from None
        engine._full = False
        return engine

    def _restore_story(self, item: dict[str, Any]) -> None:
        story = Story(item["id"], int(item["ordinal"]))
        story.headline = item["headline"]
        lang_rank, published, article_id = item["headline_rank"]
        story.headline_rank = (int(lang_rank), float(published), str(article_id))
        story.first_seen = item["first_seen"]
        story.last_seen = item["last_seen"]
        story.activity = item["activity"]
        story.size = int(item["size"])
        story.summaries = list(item["summaries"])
        story.langs = dict(item["langs"])
        story.feeds = dict(item["feeds"])
        story.entities = dict(item["entities"])
        story.themes = dict(item["themes"])
        story.anchors = dict(item["anchors"])
        story.recent = sorted(item["recent"])
        mass = item["mass"]
        if isinstance(mass, bool) or not isinstance(mass, int | float):
            raise ValueError(f"story {story.id}: mass must be a number")
        story.mass = mass  # as saved: a story with no core anchors has the int 0 (sum of [])
        story.members = list(item["members"])
        for member in story.members:
            self._members[member] = story.id
        for anchor in story.anchors:
            self._postings.add(anchor, story.id)
        for key, packed in item["indexed"]:
            sig = np.frombuffer(base64.b64decode(packed), dtype="<u8").astype(np.uint64)
            if sig.shape != (self.config.num_perm,):
                raise ValueError(f"story {story.id}: signature of the wrong length")
            self._index.insert(key, self._index.bands(sig))
            story.indexed.append((key, sig))
        self._stories[story.id] = story
        if story.size == 1:
            self._singles[story.id] = None


@dataclass(frozen=True)
class Changes:
    """An incremental checkpoint's content (`StoryEngine.changes`). `full`: `stories` holds
    every open story and replaces what is stored; else only the stories joined since the last
    checkpoint, and `closed` the ids to delete. JSON records, keyed by story id."""

    full: bool
    header: bytes
    stories: dict[str, bytes]
    closed: list[str]

    @property
    def size(self) -> int:
        """Bytes this checkpoint writes for the engine."""
        return (
            len(self.header)
            + sum(len(k) + len(v) for k, v in self.stories.items())
            + sum(len(k) for k in self.closed)
        )


def assign_all(engine: StoryEngine, articles: Iterable[StoryArticle]) -> dict[str, str]:
    """Article id -> story id for articles in the given order."""
    return {a.id: engine.add(a).story_id for a in articles}
