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
    "Webhook delivery attempts by endpoint and outcome (success, retry, failed, disabled;"
    " held: failed while the endpoint's circuit was open, not counted as an attempt).",
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
    "1 while the endpoint receives deliveries, 0 once disabled (HTTP 410, or failing for days).",
    ["endpoint"],
)
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "newswatch_webhook_endpoints_disabled_total",
    "Endpoints disabled by the dispatcher, by endpoint and reason (gone: HTTP 410; failing:"
    " every delivery failed for webhooks.disable_after_days).",
    ["endpoint", "reason"],
)
WEBHOOK_FAILING_SECONDS = Gauge(
    "newswatch_webhook_endpoint_failing_seconds",
    "Seconds since the endpoint's last success during which every delivery failed; 0 when"
    " the last delivery succeeded or while disabled. The endpoint is disabled when it reaches"
    " webhooks.disable_after_days.",
    ["endpoint"],
)
WEBHOOK_CIRCUIT_OPEN = Gauge(
    "newswatch_webhook_circuit_open",
    "1 while the endpoint's circuit is open (endpoint failing: deliveries wait, one probe per"
    " interval), else 0.",
    ["endpoint"],
)
WEBHOOK_CIRCUIT_OPENED = Counter(
    "newswatch_webhook_circuit_opened_total",
    "Times this process opened an endpoint's circuit (webhooks.circuit_failures endpoint"
    " failures in a row).",
    ["endpoint"],
)
WEBHOOK_CIRCUIT_PROBES = Counter(
    "newswatch_webhook_circuit_probes_total",
    "Probes sent by this process while an endpoint's circuit was open, by outcome (success:"
    " closed the circuit; failure).",
    ["endpoint", "outcome"],
)
WEBHOOK_DEAD_LETTERS_DROPPED = Counter(
    "newswatch_webhook_dead_letters_dropped_total",
    "Dead letters deleted to keep the store bounded, by endpoint and reason (ttl: older than"
    " webhooks.dead_letter_ttl_days; cap: beyond webhooks.dead_letter_max).",
    ["endpoint", "reason"],
)

REDIS_SINK_REPAIRS = Counter(
    "newswatch_redis_sink_repairs_total",
    "Repairs of the Redis alert stream from the alerts topic, by trigger (batch: a batch found"
    " the watermark behind its first offset; check: the periodic check found it behind what"
    " this worker wrote) and outcome (done, failed, not_owned).",
    ["trigger", "outcome"],
)
REDIS_SINK_REPAIRED = Counter(
    "newswatch_redis_sink_repaired_alerts_total",
    "Alerts a repair found missing from Redis and wrote again (a lost write restored).",
)
REDIS_SINK_REQUEUED = Counter(
    "newswatch_redis_sink_requeued_webhooks_total",
    "Webhook deliveries a repair queued again because their outbox entry was lost with Redis's"
    " last second (each goes out once more, under its webhook-id).",
)
REDIS_SINK_REPLAYED = Counter(
    "newswatch_redis_sink_replayed_records_total",
    "Records of the alerts topic read by repairs, by outcome (written: new or already there;"
    " deadletter: undecodable or refused by Redis).",
    ["outcome"],
)

# Series exist at 0 from the start, so the first writes show in rate()/increase().
for _outcome in ("new", "duplicate"):
    REDIS_ALERTS_WRITTEN.labels(_outcome)
WEBHOOK_MUTED = Counter(
    "newswatch_webhook_alerts_muted_total",
    "Alerts not queued for any webhook endpoint because an entity or rule is muted.",
)
for _trigger in ("batch", "check"):
    for _outcome in ("done", "failed", "not_owned"):
        REDIS_SINK_REPAIRS.labels(_trigger, _outcome)
for _outcome in ("written", "deadletter"):
    REDIS_SINK_REPLAYED.labels(_outcome)
