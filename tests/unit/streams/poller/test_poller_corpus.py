"""Every document of the real-world corpus (../shared/feeds/) is handled: no crash, no hang,
unique ids, and entry counts that match feedparser's reference where the document is a feed."""

from __future__ import annotations

import io
import json

import feedparser
import pytest

from newswatch.streams.poller.parser import FeedParseError, parse_feed
from tests.support.environment import shared_path


@pytest.fixture(scope="module")
def corpus():
    root = shared_path("feeds")
    manifest = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    return root, manifest


@pytest.mark.slow
def test_whole_corpus(corpus) -> None:
    root, manifest = corpus
    assert len(manifest) == 299
    failures, not_feeds, articles = [], [], 0
    for item in manifest:
        body = (root / item["file"]).read_bytes()
        try:
            parsed = parse_feed(
                body, feed_id="c", fetched_at=1_800_000_000.0, max_entries=1_000_000
            )
        except FeedParseError:
            # Only documents feedparser itself finds no entries in may be refused.
            not_feeds.append(item["file"])
            if item["feedparser_entries"]:
                failures.append((item["file"], "refused a feed with entries"))
            continue
        ids = [e.article.id for e in parsed.entries]
        if len(set(ids)) != len(ids):
            failures.append((item["file"], "duplicate ids"))
        # Entries whose id repeats inside one document are dropped (and counted).
        if len(ids) + parsed.duplicates_in_document != item["feedparser_entries"]:
            failures.append((item["file"], f"{len(ids)} vs {item['feedparser_entries']}"))
        for entry in parsed.entries:
            article = entry.article
            articles += 1
            if not article.title:
                failures.append((item["file"], "empty title"))
            if article.url is not None and not article.url.startswith(("http://", "https://")):
                failures.append((item["file"], f"relative url {article.url}"))
    assert not failures, failures[:20]
    assert len(not_feeds) <= 5, not_feeds  # gzip files, an HTML page, a broken document
    assert articles > 7_000


@pytest.mark.slow
def test_corpus_fields_present_where_feeds_have_them(corpus) -> None:
    root, manifest = corpus
    linked = with_links = dated = with_dates = 0
    for item in manifest:
        if not item["feedparser_entries"]:
            continue
        body = (root / item["file"]).read_bytes()
        raw = {
            e.get("title", ""): e
            for e in feedparser.parse(io.BytesIO(body), sanitize_html=False).entries
        }
        # As in production, the request URL is the base of last resort for relative links.
        base = f"https://corpus.example/{item['file']}"
        for entry in parse_feed(body, feed_id="c", base_url=base).entries:
            source = raw.get(entry.article.title)
            if source is None:
                continue
            if source.get("link"):
                linked += 1
                with_links += entry.article.url is not None
            if source.get("published_parsed") or source.get("updated_parsed"):
                dated += 1
                with_dates += entry.article.published is not None
    assert with_links / linked > 0.99, (with_links, linked)
    assert with_dates / dated > 0.99, (with_dates, dated)
