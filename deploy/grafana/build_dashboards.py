"""Generate the provisioned Grafana dashboards (deploy/grafana/dashboards/*.json).

The dashboards are kept as code so that panels stay small, uniform and reviewable; the JSON
files are the build output and are committed (Grafana provisions them from disk).
tests/deploy checks that the committed JSON equals this script's output, so edit here and run:

    .venv/bin/python deploy/grafana/build_dashboards.py

Conventions the tests rely on:
- every query uses only metrics that the project declares (plus `up`, `process_*`);
- a query over a metric that only has series once something goes wrong (errors, dead letters,
  spikes) ends with `or on() vector(0)` (EVENT_FALLBACK) so the panel shows 0, not "No data".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DATASOURCE = {"type": "prometheus", "uid": "newswatch-prometheus"}
EVENT_FALLBACK = " or on() vector(0)"
OUT_DIR = Path(__file__).resolve().parent / "dashboards"
NEWSWATCH_JOBS = 'job=~"newswatch-.*"'


@dataclass
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass
class Panel:
    title: str
    queries: list[Query]
    kind: str = "timeseries"  # timeseries | stat | bargauge | table
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    stacked: bool = False
    extra: dict = field(default_factory=dict)


def q(expr: str, legend: str = "", instant: bool = False) -> Query:
    return Query(" ".join(expr.split()), legend, instant)


def event(expr: str, legend: str = "") -> Query:
    """A query over a metric that has no series until the first event (error, spike...)."""
    return Query(" ".join(expr.split()) + EVENT_FALLBACK, legend)


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict:
    targets = []
    for index, query in enumerate(panel.queries):
        target = {
            "datasource": DATASOURCE,
            "expr": query.expr,
            "legendFormat": query.legend or "__auto",
            "refId": chr(ord("A") + index),
            "range": not query.instant,
            "instant": query.instant,
        }
        targets.append(target)
    defaults: dict = {"unit": panel.unit}
    options: dict = {}
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 15 if panel.stacked else 0,
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
            "showPoints": "never",
        }
        options = {
            "legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        }
    elif panel.kind == "bargauge":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
        }
    result = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }
    result.update(panel.extra)
    return result


def _variable(name: str, label: str, metric: str, label_name: str) -> dict:
    query = f"label_values({metric}, {label_name})"
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def dashboard(
    uid: str,
    title: str,
    panels: list[Panel],
    variables: list[dict] | None = None,
    time_from: str = "now-6h",
    description: str = "",
) -> dict:
    laid_out, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append(_panel_json(panel, panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["newswatch"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables or []},
        "annotations": {"list": []},
        "links": [
            {"title": "newswatch", "type": "dashboards", "tags": ["newswatch"], "asDropdown": True}
        ],
        "panels": laid_out,
    }


RATE = "$__rate_interval"


def overview() -> dict:
    panels = [
        Panel(
            "New articles / s",
            [q(f'sum(rate(newswatch_poll_articles_total{{outcome="new"}}[{RATE}]))', "new")],
            kind="stat",
            unit="reqps",
            width=6,
            height=5,
        ),
        Panel(
            "Articles tagged / s",
            [q(f"sum(rate(newswatch_articles_tagged_total[{RATE}]))", "tagged")],
            kind="stat",
            unit="reqps",
            width=6,
            height=5,
        ),
        Panel(
            "Mentions in the last 24 h",
            [q("sum(increase(newswatch_mentions_total[24h]))", "mentions")],
            kind="stat",
            width=6,
            height=5,
        ),
        Panel(
            "Alerts in the last 24 h",
            [q("sum(increase(newswatch_alerts_total[24h]))", "alerts")],
            kind="stat",
            width=6,
            height=5,
        ),
        Panel(
            "Articles / s by language",
            [q(f"sum by (lang) (rate(newswatch_poll_articles_by_lang_total[{RATE}]))", "{{lang}}")],
            unit="reqps",
            stacked=True,
            description="New articles published by the poller, by detected language.",
        ),
        Panel(
            "Articles / s by feed (top 10)",
            [
                q(
                    f"topk(10, sum by (feed) (rate(newswatch_poll_feed_articles_total[{RATE}])))",
                    "{{feed}}",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Mentions / s by entity",
            [q(f"sum by (entity) (rate(newswatch_mentions_total[{RATE}]))", "{{entity}}")],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Themes / s",
            [q(f"sum by (theme) (rate(newswatch_themes_total[{RATE}]))", "{{theme}}")],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Alerts by rule and severity",
            [
                q(
                    f"sum by (rule, severity) (increase(newswatch_alerts_total[{RATE}]))",
                    "{{rule}} ({{severity}})",
                )
            ],
            stacked=True,
            extra={},
        ),
        Panel(
            "Top entities, last 24 h",
            [
                q(
                    "topk(10, sum by (entity) (increase(newswatch_mentions_total[24h])))",
                    "{{entity}}",
                    instant=True,
                )
            ],
            kind="bargauge",
        ),
        Panel(
            "Tagged articles / s by language",
            [q(f"sum by (lang) (rate(newswatch_articles_tagged_total[{RATE}]))", "{{lang}}")],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Spikes detected, last 24 h",
            [event("sum by (kind) (increase(newswatch_spikes_total[24h]))", "{{kind}}")],
            kind="bargauge",
            description="Spike alerts raised by the worker (entity or theme mentions far above "
            "their baseline).",
        ),
    ]
    return dashboard(
        "newswatch-overview",
        "newswatch / Overview",
        panels,
        description="What the news says: articles, mentions, themes and alerts.",
    )


def pipeline() -> dict:
    fetch = "newswatch_poll_fetch_duration_seconds_bucket"
    latency = "newswatch_processing_latency_seconds_bucket"
    webhook = "newswatch_webhook_delivery_latency_seconds_bucket"
    panels = [
        Panel(
            "Targets up",
            [q(f"sum by (job) (up{{{NEWSWATCH_JOBS}}})", "{{job}}")],
            kind="stat",
            width=6,
            height=5,
        ),
        Panel(
            "Broken feeds",
            [event('sum(newswatch_poll_feeds{state="broken"})', "broken")],
            kind="stat",
            width=6,
            height=5,
        ),
        Panel(
            "Scheduler lag",
            [q("max(newswatch_poll_scheduler_lag_seconds)", "lag")],
            kind="stat",
            unit="s",
            width=6,
            height=5,
        ),
        Panel(
            "Consumer lag (all topics)",
            [q("sum(max by (topic, partition) (newswatch_consumer_lag))", "lag")],
            kind="stat",
            width=6,
            height=5,
        ),
        Panel(
            "Poll duration",
            [
                q(f"histogram_quantile(0.5, sum by (le) (rate({fetch}[{RATE}])))", "p50"),
                q(f"histogram_quantile(0.95, sum by (le) (rate({fetch}[{RATE}])))", "p95"),
                q(f"histogram_quantile(0.99, sum by (le) (rate({fetch}[{RATE}])))", "p99"),
            ],
            unit="s",
        ),
        Panel(
            "HTTP responses by status class",
            [
                q(
                    f"sum by (status_class) (rate(newswatch_poll_responses_total[{RATE}]))",
                    "{{status_class}}",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Feeds by state",
            [q("sum by (state) (newswatch_poll_feeds)", "{{state}}")],
            stacked=True,
        ),
        Panel(
            "Poll errors by kind",
            [event(f"sum by (kind) (rate(newswatch_poll_errors_total[{RATE}]))", "{{kind}}")],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Articles by outcome",
            [q(f"sum by (outcome) (rate(newswatch_poll_articles_total[{RATE}]))", "{{outcome}}")],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Bytes fetched / s",
            [q(f"sum(rate(newswatch_poll_bytes_total[{RATE}]))", "bytes")],
            unit="Bps",
            width=6,
        ),
        Panel(
            "Publish errors / s",
            [event(f"sum(rate(newswatch_poll_publish_errors_total[{RATE}]))", "errors")],
            unit="reqps",
            width=6,
        ),
        Panel(
            "Consumer lag by topic and partition",
            [q("max by (topic, partition) (newswatch_consumer_lag)", "{{topic}} [{{partition}}]")],
        ),
        Panel(
            "Processing latency p95 by stage (from fetch)",
            [
                q(
                    f"histogram_quantile(0.95, sum by (le, stage) (rate({latency}[{RATE}])))",
                    "{{stage}}",
                )
            ],
            unit="s",
        ),
        Panel(
            "Webhook deliveries by endpoint and outcome",
            [
                q(
                    "sum by (endpoint, outcome) "
                    f"(rate(newswatch_webhook_deliveries_total[{RATE}]))",
                    "{{endpoint}} {{outcome}}",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Webhook delivery latency p95",
            [
                q(
                    f"histogram_quantile(0.95, sum by (le, endpoint) (rate({webhook}[{RATE}])))",
                    "{{endpoint}}",
                )
            ],
            unit="s",
        ),
        Panel(
            "Webhook dead letters",
            [q("sum by (endpoint) (newswatch_webhook_dead_letters)", "{{endpoint}}")],
            width=8,
        ),
        Panel(
            "Webhook endpoints enabled",
            [q("min by (endpoint) (newswatch_webhook_endpoint_enabled)", "{{endpoint}}")],
            width=8,
        ),
        Panel(
            "Redis alert writes by outcome",
            [
                q(
                    f"sum by (outcome) (rate(newswatch_redis_alerts_written_total[{RATE}]))",
                    "{{outcome}}",
                )
            ],
            unit="reqps",
            width=8,
        ),
        Panel(
            "Redis errors by operation",
            [
                event(
                    f"sum by (operation) (rate(newswatch_redis_errors_total[{RATE}]))",
                    "{{operation}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "Dead-lettered records by topic and reason",
            [
                event(
                    f"sum by (topic, reason) (increase(newswatch_deadletter_total[{RATE}]))",
                    "{{topic}} {{reason}}",
                )
            ],
        ),
        Panel(
            "CPU by process",
            [
                q(
                    "sum by (job, instance) "
                    f"(rate(process_cpu_seconds_total{{{NEWSWATCH_JOBS}}}[{RATE}]))",
                    "{{job}} {{instance}}",
                )
            ],
            unit="percentunit",
        ),
        Panel(
            "Resident memory by process",
            [q(f"process_resident_memory_bytes{{{NEWSWATCH_JOBS}}}", "{{job}} {{instance}}")],
            unit="bytes",
        ),
    ]
    return dashboard(
        "newswatch-pipeline",
        "newswatch / Pipeline health",
        panels,
        time_from="now-3h",
        description="Is the pipeline healthy: poller, Kafka consumers, sinks.",
    )


def entity() -> dict:
    variables = [
        _variable("entity", "Entity", "newswatch_mentions_total", "entity"),
        _variable("theme", "Theme", "newswatch_themes_total", "theme"),
        _variable("language", "Language", "newswatch_articles_tagged_total", "lang"),
    ]
    mentions = 'newswatch_mentions_total{entity=~"$entity"}'
    panels = [
        Panel(
            "Mentions of $entity in the selected range",
            [q(f"sum by (entity) (increase({mentions}[$__range]))", "{{entity}}", instant=True)],
            kind="bargauge",
        ),
        Panel(
            "Share of all mentions, last 24 h",
            [
                q(
                    f"sum by (entity) (increase({mentions}[24h])) "
                    "/ scalar(sum(increase(newswatch_mentions_total[24h])))",
                    "{{entity}}",
                    instant=True,
                )
            ],
            kind="bargauge",
            unit="percentunit",
        ),
        Panel(
            "Mentions / s of $entity",
            [q(f"sum by (entity) (rate({mentions}[{RATE}]))", "{{entity}}")],
            unit="reqps",
            width=24,
        ),
        Panel(
            "Themes / s: $theme",
            [
                q(
                    f'sum by (theme) (rate(newswatch_themes_total{{theme=~"$theme"}}[{RATE}]))',
                    "{{theme}}",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Theme hits in the selected range",
            [
                q(
                    'sum by (theme) (increase(newswatch_themes_total{theme=~"$theme"}[$__range]))',
                    "{{theme}}",
                    instant=True,
                )
            ],
            kind="bargauge",
        ),
        Panel(
            "Tagged articles / s in $language",
            [
                q(
                    "sum by (lang) "
                    f'(rate(newswatch_articles_tagged_total{{lang=~"$language"}}[{RATE}]))',
                    "{{lang}}",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "New articles / s in $language (poller)",
            [
                q(
                    "sum by (lang) "
                    f'(rate(newswatch_poll_articles_by_lang_total{{lang=~"$language"}}[{RATE}]))',
                    "{{lang}}",
                )
            ],
            unit="reqps",
            stacked=True,
        ),
        Panel(
            "Alerts by rule, last 24 h",
            [
                q(
                    "sum by (rule, severity) (increase(newswatch_alerts_total[24h]))",
                    "{{rule}} ({{severity}})",
                    instant=True,
                )
            ],
            kind="bargauge",
        ),
        Panel(
            "Spikes by kind, last 24 h",
            [event("sum by (kind) (increase(newswatch_spikes_total[24h]))", "{{kind}}")],
            kind="bargauge",
        ),
    ]
    return dashboard(
        "newswatch-entity",
        "newswatch / Entity drill-down",
        panels,
        variables,
        time_from="now-24h",
        description="One entity, theme or language at a time. Metrics count "
        "entities, themes and languages separately (bounded label "
        "sets), so the variables filter their own panels only.",
    )


DASHBOARDS = {"overview.json": overview, "pipeline.json": pipeline, "entity.json": entity}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT_DIR / name}")


if __name__ == "__main__":
    main()
