"""Feed document -> articles (pure; runs in a worker process, off the event loop).

feedparser does the format work (RSS 0.9x/1.0/2.0, Atom, RDF; charset from the HTTP header, the
XML declaration or the BOM; xml:base). It never resolves external entities, and expat refuses
entity-expansion bombs. The body is always handed over as a stream: feedparser treats a plain
bytes/str argument as a *file name or URL* first, so a body such as b"/etc/passwd" would be read
from disk.

Every document is hostile until parsed: numeric character references that name no character
are neutralised first (`charrefs`), any exception out of feedparser or our own processing is a
FeedParseError of that feed (never a crash of the poll or the worker), and at most
`max_entries` entries (newest first) are turned into articles.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import io
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import feedparser

from newswatch.streams.errors import FeedError
from newswatch.streams.poller.charrefs import sanitize_char_refs
from newswatch.streams.poller.text import canonical_url, guess_lang, html_to_text, primary_lang
from newswatch.streams.records import URL_CHARS, Article

# Dates before this are treated as unknown; dates after fetch time + slack are clamped.
EARLIEST_DATE = 631_152_000.0  # 1990-01-01T00:00:00Z
FUTURE_SLACK = 86_400.0
MAX_TEXT = 100_000  # characters kept of summary and content each
MAX_ENTRIES = 500  # default of PollerSettings.max_entries_per_poll


class FeedParseError(FeedError, ValueError):
    """The document is not a feed (an HTML page, an empty body, binary junk), or parsing it
    failed in any other way: the only exception parse_feed raises."""


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """An article and the dedup keys it answers to (its id first, then its canonical link)."""

    article: Article
    keys: tuple[str, ...]


@dataclass(slots=True)
class ParsedFeed:
    entries: list[ParsedEntry]
    title: str = ""
    lang: str | None = None
    format: str = ""
    bozo: str | None = None  # feedparser's complaint about a malformed but usable document
    entry_times: list[float] = field(default_factory=list)  # published times, newest first
    duplicates_in_document: int = 0
    over_limit: int = 0  # entries beyond max_entries, not turned into articles


def parse_feed(
    body: bytes,
    *,
    feed_id: str,
    feed_name: str = "",
    declared_lang: str | None = None,
    unicity: str = "auto",
    content_type: str | None = None,
    base_url: str | None = None,
    fetched_at: float | None = None,
    max_entries: int = MAX_ENTRIES,
) -> ParsedFeed:
    """Parse one document; raises FeedParseError, and only that, when it yields no feed."""
    try:
        return _parse_document(
            body,
            feed_id=feed_id,
            feed_name=feed_name,
            declared_lang=declared_lang,
            unicity=unicity,
            content_type=content_type,
            base_url=base_url,
            fetched_at=fetched_at,
            max_entries=max_entries,
        )
    except FeedParseError:
        raise
    except Exception as exc:  # feedparser on hostile input: ValueError, OverflowError, ...
        raise FeedParseError(f"parser failed: {type(exc).__name__}: {exc}"[:300]) from None


def _parse_document(
    body: bytes,
    *,
    feed_id: str,
    feed_name: str,
    declared_lang: str | None,
    unicity: str,
    content_type: str | None,
    base_url: str | None,
    fetched_at: float | None,
    max_entries: int,
) -> ParsedFeed:
    fetched_at = time.time() if fetched_at is None else fetched_at
    headers: dict[str, str] = {}
    if content_type:
        headers["content-type"] = content_type
    # The request URL is deliberately *not* given to feedparser as the document base: it would
    # resolve relative GUIDs ("1234", isPermaLink by default) against it, and every article id
    # would change when a feed moves. Relative links are resolved below instead.
    result = feedparser.parse(
        io.BytesIO(sanitize_char_refs(body, content_type)),
        response_headers=headers,
        sanitize_html=False,  # we strip all markup to text anyway; halves parse time
        resolve_relative_uris=False,  # only links matter, and those are resolved regardless
    )
    entries = result.get("entries") or []
    version = result.get("version") or ""
    bozo = result.get("bozo_exception")
    if not entries and not version:
        reason = f": {type(bozo).__name__}: {bozo}" if bozo else ""
        raise FeedParseError(f"not a feed{reason}"[:300])
    meta = result.get("feed") or {}
    declared = primary_lang(declared_lang)
    feed_lang = declared or primary_lang(meta.get("language"))
    site = _absolute(meta.get("link"))
    if base_url and not site and meta.get("link"):
        site = _absolute(urljoin(base_url, meta["link"]))
    homepage = canonical_url(site)
    policy = _IdPolicy(entries, unicity, homepage)
    parsed = ParsedFeed(
        entries=[],
        title=html_to_text(meta.get("title"))[:300],
        lang=feed_lang,
        format=version,
        bozo=f"{type(bozo).__name__}: {bozo}"[:300] if bozo else None,
    )
    kept = _newest(entries, max_entries, fetched_at)
    parsed.over_limit = len(entries) - len(kept)
    seen_ids: set[str] = set()
    for entry in kept:
        key_kind, key = policy.key(entry)
        article_id = f"{feed_id}:{hashlib.sha1(key.encode()).hexdigest()[:16]}"
        if article_id in seen_ids:
            parsed.duplicates_in_document += 1
            continue
        seen_ids.add(article_id)
        article = _article(entry, article_id, feed_id, feed_name, declared, feed_lang, fetched_at)
        if article.url is None and _link(entry) and (base_url or site):
            # A relative link that no xml:base resolved: the request URL, else the site's home
            # page, is the base.
            resolved = _absolute(urljoin(base_url or site or "", _link(entry) or ""))
            article = dataclasses.replace(article, url=resolved)
        keys = [article_id]
        link = canonical_url(article.url)
        if key_kind != "link" and link and policy.link_is_unique(link):
            # A publisher that rewrites GUIDs keeps the link: both keys count as "seen".
            keys.append(f"{feed_id}:l{hashlib.sha1(link.encode()).hexdigest()[:16]}")
        parsed.entries.append(ParsedEntry(article, tuple(keys)))
        if article.published is not None:
            parsed.entry_times.append(article.published)
    parsed.entry_times.sort(reverse=True)
    return parsed


def _newest(entries: list[Any], limit: int, fetched_at: float) -> list[Any]:
    """At most `limit` entries: the newest by published (else updated) date, undated ones after
    dated ones in document order; returned in document order. Ids are still decided over the
    whole document (`_IdPolicy`), so an entry's id does not depend on which others were kept."""
    if len(entries) <= limit:
        return entries

    def rank(index: int) -> tuple[bool, float, int]:
        entry = entries[index]
        when = _clamp(_epoch(entry.get("published_parsed")), fetched_at)
        if when is None:
            when = _clamp(_epoch(dict.get(entry, "updated_parsed")), fetched_at)
        return (when is None, -(when or 0.0), index)

    chosen = sorted(range(len(entries)), key=rank)[:limit]
    return [entries[index] for index in sorted(chosen)]


class _IdPolicy:
    """FreshRSS-style unicity: GUID where the document's GUIDs are trustworthy, else the link,
    else a content hash. `auto` decides per document: GUIDs must be present on every entry and
    unique; links must be unique and not just the site's home page."""

    def __init__(self, entries: list[Any], unicity: str, homepage: str | None) -> None:
        self.unicity = unicity
        guids = [(e.get("id") or "").strip() for e in entries]
        self.guids_ok = all(guids) and len(set(guids)) == len(guids)
        links = [canonical_url(_link(e)) for e in entries]
        counts: dict[str, int] = {}
        for link in links:
            if link:
                counts[link] = counts.get(link, 0) + 1
        self.link_counts = counts
        self.homepage = homepage

    def link_is_unique(self, link: str) -> bool:
        return self.link_counts.get(link, 0) == 1 and link != self.homepage

    def key(self, entry: Any) -> tuple[str, str]:
        guid = (entry.get("id") or "").strip()
        link = canonical_url(_link(entry))
        mode = self.unicity
        if guid and (mode == "guid" or (mode == "auto" and self.guids_ok)):
            return "guid", "g:" + guid
        if link and (mode == "link" or (mode in ("auto", "guid") and self.link_is_unique(link))):
            return "link", "l:" + link
        if mode == "auto" and guid:
            return "guid", "g:" + guid  # GUIDs repeat but links are worse: keep the GUID
        title = entry.get("title") or ""
        summary = entry.get("summary") or ""
        return "content", "c:" + title + "\x00" + summary[:2000] + "\x00" + (link or "")


def _link(entry: Any) -> str | None:
    link = entry.get("link")
    if link:
        return link
    for item in entry.get("links") or []:
        if item.get("rel", "alternate") == "alternate" and item.get("href"):
            return item["href"]
    guid = entry.get("id") or ""
    return guid if entry.get("guidislink") else None


def _epoch(parsed: Any) -> float | None:
    if not parsed:
        return None
    try:
        return float(calendar.timegm(parsed))
    except (TypeError, ValueError, OverflowError):
        return None


def _clamp(value: float | None, fetched_at: float) -> float | None:
    """Untrusted feed dates: before 1990 is unknown, beyond tomorrow becomes the fetch time."""
    if value is None or value < EARLIEST_DATE:
        return None
    return fetched_at if value > fetched_at + FUTURE_SLACK else value


def _article(
    entry: Any,
    article_id: str,
    feed_id: str,
    feed_name: str,
    declared: str | None,
    feed_lang: str | None,
    fetched_at: float,
) -> Article:
    summary = html_to_text(entry.get("summary"))[:MAX_TEXT]
    content = html_to_text(
        "\n\n".join(part.get("value", "") for part in entry.get("content") or [])
    )[:MAX_TEXT]
    if content == summary:
        summary = ""  # RSS feeds often repeat the description as content
    title = html_to_text(entry.get("title"))[:1000]
    if not title:
        title = (summary or content)[:120] or "(untitled)"
    published = _clamp(_epoch(entry.get("published_parsed")), fetched_at)
    # dict.get: FeedParserDict.get("updated_parsed") silently falls back to the published date.
    updated = _clamp(_epoch(dict.get(entry, "updated_parsed")), fetched_at)
    if published is None:
        published = updated
    raw = entry.get("published") or dict.get(entry, "updated") or entry.get("created")
    authors = [a.get("name") for a in entry.get("authors") or [] if a.get("name")]
    if not authors and entry.get("author"):
        authors = [entry["author"]]
    entry_lang = None
    for detail in ("content", "summary_detail", "title_detail"):
        value = entry.get(detail)
        if isinstance(value, list):
            value = value[0] if value else None
        if value and value.get("language"):
            entry_lang = primary_lang(value.get("language"))
            break
    lang = (
        declared or entry_lang or feed_lang or guess_lang(title + " " + (summary or content)[:500])
    )
    return Article(
        id=article_id,
        feed_id=feed_id,
        title=title,
        url=_absolute(_link(entry)),
        summary=summary,
        content=content,
        published=published,
        updated=updated,
        published_raw=str(raw)[:200] if raw else None,
        authors=[html_to_text(a)[:200] for a in authors][:20],
        lang=lang,
        feed_name=feed_name,
        fetched_at=fetched_at,
    )


def _absolute(link: str | None) -> str | None:
    """Only absolute http(s) links; a relative one that xml:base could not resolve is dropped,
    and so is one the article record would refuse (over URL_CHARS, or with control characters:
    the whole article would be dead-lettered for its link)."""
    if not link:
        return None
    link = link.strip()
    if not link.lower().startswith(("http://", "https://")) or len(link) > URL_CHARS:
        return None
    if any(not ch.isprintable() for ch in link):
        return None
    return link
