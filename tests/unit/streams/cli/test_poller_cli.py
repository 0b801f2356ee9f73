"""`newswatch feeds ...` and `newswatch poll` argument handling (no servers needed)."""

from __future__ import annotations

import os

import orjson
import pytest
from click.testing import CliRunner

from newswatch.streams.cli import main
from tests.support.environment import DATA

DATA = DATA / "feeds"


@pytest.fixture
def cli(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("NEWSWATCH_"):
            monkeypatch.delenv(name)
    feeds = tmp_path / "feeds.yaml"
    monkeypatch.setenv("NEWSWATCH_FEEDS_FILE", str(feeds))

    def run(*args: str, expect: int = 0):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    run.feeds = feeds
    return run


def test_add_list_remove(cli) -> None:
    cli("feeds", "add", "https://a.example/feed.xml", "--name", "Alpha News", "--lang", "de")
    cli("feeds", "add", "https://b.example/rss", "--id", "beta", "--interval", "120")
    listing = cli("feeds", "list").output
    assert "alpha-news" in listing and "beta" in listing and "120s" in listing
    assert "already" in cli("feeds", "add", "https://b.example/rss", expect=1).output
    assert "invalid feed" in cli("feeds", "add", "ftp://x/", expect=1).output
    cli("feeds", "remove", "beta")
    assert "beta" not in cli("feeds", "list").output
    assert "no feed" in cli("feeds", "remove", "beta", expect=1).output


def test_export_import_round_trip(cli, tmp_path) -> None:
    cli("feeds", "add", "https://a.example/feed.xml", "--name", "Alpha", "--lang", "fr")
    opml = tmp_path / "out.opml"
    cli("feeds", "export", "-o", str(opml))
    other = tmp_path / "other.yaml"
    assert "imported 1" in cli("feeds", "--file", str(other), "import", str(opml)).output
    assert "imported 0" in cli("feeds", "--file", str(other), "import", str(opml)).output
    assert "https://a.example/feed.xml" in other.read_text()


def test_default_list_is_read_only(cli, monkeypatch) -> None:
    monkeypatch.delenv("NEWSWATCH_FEEDS_FILE")
    assert "heise" in cli("feeds", "list").output  # the shipped default feeds
    assert "read-only" in cli("feeds", "add", "https://x.example/", expect=1).output


def test_parse_prints_json_lines(cli) -> None:
    out = cli("feeds", "parse", str(DATA / "rss2_basic.xml"), "--feed-id", "demo").output
    articles = [orjson.loads(line) for line in out.splitlines()]
    assert [a["title"] for a in articles] == ["DeepSeek releases R2 & more", "Second item"]
    assert all(a["id"].startswith("demo:") and a["schema_version"] == 1 for a in articles)
    assert "not a feed" in cli("feeds", "parse", str(DATA / "not_a_feed.html"), expect=1).output
    assert "No such file" in cli("feeds", "parse", "/nonexistent.xml", expect=1).output


def test_poll_needs_kafka_and_redis(cli, monkeypatch) -> None:
    assert "kafka_servers" in cli("poll", expect=2).output
    monkeypatch.setenv("NEWSWATCH_KAFKA_SERVERS", "127.0.0.1:9")
    assert "redis_url" in cli("poll", expect=2).output


def test_poll_reports_a_broken_feeds_file(cli, monkeypatch) -> None:
    cli.feeds.write_text("feeds:\n  - {id: 'Bad Id', url: 'http://a/'}\n")
    monkeypatch.setenv("NEWSWATCH_KAFKA_SERVERS", "127.0.0.1:9")
    monkeypatch.setenv("NEWSWATCH_REDIS_URL", "redis://127.0.0.1:9/0")
    assert "feed #1" in cli("poll", expect=1).output


def test_parse_reports_a_parser_failure_without_a_traceback(cli, tmp_path, monkeypatch) -> None:
    import feedparser

    def explode(*_args, **_kwargs):
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(feedparser, "parse", explode)
    result = cli("feeds", "parse", str(DATA / "rss2_basic.xml"), expect=1)
    assert "parser failed: UnicodeEncodeError" in result.output
    assert "Traceback" not in result.output


def test_parse_neutralises_hostile_character_references(cli, tmp_path) -> None:
    hostile = tmp_path / "hostile.xml"
    refs = "&#xD800; &#1114112; &#99999999999;"
    hostile.write_text(
        f'<rss version="2.0"><channel><title>c</title><item><title>a {refs} b</title>'
        "<guid>g</guid></item></channel></rss>"
    )
    result = cli("feeds", "parse", str(hostile))
    assert orjson.loads(result.stdout)["title"] == "a \ufffd \ufffd \ufffd b"


def test_parse_warns_about_entries_over_the_limit(cli, tmp_path, monkeypatch) -> None:
    many = tmp_path / "many.xml"
    items = "".join(f"<item><title>t{i}</title><guid>g{i}</guid></item>" for i in range(30))
    many.write_text(f'<rss version="2.0"><channel><title>c</title>{items}</channel></rss>')
    monkeypatch.setenv("NEWSWATCH_POLLER__MAX_ENTRIES_PER_POLL", "10")
    result = cli("feeds", "parse", str(many))
    assert len(result.stdout.splitlines()) == 10
    assert "20 older entries over the limit of 10" in result.stderr
