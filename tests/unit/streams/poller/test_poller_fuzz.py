"""Property-based tests over feed bodies: whatever the bytes or the XML structure, parse_feed
returns articles that serialise, or raises FeedParseError; nothing else escapes."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch.streams.poller.charrefs import sanitize_char_refs
from newswatch.streams.poller.parser import FeedParseError, ParsedFeed, parse_feed
from newswatch.streams.poller.text import html_to_text

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
SURROGATES_OR_CONTROLS = re.compile(r"[\ud800-\udfff\x00-\x08\x0e-\x1b\x1f\x7f]")

# Pieces that have broken or slowed feed parsers: references out of range or in the surrogate
# range, huge digit strings, undefined and recursive entities, unterminated markup.
HOSTILE_PIECES = [
    "&#xD800;",
    "&#xDFFF;",
    "&#55296;",
    "&#1114112;",
    "&#x110000;",
    "&#99999999999;",
    "&#" + "9" * 5000 + ";",
    "&#" + "0" * 50 + "65;",
    "&#0;",
    "&#x;",
    "&#",
    "&undefined;",
    "&nbsp;",
    "&amp;#xD800;",
    "&lt;script&gt;",
    "<!--",
    "<script ",
    "<![CDATA[",
    "]]>",
    "<b>",
    "</p>",
    "\x00",
    "\ufeff",
    "\u2326\u3939\u3939",
    "中文",
]


def parse_safely(body: bytes, content_type: str | None = None) -> ParsedFeed | None:
    try:
        parsed = parse_feed(
            body, feed_id="fuzz", content_type=content_type, fetched_at=1.8e9, max_entries=20
        )
    except FeedParseError:
        return None
    assert len(parsed.entries) <= 20
    for entry in parsed.entries:
        article = entry.article
        orjson.dumps(article)  # what the publisher does: must never fail
        for text in (article.title, article.summary, article.content, *article.authors):
            assert not SURROGATES_OR_CONTROLS.search(text)
    return parsed


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([None, "text/xml; charset=utf-16", "text/html"]))
def test_arbitrary_bytes(body: bytes, content_type: str | None) -> None:
    parse_safely(body, content_type)


text_piece = st.one_of(
    st.sampled_from(HOSTILE_PIECES),
    st.text(max_size=20),
    st.from_regex(r"&#[xX]?[0-9a-fA-F]{1,12};?", fullmatch=True),
)
field_text = st.lists(text_piece, max_size=6).map("".join)


@st.composite
def feed_documents(draw) -> tuple[bytes, str]:
    """RSS 2.0 or Atom, items with hostile text (raw, escaped, or in CDATA), an optional
    entity-declaring DOCTYPE, in one of several encodings."""
    atom = draw(st.booleans())
    wrap = draw(st.sampled_from(["raw", "cdata", "escaped"]))

    def field(value: str) -> str:
        if wrap == "cdata":
            return "<![CDATA[" + value.replace("]]>", "") + "]]>"
        if wrap == "escaped":
            return value.replace("&", "&amp;").replace("<", "&lt;")
        return value

    items = []
    for i in range(draw(st.integers(0, 30))):
        title, body = draw(field_text), draw(field_text)
        if atom:
            items.append(
                f"<entry><id>urn:{i}</id><title type='html'>{field(title)}</title>"
                f"<content type='html'>{field(body)}</content>"
                f"<updated>20{draw(st.integers(0, 99)):02d}-01-01T00:00:00Z</updated></entry>"
            )
        else:
            items.append(
                f"<item><guid>g{i}</guid><title>{field(title)}</title>"
                f"<description>{field(body)}</description></item>"
            )
    doctype = draw(
        st.sampled_from(
            [
                "",
                '<!DOCTYPE rss [<!ENTITY e "&#xD800;">]>',
                '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
                '<!DOCTYPE rss SYSTEM "file:///etc/passwd">',
            ]
        )
    )
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "iso-8859-1"]))
    declared = encoding.split("-le")[0]
    channel_title = field(draw(field_text))
    if atom:
        doc = (
            f'<feed xmlns="http://www.w3.org/2005/Atom"><title>{channel_title}</title>'
            f"{''.join(items)}</feed>"
        )
    else:
        doc = (
            f'<rss version="2.0"><channel><title>{channel_title}</title>'
            f"{''.join(items)}</channel></rss>"
        )
    text = f'<?xml version="1.0" encoding="{declared}"?>{doctype}{doc}'
    return text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace"), (
        f"application/xml; charset={declared}"
    )


@FUZZ
@given(feed_documents())
def test_generated_feeds_with_hostile_text(document: tuple[bytes, str]) -> None:
    body, content_type = document
    parse_safely(body, content_type)
    parse_safely(body)  # without the HTTP charset: the document alone decides


@FUZZ
@given(feed_documents())
def test_sanitiser_is_idempotent_and_never_grows(document: tuple[bytes, str]) -> None:
    body, content_type = document
    once = sanitize_char_refs(body, content_type)
    assert sanitize_char_refs(once, content_type) == once
    assert len(once) <= len(body)


@FUZZ
@given(st.lists(text_piece, max_size=40).map("".join))
def test_html_to_text_never_raises_and_is_clean(value: str) -> None:
    text = html_to_text(value)
    assert not SURROGATES_OR_CONTROLS.search(text)
    assert "<script" not in text.lower() or "<script" in value.lower().replace("&lt;", "<")


@pytest.mark.parametrize("piece", HOSTILE_PIECES)
def test_each_hostile_piece_in_every_field(piece: str) -> None:
    """The same pieces, deterministically, in the title, description and channel title."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>c {piece}</title><item><guid>g</guid><title>t {piece}</title>"
        f"<description>d {piece}</description></item></channel></rss>"
    ).encode("utf-8", "surrogatepass")
    parse_safely(body)
