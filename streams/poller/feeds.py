"""The feeds file (YAML) and OPML import/export.

```yaml
feeds:
  - id: demo-de            # [a-z0-9][a-z0-9_-]*, unique: metric label and Kafka record field
    url: http://127.0.0.1:8000/de.xml
    name: Demo (German)    # optional
    lang: de               # optional, declared language
    interval: 60           # optional, seconds, clamped into [poller.min_interval, max_interval]
    unicity: auto          # optional: auto | guid | link | content (how article ids are made)
```
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newswatch.streams.errors import ConfigError

DEFAULT_FEEDS_FILE = Path(__file__).with_name("default_feeds.yaml")
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,99}$"
Unicity = Literal["auto", "guid", "link", "content"]


class FeedsFileError(ConfigError, ValueError):
    """A feeds or OPML file that cannot be used; the message names the file and the entry."""


class FeedSpec(BaseModel):
    """One configured feed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    url: str
    name: str | None = None
    lang: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
    interval: float | None = Field(None, gt=0)
    unicity: Unicity = "auto"

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


def feeds_path(configured: Path | None) -> Path:
    """The configured feeds file, or the shipped default list."""
    return configured if configured is not None else DEFAULT_FEEDS_FILE


def load_feeds(path: Path) -> list[FeedSpec]:
    """Read and validate a feeds file; raises FeedsFileError naming the bad entry."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FeedsFileError(f"feeds file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise FeedsFileError(f"feeds file {path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("feeds", []), list):
        raise FeedsFileError(f"feeds file {path}: expected a mapping with a 'feeds' list")
    feeds: list[FeedSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(data.get("feeds") or []):
        try:
            spec = FeedSpec.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise FeedsFileError(f"feeds file {path}: feed #{index + 1}: {problems}") from None
        if spec.id in seen:
            raise FeedsFileError(f"feeds file {path}: duplicate feed id {spec.id!r}")
        seen.add(spec.id)
        feeds.append(spec)
    return feeds


def dump_feeds(feeds: list[FeedSpec]) -> str:
    entries = [spec.model_dump(exclude_none=True, exclude_defaults=True) for spec in feeds]
    for entry, spec in zip(entries, feeds, strict=True):
        entry.setdefault("id", spec.id)
        entry.setdefault("url", spec.url)
    return yaml.safe_dump({"feeds": entries}, sort_keys=False, allow_unicode=True)


def save_feeds(path: Path, feeds: list[FeedSpec]) -> None:
    """Write atomically (temp file + rename) so a running poller never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump_feeds(feeds), encoding="utf-8")
    tmp.replace(path)


def slugify(text: str, taken: set[str]) -> str:
    """A feed id from a title or host, unique within `taken`."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "feed"
    if not base[0].isalnum():
        base = "f" + base
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def import_opml(text: str | bytes, existing: list[FeedSpec]) -> list[FeedSpec]:
    """Feeds from an OPML document (every outline with an xmlUrl), skipping known URLs.

    ElementTree never resolves external entities, and expat (>= 2.4) refuses entity-expansion
    bombs, so a hostile OPML file cannot read local files or exhaust memory.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FeedsFileError(f"OPML: not well-formed XML: {exc}") from None
    taken = {spec.id for spec in existing}
    known_urls = {spec.url for spec in existing}
    added: list[FeedSpec] = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if not url or url in known_urls:
            continue
        title = outline.get("title") or outline.get("text") or urlsplit(url).hostname or "feed"
        try:
            lang = outline.get("language") or None
            spec = FeedSpec(id=slugify(title, taken), url=url, name=title, lang=lang)
        except ValidationError:
            continue  # not an http(s) feed; nothing we could poll
        taken.add(spec.id)
        known_urls.add(url)
        added.append(spec)
    return added


def export_opml(feeds: list[FeedSpec], title: str = "newswatch feeds") -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for spec in feeds:
        attrs = {"type": "rss", "text": spec.display_name, "title": spec.display_name}
        attrs["xmlUrl"] = spec.url
        if spec.lang:
            attrs["language"] = spec.lang
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
