"""Table-driven parser tests over the fixture feeds in tests/data/feeds/."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.streams.poller.parser import FeedParseError, parse_feed
from newswatch.streams.records import Article
from tests.support.environment import DATA

DATA = DATA / "feeds"
FETCHED_AT = 1_800_000_000.0  # 2027-01-15


def parse(name: str, **kwargs):
    kwargs.setdefault("feed_id", "t")
    kwargs.setdefault("fetched_at", FETCHED_AT)
    return parse_feed((DATA / name).read_bytes(), **kwargs)


# file, expected count, {field: value} checked on the first article
CASES = [
    (
        "rss2_basic.xml",
        2,
        {
            "title": "DeepSeek releases R2 & more",
            "url": "https://basic.example/r2?utm_source=rss",
            "summary": "A short summary & entities",
            "content": "Full text here.\nSecond paragraph",
            "published": 1749540600.0,  # 09:30 +02:00 -> 07:30Z
            "published_raw": "Tue, 10 Jun 2025 09:30:00 +0200",
            "authors": ["Ada Lovelace"],
            "lang": "en",
        },
    ),
    (
        "atom_xml_base.xml",
        2,
        {
            "title": "Qwen 3 annoncé",
            "url": "https://atom.example/blog/posts/qwen-3.html",
            "published": 1749538800.0,
            "updated": 1749549600.0,
            "authors": ["Marie Curie", "Pierre Curie"],
            "lang": "fr",
            "summary": "Résumé en français",
        },
    ),
    (
        "rdf_rss1.xml",
        1,
        {"title": "生成AIの新モデル", "lang": "ja", "url": "https://rdf.example/a1"},
    ),
    ("latin1_declared.xml", 1, {"title": "Grüße aus München", "summary": "Ärger über Öl"}),
    ("utf8_bom.xml", 1, {"title": "日本語のタイトルです", "lang": "ja"}),
    ("undeclared_zh.xml", 1, {"lang": "zh", "title": "月之暗面发布Kimi新模型"}),
    ("guid_dupes.xml", 3, {"title": "One"}),
    ("no_ids.xml", 4, {"title": "Only a title", "url": None}),
]


@pytest.mark.parametrize(("name", "count", "expected"), CASES, ids=[c[0] for c in CASES])
def test_fixture_feed(name: str, count: int, expected: dict) -> None:
    parsed = parse(name)
    assert len(parsed.entries) == count
    first = parsed.entries[0].article
    for field, value in expected.items():
        assert getattr(first, field) == value, field
    ids = [entry.article.id for entry in parsed.entries]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("t:") and len(i) == 18 for i in ids)
    assert all(entry.keys[0] == entry.article.id for entry in parsed.entries)


def test_relative_link_resolved_against_nested_xml_base() -> None:
    second = parse("atom_xml_base.xml").entries[1].article
    assert second.url == "https://other.example/page"


def test_ids_are_stable_across_parses_and_title_edits() -> None:
    body = (DATA / "rss2_basic.xml").read_bytes()
    first = parse_feed(body, feed_id="t", fetched_at=1.0)
    edited = parse_feed(body.replace(b"Second item", b"Second item (updated)"), feed_id="t")
    assert [e.article.id for e in first.entries] == [e.article.id for e in edited.entries]


def test_ids_differ_between_feeds() -> None:
    a = parse("rss2_basic.xml", feed_id="a").entries[0].article.id
    b = parse("rss2_basic.xml", feed_id="b").entries[0].article.id
    assert a.split(":")[1] == b.split(":")[1] and a != b


def test_guid_entries_also_answer_to_their_canonical_link() -> None:
    entry = parse("rss2_basic.xml").entries[0]
    assert len(entry.keys) == 2  # id + link key: a rewritten GUID is still a duplicate
    rewritten = parse_feed(
        (DATA / "rss2_basic.xml").read_bytes().replace(b"basic-1", b"basic-1-new"), feed_id="t"
    ).entries[0]
    assert rewritten.keys[0] != entry.keys[0]
    assert rewritten.keys[1] == entry.keys[1]  # utm parameter dropped in the canonical form


def test_duplicate_guids_fall_back_to_links() -> None:
    parsed = parse("guid_dupes.xml")
    assert [e.article.url for e in parsed.entries] == [
        "https://dupes.example/1",
        "https://dupes.example/2",
        "https://dupes.example/3",
    ]


def test_home_page_links_are_not_ids() -> None:
    parsed = parse("no_ids.xml")
    assert len({e.article.id for e in parsed.entries}) == 4
    assert all(len(e.keys) == 1 for e in parsed.entries)


@pytest.mark.parametrize(
    ("title", "published"),
    [
        ("Future", FETCHED_AT),  # clamped to the fetch time
        ("Ancient", None),  # 1970: unknown
        ("Garbage", None),
        ("Normal", 1749542400.0),
    ],
)
def test_untrusted_dates(title: str, published: float | None) -> None:
    articles = {e.article.title: e.article for e in parse("dates_absurd.xml").entries}
    assert articles[title].published == published
    assert articles[title].published_raw  # the feed's own text is always kept


def test_http_charset_header_decides_when_the_document_does_not() -> None:
    parsed = parse("cp1251_no_decl.xml", content_type="application/rss+xml; charset=windows-1251")
    assert parsed.entries[0].article.title == "Новая модель ИИ"
    assert parsed.entries[0].article.lang == "ru"  # guessed from the script


def test_declared_language_wins() -> None:
    assert parse("undeclared_zh.xml", declared_lang="zh-TW").entries[0].article.lang == "zh"
    assert parse("rss2_basic.xml", declared_lang="de").entries[0].article.lang == "de"


@pytest.mark.parametrize("unicity", ["guid", "link", "content"])
def test_unicity_policies_give_unique_ids(unicity: str) -> None:
    parsed = parse("rss2_basic.xml", unicity=unicity)
    assert len({e.article.id for e in parsed.entries}) == 2


def test_not_a_feed_is_an_error() -> None:
    with pytest.raises(FeedParseError, match="not a feed"):
        parse("not_a_feed.html")
    with pytest.raises(FeedParseError):
        parse_feed(b"", feed_id="t")


def test_billion_laughs_is_not_expanded() -> None:
    parsed = parse("billion_laughs.xml")
    article = parsed.entries[0].article
    assert len(article.title) < 100 and len(article.summary) < 100


def test_xxe_does_not_read_local_files() -> None:
    parsed = parse("xxe_file.xml")
    text = " ".join(e.article.title + e.article.summary for e in parsed.entries)
    assert "root:" not in text


def test_body_that_looks_like_a_path_is_not_opened(tmp_path: Path) -> None:
    # feedparser.parse(b"/some/file") would read the file; we hand it a stream instead.
    secret = tmp_path / "secret.xml"
    secret.write_bytes((DATA / "rss2_basic.xml").read_bytes())
    with pytest.raises(FeedParseError):
        parse_feed(str(secret).encode(), feed_id="t")


def test_body_that_looks_like_a_url_is_not_fetched() -> None:
    with pytest.raises(FeedParseError):
        parse_feed(b"http://127.0.0.1:9/feed.xml", feed_id="t")


def _dated_feed(dates: list[int | None]) -> bytes:
    from email.utils import formatdate

    items = "".join(
        f"<item><title>t{i}</title><guid>g{i}</guid>"
        + (f"<pubDate>{formatdate(d, usegmt=True)}</pubDate>" if d else "")
        + "</item>"
        for i, d in enumerate(dates)
    )
    return f'<rss version="2.0"><channel><title>c</title>{items}</channel></rss>'.encode()


def test_at_most_max_entries_newest_first_in_document_order() -> None:
    base = 1_700_000_000
    dates = [base + 10, None, base + 50, base + 20, base + 40, None, base + 30]
    body = _dated_feed(dates)
    parsed = parse_feed(body, feed_id="t", fetched_at=FETCHED_AT, max_entries=3)
    assert [e.article.title for e in parsed.entries] == ["t2", "t4", "t6"]
    assert parsed.over_limit == 4
    everything = parse_feed(body, feed_id="t", fetched_at=FETCHED_AT)
    assert everything.over_limit == 0 and len(everything.entries) == 7
    ids = {e.article.title: e.article.id for e in everything.entries}
    assert all(ids[e.article.title] == e.article.id for e in parsed.entries)  # same ids
    # Undated entries rank after every dated one, in document order: the last undated goes.
    six = parse_feed(body, feed_id="t", fetched_at=FETCHED_AT, max_entries=6)
    assert [e.article.title for e in six.entries] == ["t0", "t1", "t2", "t3", "t4", "t6"]


def test_a_future_date_does_not_jump_the_queue() -> None:
    """Far-future dates are clamped to the fetch time before ranking (a hostile entry dated
    2099 ranks as 'now', level with honest entries from today)."""
    honest = int(FETCHED_AT) - 60
    parsed = parse_feed(
        _dated_feed([4_070_908_800, honest, honest - 3600]),
        feed_id="t",
        fetched_at=FETCHED_AT,
        max_entries=2,
    )
    assert [e.article.title for e in parsed.entries] == ["t0", "t1"]
    assert parsed.entries[0].article.published == FETCHED_AT


def test_huge_document_is_capped() -> None:
    parsed = parse_feed(_dated_feed([None] * 5000), feed_id="t", max_entries=500)
    assert len(parsed.entries) == 500 and parsed.over_limit == 4500
    assert parsed.entries[0].article.title == "t0"


@pytest.mark.parametrize(
    "error",
    [
        ValueError("chr() arg not in range(0x110000)"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        OverflowError("Python int too large to convert to C int"),
        RecursionError("maximum recursion depth exceeded"),
        KeyError("x"),
    ],
)
def test_any_parser_exception_is_a_feed_parse_error(monkeypatch, error: Exception) -> None:
    import feedparser

    def explode(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(feedparser, "parse", explode)
    with pytest.raises(FeedParseError, match=f"parser failed: {type(error).__name__}"):
        parse("rss2_basic.xml")


def test_links_the_article_record_would_refuse_are_dropped_not_the_article() -> None:
    """A link over the record's URL limit or with a control character would make the worker
    dead-letter the whole article; the parser keeps the article without that link."""
    long_link = "https://example.org/" + "a" * 9_000
    body = (
        '<rss version="2.0"><channel><title>t</title>'
        f"<item><title>one</title><guid>g1</guid><link>{long_link}</link></item>"
        "<item><title>two</title><guid>g2</guid><link>https://example.org/x&#1;y</link></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(body, feed_id="f")
    assert [e.article.title for e in parsed.entries] == ["one", "two"]
    assert all(e.article.url is None for e in parsed.entries)
    for entry in parsed.entries:
        Article.loads(entry.article.dumps())  # the worker accepts what the poller sends
