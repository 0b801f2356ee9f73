"""Local HTTP servers for tests: an aiohttp application on a free loopback port.

`serve_on_loopback` is for async tests and fixtures (the server runs on the test's event
loop); `serve_in_thread` is the same for synchronous tests, which block the thread while they
wait, so the server gets an event loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


async def serve_on_loopback(
    app: web.Application, *, host: str = "127.0.0.1", port: int = 0, shutdown_timeout: float = 0.5
) -> tuple[web.AppRunner, int]:
    """Start `app` on `host` (a loopback address); returns the runner (call `cleanup()`) and
    the port.

    `port=0` lets the kernel pick a free port, so no other process can take it between
    choosing and binding. A fixed `port` serves again where a server that was stopped
    listened, for tests that take a receiver down and bring it back."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    # SO_REUSEADDR on every listener: a restart on the same port must not fail on connections
    # of the stopped one left in TIME_WAIT (on Linux both sockets need the option).
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@contextmanager
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a daemon thread until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def serve_in_thread(app: web.Application, **options: object) -> Iterator[int]:
    """`serve_on_loopback` for synchronous tests; yields the port."""
    with loop_in_thread() as loop:
        started = asyncio.run_coroutine_threadsafe(serve_on_loopback(app, **options), loop)  # type: ignore[arg-type]
        runner, port = started.result(30)
        try:
            yield port
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
