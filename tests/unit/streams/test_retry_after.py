"""The one Retry-After parser (streams/retry_after.py), its edge cases, and that the poller
and the webhook sender both use it."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from newswatch.streams.poller import scheduler
from newswatch.streams.retry_after import MAX_RETRY_AFTER, parse_retry_after
from newswatch.streams.sinks.webhooks import dispatcher

NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("007", 7.0),
        ("Fri, 15 Jan 2027 08:10:00 GMT", 600.0),
        ("Fri, 15 Jan 2027 09:10:00 +0100", 600.0),
        ("Fri, 15 Jan 2027 07:00:00 GMT", 0.0),  # in the past: now
        # capped: a server cannot park a feed or an endpoint for more than a day
        ("10000000", MAX_RETRY_AFTER),
        ("9" * 400, MAX_RETRY_AFTER),  # float() of it is inf
        ("Sat, 15 Jan 2028 08:00:00 GMT", MAX_RETRY_AFTER),
        # malformed: no advice
        ("-5", None),
        ("+5", None),
        ("1.5", None),
        ("1e3", None),
        ("²", None),  # str.isdigit() is true, float() raises
        ("١٢", None),  # Arabic-Indic digits
        ("Fri, 15 Jan 2027 08:10:00 -0000", None),  # no zone: would be read as local time
        ("Fri, 15 Jan 2027 08:10:00", None),  # no zone at all
        ("Fri, 32 Jan 2027 08:10:00 GMT", None),
        ("soon", None),
        ("   ", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_formatdate_round_trip() -> None:
    assert parse_retry_after(formatdate(NOW + 120, usegmt=True), NOW) == pytest.approx(120)


def test_poller_and_webhooks_share_the_parser() -> None:
    assert scheduler.parse_retry_after is parse_retry_after
    assert dispatcher.parse_retry_after is parse_retry_after
