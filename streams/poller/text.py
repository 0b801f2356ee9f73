"""HTML to clean text, URL canonicalisation and script-based language guessing (pure)."""

from __future__ import annotations

import functools
import html
import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lxml import etree

from newswatch.streams.poller.charrefs import sanitize_char_refs_text

# At most this many characters of one HTML fragment are parsed (the text kept is capped lower,
# at parser.MAX_TEXT); a fragment is cut before parsing so hostile markup costs bounded work.
MAX_HTML_CHARS = 500_000
# Elements whose content is not article text.
_DROPPED = frozenset({"script", "style", "noscript", "template"})
# Elements that start or end a line of text; every other tag separates words with a space.
_LINE_BREAKS = frozenset(
    {"br", "p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "pre", "hr"}
)
# Control characters other than tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _TextCollector:
    """lxml parser target: collects text events, never builds a tree.

    libxml2's HTML tokenizer (an HTML5 tokenizer since 2.14) does the work in C in one pass over
    the input; the Python callbacks here are O(1) each, and there is at most one per tag or text
    run, so the total is linear in the input. `events` counts the callbacks (tests assert on it).
    """

    __slots__ = ("dropping", "events", "parts")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.parts: list[str] = []
        self.dropping = 0  # depth inside script/style/noscript/template
        self.events = 0

    def start(self, tag: str, _attrib: object) -> None:
        self.events += 1
        if tag in _DROPPED:
            self.dropping += 1
        elif not self.dropping:
            self.parts.append("\n" if tag in _LINE_BREAKS else " ")

    def end(self, tag: str) -> None:
        self.events += 1
        if tag in _DROPPED:
            self.dropping = max(0, self.dropping - 1)
        elif not self.dropping:
            self.parts.append("\n" if tag in _LINE_BREAKS else " ")

    def data(self, text: str) -> None:
        self.events += 1
        if not self.dropping:
            self.parts.append(text)

    def close(self) -> str:
        return "".join(self.parts)


class _Stripper(threading.local):
    """One parser per thread, reused: a fresh libxml2 push context costs ~4x the parse of a
    typical feed fragment. lxml parsers are reusable after close() but not thread-safe."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.collector = _TextCollector()
        self.parser = etree.HTMLParser(
            target=self.collector,
            encoding="utf-8",
            no_network=True,
            remove_comments=True,
            remove_pis=True,
            default_doctype=False,
        )


_stripper = _Stripper()


def strip_markup(value: str) -> tuple[str, int]:
    """Markup removed and entities decoded, by a real HTML tokenizer; returns the raw text and
    the number of parser callbacks it took. `value` must be capped and free of surrogates."""
    collector = _stripper.collector
    collector.reset()
    try:
        _stripper.parser.feed(value.encode("utf-8"))
        text = _stripper.parser.close()
    except Exception:
        _stripper.renew()  # never reuse a parser in an unknown state
        raise
    return text, collector.events


def html_to_text(value: str | None) -> str:
    """Tags removed, entities decoded, whitespace collapsed; paragraph breaks kept as newlines.

    Linear time on any input: the fragment is cut at MAX_HTML_CHARS, then tokenized by libxml2
    through lxml (no tree is built). Regular expressions with `.*?` used to do this job and were
    quadratic on unterminated constructs (tens of KB of `<!--` or `<script ` took minutes).
    """
    if not value:
        return ""
    value = value[:MAX_HTML_CHARS]
    if _SURROGATE.search(value):  # lone surrogates cannot be encoded (UTF-8, JSON): U+FFFD
        value = _SURROGATE.sub("\ufffd", value)
    if "<" in value:
        value = strip_markup(_CONTROL.sub("", value))[0]
    elif "&" in value:
        value = html.unescape(sanitize_char_refs_text(value))
    value = _CONTROL.sub("", value)
    # Collapse whitespace per line and drop blank lines; str.split/join run in C, several
    # times faster than whitespace regexes on feed-sized text.
    lines = (" ".join(line.split()) for line in value.splitlines())
    return "\n".join(line for line in lines if line)


_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid|ito)$", re.I)


@functools.lru_cache(maxsize=8192)  # each link is canonicalised 2-3 times per parse
def canonical_url(url: str | None) -> str | None:
    """Lower-cased scheme and host, no fragment, no tracking parameters; None if not http(s)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
)


def guess_lang(text: str) -> str | None:
    """A language from the writing system, for feeds that declare none.

    Only scripts that (nearly) name a language are guessed: kana -> ja, hangul -> ko, han -> zh,
    and so on. Latin-script text returns None; the declared language is the better source.
    """
    sample = text[:2000]
    if not sample:
        return None
    for lang, pattern in _SCRIPTS:
        hits = len(pattern.findall(sample))
        if hits >= 5 or (hits and hits * 4 >= len(sample)):
            return lang
    return None


def primary_lang(tag: str | None) -> str | None:
    """'en-US' -> 'en', 'zh_CN' -> 'zh'; None for anything that is not a language tag."""
    if not tag:
        return None
    head = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
    return head if re.fullmatch(r"[a-z]{2,3}", head) else None
