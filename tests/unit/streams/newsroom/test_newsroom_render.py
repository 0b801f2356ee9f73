"""Escaping, safe links, evidence marks, the Atom feed and the digest (pure)."""

from __future__ import annotations

import feedparser
import pytest
from lxml import etree

from newswatch.streams.names import DisplayNames
from newswatch.streams.newsroom.atom import render_feed
from newswatch.streams.newsroom.digest import build_digest
from newswatch.streams.newsroom.render import Segment, environment, highlight, safe_url
from newswatch.streams.sinks.mutes import Mutes
from tests.support.environment import ROOT

NAMES = DisplayNames({"deepseek": "DeepSeek"}, {"export_controls": "Export controls (trade)"})
HOSTILE = {
    "id": "a1",
    "rule": "r1",
    "severity": "high",
    "title": 'DeepSeek <script>alert("x")</script> & "quotes" \x07',
    "summary": "<img src=x onerror=alert(1)> export controls on DeepSeek",
    "entities": ["deepseek"],
    "themes": ["export_controls"],
    "url": "javascript:alert(1)",
    "feed_id": "wire",
    "lang": "en",
    "created_at": 1_790_000_000.0,
    "published": 1_789_990_000.0,
}


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://example.com/a?b=1", True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//example.com/x", False),
        ("https://exa\nmple.com", False),
        (None, False),
    ],
)
def test_safe_url(url: object, ok: bool) -> None:
    assert (safe_url(url) is not None) is ok


def test_highlight_longest_first_no_overlap() -> None:
    marks = [
        ("DeepSeek", "entity", "DeepSeek"),
        ("export controls", "theme", "t"),
        ("export", "theme", "t"),
    ]
    segments = highlight("New export controls hit DeepSeek; export DeepSeek", marks)
    marked = [(s.text, s.kind) for s in segments if s.kind]
    assert marked == [
        ("export controls", "theme"),
        ("DeepSeek", "entity"),
        ("export", "theme"),
        ("DeepSeek", "entity"),
    ]
    assert "".join(s.text for s in segments) == "New export controls hit DeepSeek; export DeepSeek"
    assert highlight("plain", []) == [Segment("plain")]


def test_alert_item_escapes_feed_strings_and_drops_unsafe_links() -> None:
    env = environment(NAMES)
    html = str(env.get_template("_alert.html").module.alert_item(HOSTILE, False, False, "/"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&#34;quotes&#34;" in html or "&quot;quotes&quot;" in html
    assert "\x07" not in html
    assert "javascript:" not in html
    assert ">DeepSeek<" in html and "Export controls" in html


def test_atom_feed_is_valid_and_escaped() -> None:
    alerts = [HOSTILE, {**HOSTILE, "id": "a2", "url": "https://news.example/2", "title": "Two"}]
    body = render_feed(
        alerts,
        base_url="http://127.0.0.1:6066/",
        self_url="http://127.0.0.1:6066/feeds/alerts.atom?entity=deepseek&q=a+b",
        names=NAMES,
        subtitle="entity: DeepSeek",
    )
    schema = etree.RelaxNG(etree.parse(str(ROOT / "tests/data/atom/atom.rng")))
    document = etree.fromstring(body)
    assert schema.validate(document), schema.error_log
    ns = {"a": "http://www.w3.org/2005/Atom"}
    # RFC 4287 rules the schema cannot say: unique ids, an alternate link per entry.
    ids = document.xpath("//a:entry/a:id/text()", namespaces=ns)
    assert len(ids) == len(set(ids)) == 2
    assert len(document.xpath("//a:entry/a:link[@rel='alternate']", namespaces=ns)) == 2
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    first = parsed.entries[0]
    assert first.title.strip() == '[HIGH] DeepSeek <script>alert("x")</script> & "quotes"'
    assert first.link == "http://127.0.0.1:6066/alerts/a1"
    assert all("javascript" not in link.href for link in first.links)
    assert {t.term for t in first.tags} >= {"deepseek", "export_controls", "high"}
    assert parsed.entries[1].links[1].href == "https://news.example/2"


def test_empty_atom_feed_is_valid() -> None:
    body = render_feed([], base_url="http://h/", self_url="http://h/feeds/alerts.atom", names=NAMES)
    schema = etree.RelaxNG(etree.parse(str(ROOT / "tests/data/atom/atom.rng")))
    assert schema.validate(etree.fromstring(body)), schema.error_log
    assert not feedparser.parse(body).bozo


def test_digest_counts_the_period_without_muted() -> None:
    now = 1_790_000_000.0
    alerts = [
        {**HOSTILE, "id": "new-high", "created_at": now - 60},
        {**HOSTILE, "id": "new-crit", "severity": "critical", "created_at": now - 120},
        {**HOSTILE, "id": "old", "created_at": now - 7200},
        {**HOSTILE, "id": "muted", "rule": "noisy", "created_at": now - 30},
    ]
    hour = build_digest(alerts, "hour", now=now, mutes=Mutes(rules=frozenset({"noisy"})))
    assert [a["id"] for a in hour.entries] == ["new-crit", "new-high"]
    assert hour.severities == [("critical", 1), ("high", 1)]
    assert hour.entities == [("deepseek", 2)]
    assert build_digest(alerts, "day", now=now).total == 4
    assert build_digest([], "day", now=now).total == 0
