"""The endpoint circuit breaker's pure rules: which failures are the endpoint's, and how
long an open circuit waits between probes. Its state lives in the outbox (`outbox.py`,
key `circuit`), so every worker process sharing an endpoint sees the same circuit.

Endpoint-level failures say nothing about the delivery, everything about the receiver: no
answer at all (connection refused or reset, DNS, TLS, timeout), 408 Request Timeout, 429 Too
Many Requests and any 5xx. Other answers (3xx, 4xx) come from a receiver that is up and
judged this request: they stay with the delivery and its own retry schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

# down: the endpoint failed (counts toward opening the circuit); answer: the endpoint answered
# but refused this delivery (ends a run of endpoint failures); other: neither (the SSRF guard
# refused the address before any request).
FailureKind = Literal["down", "answer", "other"]

# Shortest wait between probes, in seconds before time_scale: a schedule with zero delays
# must not turn an open circuit into a busy loop.
MIN_PROBE_INTERVAL = 1.0


def failure_kind(status: int | None, blocked: bool = False) -> FailureKind:
    """Classify a failed attempt: `status` None means no HTTP answer (connection error or
    timeout); `blocked` that the SSRF guard refused the address."""
    if blocked:
        return "other"
    if status is None or status in (408, 429) or status >= 500:
        return "down"
    return "answer"


def probe_intervals(schedule: Sequence[float], time_scale: float, cap: float) -> list[float]:
    """Seconds to wait before each probe of an open circuit: the first after it opens, then
    after each failed probe (the last repeats). They follow the retry schedule's delays after
    the first (immediate) one, at least MIN_PROBE_INTERVAL and at most `cap`, divided by
    `time_scale` like the schedule."""
    steps = [min(max(float(delay), MIN_PROBE_INTERVAL), cap) for delay in schedule[1:]]
    return [step / time_scale for step in steps or [cap]]
