"""Scheduling rules: Retry-After, caching headers, backoff, adaptive intervals."""

from __future__ import annotations

import random

import pytest

from newswatch.streams.poller.policy import (
    Bounds,
    adaptive_interval,
    error_delay,
    feed_health,
    freshness,
    success_delay,
)
from newswatch.streams.retry_after import parse_retry_after

NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT
B = Bounds(min_interval=300, max_interval=86_400, default_interval=1_800, backoff_max=21_600)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Fri, 15 Jan 2027 08:10:00 GMT", 600.0),
        ("Fri, 15 Jan 2027 07:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    ("cache_control", "expires", "expected"),
    [
        ("public, max-age=3600", None, 3600.0),
        ("s-maxage=60, max-age=10", None, 60.0),
        ("no-cache", "Fri, 15 Jan 2027 09:00:00 GMT", 3600.0),
        (None, "Fri, 15 Jan 2027 09:00:00 GMT", 3600.0),
        (None, "0", None),
        (None, None, None),
    ],
)
def test_freshness(cache_control, expires, expected) -> None:
    assert freshness(cache_control, expires, NOW) == expected


def test_success_delay_respects_freshness_within_bounds() -> None:
    rng = random.Random(1)
    no_jitter = Bounds(300, 86_400, 1_800, jitter=0)
    assert success_delay(no_jitter, configured=None, adaptive=None, fresh_for=None) == 1_800
    assert success_delay(no_jitter, configured=600, adaptive=None, fresh_for=7_200) == 7_200
    assert success_delay(no_jitter, configured=None, adaptive=None, fresh_for=10**9) == 86_400
    assert success_delay(no_jitter, configured=1, adaptive=None, fresh_for=None) == 300
    for _ in range(200):
        delay = success_delay(B, configured=1_000, adaptive=None, fresh_for=None, rng=rng)
        assert 900 <= delay <= 1_100


def test_small_minimum_interval_is_allowed() -> None:
    demo = Bounds(min_interval=1, max_interval=60, default_interval=5, jitter=0)
    assert success_delay(demo, configured=None, adaptive=None, fresh_for=None) == 5
    assert success_delay(demo, configured=1, adaptive=None, fresh_for=None) == 1


def test_backoff_is_capped_full_jitter() -> None:
    rng = random.Random(7)
    for errors in range(1, 30):
        ceiling = min(B.backoff_max, B.backoff_base * 2 ** (errors - 1))
        delays = [error_delay(B, errors, rng=rng) for _ in range(50)]
        assert all(B.min_interval <= d <= max(ceiling, B.min_interval) for d in delays)
    late = [error_delay(B, 20, rng=rng) for _ in range(500)]
    assert max(late) <= B.backoff_max and max(late) > B.backoff_max / 2
    assert len({round(d) for d in late}) > 100  # jittered, not lock-step


def test_retry_after_is_a_floor_capped_at_max_interval() -> None:
    assert error_delay(B, 1, retry_after=5_000, rng=random.Random(0)) >= 5_000
    assert error_delay(B, 1, retry_after=10**9, rng=random.Random(0)) == 86_400


def test_adaptive_interval_follows_publication_rate() -> None:
    hourly = [NOW - i * 3_600 for i in range(10)]
    assert adaptive_interval(hourly, B) == 3_600
    fast = [NOW - i * 10 for i in range(10)]
    assert adaptive_interval(fast, B) == B.min_interval
    assert adaptive_interval([NOW - i * 10**6 for i in range(5)], B) == B.max_interval
    assert adaptive_interval([NOW], B) == B.default_interval
    assert adaptive_interval([NOW, NOW], B) == B.default_interval


def test_health_states() -> None:
    assert feed_health(0, B) == "ok"
    assert feed_health(1, B) == "backing_off"
    assert feed_health(B.broken_after, B) == "broken"
