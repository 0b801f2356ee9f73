"""The token in a browser: the newsroom page, its live events and the Atom feed behind
`NEWSWATCH_API_TOKEN`, through the login form's session cookie or a token link (the worker's
real web application on loopback, real redis-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from redis.asyncio import Redis

from newswatch.streams.auth import COOKIE, session_value
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from tests.support.sinks import TOKEN, alert, serve_worker_web

pytestmark = pytest.mark.redis

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
async def site(redis: Redis, redis_url: str) -> AsyncIterator[str]:
    await RedisAlertSink(redis, load_settings(redis_url=redis_url)).write(alert(1))
    runner, base = await serve_worker_web(redis_url, api_token=TOKEN)
    yield base
    await runner.cleanup()


def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_a_browser_without_the_token_is_sent_to_the_login_form(site: str) -> None:
    async with _client() as s:
        async with s.get(site + "/?entity=deepseek", headers=HTML, allow_redirects=False) as r:
            assert r.status == 303
            location = urlsplit(r.headers["Location"])
            assert location.path == "/login"
            assert parse_qs(location.query)["next"] == ["/?entity=deepseek"]
        async with s.get(site + "/login?next=/x") as r:
            page = await r.text()
            assert r.status == 200 and 'name="token"' in page and 'value="/x"' in page
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        async with s.get(site + "/events", allow_redirects=False) as r:
            assert r.status == 401  # not a page load: no redirect, a challenge


async def test_login_sets_a_session_cookie_that_opens_the_page(site: str) -> None:
    async with _client() as s:
        form = {"token": "wrong-token-wrong-token", "next": "/"}
        async with s.post(site + "/login", data=form, allow_redirects=False) as r:
            assert r.status == 401 and "not valid" in await r.text()
        assert not s.cookie_jar.filter_cookies(site)
        form = {"token": TOKEN, "next": "//evil.example/"}
        async with s.post(site + "/login", data=form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/"  # no open redirect
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert TOKEN not in cookie
        async with s.get(site + "/", headers=HTML) as r:
            assert r.status == 200 and "<html" in (await r.text()).lower()
        async with s.get(site + "/api/alerts") as r:
            assert r.status == 200


async def test_a_cross_origin_login_is_refused(site: str) -> None:
    async with _client() as s:
        headers = {"Origin": "https://evil.example"}
        form = {"token": TOKEN, "next": "/"}
        async with s.post(site + "/login", data=form, headers=headers, allow_redirects=False) as r:
            assert r.status == 403


async def test_token_links(site: str) -> None:
    link = site + f"/?token={TOKEN}&severity=high"
    async with _client() as s, s.get(link, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/?severity=high"
        assert COOKIE in r.headers["Set-Cookie"]
    async with _client() as s:  # a feed reader keeps the link: served directly
        async with s.get(site + f"/feeds/alerts.atom?token={TOKEN}") as r:
            assert r.status == 200 and "<feed" in await r.text()
        async with s.get(site + "/feeds/alerts.atom?token=wrong-token-wrong") as r:
            assert r.status == 401
        async with s.get(site + "/static/newsroom.css") as r:
            assert r.status in (200, 404)  # static files are open (never a 401)


async def test_a_forged_cookie_is_refused(site: str) -> None:
    async with _client() as s:
        s.cookie_jar.update_cookies({COOKIE: session_value("another-token-0123456789")})
        async with s.get(site + "/api/alerts") as r:
            assert r.status == 401
