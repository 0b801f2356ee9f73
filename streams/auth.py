"""The worker's web server behind `NEWSWATCH_API_TOKEN`: the API, the newsroom page, the feeds.

One middleware, deny by default: every path needs the token except the health and metrics
paths (`OPEN_PATHS`), the page's static files and the login form. A client shows the token in
one of three ways:

- `Authorization: Bearer <token>` — scripts and the API;
- the session cookie set by the login form (`/login`) — browsers, which cannot send a header
  on a page load or an `EventSource`; the cookie holds an HMAC of the token, not the token,
  and is `HttpOnly`, `SameSite=Strict`;
- `?token=<token>` on a GET — a token link: a page request answers with the session cookie
  and a redirect to the same URL without the token (so it leaves the address bar and the
  history), while `/feeds/alerts.atom` and `/api/*` are served directly (feed readers keep the
  link). A token in a URL can end up in proxy logs: prefer the header or the login form.

A browser that shows no token is sent to the login form; anything else gets 401 with a
`WWW-Authenticate` challenge. Refusals count in `newswatch_http_unauthorized_total{reason}`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web
from pydantic import SecretStr

from newswatch.streams.sinks.api import OPEN_PATHS, bearer_challenge, bearer_problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COOKIE = "newswatch_session"
LOGIN_PATH = "/login"
OPEN_PREFIXES = ("/static/",)
#: Paths served directly with `?token=` (no cookie, no redirect): clients that keep the URL.
TOKEN_LINK_DIRECT = ("/feeds/", "/api/")
SESSION_DAYS = 30

_LOGIN_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>newswatch — sign in</title>
<link rel="stylesheet" href="/static/newsroom.css"></head>
<body><main class="login">
<h1>newswatch</h1>
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
{error}
</main></body></html>
"""


def session_value(token: str) -> str:
    """The cookie's value: an HMAC of the token, so the cookie never carries the token."""
    return hmac.new(token.encode(), b"newswatch-session-v1", hashlib.sha256).hexdigest()


def _safe_next(value: str | None) -> str:
    """A local path to return to after login; anything else (other hosts, `//x`) is `/`."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _wants_html(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


def _login_page(next_path: str, error: str = "", status: int = 200) -> web.Response:
    body = _LOGIN_FORM.format(
        next=html.escape(next_path, quote=True),
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
    )
    headers = {
        "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'",
        "Cache-Control": "no-store",
    }
    return web.Response(text=body, content_type="text/html", status=status, headers=headers)


def _with_session(response: web.StreamResponse, request: web.Request, secret: str) -> None:
    response.set_cookie(
        COOKIE,
        session_value(secret),
        max_age=SESSION_DAYS * 86_400,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def token_middleware(
    token: SecretStr | str, count: Callable[[str], None] = lambda _reason: None
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware for `token`; `count(reason)` is called for every refusal."""
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    session = session_value(secret).encode()

    async def login(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return _login_page(_safe_next(request.query.get("next")))
        if not _same_origin(request):
            count("invalid")
            return web.json_response({"error": "cross-origin login refused"}, status=403)
        form = await request.post()
        next_path = _safe_next(str(form.get("next") or "/"))
        offered = str(form.get("token") or "")
        if bearer_problem(f"Bearer {offered}", secret) is not None:
            count("invalid")
            return _login_page(next_path, "That token is not valid.", status=401)
        redirect = web.HTTPSeeOther(next_path)
        _with_session(redirect, request, secret)
        raise redirect

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return await handler(request)
        if path == LOGIN_PATH:
            return await login(request)
        problem = bearer_problem(request.headers.get("Authorization"), secret)
        if problem is None:
            return await handler(request)
        cookie = request.cookies.get(COOKIE, "").encode()
        if cookie and hmac.compare_digest(cookie, session):
            return await handler(request)
        link = request.query.get("token")
        if link is not None and request.method == "GET":
            if bearer_problem(f"Bearer {link}", secret) is None:
                if path.startswith(TOKEN_LINK_DIRECT):
                    return await handler(request)
                rest = [(k, v) for k, v in request.query.items() if k != "token"]
                target = path + ("?" + urlencode(rest) if rest else "")
                redirect = web.HTTPSeeOther(target)
                _with_session(redirect, request, secret)
                raise redirect
            problem = "invalid"
        count(problem)
        if _wants_html(request):
            raise web.HTTPSeeOther(f"{LOGIN_PATH}?{urlencode({'next': request.path_qs})}")
        message = "missing bearer token" if problem == "missing" else "invalid bearer token"
        return web.json_response(
            {"error": message}, status=401, headers={"WWW-Authenticate": bearer_challenge(problem)}
        )

    return middleware
