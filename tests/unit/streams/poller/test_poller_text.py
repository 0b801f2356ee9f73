"""HTML to text, URL canonicalisation, language from script."""

from __future__ import annotations

import pytest

from newswatch.streams.poller.text import canonical_url, guess_lang, html_to_text, primary_lang


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p><p>b</p>", "a\nb"),
        ("x &amp; y &lt;z&gt; &#8217; &nbsp;!", "x & y <z> ’ !"),
        ("<script>var a = '<p>';</script>kept<style>p{}</style>", "kept"),
        ("<!-- <b>hidden</b> -->shown", "shown"),
        ("a<br/>b<br>c", "a\nb\nc"),
        ("  spaced \t\n\n out  ", "spaced\nout"),
        ("ctrl\x00\x07chars", "ctrlchars"),
        ("", ""),
        (None, ""),
    ],
)
def test_html_to_text(html: str | None, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://Example.COM/a?utm_source=x&id=3#frag", "https://example.com/a?id=3"),
        ("http://example.com", "http://example.com/"),
        ("/relative", None),
        ("mailto:a@b", None),
        ("javascript:alert(1)", None),
        (None, None),
    ],
)
def test_canonical_url(url: str | None, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("DeepSeek が新しいモデルを発表しました", "ja"),
        ("딥시크가 새로운 모델을 발표했다", "ko"),
        ("深度求索发布新模型", "zh"),
        ("Новая модель искусственного интеллекта", "ru"),
        ("A plain English sentence", None),
        ("", None),
    ],
)
def test_guess_lang(text: str, lang: str | None) -> None:
    assert guess_lang(text) == lang


@pytest.mark.parametrize(
    ("tag", "lang"), [("en-US", "en"), ("zh_CN", "zh"), ("DE", "de"), ("x", None), (None, None)]
)
def test_primary_lang(tag: str | None, lang: str | None) -> None:
    assert primary_lang(tag) == lang


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p>b", "a\nb"),
        ("a<b>b</b>c", "a b c"),
        ("<div><div>deep</div></div>after", "deep\nafter"),
        ("<noscript><p>enable js</p></noscript><template>t</template>kept", "kept"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("<b>lone \udfff</b>", "lone \ufffd"),
        ("x\x00y<b>z\x07</b>", "xy z"),
        ("a < b and c > d", "a < b and c > d"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"),
        ("<!-- never closed <p>hidden", ""),
        ("<script>never closed <p>hidden", ""),
        ("&#xD800;<b>&#1114112;</b>", "\ufffd \ufffd"),
    ],
)
def test_html_to_text_hostile_and_edge_cases(html: str, text: str) -> None:
    assert html_to_text(html) == text


HOSTILE = {
    "comments": "<!--",
    "script_openers": "<script ",
    "unclosed_tags": "<a ",
    "unclosed_attribute": "<a x='",
    "nesting": "<div>",
    "formatting": "<p><b><i><a>",
    "end_tags": "</scrip",
    "entities": "&#",
}


@pytest.mark.timeout(120)  # the old regexes took minutes on the first two at this size
@pytest.mark.parametrize("unit", list(HOSTILE.values()), ids=list(HOSTILE))
def test_strip_markup_work_is_linear_in_the_input(unit: str) -> None:
    """Parser callbacks are bounded by the number of '<' (one start and one end per tag, one
    text run between): the work done grows linearly, whatever the input repeats."""
    from newswatch.streams.poller.text import MAX_HTML_CHARS, strip_markup

    for repeats in (1_000, 10_000, MAX_HTML_CHARS // len(unit)):
        value = unit * repeats
        _, events = strip_markup(value)
        assert events <= 3 * value.count("<") + 8  # + implied html, head, body
    assert html_to_text(unit * (4 * MAX_HTML_CHARS // len(unit))) is not None


def test_html_to_text_parses_at_most_max_html_chars() -> None:
    from newswatch.streams.poller.text import MAX_HTML_CHARS

    paragraph = "<p>x</p>"
    text = html_to_text(paragraph * (3 * MAX_HTML_CHARS // len(paragraph)))
    assert text.count("x") == MAX_HTML_CHARS // len(paragraph)


def test_html_to_text_survives_references_html_unescape_cannot_convert() -> None:
    """html.unescape calls int() on the digits: over 4300 of them raise ValueError."""
    assert html_to_text("a &#" + "9" * 5000 + "; b") == "a \ufffd b"
    assert html_to_text("a &#" + "0" * 5000 + "65; b") == "a A b"
