"""The webhook receiver of the tests: a real aiohttp server on 127.0.0.1.

Every request is recorded (endpoint name, `webhook-id`, headers, body, time, the status it got).
Each endpoint name can have a script: a callable (attempt number for this webhook-id, request)
-> (status, headers, delay); without one, the receiver answers 204 at once. The `receiver`
fixture (tests/conftest.py) gives each test a started one; `receiver_in_thread` serves
synchronous tests.

`signature_valid` checks a Standard Webhooks signature from the specification, independently of
the product's own `newswatch.streams.sinks.verify`, so end-to-end tests do not grade the
signer with its own code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support.http import loop_in_thread, serve_on_loopback

Reply = tuple[int, dict[str, str], float]
Script = Callable[[int, "Received"], Reply]


def ok(_attempt: int, _req: Received) -> Reply:
    return 204, {}, 0.0


@dataclass
class Received:
    endpoint: str
    id: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """Endpoints are `/hook/{name}`; `url(name)` is the address to configure."""

    port: int = 0
    scripts: dict[str, Script] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        """Listen (again): the first start picks a free port, a restart after `stop()` takes
        the same one, so configured URLs stay valid while the receiver was down."""
        app = web.Application()
        app.router.add_post("/hook/{name}", self._handle)
        self._runner, self.port = await serve_on_loopback(app, port=self.port)
        return self

    async def stop(self) -> None:
        """Close the port: deliveries are refused until `start()`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        req = Received(
            name, request.headers.get("webhook-id", ""), dict(request.headers), body, time.time()
        )
        self.requests.append(req)
        attempt = sum(1 for r in self.requests if r.endpoint == name and r.id == req.id)
        status, headers, delay = self.scripts.get(name, ok)(attempt, req)
        if delay:
            await asyncio.sleep(delay)
        req.status = status
        return web.Response(status=status, headers=headers)

    def of(self, name: str) -> list[Received]:
        return [r for r in self.requests if r.endpoint == name]

    def bodies(self, name: str) -> list[Any]:
        """The JSON bodies of the requests to `name`, in arrival order."""
        return [r.json() for r in self.of(name)]

    def accepted(self, name: str) -> list[Received]:
        """The requests to `name` answered 2xx, in arrival order."""
        return [r for r in self.of(name) if 200 <= r.status < 300]

    def ids(self, name: str) -> list[str]:
        """The `webhook-id` of each accepted delivery to `name`, in arrival order."""
        return [r.id for r in self.accepted(name)]

    def delivered(self, name: str) -> Counter[str]:
        """webhook-id -> how many times it was answered 2xx."""
        return Counter(self.ids(name))

    async def wait_until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s; received {len(self.requests)}")
            await asyncio.sleep(0.01)


@contextmanager
def receiver_in_thread(scripts: dict[str, Script] | None = None) -> Iterator[Receiver]:
    """A started `Receiver` for synchronous tests (and module-scoped fixtures): it runs on an
    event loop in a thread of its own."""
    with loop_in_thread() as loop:
        started = asyncio.run_coroutine_threadsafe(Receiver(scripts=scripts or {}).start(), loop)
        receiver = started.result(30)
        try:
            yield receiver
        finally:
            asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(30)


def signature_valid(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks: base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the secret's
    key (base64 after `whsec_`), one of the space-separated `v1,<sig>` values."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig, f"v1,{expected}") for sig in headers["webhook-signature"].split()
    )
