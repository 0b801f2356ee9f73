"""Local HTTP servers for tests: an aiohttp application on a free 127.0.0.1 port."""

from __future__ import annotations

from aiohttp import web


async def serve_on_loopback(
    app: web.Application, *, host: str = "127.0.0.1", port: int = 0, shutdown_timeout: float = 0.5
) -> tuple[web.AppRunner, int]:
    """Start `app` on `host` (a loopback address); returns the runner (call `cleanup()`) and
    the port.

    `port=0` lets the kernel pick a free port, so no other process can take it between
    choosing and binding. A fixed `port` (with SO_REUSEADDR) serves again where a server
    that was stopped listened, for tests that take a receiver down and bring it back."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=bool(port))
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
