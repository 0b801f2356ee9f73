"""Bearer-token auth of the worker's HTTP API: the worker's own web application (built by
`create_app`, views and middleware as in production) served by a real aiohttp server on
loopback, reading a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from newswatch.streams.settings import load_settings
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from tests.support.sinks import TOKEN, alert, serve_worker_web

pytestmark = pytest.mark.redis


@pytest.fixture
async def api(redis: Redis, redis_url: str) -> AsyncIterator[str]:
    await RedisAlertSink(redis, load_settings(redis_url=redis_url)).write(alert(1))
    runner, base = await serve_worker_web(redis_url, api_token=TOKEN)
    yield base
    await runner.cleanup()


def _refused(reason: str) -> float:
    value = REGISTRY.get_sample_value("newswatch_http_unauthorized_total", {"reason": reason})
    return value or 0.0


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


@pytest.mark.parametrize("path", ["/api/alerts", "/api/stats", "/api/alerts?limit=5", "/nope"])
async def test_api_refuses_requests_without_the_token(api: str, path: str) -> None:
    before = _refused("missing")
    status, headers, body = await _get(api + path)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="newswatch"'
    assert "deepseek" not in body and "missing bearer token" in body
    status, _, _ = await _get(api + path, {"Authorization": "Basic " + TOKEN})
    assert status == 401
    assert _refused("missing") == before + 2


@pytest.mark.parametrize(
    "value", ["Bearer wrong-token-0123456789ab", f"Bearer {TOKEN}x", "Bearer " + TOKEN[:-1]]
)
async def test_api_refuses_a_wrong_token(api: str, value: str) -> None:
    before = _refused("invalid")
    status, headers, _ = await _get(api + "/api/alerts", {"Authorization": value})
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="newswatch", error="invalid_token"'
    assert _refused("invalid") == before + 1


async def test_api_answers_with_the_token(api: str) -> None:
    for scheme in ("Bearer", "bearer"):
        status, _, body = await _get(api + "/api/alerts", {"Authorization": f"{scheme} {TOKEN}"})
        assert status == 200 and '"count":1' in body.replace(" ", "")
    status, _, body = await _get(api + "/api/stats", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and '"total":1' in body.replace(" ", "")


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
async def test_metrics_and_health_stay_open(api: str, path: str) -> None:
    status, _, _ = await _get(api + path)
    assert status in (200, 503)  # /readyz: 503 (this worker never joined a group), not 401


async def test_without_a_token_on_loopback_the_api_is_open(redis: Redis, redis_url: str) -> None:
    runner, base = await serve_worker_web(redis_url)
    try:
        status, _, _ = await _get(base + "/api/stats")
        assert status == 200
    finally:
        await runner.cleanup()
