"""Multilingual names of actors, places and sources (gazetteer.yaml) found in one pass.

One Aho-Corasick automaton (ahocorasick-rs, as the tagger) over NFKC lower-cased text. A
Latin or Cyrillic alias needs a word boundary on the left and, unless it ends in "*", on the
right; CJK, kana and Hangul aliases match as substrings.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import ahocorasick_rs
import orjson
import yaml

from newswatch.streams.errors import ConfigError

SHIPPED = Path(__file__).with_name("gazetteer.yaml")
_PREFIX = {"actors": "g", "places": "g", "sources": "s"}


class GazetteerError(ConfigError, ValueError):
    """A gazetteer file that cannot be used; the message names the entry."""


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() and ch < "\u2e80"


@dataclass(frozen=True, slots=True)
class _Alias:
    key: str
    bounded_left: bool
    bounded_right: bool


class Gazetteer:
    """Finds the `g:`/`s:` anchors of a text."""

    def __init__(self, entries: dict[str, dict[str, list[str]]]) -> None:
        patterns: dict[str, list[_Alias]] = {}
        for section, names in entries.items():
            if section not in _PREFIX:
                raise GazetteerError(f"unknown section {section!r} (actors, places, sources)")
            if not isinstance(names, dict):
                raise GazetteerError(f"section {section!r} must map ids to alias lists")
            for ident, aliases in names.items():
                if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                    raise GazetteerError(f"{section}.{ident}: aliases must be a list of strings")
                key = f"{_PREFIX[section]}:{ident}"
                for raw in aliases:
                    alias = unicodedata.normalize("NFKC", raw).lower().strip()
                    open_end = alias.endswith("*")
                    alias = alias.rstrip("*").strip()
                    if not alias:
                        raise GazetteerError(f"{section}.{ident}: empty alias")
                    spaced = _is_word_char(alias[0])
                    patterns.setdefault(alias, []).append(
                        _Alias(key, spaced, _is_word_char(alias[-1]) and not open_end)
                    )
        self._aliases = list(patterns)
        self._payloads = [patterns[a] for a in self._aliases]
        # Names what this gazetteer finds: features made with another one are not reused.
        listing = orjson.dumps(
            [
                [a, [(p.key, p.bounded_left, p.bounded_right) for p in patterns[a]]]
                for a in sorted(patterns)
            ]
        )
        self.digest = hashlib.blake2b(listing, digest_size=6).hexdigest()
        self._automaton = ahocorasick_rs.AhoCorasick(
            self._aliases,
            matchkind=ahocorasick_rs.MatchKind.LeftmostLongest,
            implementation=ahocorasick_rs.Implementation.DFA,
        )

    @classmethod
    @functools.cache
    def shipped(cls) -> Gazetteer:
        """The shipped gazetteer, loaded once per process (it is read-only)."""
        return cls.load(SHIPPED)

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        path = path or SHIPPED
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise GazetteerError(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            raise GazetteerError(f"{path}: expected sections actors, places, sources")
        return cls(data)

    def find(self, text: str) -> set[str]:
        """The anchors of every alias found in text."""
        return self.find_normalized(unicodedata.normalize("NFKC", text).lower())

    def find_normalized(self, norm: str) -> set[str]:
        """`find` of a text already NFKC-normalised and lower-cased (in that order)."""
        found: set[str] = set()
        for index, start, end in self._automaton.find_matches_as_indexes(norm):
            left_ok = start == 0 or not _is_word_char(norm[start - 1])
            right_ok = end == len(norm) or not _is_word_char(norm[end])
            for alias in self._payloads[index]:
                if (alias.bounded_left and not left_ok) or (alias.bounded_right and not right_ok):
                    continue
                found.add(alias.key)
        return found
