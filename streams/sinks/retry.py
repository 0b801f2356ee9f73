"""Retry a Redis operation through an outage: capped exponential backoff, never gives up.

The sinks use it where giving up would lose data: the caller (a Faust agent) must not
acknowledge the Kafka record before the write succeeded, so waiting is the right behaviour;
cancellation (worker shutdown) is the only way out.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from newswatch.streams.sinks.metrics import REDIS_ERRORS

T = TypeVar("T")

log = logging.getLogger(__name__)

RETRYABLE: tuple[type[BaseException], ...] = (RedisError, OSError)


async def retry_forever(
    operation: str,
    call: Callable[[], Awaitable[T]],
    *,
    base: float = 0.05,
    cap: float = 2.0,
) -> T:
    """Await `call()` until it succeeds; count each failure in newswatch_redis_errors_total."""
    delay = base
    failures = 0
    while True:
        try:
            result = await call()
        except RETRYABLE as exc:
            failures += 1
            REDIS_ERRORS.labels(operation).inc()
            if failures == 1 or failures % 20 == 0:
                log.warning(
                    "redis %s failed (%s: %s); retrying (failure %d)",
                    operation,
                    type(exc).__name__,
                    exc,
                    failures,
                )
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, cap)
            continue
        if failures:
            log.info("redis %s succeeded after %d failures", operation, failures)
        return result
