"""Retry a Redis operation through an outage: capped exponential backoff, transient errors only.

The sinks use it where giving up would lose data: the caller (a Faust agent) must not
acknowledge the Kafka record before the write succeeded, so waiting is the right behaviour for
errors that go away by themselves (Redis down, restarting, loading, failing over, out of memory,
a timeout). An error that the same call would raise again — a `ResponseError` such as WRONGTYPE
or a script error, a `DataError`, an encoding error — is raised at once: retrying it forever
would stall the agent on one record. The caller dead-letters what it could not write.
Cancellation (worker shutdown) is the other way out.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis import exceptions as redis_errors

from newswatch.streams.sinks.metrics import REDIS_ERRORS

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Broad: what the webhook dispatcher's background loops survive (they back off and go on).
RETRYABLE: tuple[type[BaseException], ...] = (redis_errors.RedisError, OSError)

#: Errors that clear up by themselves; everything else is deterministic. ConnectionError covers
#: authentication and BusyLoadingError; OSError covers sockets and the builtin TimeoutError.
#: NoPermissionError waits for an operator to fix the ACL rather than dead-lettering every
#: alert meanwhile; NoScriptError (after SCRIPT FLUSH or a restart) is fixed by reloading.
TRANSIENT: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
    redis_errors.AskError,
    redis_errors.NoScriptError,
    redis_errors.NoPermissionError,
    OSError,
)


def is_transient(exc: BaseException) -> bool:
    """True when trying the same call again later can succeed."""
    return isinstance(exc, TRANSIENT)


async def retry_forever(
    operation: str,
    call: Callable[[], Awaitable[T]],
    *,
    base: float = 0.05,
    cap: float = 2.0,
) -> T:
    """Await `call()` until it succeeds, retrying transient errors only; count each failure in
    newswatch_redis_errors_total. A deterministic error is raised after the first attempt."""
    delay = base
    failures = 0
    while True:
        try:
            result = await call()
        except RETRYABLE as exc:
            failures += 1
            REDIS_ERRORS.labels(operation).inc()
            if not is_transient(exc):
                log.warning(
                    "redis %s failed with a deterministic error (%s: %s); not retrying",
                    operation,
                    type(exc).__name__,
                    exc,
                )
                raise
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
