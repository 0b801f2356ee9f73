"""Prometheus metrics of the sinks, declared once. Labels come from bounded sets only:
outcomes, Redis operation names and configured endpoint names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REDIS_ALERTS_WRITTEN = Counter(
    "newswatch_redis_alerts_written_total",
    "Alerts written to Redis by outcome (new, duplicate).",
    ["outcome"],
)
REDIS_ERRORS = Counter(
    "newswatch_redis_errors_total",
    "Redis operations that failed and were retried, by operation.",
    ["operation"],
)
WEBHOOK_DELIVERIES = Counter(
    "newswatch_webhook_deliveries_total",
    "Webhook delivery attempts by endpoint and outcome (success, retry, failed, disabled).",
    ["endpoint", "outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "newswatch_webhook_delivery_latency_seconds",
    "Seconds from queueing an alert for an endpoint to its successful delivery.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200),
)
WEBHOOK_DEAD_LETTERS = Gauge(
    "newswatch_webhook_dead_letters",
    "Deliveries in the dead-letter store, by endpoint.",
    ["endpoint"],
)
WEBHOOK_ENDPOINT_ENABLED = Gauge(
    "newswatch_webhook_endpoint_enabled",
    "1 while the endpoint receives deliveries, 0 once disabled (HTTP 410).",
    ["endpoint"],
)

# Series exist at 0 from the start, so the first writes show in rate()/increase().
for _outcome in ("new", "duplicate"):
    REDIS_ALERTS_WRITTEN.labels(_outcome)
WEBHOOK_MUTED = Counter(
    "newswatch_webhook_alerts_muted_total",
    "Alerts not queued for any webhook endpoint because an entity or rule is muted.",
)
