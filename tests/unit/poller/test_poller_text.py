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
