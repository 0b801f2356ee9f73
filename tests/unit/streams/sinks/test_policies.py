"""Retry schedule, Retry-After parsing, stats bucket TTLs, API query parsing."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from newswatch.streams.retry_after import parse_retry_after
from newswatch.streams.settings import WebhookEndpoint
from newswatch.streams.sinks.api import QueryError, parse_alert_query
from newswatch.streams.sinks.redis_sink import RedisAlertSink
from newswatch.streams.sinks.webhooks.dispatcher import (
    lease_seconds,
    retry_delay,
)

SCHEDULE = [0, 5, 300, 1800]


def test_full_jitter_stays_within_the_scheduled_delay() -> None:
    rng = random.Random(7)
    delays = [retry_delay(SCHEDULE, 2, 1.0, rng) for _ in range(500)]
    assert all(d is not None and 0 <= d <= 300 for d in delays)
    assert min(delays) < 30 and max(delays) > 270  # spread over the whole range


def test_time_scale_compresses_the_schedule() -> None:
    delay = retry_delay(SCHEDULE, 3, 1000.0, random.Random(1))
    assert delay is not None and delay <= 1.8


def test_schedule_exhausted() -> None:
    assert retry_delay(SCHEDULE, 4, 1.0, random.Random()) is None


def test_retry_after_seconds_and_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(formatdate(now + 120, usegmt=True), now) == pytest.approx(120)
    assert parse_retry_after(formatdate(now - 120, usegmt=True), now) == 0.0
    assert parse_retry_after("10000000", now) == 86_400.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_lease_outlives_the_request_timeout() -> None:
    endpoint = WebhookEndpoint(name="e", url="http://127.0.0.1:1/", timeout=3.0)
    assert lease_seconds(endpoint) > endpoint.timeout


def test_stats_bucket_ttl() -> None:
    now = 1_800_000_000.0
    assert RedisAlertSink._stats_ttl(now, now) > 86_400
    assert RedisAlertSink._stats_ttl(now - 90_000, now) == 0


def test_parse_alert_query() -> None:
    kwargs = parse_alert_query({"entity": "deepseek", "since": "1.5", "limit": "10"})
    assert kwargs == {"entity": "deepseek", "since": 1.5, "limit": 10}
    assert parse_alert_query({"theme": "", "severity": "high"}) == {"severity": "high"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since"),
        ({"limit": "ten"}, "limit"),
        ({"colour": "red"}, "unknown parameter"),
    ],
)
def test_parse_alert_query_errors(params: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_alert_query(params)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("whsec_!!", "not valid base64"),
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"),
        ("whsec_c2VjcmV0LXZhbHVl", "decodes to 12 bytes; it must be 24 to 64"),
        ("whsec_" + "QUFB" * 22, "decodes to 66 bytes"),
    ],
)
def test_a_bad_secret_names_the_endpoint(secret: str, problem: str) -> None:
    from newswatch.streams.settings import ConfigError, load_settings

    endpoint = {"name": "soc", "url": "http://127.0.0.1:1/", "secrets": [SECRET_OK, secret]}
    with pytest.raises(ConfigError) as caught:
        load_settings(webhooks={"endpoints": [endpoint]})
    message = str(caught.value)
    assert "webhooks.endpoints.0" in message and "endpoint 'soc': secret #2" in message
    assert problem in message
    assert secret.removeprefix("whsec_") not in message, "the secret itself is never printed"


SECRET_OK = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
