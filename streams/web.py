"""The small HTTP server every non-Faust process runs: /metrics, /healthz, /readyz.

The Faust worker serves the same three paths from Faust's own web server
(see `newswatch.agents.app`), plus the HTTP API behind `api_auth_middleware`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest
from pydantic import SecretStr

from newswatch.streams.auth import token_middleware

ReadyCheck = Callable[[], tuple[bool, str]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UNAUTHORIZED = Counter(
    "newswatch_http_unauthorized_total",
    "HTTP requests refused for a missing or wrong API token, by reason (missing, invalid).",
    ["reason"],
)
for _reason in ("missing", "invalid"):
    UNAUTHORIZED.labels(_reason)


def api_auth_middleware(token: SecretStr | str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """aiohttp middleware: every path but the open ones needs the token (`streams/auth.py`:
    bearer header, the login form's session cookie, or a token link). Deny by default: an
    unknown path is refused like an API path, so a view added later is never open by accident.
    Refusals count in `newswatch_http_unauthorized_total{reason}`."""
    return token_middleware(token, lambda reason: UNAUTHORIZED.labels(reason).inc())


def metrics_response() -> web.Response:
    body = generate_latest(REGISTRY)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def health_app(ready: ReadyCheck) -> web.Application:
    """/healthz: the process is alive. /readyz: 200 only while `ready()` says so."""

    async def metrics(_: web.Request) -> web.Response:
        return metrics_response()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok, detail = ready()
        return web.json_response(
            {"status": "ready" if ok else "not ready", "detail": detail},
            status=200 if ok else 503,
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_health_server(host: str, port: int, ready: ReadyCheck) -> web.AppRunner:
    """Start the server; returns the runner (call `await runner.cleanup()` to stop)."""
    runner = web.AppRunner(health_app(ready), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner
