"""retry_forever retries what clears up by itself and raises what the same call raises again."""

from __future__ import annotations

import pytest
from redis import exceptions as redis_errors

from newswatch.streams.sinks.retry import is_transient, retry_forever


class Flaky:
    """Fails with the given errors, in order, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.ConnectionError("refused"),
        redis_errors.TimeoutError("slow"),
        redis_errors.BusyLoadingError("loading"),
        redis_errors.AuthenticationError("auth"),
        redis_errors.ReadOnlyError("replica"),
        redis_errors.OutOfMemoryError("OOM"),
        redis_errors.TryAgainError("TRYAGAIN"),
        redis_errors.NoScriptError("NOSCRIPT"),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
async def test_transient_errors_are_retried(error: BaseException) -> None:
    assert is_transient(error)
    call = Flaky(error, error)
    assert await retry_forever("test", call, base=0.001, cap=0.002) == "ok"
    assert call.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind"),
        redis_errors.ResponseError("ERR Error running script: too many results to unpack"),
        redis_errors.DataError("Invalid input of type: 'dict'"),
        redis_errors.ExecAbortError("EXECABORT"),
    ],
)
async def test_deterministic_redis_errors_are_raised_at_once(error: BaseException) -> None:
    assert not is_transient(error)
    call = Flaky(error)
    with pytest.raises(type(error)):
        await retry_forever("test", call, base=0.001, cap=0.002)
    assert call.calls == 1


@pytest.mark.parametrize(
    "error",
    [UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates"), TypeError("bad"), ValueError()],
)
async def test_encoding_and_programming_errors_are_not_retried(error: BaseException) -> None:
    assert not is_transient(error)
    call = Flaky(error)
    with pytest.raises(type(error)):
        await retry_forever("test", call, base=0.001, cap=0.002)
    assert call.calls == 1
