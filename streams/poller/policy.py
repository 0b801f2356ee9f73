"""When to poll next: intervals, caching headers, Retry-After, backoff (pure functions)."""

from __future__ import annotations

import itertools
import random
import re
import statistics
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class Bounds:
    """The interval window and backoff knobs (from PollerSettings)."""

    min_interval: float
    max_interval: float
    default_interval: float
    backoff_base: float = 60.0
    backoff_max: float = 21_600.0
    broken_after: int = 8
    jitter: float = 0.1

    def clamp(self, seconds: float) -> float:
        return min(max(seconds, self.min_interval), self.max_interval)


_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.I)


def freshness(cache_control: str | None, expires: str | None, now: float) -> float | None:
    """How long the server says the response stays fresh (max-age wins over Expires)."""
    if cache_control:
        match = _MAX_AGE.search(cache_control)
        if match:
            return float(match.group(1))
    if expires:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError, IndexError):
            return None  # "Expires: 0" and garbage mean "already stale"
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - now)
    return None


def adaptive_interval(entry_times: list[float], bounds: Bounds) -> float:
    """Poll about as often as the feed publishes: the median gap between its newest entries.

    Fewer than two dated entries gives the default interval.
    """
    times = sorted(entry_times, reverse=True)[:20]
    if len(times) < 2:
        return bounds.clamp(bounds.default_interval)
    gaps = [a - b for a, b in itertools.pairwise(times) if a > b]
    if not gaps:
        return bounds.clamp(bounds.default_interval)
    return bounds.clamp(statistics.median(gaps))


def success_delay(
    bounds: Bounds,
    *,
    configured: float | None,
    adaptive: float | None,
    fresh_for: float | None,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next poll after a success: the configured interval or the adaptive one,
    never sooner than the server's freshness lifetime, within bounds, with +-jitter so feeds
    that started together drift apart."""
    base = configured if configured is not None else (adaptive or bounds.default_interval)
    if fresh_for is not None:
        base = max(base, fresh_for)
    base = bounds.clamp(base)
    spread = base * bounds.jitter
    return max(bounds.min_interval, base + (rng or random).uniform(-spread, spread))


def error_delay(
    bounds: Bounds,
    error_count: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Capped exponential backoff with full jitter (AWS style), at least min_interval and at
    least what Retry-After asked for (itself capped at max_interval)."""
    ceiling = min(bounds.backoff_max, bounds.backoff_base * 2 ** max(0, error_count - 1))
    delay = max(bounds.min_interval, (rng or random).uniform(0, ceiling))
    if retry_after is not None:
        delay = max(delay, min(retry_after, bounds.max_interval))
    return delay


def feed_health(error_count: int, bounds: Bounds) -> str:
    """ok, backing_off (recent failures) or broken (failing for a long time; still retried)."""
    if error_count <= 0:
        return "ok"
    return "broken" if error_count >= bounds.broken_after else "backing_off"
