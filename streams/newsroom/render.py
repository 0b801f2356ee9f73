"""Template plumbing: the Jinja2 environment (autoescaping on), safe links, evidence marks.

Every string from a feed reaches HTML through Jinja2's autoescaping; links to sources pass
`safe_url` first (only http and https: a `javascript:` URL in a feed must not become a link).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

from newswatch.streams.names import DisplayNames

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_URL_BAD = re.compile("[\x00-\x20\x7f]")  # controls and whitespace: never in a link we make


def safe_url(value: Any) -> str | None:
    """`value` when it is an absolute http(s) URL without control characters, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > 4096 or _URL_BAD.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def iso_time(epoch: Any) -> str:
    try:
        return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def human_time(epoch: Any) -> str:
    try:
        return datetime.fromtimestamp(float(epoch), UTC).strftime("%d %b %Y, %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def clean_text(value: Any) -> str:
    """Feed text without control characters (they would survive escaping as garbage)."""
    return _CONTROL.sub(" ", str(value or ""))


@dataclass(frozen=True)
class Segment:
    """A piece of text; `kind` is "" (plain), "entity" or "theme"; `label` names what matched."""

    text: str
    kind: str = ""
    label: str = ""


def highlight(text: str, marks: Iterable[tuple[str, str, str]]) -> list[Segment]:
    """Split `text` into segments, marking each occurrence of a mark's phrase.

    `marks`: (phrase, kind, label). Longer phrases win over the shorter ones they contain;
    matching is case-insensitive; marks never overlap."""
    phrases = sorted({m for m in marks if m[0].strip()}, key=lambda m: -len(m[0]))
    taken: list[tuple[int, int, str, str]] = []
    folded = text.casefold()
    for phrase, kind, label in phrases:
        needle = phrase.casefold()
        if len(needle) != len(phrase):  # casefold changed the length: offsets would drift
            continue
        start = folded.find(needle)
        while start != -1:
            end = start + len(needle)
            if all(end <= s or start >= e for s, e, _, _ in taken):
                taken.append((start, end, kind, label))
            start = folded.find(needle, end)
    taken.sort()
    segments: list[Segment] = []
    position = 0
    for start, end, kind, label in taken:
        if start > position:
            segments.append(Segment(text[position:start]))
        segments.append(Segment(text[start:end], kind, label))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments


def environment(names: DisplayNames) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template is HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["entity_name"] = names.entity
    env.filters["theme_name"] = names.short_theme
    env.filters["iso_time"] = iso_time
    env.filters["human_time"] = human_time
    env.filters["clean"] = clean_text
    env.globals["safe_url"] = safe_url
    return env
