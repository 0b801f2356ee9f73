"""The circuit breaker's pure rules: which failures are the endpoint's, probe intervals."""

from __future__ import annotations

import pytest

from newswatch.streams.settings import WebhookSettings
from newswatch.streams.sinks.webhooks.breaker import failure_kind, probe_intervals


@pytest.mark.parametrize(
    ("status", "blocked", "kind"),
    [
        (None, False, "down"),  # connection refused or reset, DNS, TLS, timeout
        (408, False, "down"),
        (429, False, "down"),
        (500, False, "down"),
        (502, False, "down"),
        (503, False, "down"),
        (599, False, "down"),
        (400, False, "answer"),
        (401, False, "answer"),
        (404, False, "answer"),
        (413, False, "answer"),
        (422, False, "answer"),
        (301, False, "answer"),  # redirects are not followed: the receiver's own answer
        (None, True, "other"),  # the SSRF guard refused the address: no request was made
    ],
)
def test_failure_kind(status: int | None, blocked: bool, kind: str) -> None:
    assert failure_kind(status, blocked) == kind


def test_probe_intervals_follow_the_default_schedule_capped() -> None:
    schedule = WebhookSettings().retry_schedule
    assert probe_intervals(schedule, 1.0, 600.0) == [5.0, 300.0] + [600.0] * 7
    assert probe_intervals(schedule, 1000.0, 600.0) == [0.005, 0.3] + [0.6] * 7


def test_probe_intervals_never_zero_and_never_empty() -> None:
    assert probe_intervals([0, 0, 0], 1.0, 600.0) == [1.0, 1.0]
    assert probe_intervals([0], 10.0, 60.0) == [6.0]
    assert probe_intervals([], 1.0, 30.0) == [30.0]
