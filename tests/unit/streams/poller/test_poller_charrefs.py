"""Numeric character references outside Unicode or in the surrogate range, before feedparser."""

from __future__ import annotations

import io

import feedparser
import pytest

from newswatch.streams.poller.charrefs import sanitize_char_refs, wide_encoding
from newswatch.streams.poller.parser import parse_feed

HOSTILE_REFS = [
    "&#xD800;",
    "&#xdfff;",
    "&#55296;",
    "&#1114112;",
    "&#x110000;",
    "&#X110000;",
    "&#99999999999;",
    "&#" + "9" * 5000 + ";",
    "&#xD800",  # no semicolon: HTML and feedparser's loose parser still decode it
]


def rss(title: str, encoding: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{title}</title><description>d {title}</description><guid>g</guid></item>"
        "</channel></rss>"
    )


@pytest.mark.parametrize("ref", HOSTILE_REFS)
def test_feedparser_itself_raises_on_these(ref: str) -> None:
    """Why the pass exists (if feedparser starts coping, the pass is still harmless)."""
    if not ref.endswith(";"):
        pytest.skip("only well-formed references reach chr() in strict mode")
    with pytest.raises((ValueError, OverflowError)):
        feedparser.parse(io.BytesIO(rss(f"a {ref} b").encode()))


@pytest.mark.parametrize("ref", HOSTILE_REFS)
def test_hostile_reference_becomes_replacement_character(ref: str) -> None:
    parsed = parse_feed(rss(f"a {ref} b").encode(), feed_id="f")
    assert parsed.entries[0].article.title == "a \ufffd b"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"&#xD800;", b"&#65533;"),
        (b"&#1114112;", b"&#65533;"),
        (b"&#x10FFFF;", b"&#x10FFFF;"),  # the last code point is fine
        (b"&#xD7FF; &#xE000;", b"&#xD7FF; &#xE000;"),  # either side of the surrogates
        (b"&#65;&#x41;&#0065;", b"&#65;&#x41;&#0065;"),  # valid ones untouched
        (b"&#" + b"0" * 40 + b"65;", b"&#65;"),  # zero padding that int() would choke on
        (b"&#xD800<", b"&#65533<"),
        (b"&amp;#xD800; &#; &#x; &#a;", b"&amp;#xD800; &#; &#x; &#a;"),  # not references
        (b"caf\xc3\xa9 &#xD800; \xe4\xb8\xad", b"caf\xc3\xa9 &#65533; \xe4\xb8\xad"),
    ],
)
def test_byte_pass(before: bytes, after: bytes) -> None:
    assert sanitize_char_refs(before) == after


def test_untouched_document_is_returned_as_is() -> None:
    body = rss("plain").encode()
    assert sanitize_char_refs(body) is body


# U+2326 U+3939 is b"&#99" in UTF-16-LE: a naive byte pass would see `&#99999999` here.
LOOKALIKE = "\u2326\u3939\u3939\u3939\u3939"


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("utf-16", "utf-16"),  # with a byte-order mark
        ("utf-16-le", "utf-16"),
        ("utf-16-be", "utf-16"),
        ("utf-32", "utf-32"),
        ("utf-32-be", "utf-32"),
        ("gb18030", "gb18030"),
        ("shift_jis", "shift_jis"),
    ],
)
def test_wide_and_multibyte_documents_are_fixed_not_corrupted(codec: str, declared: str) -> None:
    unicode = codec.startswith("utf")
    title = f"{LOOKALIKE} &#xD800; 中 &#1114112; &#x41;" if unicode else "中 &#xD800;"
    body = rss(title, declared).encode(codec)
    clean = sanitize_char_refs(body)
    parsed = parse_feed(clean, feed_id="f")  # parse_feed sanitises too; clean twice is a no-op
    expected = f"{LOOKALIKE} \ufffd 中 \ufffd A" if unicode else "中 \ufffd"
    assert parsed.entries[0].article.title == expected
    assert sanitize_char_refs(clean) == clean


def test_lookalike_utf16_text_without_references_is_left_alone() -> None:
    body = rss(LOOKALIKE, "utf-16").encode("utf-16-le")
    assert b"&#9999" in body  # what a byte search would (wrongly) see
    assert sanitize_char_refs(body) is body
    assert parse_feed(body, feed_id="f").entries[0].article.title == LOOKALIKE


@pytest.mark.parametrize(
    ("head", "content_type", "expected"),
    [
        (b"\xff\xfe<\x00", None, ("utf-16-le", 2)),
        (b"\xfe\xff\x00<", None, ("utf-16-be", 2)),
        (b"\xff\xfe\x00\x00<\x00\x00\x00", None, ("utf-32-le", 4)),
        (b"<\x00?\x00", None, ("utf-16-le", 0)),
        (b"\x00\x00\x00<", None, ("utf-32-be", 0)),
        (b"<?xml", "application/rss+xml; charset=utf-16", None),  # the bytes win
        (b"\x4e\x2d\x00\x3c", "text/xml; charset=UTF-16LE", ("utf-16-le", 0)),
        (b"<rss>", None, None),
        (b"", None, None),
    ],
)
def test_wide_encoding_detection(head: bytes, content_type: str | None, expected) -> None:
    assert wide_encoding(head, content_type) == expected


def test_truncated_and_undecodable_wide_bodies_pass_through() -> None:
    odd = "&#xD800;".encode("utf-16-le") + b"\x00"  # a dangling byte after the reference
    assert (
        sanitize_char_refs(b"\xff\xfe" + odd)
        == b"\xff\xfe" + "&#65533;".encode("utf-16-le") + b"\x00"
    )
    bad32 = b"\xff\xfe\x00\x00" + b"\xff\xff\xff\xff"  # not a UTF-32 code unit
    assert sanitize_char_refs(bad32) is bad32
