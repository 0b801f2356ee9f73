"""Retry-After (RFC 9110, section 10.2.3): the one parser for the poller and the webhook sender.

A hostile or broken server picks the header; what it may make us do is bounded: malformed
values mean "no advice" (the caller's own backoff applies), and no value parks a feed or a
webhook endpoint for more than `MAX_RETRY_AFTER`.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 86_400.0  # seconds: one day


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header, at most `MAX_RETRY_AFTER`; None when the
    header is absent or malformed.

    delta-seconds are ASCII digits only: "-5", "+5", "1.5" and non-ASCII digits ("²", "١٢")
    are malformed. An HTTP-date must name its zone (a "-0000" date has none and would be read
    as local time); a date in the past means now (0.0).
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER)
