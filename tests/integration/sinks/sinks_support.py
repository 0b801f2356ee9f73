"""Test helpers for the sinks: a local webhook receiver, settings and alerts.

Test modules import the `redis` and `receiver` fixtures from here (no conftest.py in these
folders: it would shadow tests/conftest.py for `from conftest import ...`).

The receiver is a real aiohttp server on 127.0.0.1 (free port). Each endpoint name has a
script: a callable (attempt number for this webhook-id, request) -> (status, headers, delay).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from newswatch.streams.embedded import free_port
from newswatch.streams.records import Alert
from newswatch.streams.settings import Settings, load_settings
from newswatch.streams.sinks.redis_client import make_redis

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_dGhlIG9sZCBzZWNyZXQgb2YgdGhlIHJvdGF0aW9u"

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


@dataclass
class Receiver:
    port: int = 0
    scripts: dict[str, Script] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        self.port = free_port()
        await self.up()
        return self

    async def up(self) -> None:
        """Listen (again) on the same port."""
        app = web.Application()
        app.router.add_post("/hook/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Close the port and every connection: connections are refused until `up()`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    down = stop

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

    def delivered(self, name: str) -> Counter[str]:
        """webhook-id -> how many times it was answered 2xx."""
        return Counter(r.id for r in self.of(name) if 200 <= r.status < 300)

    async def wait_until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s; received {len(self.requests)}")
            await asyncio.sleep(0.01)


def make_settings(redis_url: str, endpoints: list[dict[str, Any]], **webhooks: Any) -> Settings:
    """Webhook settings for the local receiver: the SSRF guard allows its address only."""
    options: dict[str, Any] = {
        "retry_schedule": [0, 5, 300],
        "time_scale": 1000.0,
        "allowed_networks": ["127.0.0.1/32"],
    }
    options.update(webhooks)
    return load_settings(redis_url=redis_url, webhooks={"endpoints": endpoints, **options})


def endpoint(receiver: Receiver, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": receiver.url(name), "secrets": [SECRET], "timeout": 2.0, **extra}


def alert(n: int, **extra: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": f"test_rule:article-{n}",
        "rule": "test_rule",
        "severity": "high",
        "title": f"Alert {n}",
        "entities": ["deepseek"],
        "themes": ["export_controls"],
        "article_id": f"article-{n}",
        "url": f"https://example.org/{n}",
    }
    fields.update(extra)
    return Alert(**fields)


@pytest.fixture(name="redis")
async def redis_fixture(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the session redis-server (flushed per test by `redis_url`)."""
    client = make_redis(load_settings(redis_url=redis_url))
    yield client
    await client.aclose()


@pytest.fixture(name="receiver")
async def receiver_fixture() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.stop()
