"""The one way newswatch builds a Redis client."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from newswatch.streams.settings import Settings

# Short, explicit retries inside the client for blips (a reconnect, a failover); the sinks add
# their own unbounded retry loop on top for outages, because they must not acknowledge early.
_CLIENT_RETRY_ERRORS = (ConnectionError, TimeoutError, BusyLoadingError)


def make_redis(settings: Settings, **overrides: object) -> Redis:
    """An asyncio Redis client for `settings.redis_dsn` (bytes replies, explicit retry policy)."""
    options: dict[str, object] = {
        "retry": Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), 3, _CLIENT_RETRY_ERRORS),
        "retry_on_error": list(_CLIENT_RETRY_ERRORS),
        "socket_timeout": 5.0,
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "health_check_interval": 15,
        "client_name": "newswatch",
    }
    options.update(overrides)
    return Redis.from_url(settings.redis_dsn, **options)
