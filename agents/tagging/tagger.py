"""The tagging engine: one automaton pass over the normalised text, then cheap rules.

Every alias, stop phrase, context term and theme term of the catalogue is one pattern of a
single Aho-Corasick automaton (ahocorasick-rs, DFA, overlapping matches). One pass yields all
candidate matches; Python then applies word boundaries (Latin and Cyrillic only; CJK matches
as substrings), version suffixes ("Qwen2.5-Max"), stop phrases ("Kimi Räikkönen"), context
rules for ambiguous aliases and the weighted theme rules.

This Python code is the reference: the specification the compiled core is held to
(tests/unit/agents/tagging/test_native_equivalence.py), written to be read rather than to be fast.
When the compiled core (`_native`, Rust, see fastpath.py, spec.py and the README) is built,
it takes the per-character and per-match work — normalisation, the automaton pass, word
boundaries, theme term bookkeeping and scores, language detection — and hands aliases and
stop phrases back to the rules here; the results are the same. Without it (no Rust toolchain
at install time) this code tags on its own.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ahocorasick_rs

from newswatch.agents.tagging import fastpath, langdetect
from newswatch.agents.tagging.catalogue import Catalogue, Entity, Theme, load_catalogue
from newswatch.agents.tagging.normalize import (
    Normalized,
    clean,
    is_phrase,
    is_word_char,
    normalize,
    pattern_variants,
    phrase_regex,
    warm_up,
)
from newswatch.agents.tagging.spec import REPEAT, Kind, Payload
from newswatch.streams.errors import NewswatchError
from newswatch.streams.records import Mention, ThemeHit

if TYPE_CHECKING:  # the compiled core is optional
    from newswatch.agents.tagging._native import Engine, LangDetector, Scanned

log = logging.getLogger(__name__)

MAX_CHARS = 20_000_000  # refuse larger texts with a clear error rather than stall a worker
WINDOW = 300  # characters around an ambiguous alias searched for context
MAX_EVIDENCE = 6
# Memory bounds for huge inputs (a 10 MB text full of aliases): matches are collected one
# segment at a time, and only so many spans are kept per term and mentions per entity.
SEGMENT = 1_000_000
MAX_SPANS = 200
MAX_MENTIONS_PER_ENTITY = 2_000

_VERSION = re.compile(
    r"(?P<sep>[ \-_]?)(?P<pre>[vrkmtxz]?)(?P<num>\d{1,3}(?:\.\d+)*)(?P<unit>[bkm]?)"
    r"(?P<tail>(?:[ \-](?:max|pro|plus|turbo|lite|mini|flash|large|medium|small|instruct|chat"
    r"|coder|vl|vision|preview|air|thinking|zero|omni|base|long|a\d+b|\d+b))*)"
)
_WORD_RUN = re.compile(r"\w+")


class TaggingError(NewswatchError, ValueError):
    """Input the engine refuses (e.g. too large); the message says why."""


@dataclass(frozen=True, slots=True)
class TagResult:
    """What the engine found in one text."""

    entities: list[str]
    themes: list[ThemeHit]
    mentions: list[Mention]
    lang: str

    @property
    def theme_ids(self) -> list[str]:
        return [t.id for t in self.themes]

    def to_dict(self) -> dict[str, object]:
        return {
            "entities": self.entities,
            "themes": [{"id": t.id, "score": t.score, "evidence": t.evidence} for t in self.themes],
            "mentions": [
                {"entity": m.entity, "start": m.start, "end": m.end, "text": m.text}
                for m in self.mentions
            ],
            "lang": self.lang,
        }


_is_word = is_word_char  # a letter or digit of a script that separates words with spaces


def _glued_prefixes() -> frozenset[str]:
    """Particles glued to the next word: Arabic و ف (and, so), ب ل ك (by, for, as), ال (the)
    and their combinations ("وبال", "لل"); Hebrew ו ה ב ל מ ש כ, up to three in a row."""
    arabic = set()
    for conj in ("", "و", "ف"):
        for prep in ("", "ب", "ل", "ك"):
            for article in ("", "ال"):
                arabic.add(conj + prep + article)
        arabic.add(conj + "لل")  # ل + ال
    letters = "והבלמשכ"
    hebrew = {a + b + c for a in letters for b in ("", *letters) for c in ("", *letters)}
    hebrew |= set(letters)
    return frozenset(p for p in arabic | hebrew if p)


GLUED_PREFIXES = _glued_prefixes()
_MAX_PREFIX = max(map(len, GLUED_PREFIXES))


def _left_ok(text: str, start: int) -> bool:
    """Whether a match at `start` has a word boundary on its left: no letter or digit of a
    spaced script before it (`is_word_char`; CJK and Thai match as substrings), or only
    glued particles before an Arabic or Hebrew match (`_left_free`)."""
    return start == 0 or not _is_word(text[start - 1]) or _left_free(text, start)


def _right_ok(text: str, end: int) -> bool:
    """Whether a match ending at `end` has a word boundary on its right."""
    return end == len(text) or not _is_word(text[end])


def _left_free(text: str, start: int) -> bool:
    """A left word boundary after all, where the character before `start` is a letter: it is
    Thai or Lao (matched as substrings, like CJK), or an Arabic or Hebrew match is preceded
    by nothing but glued particles ("وديب سيك", "ובייטדאנס")."""
    before = text[start - 1]
    if "\u0e00" <= before <= "\u0eff":
        return True
    if not ("\u0590" <= before <= "\u06ff" and "\u0590" <= text[start] <= "\u06ff"):
        return False
    i = start - 1
    while i >= 0 and start - i <= _MAX_PREFIX and is_word_char(text[i]):
        i -= 1
    if i >= 0 and is_word_char(text[i]):
        return False  # a longer word: the match is inside it
    return text[i + 1 : start] in GLUED_PREFIXES


@dataclass
class _Candidate:
    start: int
    end: int
    entity: str
    ambiguous: bool
    strong_version: bool = False


Span = tuple[int, int]


class _Scan:
    """Everything one automaton pass found, after word-boundary checks.

    A plain slotted class (not a dataclass with default factories): one is built per text,
    and most texts fill few of its fields.
    """

    __slots__ = (
        "aliases",
        "block",
        "context_full",
        "generic",
        "native",
        "near",
        "per_entity",
        "required",
        "skip",
        "stops",
        "support",
        "terms",
        "theme_stops",
        "themes",
    )

    def __init__(self) -> None:
        self.aliases: list[_Candidate] = []
        self.stops: list[tuple[int, int, str]] = []
        self.support: dict[str, list[int]] = {}
        self.block: dict[str, list[int]] = {}
        self.generic: list[int] = []
        self.terms: dict[str, dict[str, list[Span]]] = {}
        self.near: dict[tuple[str, int, int], list[Span]] = {}
        self.required: set[str] = set()
        self.theme_stops: list[tuple[int, int, str]] = []
        self.context_full = False
        self.themes: set[str] = set()  # themes with any evidence found
        self.per_entity: dict[str, int] = {}  # candidates kept per entity
        self.skip: frozenset[str] = frozenset()  # themes known not to reach their threshold
        self.native: Scanned | None = None  # the compiled core's scan (`_themes_native`)


class Tagger:
    """A compiled catalogue. `tag()` keeps no state between calls (safe to share).

    `native`: use the compiled core (`_native`, see fastpath.py) when it is built (None, the
    default), never (False: the pure-Python reference), or insist (True: ImportError without
    it). Both give the same results.
    """

    def __init__(self, catalogue: Catalogue, native: bool | None = None) -> None:
        started = time.perf_counter()
        self.catalogue = catalogue
        main: dict[str, list[Payload]] = defaultdict(list)
        context: dict[str, list[Payload]] = defaultdict(list)

        self._phrases: dict[str, re.Pattern[str]] = {}

        def add(
            table: dict[str, list[Payload]], raw: str, kind: Kind, owner: str, rule: int = -1,
            side: int = 0, term: str | None = None,
        ) -> None:  # fmt: skip
            text = raw.strip()
            left_free, right_free = text.startswith("*"), text.endswith("*")
            text = text.strip("*").strip()
            for variant in pattern_variants(text):
                payload = Payload(
                    kind,
                    owner,
                    term or raw,
                    left=not left_free and _is_word(variant[0]),
                    right=not right_free and _is_word(variant[-1]),
                    rule=rule,
                    side=side,
                )
                if payload not in table[variant]:
                    table[variant].append(payload)

        for ent in catalogue.entities.values():
            for alias in ent.aliases:
                add(main, alias, Kind.ALIAS, ent.id)
            for alias in ent.ambiguous:
                add(main, alias, Kind.AMBIG, ent.id)
            for phrase in ent.stop:
                add(main, phrase, Kind.STOP, ent.id)
            for term in ent.support:
                add(context, term, Kind.SUPPORT, ent.id)
            for term in ent.block:
                add(context, term, Kind.BLOCK, ent.id)
        for term in catalogue.context:
            add(context, term, Kind.GENERIC, "")
        for theme in catalogue.themes.values():
            for term, _weight in theme.terms:
                if is_phrase(term):  # "контрол* за экспорт*": anchor on the first word
                    self._phrases[term] = phrase_regex(term)
                    add(main, term.split()[0], Kind.PHRASE, theme.id, rule=0, side=0, term=term)
                else:
                    add(main, term, Kind.TERM, theme.id)
            for index, rule in enumerate(theme.near):
                for side, terms in enumerate((rule.a, rule.b)):
                    for term in terms:
                        add(main, term, Kind.NEAR, theme.id, rule=index, side=side)
            for term in theme.requires:
                add(context, term, Kind.REQ, theme.id)
            for phrase in theme.stop:
                add(main, phrase, Kind.TSTOP, theme.id)
        # The hot pass: leftmost-longest, non-overlapping (2-3x faster than reporting every
        # overlapping match). Shorter patterns inside a longer match are recovered from a
        # table computed once here ("open-source-modell" also holds "open-source", "modell").
        self._patterns = list(main)
        self._payloads = [tuple(main[p]) for p in self._patterns]
        every = ahocorasick_rs.AhoCorasick(self._patterns)
        self._inner: list[tuple[tuple[int, int, int], ...]] = [
            tuple(
                (q, a, b)
                for q, a, b in every.find_matches_as_indexes(pattern, overlapping=True)
                if q != index
            )
            for index, pattern in enumerate(self._patterns)
        ]
        # Context terms are only needed to confirm an ambiguous alias or a theme's
        # `requires`: a second automaton, run over the text only when needed.
        self._context_patterns = list(context)
        self._context_payloads = [tuple(context[p]) for p in self._context_patterns]
        self._context = ahocorasick_rs.AhoCorasick(
            self._context_patterns, implementation=ahocorasick_rs.Implementation.DFA
        )
        self._related = {e: catalogue.related(e) for e in catalogue.entities}
        self._weights = {t.id: dict(t.terms) for t in catalogue.themes.values()}
        self._near_keys = {
            t.id: [(rule, (t.id, i, 0), (t.id, i, 1)) for i, rule in enumerate(t.near)]
            for t in catalogue.themes.values()
        }
        self._entity_themes: dict[str, list[str]] = defaultdict(list)
        for theme in catalogue.themes.values():
            for entity, _weight in theme.entities:
                self._entity_themes[entity].append(theme.id)
        warm_up()
        self._flat_payloads: list[Payload] = []  # what the compiled core's events index
        self._engine: Engine | None = self._native_engine() if native is not False else None
        self._detector: LangDetector | None = None
        if self._engine is not None:
            self._detector = fastpath.lang_detector()
        if self._engine is None:
            _ = self._automaton  # built now: compile time is measured and paid up front
        if native and self._engine is None:
            raise ImportError("the compiled tagging core (tagging._native) is not built")
        self.compile_seconds = time.perf_counter() - started

    @functools.cached_property
    def _automaton(self) -> ahocorasick_rs.AhoCorasick:
        """The pure-Python engine's automaton, built when first used: with the compiled
        core it is not needed (its DFA takes ~30 MB)."""
        return ahocorasick_rs.AhoCorasick(
            self._patterns,
            matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_LONGEST,
            implementation=ahocorasick_rs.Implementation.DFA,
        )

    @classmethod
    def load(cls, catalogue_dir: Path | None = None, native: bool | None = None) -> Tagger:
        """Load and compile a catalogue folder (None: the shipped catalogue)."""
        return cls(load_catalogue(catalogue_dir), native=native)

    @property
    def engine(self) -> str:
        """Which engine tags: "native" (the compiled core) or "python"."""
        return "native" if self._engine is not None else "python"

    def _native_engine(self) -> Engine | None:
        """The compiled core loaded with this catalogue (`fastpath.engine_spec`), or None
        when it is not built."""
        module = fastpath.load_native()
        if module is None:
            return None
        spec, self._flat_payloads = fastpath.engine_spec(
            self._patterns,
            self._payloads,
            self._inner,
            self._phrases,
            self.catalogue,
            (MAX_SPANS, MAX_MENTIONS_PER_ENTITY, SEGMENT),
            GLUED_PREFIXES,
        )
        return module.Engine(spec)

    @property
    def pattern_count(self) -> int:
        return len(self._patterns) + len(self._context_patterns)

    @property
    def patterns(self) -> list[str]:
        """The normalised pattern strings of the automaton (for benchmarks)."""
        return list(self._patterns)

    # ---- tagging -----------------------------------------------------------------------

    def tag(self, text: str, title: str | None = None, lang: str | None = None) -> TagResult:
        """Tag one article; offsets index `title + "\\n\\n" + text` (or `text` alone)."""
        if not isinstance(text, str) or (title is not None and not isinstance(title, str)):
            raise TaggingError("text and title must be strings")
        full = f"{title}\n\n{text}" if title else text
        if len(full) > MAX_CHARS:
            raise TaggingError(f"text of {len(full)} characters exceeds {MAX_CHARS}")
        if lang:
            detected = langdetect.primary(lang)
        elif self._detector is not None:
            detected = self._detector.detect(full) or langdetect.detect(full)
        else:
            detected = langdetect.detect(full)
        if not full or full.isspace():
            return TagResult([], [], [], detected)
        if self._engine is not None:
            try:
                return self._tag_native(self._engine, full, detected)
            except BaseException as exc:  # a Rust panic arrives as a BaseException
                if type(exc).__name__ != "PanicException":
                    raise
                log.exception("compiled tagging core failed (%d chars): Python used", len(full))
        norm, scan = self._scan_python(full)
        mentions = self._entities(scan, norm)
        entities = sorted({m.entity for m in mentions})
        return TagResult(entities, self._themes(scan, norm, set(entities)), mentions, detected)

    def _tag_native(self, engine: Engine, full: str, detected: str) -> TagResult:
        found = self._scan_native(engine, full)
        if found is None:  # no alias, no theme evidence
            return TagResult([], [], [], detected)
        norm, scan = found
        mentions = self._entities(scan, norm)
        entities = sorted({m.entity for m in mentions})
        themes = self._themes_native(engine, scan, norm, set(entities))
        return TagResult(entities, themes, mentions, detected)

    def _scan_python(self, full: str) -> tuple[Normalized, _Scan]:
        """The reference: normalize and scan in Python."""
        norm = normalize(full)
        try:
            scan = self._scan(norm.text)
        except UnicodeEncodeError:  # lone surrogates: U+FFFD keeps every offset in place
            norm = normalize(clean(full))
            norm = _with_original(norm, full)
            scan = self._scan(norm.text)
        return norm, scan

    def _scan_native(self, engine: Engine, full: str) -> tuple[Normalized, _Scan] | None:
        """The same as `_scan_python`, by the compiled core: it normalises the text when
        every character maps to one (else Python's `normalize()` does), matches, checks word
        boundaries and records theme terms; aliases and stop phrases come back as events for
        the rules here, in the order the reference meets them. None: nothing to find."""
        norm: Normalized | None = None
        try:
            scanned = engine.scan(full)
            if scanned is None:
                norm = normalize(full)
                scanned = engine.scan_normalised(norm.text)
        except UnicodeEncodeError:  # lone surrogates: U+FFFD keeps every offset in place
            norm = _with_original(normalize(clean(full)), full)
            scanned = engine.scan_normalised(norm.text)
        if not scanned.events and not scanned.themes:
            return None
        if norm is None:  # normalised one character for one: offsets map 1:1
            norm = Normalized(scanned.text, full)
        scan = _Scan()
        scan.native, scan.themes, scan.skip = scanned, set(scanned.themes), scanned.skip
        payloads = self._flat_payloads
        for index, start, end, right_ok in scanned.events:
            p = payloads[index]
            if p.kind in (Kind.ALIAS, Kind.AMBIG):
                self._alias(scan, norm.text, p, start, end, right_ok)
            elif p.kind == Kind.STOP:
                scan.stops.append((start, end, p.owner))
            else:
                scan.theme_stops.append((start, end, p.owner))
        return norm, scan

    def _scan(self, text: str) -> _Scan:
        """One leftmost-longest automaton pass (segment by segment for huge texts); every
        match, and every shorter pattern inside it ("open-source" in "open-source-modell"),
        goes through `_hit`."""
        scan = _Scan()
        for lo, hi in _segments(text):
            for index, a, b in self._automaton.find_matches_as_indexes(text[lo:hi]):
                start = lo + a
                self._hit(scan, text, index, start, lo + b)
                for sub, x, y in self._inner[index]:
                    self._hit(scan, text, sub, start + x, start + y)
        return scan

    def _hit(self, scan: _Scan, text: str, index: int, start: int, end: int) -> None:
        """Record what pattern `index`, matched at [start, end), stands for: each payload
        whose word boundaries hold (aliases judge a glued right side themselves)."""
        left_ok, right_ok = _left_ok(text, start), _right_ok(text, end)
        for p in self._payloads[index]:
            if p.left and not left_ok:
                continue
            if p.kind in (Kind.ALIAS, Kind.AMBIG):
                self._alias(scan, text, p, start, end, right_ok)
            elif p.right and not right_ok:
                continue
            elif p.kind == Kind.TERM:
                _add_span(scan, p, start, end)
            elif p.kind == Kind.PHRASE:
                found = self._phrases[p.term].match(text, start)
                if found:
                    _add_span(scan, p, start, found.end())
            elif p.kind == Kind.NEAR:
                spans = scan.near.setdefault((p.owner, p.rule, p.side), [])
                if len(spans) < MAX_SPANS:
                    spans.append((start, end))
                scan.themes.add(p.owner)
            elif p.kind == Kind.STOP:
                scan.stops.append((start, end, p.owner))
            elif p.kind == Kind.TSTOP:
                scan.theme_stops.append((start, end, p.owner))

    def _scan_context(self, scan: _Scan, text: str, windows: list[Span] | None = None) -> None:
        """Fill the context fields of `scan`: a second automaton, run only when needed and,
        for ambiguous aliases, only over the windows around them."""
        if scan.context_full:
            return
        if windows is None:
            scan.context_full = True
            windows = [(0, len(text))]
            scan.generic.clear()
            scan.support.clear()
            scan.block.clear()
        payloads = self._context_payloads
        for lo, hi in _merge(windows):
            for index, a, b in self._context.find_matches_as_indexes(text[lo:hi], overlapping=True):
                start, end = lo + a, lo + b
                left_ok, right_ok = _left_ok(text, start), _right_ok(text, end)
                for p in payloads[index]:
                    if (p.left and not left_ok) or (p.right and not right_ok):
                        continue
                    if p.kind == Kind.GENERIC:
                        scan.generic.append(start)
                    elif p.kind == Kind.SUPPORT:
                        scan.support.setdefault(p.owner, []).append(start)
                    elif p.kind == Kind.BLOCK:
                        scan.block.setdefault(p.owner, []).append(start)
                    elif p.kind == Kind.REQ:
                        scan.required.add(p.owner)

    def _alias(
        self, scan: _Scan, text: str, p: Payload, start: int, end: int, right_ok: bool
    ) -> None:
        ent = self.catalogue.entities[p.owner]
        strong = False
        if ent.versions and not text[end - 1].isdigit():  # "step 1" + "7" is not a version
            found = _VERSION.match(text, end)
            if found and found.end() > end:
                stop = found.end()
                if stop == len(text) or not _is_word(text[stop]):
                    strong = bool(
                        found["pre"]
                        or "." in found["num"]
                        or found["unit"]
                        or found["tail"]
                        or found["sep"] != " "
                    )
                    if strong or right_ok:
                        end, right_ok = stop, True
        if p.right and not right_ok:
            run = _WORD_RUN.match(text, end)
            if not _inflection(text[end - 1], run.group() if run else "", end - start):
                return
        seen = scan.per_entity.get(p.owner, 0)
        if seen < MAX_MENTIONS_PER_ENTITY:
            scan.per_entity[p.owner] = seen + 1
            scan.aliases.append(_Candidate(start, end, p.owner, p.kind == Kind.AMBIG, strong))

    def _entities(self, scan: _Scan, norm: Normalized) -> list[Mention]:
        if not scan.aliases:
            return []
        cands = [c for c in scan.aliases if not _covered(c, scan.stops)]
        cands.sort(key=lambda c: (c.start, c.start - c.end, c.ambiguous))
        kept: list[_Candidate] = []
        last_end = -1
        for cand in cands:
            if cand.start >= last_end:
                kept.append(cand)
                last_end = cand.end
        accepted = [c for c in kept if not c.ambiguous]
        pending = [c for c in kept if c.ambiguous]
        if pending:
            windows = [(max(0, c.start - WINDOW), c.end + WINDOW) for c in pending]
            self._scan_context(scan, norm.text, windows)
        for _round in range(2):  # a confirmed ambiguous alias may confirm another
            found = {c.entity for c in accepted}
            still: list[_Candidate] = []
            for cand in pending:
                (accepted if self._confirmed(cand, scan, norm, found) else still).append(cand)
            pending = still
        accepted.sort(key=lambda c: c.start)
        mentions = []
        for cand in accepted:
            start, end = norm.span(cand.start, cand.end)
            mentions.append(Mention(cand.entity, start, end, norm.original[start:end]))
        return mentions

    def _confirmed(self, cand: _Candidate, scan: _Scan, norm: Normalized, found: set[str]) -> bool:
        """Whether an ambiguous alias is the entity here (see catalogue/entities.yaml)."""
        ent: Entity = self.catalogue.entities[cand.entity]
        if cand.strong_version and ent.version_confirms:
            return True
        if _near(scan.block.get(ent.id, ()), cand.start):
            return False
        if ent.accept_forms:
            start, end = norm.span(cand.start, cand.end)
            if norm.original[start:end] in ent.accept_forms:
                return True
        if _near(scan.support.get(ent.id, ()), cand.start):
            return True
        if ent.generic_support and _near(scan.generic, cand.start):
            return True
        return bool(self._related[ent.id] & found)

    def _themes(self, scan: _Scan, norm: Normalized, entities: set[str]) -> list[ThemeHit]:
        if not scan.themes and not entities:
            return []
        hits = []
        touched = set(scan.themes)
        for entity in entities:
            touched.update(self._entity_themes.get(entity, ()))
        if scan.skip:
            touched -= scan.skip
        themes = self.catalogue.themes
        near = scan.near
        for theme_id in sorted(touched):
            theme = themes[theme_id]
            terms = scan.terms.get(theme_id) or {}
            weights = self._weights[theme_id]
            # Upper bound first: most texts hold a stray weak term, not enough evidence.
            bound = 0.0
            for term, spans in terms.items():
                bound += weights[term] * REPEAT[min(len(spans), 3)]
            # Proximity rules with both sides found (only those can add to the score).
            pairs = [r for r in self._near_keys[theme_id] if r[1] in near and r[2] in near]
            for rule, _, _ in pairs:
                bound += rule.weight
            for entity, weight in theme.entities:
                if entity in entities:
                    bound += weight
            if bound < theme.threshold or bound <= 0:
                continue
            stops = [(a, b) for a, b, owner in scan.theme_stops if owner == theme_id]
            score = 0.0
            evidence: list[tuple[float, int, int]] = []
            for term, spans in _longest(terms, stops, weights).items():
                weight = weights[term]
                score += weight * REPEAT[min(len(spans), 3)]
                evidence.append((weight, *spans[0]))
            for rule, left_key, right_key in pairs:
                left, right = _free(near[left_key], stops), _free(near[right_key], stops)
                pair = _near_pair(norm.text, left, right, rule.within)
                if pair:
                    score += rule.weight
                    evidence.append((rule.weight, *pair))
            named = []
            for ent_id, weight in theme.entities:
                if ent_id in entities:
                    score += weight
                    named.append(self.catalogue.entities[ent_id].name)
            if score <= 0 or score < theme.threshold:
                continue
            hit = self._theme_hit(scan, norm, entities, theme, score, evidence, named)
            if hit is not None:
                hits.append(hit)
        hits.sort(key=lambda h: h.id)
        return hits

    def _theme_hit(
        self, scan: _Scan, norm: Normalized, entities: set[str], theme: Theme, score: float,
        evidence: list[tuple[float, int, int]], named: list[str],
    ) -> ThemeHit | None:  # fmt: skip
        """A theme whose score reached its threshold: its `requires`, then the evidence."""
        if theme.requires and not (theme.requires_entity and entities):
            self._scan_context(scan, norm.text)
            if theme.id not in scan.required:
                return None
        evidence.sort(key=lambda e: (-e[0], e[1]))
        seen: list[str] = []
        for _, a, b in evidence:
            snippet = _snippet(norm.original, *norm.span(a, b))
            if snippet not in seen:
                seen.append(snippet)
            if len(seen) == MAX_EVIDENCE:
                break
        seen.extend(n for n in named if n not in seen)
        return ThemeHit(theme.id, round(score, 3), seen[:MAX_EVIDENCE])

    def _themes_native(
        self, engine: Engine, scan: _Scan, norm: Normalized, entities: set[str]
    ) -> list[ThemeHit]:
        """`_themes` with the scores computed by the compiled core (`Engine.themes`)."""
        if scan.native is None or (not scan.themes and not entities):
            return []
        touched = set(scan.themes)
        for entity in entities:
            touched.update(self._entity_themes.get(entity, ()))
        if scan.skip:
            touched -= scan.skip
        hits = []
        scored = engine.themes(scan.native, sorted(touched), sorted(entities))
        for theme_id, score, evidence in scored:
            theme = self.catalogue.themes[theme_id]
            named = [self.catalogue.entities[e].name for e, _ in theme.entities if e in entities]
            hit = self._theme_hit(scan, norm, entities, theme, score, evidence, named)
            if hit is not None:
                hits.append(hit)
        return hits


def _add_span(scan: _Scan, p: Payload, start: int, end: int) -> None:
    """Record a theme term's match (at most MAX_SPANS per term)."""
    by_term = scan.terms.get(p.owner)
    if by_term is None:
        by_term = scan.terms[p.owner] = {}
    spans = by_term.get(p.term)
    if spans is None:
        by_term[p.term] = [(start, end)]
    elif len(spans) < MAX_SPANS:
        spans.append((start, end))
    scan.themes.add(p.owner)


def _longest(
    terms: dict[str, list[Span]], stops: list[Span], weights: dict[str, float]
) -> dict[str, list[Span]]:
    """One term per stretch of overlapping term matches: the heaviest, then the longest
    ("開源模型" over "開源"; "個人情報" (1.0) over "個人情報保護委員会" (0.4))."""
    spans = sorted(
        ((a, b, term) for term, found in terms.items() for a, b in found),
        key=lambda s: (s[0], s[0] - s[1]),
    )
    groups: list[list[tuple[int, int, str]]] = []
    group_end = -1
    for a, b, term in spans:
        if stops and _overlaps((a, b), stops):
            continue
        if a < group_end:
            groups[-1].append((a, b, term))
            group_end = max(group_end, b)
        else:
            groups.append([(a, b, term)])
            group_end = b
    out: dict[str, list[Span]] = {}
    for group in groups:
        a, b, term = max(group, key=lambda s: (weights.get(s[2], 0.0), s[1] - s[0]))
        out.setdefault(term, []).append((a, b))
    return out


def _with_original(norm: Normalized, original: str) -> Normalized:
    """The same normalised text and map, pointing back at `original` (same length)."""
    return Normalized(
        norm.text, original, norm.norm_starts, norm.norm_ends, norm.orig_starts, norm.orig_ends
    )


def _segments(text: str) -> list[Span]:
    """Cut a long text into about SEGMENT-sized pieces at line breaks (else spaces)."""
    n = len(text)
    if n <= SEGMENT:
        return [(0, n)]
    out = []
    lo = 0
    while lo < n:
        hi = min(n, lo + SEGMENT)
        if hi < n:
            cut = text.rfind("\n", lo + SEGMENT // 2, hi)
            if cut < 0:
                cut = text.rfind(" ", lo + SEGMENT // 2, hi)
            hi = cut + 1 if cut >= 0 else hi
        out.append((lo, hi))
        lo = hi
    return out


def _merge(windows: list[Span]) -> list[Span]:
    out: list[list[int]] = []
    for lo, hi in sorted(windows):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def _free(spans: Iterable[Span], stops: list[Span]) -> list[Span]:
    if not stops:
        return list(spans)
    return [s for s in spans if not _overlaps(s, stops)]


def _snippet(original: str, start: int, end: int) -> str:
    """The original text of a match, extended to the end of its word ("Beschränk" -> ...ungen)."""
    if end > start and _is_word(original[end - 1]):
        run = _WORD_RUN.match(original, end)
        if run:
            end = min(run.end(), end + 30)
    return " ".join(original[start:end].split())


# Case endings glued to a Latin-script name: Polish and Czech (DeepSeeka, DeepSeekiem,
# DeepSeeku, Huaweiem), Hungarian (DeepSeeket, Alibabánál is listed), Finnish (DeepSeekin,
# DeepSeekissä), Romanian (DeepSeekul). Only after aliases of 5+ characters: a short alias
# glued to a letter is too often part of another word ("kimia", "qwerty").
_ENDINGS = (
    "a u e y ie em iem owi ovi ou om ach ami ów ů ům ech ot et öt nak nek ban ben ba be ra re "
    "ról ről tól től hoz hez höz val vel on en ön in ia ssa ssä sta stä lla llä lle lta ltä ksi "
    "ul ului"
)
_LATIN_ENDINGS = frozenset(_ENDINGS.split())


def _inflection(last: str, suffix: str, length: int) -> bool:
    """Whether `suffix` after an alias of `length` characters ending in `last` is an
    inflection, not another word."""
    if not suffix:
        return True
    if "\u0400" <= last <= "\u052f":  # Cyrillic case endings: Дипсика, Дипсиком
        return len(suffix) <= 3 and all("\u0400" <= c <= "\u052f" for c in suffix)
    if "\u0980" <= last <= "\u09ff":  # Bengali case endings: ডিপসিককে, আলিবাবার
        return len(suffix) <= 4 and all("\u0980" <= c <= "\u09ff" for c in suffix)
    if suffix == "s":  # German genitive, English plural: "Alibabas", "ByteDances"
        return True
    return length >= 5 and last.isascii() and suffix in _LATIN_ENDINGS


def _covered(cand: _Candidate, stops: list[tuple[int, int, str]]) -> bool:
    return any(owner == cand.entity and a < cand.end and cand.start < b for a, b, owner in stops)


def _overlaps(span: Span, spans: list[Span]) -> bool:
    return any(a < span[1] and span[0] < b for a, b in spans)


def _near(positions: Iterable[int], at: int) -> bool:
    return any(abs(p - at) <= WINDOW for p in positions)


def _near_pair(text: str, left: list[Span], right: list[Span], within: int) -> Span | None:
    """The first pair of spans at most `within` words apart, as one covering span."""
    reach = (within + 2) * 24  # characters: no pair further apart can qualify
    for a in left:
        for b in right:
            lo, hi = (a, b) if a[0] <= b[0] else (b, a)
            if hi[0] < lo[1] or hi[0] - lo[1] > reach:
                continue  # the same word matched both sides, or too far apart
            gap = text[lo[1] : hi[0]]
            spaces = gap.count(" ")
            # Latin-script words rarely pass 8 characters; the rest is text without spaces
            # (Chinese, Japanese), counted as a word per 2 characters.
            words = spaces + max(0, len(gap) - 8 * (spaces + 1)) // 2
            if words <= within + 1 and "\n\n" not in gap:
                return (lo[0], hi[1])
    return None
