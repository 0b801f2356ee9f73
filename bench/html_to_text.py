"""Benchmark `html_to_text`: the regex stripper it replaced versus the lxml tokenizer.

- `normal`: the HTML fragments (titles, summaries, content) of the fixture feeds in
  tests/data/feeds plus a typical news paragraph; microseconds per fragment.
- `hostile`: N repeats of `<!--`, `<script ` and `<a x='` (unterminated constructs); seconds per
  call as N doubles. The regexes' time grows ~4x per doubling (quadratic), the tokenizer's 2x.

    .venv/bin/python bench/html_to_text.py [--max-old-seconds 20]

One process, one core; the machine is shared, so read ratios rather than absolute figures.
"""

from __future__ import annotations

import argparse
import html
import io
import re
import time
from pathlib import Path

import feedparser

from newswatch.streams.poller.text import MAX_HTML_CHARS, html_to_text

ROOT = Path(__file__).resolve().parent.parent

# The previous implementation, kept here as the reference point.
_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>", re.I | re.S)
_COMMENTS = re.compile(r"<!--.*?-->", re.S)
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/h[1-6]|/tr|/blockquote|/pre|hr)\b[^>]*>", re.I)
_TAGS = re.compile(r"<[^>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f]")


def old_html_to_text(value: str | None) -> str:
    if not value:
        return ""
    if "<" in value:
        value = _COMMENTS.sub(" ", value)
        value = _DROP_BLOCKS.sub(" ", value)
        value = _BREAKS.sub("\n", value)
        value = _TAGS.sub(" ", value)
    if "&" in value:
        value = html.unescape(value)
    value = _CONTROL.sub("", value)
    lines = (" ".join(line.split()) for line in value.splitlines())
    return "\n".join(line for line in lines if line)


PARAGRAPH = (
    '<p>DeepSeek released <a href="https://x.example/a?b=1">R2</a> today &amp; Huawei&#8217;s '
    "<b>Ascend</b> chips were named.</p><p>More text, <i>with</i> markup.</p><br/>"
)


def fixture_fragments() -> list[str]:
    fragments = [PARAGRAPH * 3]
    for path in sorted((ROOT / "tests" / "data" / "feeds").glob("*.xml")):
        parsed = feedparser.parse(io.BytesIO(path.read_bytes()), sanitize_html=False)
        for entry in parsed.entries:
            fragments += [entry.get("title") or "", entry.get("summary") or ""]
            fragments += [part.get("value", "") for part in entry.get("content") or []]
    return [fragment for fragment in fragments if fragment]


def per_call(function, values: list[str], min_seconds: float = 1.0) -> float:
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        for value in values:
            function(value)
        calls += len(values)
    return (time.perf_counter() - started) / calls


def once(function, value: str) -> float:
    started = time.perf_counter()
    function(value)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-old-seconds", type=float, default=20.0)
    args = parser.parse_args()

    fragments = fixture_fragments()
    size = sum(len(f) for f in fragments) / len(fragments)
    old, new = per_call(old_html_to_text, fragments), per_call(html_to_text, fragments)
    print(f"normal: {len(fragments)} fragments, {size:.0f} chars on average")
    print(f"  old regexes    {old * 1e6:8.1f} us/fragment")
    print(f"  lxml tokenizer {new * 1e6:8.1f} us/fragment  ({new / old:.1f}x)")
    story = [PARAGRAPH * 3]
    old, new = per_call(old_html_to_text, story), per_call(html_to_text, story)
    print(f"normal: one news paragraph x3, {len(story[0])} chars")
    print(f"  old regexes    {old * 1e6:8.1f} us/fragment")
    print(f"  lxml tokenizer {new * 1e6:8.1f} us/fragment  ({new / old:.1f}x)")

    for unit in ("<!--", "<script ", "<a x='"):
        print(f"hostile: {unit!r} x N")
        repeats, old_done = 2_500, False
        while repeats * len(unit) <= MAX_HTML_CHARS:
            value = unit * repeats
            old_time = "skipped" if old_done else f"{once(old_html_to_text, value):8.3f} s"
            if old_time != "skipped" and float(old_time.split()[0]) > args.max_old_seconds / 4:
                old_done = True  # the next doubling would take ~4x as long
            print(
                f"  N={repeats:>7,} ({len(value) / 1024:6.0f} KiB)"
                f"  old {old_time:>10}  new {once(html_to_text, value):8.4f} s"
            )
            repeats *= 2


if __name__ == "__main__":
    main()
