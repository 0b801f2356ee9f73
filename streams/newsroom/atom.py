"""The Atom feed (RFC 4287) of the newsroom's filtered alert list: `/feeds/alerts.atom`.

Built with ElementTree, so every feed-controlled string is escaped by the serializer. Control
characters that XML 1.0 forbids (a feed can carry them) are removed, not escaped. Entry ids are
`urn:newswatch:alert:<id>` (stable across replays: alert ids are deterministic).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from newswatch.streams.names import DisplayNames
from newswatch.streams.newsroom.render import safe_url

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: Any) -> str:
    return _XML_INVALID.sub("", str(text or ""))


def _date(epoch: float | None) -> str:
    when = datetime.fromtimestamp(float(epoch or 0.0), UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_feed(
    alerts: Sequence[dict[str, Any]],
    *,
    base_url: str,
    self_url: str,
    names: DisplayNames,
    subtitle: str = "",
) -> bytes:
    """Atom XML of `alerts` (newest first). `base_url` ends with "/"."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = _clean(text)
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", "urn:newswatch:alerts:" + _clean(self_url.partition("?")[2] or "all"))
    sub(feed, "title", "newswatch alerts")
    if subtitle:
        sub(feed, "subtitle", subtitle)
    newest = max((float(a.get("created_at") or 0) for a in alerts), default=0.0)
    sub(feed, "updated", _date(newest))
    sub(feed, "link", rel="self", href=_clean(self_url), type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=_clean(base_url), type="text/html")
    author = sub(feed, "author")
    sub(author, "name", "newswatch")
    sub(feed, "generator", "newswatch")
    for alert in alerts:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:newswatch:alert:{_clean(alert.get('id'))}")
        severity = str(alert.get("severity") or "").upper()
        sub(entry, "title", f"[{severity}] {alert.get('title') or alert.get('rule') or ''}")
        sub(entry, "updated", _date(alert.get("created_at")))
        if alert.get("published"):
            sub(entry, "published", _date(alert.get("published")))
        sub(
            entry,
            "link",
            rel="alternate",
            type="text/html",
            href=_clean(f"{base_url}alerts/{alert.get('id')}"),
        )
        source = safe_url(alert.get("url"))
        if source:
            sub(entry, "link", rel="related", href=_clean(source))
        entities = names.entities(alert.get("entities") or ())
        themes = names.themes(alert.get("themes") or ())
        lines = [str(alert.get("summary") or "").strip()]
        lines.append(
            " · ".join(
                part
                for part in (
                    f"rule {alert.get('rule')}",
                    ("entities: " + ", ".join(entities)) if entities else "",
                    ("themes: " + ", ".join(themes)) if themes else "",
                    f"feed {alert.get('feed_id')}" if alert.get("feed_id") else "",
                    f"language {alert.get('lang')}" if alert.get("lang") else "",
                )
                if part
            )
        )
        sub(entry, "summary", "\n\n".join(line for line in lines if line), type="text")
        for value, scheme in [(e, "entity") for e in alert.get("entities") or ()] + [
            (t, "theme") for t in alert.get("themes") or ()
        ]:
            label = names.entity(value) if scheme == "entity" else names.short_theme(value)
            sub(
                entry,
                "category",
                term=_clean(value),
                scheme=f"urn:newswatch:{scheme}",
                label=_clean(label),
            )
        sub(entry, "category", term=_clean(alert.get("severity")), scheme="urn:newswatch:severity")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
