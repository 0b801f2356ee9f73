"""The read side of the HTTP API: `GET /api/alerts` and `GET /api/stats`, served from Redis.

Pure query functions plus `parse_alert_query()`, which turns the query string into their
arguments and raises `QueryError` (answer 400) on bad input. The worker's web server wires them.

Authentication: with `NEWSWATCH_API_TOKEN` set, every request but `/metrics`, `/healthz` and
`/readyz` must carry `Authorization: Bearer <token>` (RFC 6750). `bearer_problem()` checks the
header in constant time; `newswatch.streams.web.api_auth_middleware` answers 401 with a
`WWW-Authenticate` challenge.
"""

from __future__ import annotations

import hmac
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from newswatch.streams.errors import NewswatchError
from newswatch.streams.records import SEVERITIES
from newswatch.streams.sinks import keys

MAX_LIMIT = 1_000
_SCAN_CAP = 20_000  # index entries examined per query at most (bounds a filtered query's cost)
_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,99}$")
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


# Paths served without the token: Prometheus scrapes and orchestrator probes must not need it,
# and they reveal no alert content.
OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
REALM = "newswatch"


def bearer_problem(authorization: str | None, token: str) -> str | None:
    """None when `authorization` is `Bearer <token>`; else "missing" (no or another scheme)
    or "invalid" (wrong token). The token comparison takes the same time wherever it differs."""
    scheme, _, offered = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not offered.strip():
        return "missing"
    # compare_digest on bytes: on str it refuses non-ASCII with TypeError.
    if hmac.compare_digest(offered.strip().encode("utf-8", "replace"), token.encode("utf-8")):
        return None
    return "invalid"


def bearer_challenge(problem: str) -> str:
    """The `WWW-Authenticate` value for a 401 (RFC 6750 section 3)."""
    if problem == "invalid":
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'


class QueryError(NewswatchError, ValueError):
    """A query parameter is invalid; the message names it."""


async def query_alerts(
    redis: Redis,
    entity: str | None = None,
    theme: str | None = None,
    severity: str | None = None,
    since: float | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first. `severity` is a minimum ("high" returns high and critical);
    `since` is epoch seconds on the alert's `created_at`."""
    _check_id("entity", entity)
    _check_id("theme", theme)
    if severity is not None and severity not in _RANK:
        raise QueryError(f"severity: must be one of {', '.join(SEVERITIES)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit: must be between 1 and {MAX_LIMIT}")
    if since is not None and not math.isfinite(since):
        raise QueryError("since: must be a finite number of epoch seconds")

    if entity:
        index = keys.entity_index(entity)
    elif theme:
        index = keys.theme_index(theme)
    else:
        index = keys.INDEX_ALL
    floor = "-inf" if since is None else repr(float(since))
    min_rank = _RANK[severity] if severity else 0
    batch = min(max(limit, 50), 500)
    found: list[dict[str, Any]] = []
    offset = 0
    while len(found) < limit and offset < _SCAN_CAP:
        ids = await redis.zrevrangebyscore(index, "+inf", floor, start=offset, num=batch)
        if not ids:
            break
        offset += len(ids)
        for raw in await redis.mget([keys.alert_key(_text(i)) for i in ids]):
            if raw is None:  # expired after the dedup TTL
                continue
            alert = orjson.loads(raw)
            if _RANK.get(alert.get("severity"), 0) < min_rank:
                continue
            if entity and theme and theme not in alert.get("themes", ()):
                continue
            found.append(alert)
            if len(found) >= limit:
                break
        if len(ids) < batch:
            break
    return found


async def alert_stats(redis: Redis, now: float | None = None) -> dict[str, Any]:
    """Alert counts per entity, theme, severity and rule over the last 24 hourly buckets
    (the current, partial hour included): {"from", "to", "total", "entities", "themes", ...}."""
    now = time.time() if now is None else now
    current = int(now // keys.STATS_BUCKET) * keys.STATS_BUCKET
    buckets = [current - i * keys.STATS_BUCKET for i in range(24)]
    async with redis.pipeline(transaction=False) as pipe:
        for bucket in buckets:
            pipe.hgetall(keys.stats_key(bucket))
        hashes = await pipe.execute()
    groups: dict[str, dict[str, int]] = {"entity": {}, "theme": {}, "severity": {}, "rule": {}}
    total = 0
    for counters in hashes:
        for raw_field, raw_value in counters.items():
            name, value = _text(raw_field), int(raw_value)
            if name == "total":
                total += value
                continue
            group, _, key = name.partition(":")
            if group in groups:
                groups[group][key] = groups[group].get(key, 0) + value
    return {
        "from": float(buckets[-1]),
        "to": float(now),
        "total": total,
        "entities": _sorted(groups["entity"]),
        "themes": _sorted(groups["theme"]),
        "severities": _sorted(groups["severity"]),
        "rules": _sorted(groups["rule"]),
    }


def parse_alert_query(params: Mapping[str, str]) -> dict[str, Any]:
    """Query-string values -> keyword arguments of `query_alerts`; raises QueryError."""
    unknown = set(params) - {"entity", "theme", "severity", "since", "limit"}
    if unknown:
        raise QueryError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name in ("entity", "theme", "severity"):
        if params.get(name):
            kwargs[name] = params[name]
    if params.get("since"):
        try:
            kwargs["since"] = float(params["since"])
        except ValueError:
            raise QueryError("since: must be epoch seconds") from None
    if params.get("limit"):
        try:
            kwargs["limit"] = int(params["limit"])
        except ValueError:
            raise QueryError("limit: must be an integer") from None
    return kwargs


async def alerts_response(redis: Redis, params: Mapping[str, str]) -> tuple[int, Any]:
    """`GET /api/alerts` for any web framework: (HTTP status, JSON-ready body)."""
    try:
        alerts = await query_alerts(redis, **parse_alert_query(params))
    except QueryError as exc:
        return 400, {"error": str(exc)}
    return 200, {"alerts": alerts, "count": len(alerts)}


async def stats_response(redis: Redis, now: float | None = None) -> tuple[int, Any]:
    """`GET /api/stats`: (HTTP status, JSON-ready body)."""
    return 200, await alert_stats(redis, now=now)


def _check_id(name: str, value: str | None) -> None:
    if value is not None and not _ID.match(value):
        raise QueryError(f"{name}: must be a lowercase catalogue id (a-z, 0-9, _)")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _sorted(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
