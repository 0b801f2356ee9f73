"""Numeric character references no Python string can hold, made harmless before parsing.

feedparser turns `&#...;` into characters with `chr()` and then encodes them: a reference above
U+10FFFF raises ValueError, one in the surrogate range (U+D800-U+DFFF) UnicodeEncodeError, and
one with more than 4300 digits (or beyond a C int) ValueError/OverflowError, out of the middle
of the parse. `sanitize_char_refs` rewrites exactly those references to `&#65533` (U+FFFD, the
replacement character), and long zero-padded valid ones to their short form, in one linear pass
over the bytes; nothing else in the document changes.

The pass is encoding-aware: in any ASCII-compatible encoding (UTF-8, the ISO-8859 family,
windows-125x, Shift_JIS, GB18030, EUC-*) `&`, `#`, digits and `;` are single bytes that never
occur inside a multi-byte character, so the bytes are searched as they are. A UTF-16 or UTF-32
document (recognised, like XML processors do, from its byte-order mark or the shape of its
first characters, else from the HTTP charset) is decoded, fixed and re-encoded in the same
form; a byte search there would see `&#99999999` in the text "⌦㤹㤹㤹㤹" and corrupt it.

Inside a CDATA section a reference is literal text; rewriting it there changes nothing the
reader sees either, because the HTML in it is decoded to text later, and `&#xD800;` decodes to
U+FFFD there too.
"""

from __future__ import annotations

import re

REPLACEMENT = "&#65533"  # the `;` that ended the original reference (if any) stays in place
# `;` is optional: HTML (and feedparser's loose parser) accept references without it.
_REF_BYTES = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+))")
_REF_TEXT = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+))")
_MAX_DIGITS = {16: 6, 10: 7}  # more significant digits than this is beyond U+10FFFF

# Byte-order marks, longest first (the UTF-32-LE mark starts with the UTF-16-LE one).
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_CHARSETS = {
    "utf-16": "utf-16-be",  # without a byte-order mark, big-endian (RFC 2781)
    "utf-16be": "utf-16-be",
    "utf-16le": "utf-16-le",
    "utf-32": "utf-32-be",
    "utf-32be": "utf-32-be",
    "utf-32le": "utf-32-le",
}
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([a-z0-9_-]{1,40})", re.I)


def _code_point(hex_digits: str | bytes | None, dec_digits: str | bytes | None) -> int | None:
    """The referenced code point, or None when it cannot be a character."""
    base, digits = (16, hex_digits) if hex_digits is not None else (10, dec_digits)
    text = digits.decode("ascii") if isinstance(digits, bytes) else (digits or "")
    significant = text.lstrip("0")
    if len(significant) > _MAX_DIGITS[base]:
        return None  # also keeps int() away from megabyte-long digit strings
    value = int(significant or "0", base)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return None
    return value


def _fixed(whole: str, hex_digits: str | None, dec_digits: str | None) -> str | None:
    """The replacement text of one reference, or None to keep it."""
    value = _code_point(hex_digits, dec_digits)
    if value is None:
        return REPLACEMENT
    if len(whole) > 12:  # zero-padded past int()'s comfort: write it short
        return f"&#{value}"
    return None


def _fix_bytes(match: re.Match[bytes]) -> bytes:
    whole = match.group(0)
    hex_digits, dec_digits = match.group(1), match.group(2)
    value = _code_point(hex_digits, dec_digits)
    if value is None:
        return REPLACEMENT.encode()
    return b"&#%d" % value if len(whole) > 12 else whole


def _fix_text(match: re.Match[str]) -> str:
    fixed = _fixed(match.group(0), match.group(1), match.group(2))
    return match.group(0) if fixed is None else fixed


def wide_encoding(body: bytes, content_type: str | None = None) -> tuple[str, int] | None:
    """(codec, length of its byte-order mark) for a UTF-16/UTF-32 document, else None."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, len(bom)
    head = body[:4]
    if len(head) == 4:
        if head[:3] == b"\x00\x00\x00" and head[3]:
            return "utf-32-be", 0
        if head[0] and head[1:] == b"\x00\x00\x00":
            return "utf-32-le", 0
        if head[0] == 0 and head[1] and head[2] == 0 and head[3]:
            return "utf-16-be", 0
        if head[0] and head[1] == 0 and head[2] and head[3] == 0:
            return "utf-16-le", 0
        if b"\x00" not in head and head[:1] in (b"<", b" ", b"\t", b"\r", b"\n"):
            return None  # an ASCII `<` or blank first: not UTF-16/32, whatever the header says
    declared = _CHARSET_PARAM.search(content_type or "")
    named = _CHARSETS.get(declared.group(1).lower()) if declared else None
    return (named, 0) if named else None


def sanitize_char_refs_text(text: str) -> str:
    """The same for decoded text (html.unescape raises on a reference of over 4300 digits)."""
    return _REF_TEXT.sub(_fix_text, text) if "&#" in text else text


def sanitize_char_refs(body: bytes, content_type: str | None = None) -> bytes:
    """`body` with every numeric character reference that names no character replaced by
    `&#65533`; linear time, and the same object back when there was nothing to change."""
    wide = wide_encoding(body, content_type)
    if wide is None:
        if b"&#" not in body:
            return body
        return _REF_BYTES.sub(_fix_bytes, body)
    codec, bom = wide
    width = 4 if codec.startswith("utf-32") else 2
    end = len(body) - (len(body) - bom) % width  # a truncated last code unit stays as it was
    try:
        text = body[bom:end].decode(codec, "surrogatepass")
    except UnicodeDecodeError:
        return body  # not really UTF-32: leave it to the parser, which reports the error
    if "&#" not in text:
        return body
    return body[:bom] + _REF_TEXT.sub(_fix_text, text).encode(codec, "surrogatepass") + body[end:]
