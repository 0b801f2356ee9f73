"""Feeds file validation and OPML import/export."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.streams.poller.feeds import (
    DEFAULT_FEEDS_FILE,
    FeedsFileError,
    FeedSpec,
    export_opml,
    import_opml,
    load_feeds,
    save_feeds,
)

DEMO = """
feeds:
  - id: demo-de
    url: http://127.0.0.1:8000/de.xml
    name: Demo (German)
    lang: de
    interval: 60
  - id: demo-en
    url: http://127.0.0.1:8000/en.xml
"""


def test_demo_shape_loads(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(DEMO)
    feeds = load_feeds(path)
    assert [f.id for f in feeds] == ["demo-de", "demo-en"]
    assert feeds[0].lang == "de" and feeds[0].interval == 60 and feeds[0].host == "127.0.0.1"
    assert feeds[1].display_name == "demo-en"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds:\n  - {id: Bad Id, url: 'http://a/'}", "feed #1: id"),
        ("feeds:\n  - {id: a, url: 'ftp://a/'}", "url"),
        ("feeds:\n  - {id: a, url: 'http://a/'}\n  - {id: a, url: 'http://b/'}", "duplicate"),
        ("feeds:\n  - {id: a, url: 'http://a/', colour: red}", "colour"),
        ("feeds: [", "not valid YAML"),
        ("- just a list", "expected a mapping"),
    ],
)
def test_invalid_feeds_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    with pytest.raises(FeedsFileError, match=message):
        load_feeds(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FeedsFileError, match=r"nope\.yaml"):
        load_feeds(tmp_path / "nope.yaml")


def test_save_round_trip(tmp_path: Path) -> None:
    feeds = [
        FeedSpec(id="a", url="https://a.example/feed", lang="de", interval=90),
        FeedSpec(id="b", url="https://b.example/feed", name="B"),
    ]
    path = tmp_path / "out" / "feeds.yaml"
    save_feeds(path, feeds)
    assert load_feeds(path) == feeds


def test_opml_round_trip_skips_known_urls() -> None:
    feeds = [
        FeedSpec(id="a", url="https://a.example/feed", name="Alpha News", lang="fr"),
        FeedSpec(id="b", url="https://b.example/feed?x=1&y=2", name="Beta & Co"),
    ]
    imported = import_opml(export_opml(feeds), [])
    assert [(f.url, f.name, f.lang) for f in imported] == [(f.url, f.name, f.lang) for f in feeds]
    assert [f.id for f in imported] == ["alpha-news", "beta-co"]
    assert import_opml(export_opml(feeds), feeds) == []


def test_opml_nested_outlines_and_junk() -> None:
    opml = """<opml version="1.0"><body>
      <outline text="Folder"><outline text="X" xmlUrl="http://x.example/rss"/></outline>
      <outline text="no url"/>
      <outline text="ftp" xmlUrl="ftp://x.example/rss"/>
    </body></opml>"""
    assert [f.url for f in import_opml(opml, [])] == ["http://x.example/rss"]
    with pytest.raises(FeedsFileError):
        import_opml("<opml><body>", [])


def test_opml_entity_bomb_and_xxe_are_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE o [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
        '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">'
        '<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">'
        '<!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>'
        '<opml><body><outline text="&h;" xmlUrl="http://x.example/"/></body></opml>'
    )
    with pytest.raises(FeedsFileError):
        import_opml(bomb, [])
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE o [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<opml><body><outline text="&x;" xmlUrl="http://x.example/"/></body></opml>'
    )
    try:
        imported = import_opml(xxe, [])
    except FeedsFileError:
        return
    assert all("root:" not in (f.name or "") for f in imported)


def test_shipped_default_feeds_are_valid_and_multilingual() -> None:
    feeds = load_feeds(DEFAULT_FEEDS_FILE)
    assert len(feeds) >= 20
    langs = {f.lang for f in feeds}
    assert {"en", "de", "fr", "es", "vi", "zh", "ja", "ko"} <= langs
    assert all(f.url.startswith("https://") for f in feeds)
