"""The worker's HTTP views, served by Faust's web server on `web_host:web_port`.

- `/metrics`: our `newswatch_*` metrics (prometheus-client), not Faust's Prometheus sensor;
- `/healthz`: the process is up; `/readyz`: partitions assigned, no rebalance, tables recovered;
- `GET /api/alerts?entity=&theme=&severity=&since=&limit=` and `GET /api/stats`: read from
  Redis through `newswatch.streams.sinks.api`;
- `GET /api/stories?entity=&since=&min_sources=&lang=&limit=` and `GET /api/stories/{id}`:
  story states in Redis, through `newswatch.streams.sinks.stories`;
- the newsroom page at `/` and its paths (`newswatch.streams.newsroom.web`), mounted as plain
  aiohttp handlers on the same server (Server-Sent Events need a streaming response).

With `NEWSWATCH_API_TOKEN` set, every path but the health and metrics paths and `/static/`
needs the token (`streams.web.api_auth_middleware`): a bearer header, or the session cookie
the page's login form sets.

A periodic timer also refreshes `newswatch_consumer_lag` from Faust's monitor. Lag is the end
offset seen in fetch responses minus the committed offset; Tansu's end offsets can be wrong
(README, "Known limitations"), so against Tansu the gauge is indicative only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from newswatch.agents import metrics
from newswatch.streams.settings import Settings, is_loopback_host
from newswatch.streams.web import api_auth_middleware

if TYPE_CHECKING:
    from newswatch.agents.pipeline import Deps

log = logging.getLogger(__name__)


LAG_INTERVAL = 5.0


def ready_state(app: faust.App) -> tuple[bool, str]:
    """(ready, reason): assigned partitions, not rebalancing, table recovery done."""
    try:
        if not app.consumer.assignment():
            return False, "no partitions assigned yet"
    except Exception:  # consumer not started
        return False, "consumer not started"
    if app.rebalancing:
        return False, "rebalancing"
    recovery = app.tables.recovery  # type: ignore[attr-defined]  # not in TableManagerT
    if not recovery.completed.is_set():
        return False, "recovering tables"
    return True, "consuming"


#: Watchdog checks in a row that must see a ready worker with its flow stopped before it acts.
STALL_CHECKS = 3


def check_flow(app: faust.App, stalled: list[int]) -> bool:
    """The stall watchdog (fix 3's safety net, agents/app.py). `Consumer.perform_seek` stops
    the consumer's flow and relies on Faust's recovery to resume it. If a worker is ready
    (partitions assigned, no rebalance, tables recovered) yet its flow has stayed stopped for
    STALL_CHECKS checks in a row, nothing will ever resume it: resume it here, say so and count
    it. `stalled` carries the count between calls. Returns True when it resumed the flow."""
    consumer: Any = app.consumer  # faust.transport.consumer.Consumer; ConsumerT lacks the flow
    ok, _ = ready_state(app)
    if not ok or consumer.flow_active:
        stalled[0] = 0
        return False
    stalled[0] += 1
    if stalled[0] < STALL_CHECKS:
        return False
    stalled[0] = 0
    log.warning(
        "consumer flow stopped although the worker is ready (no rebalance, recovery done): "
        "resuming it (newswatch_consumer_flow_resumed_total)"
    )
    metrics.FLOW_RESUMED.inc()
    consumer.resume_flow()
    return True


def update_lag(app: faust.App) -> None:
    """Set newswatch_consumer_lag{topic,partition} from the monitor's offsets."""
    monitor = app.monitor
    committed = dict(monitor.tp_committed_offsets)
    for tp, end in dict(monitor.tp_end_offsets).items():
        done = committed.get(tp)
        if done is None or end is None:
            continue
        metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - done))


def register(app: faust.App, settings: Settings, deps: Deps | None = None) -> None:
    """Add the views, the API token check and the lag timer to `app`."""
    redis_holder: dict[str, Any] = {}
    if settings.api_token is not None:
        # Before the server starts: aiohttp freezes the middleware list at startup.
        web_app = app.web.web_app  # type: ignore[attr-defined]  # on the aiohttp driver only
        web_app.middlewares.append(api_auth_middleware(settings.api_token))
    elif not is_loopback_host(settings.web_host):
        log.warning(
            "the HTTP API on %s:%d has no token (NEWSWATCH_API_ALLOW_UNAUTHENTICATED=true):"
            " anyone who can reach the port reads the alerts",
            settings.web_host,
            settings.web_port,
        )

    def redis() -> Any:
        if "client" not in redis_holder:
            from newswatch.streams.sinks.redis_client import make_redis

            redis_holder["client"] = make_redis(settings)
        return redis_holder["client"]

    @app.page("/metrics")
    async def metrics_view(self: Any, request: Any) -> Any:
        return self.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(self: Any, request: Any) -> Any:
        return self.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(self: Any, request: Any) -> Any:
        ok, detail = ready_state(app)
        return self.json(
            {"status": "ready" if ok else "not ready", "detail": detail},
            status=200 if ok else 503,
        )

    @app.page("/api/alerts")
    async def api_alerts(self: Any, request: Any) -> Any:
        from newswatch.streams.sinks.api import QueryError, parse_alert_query, query_alerts

        try:
            alerts = await query_alerts(redis(), **parse_alert_query(request.query))
        except QueryError as exc:
            return self.json({"error": str(exc)}, status=400)
        except Exception as exc:
            log.warning("/api/alerts failed: %r", exc)
            return self.json({"error": "alert store unavailable"}, status=503)
        return self.json({"alerts": alerts, "count": len(alerts)})

    @app.page("/api/stats")
    async def api_stats(self: Any, request: Any) -> Any:
        from newswatch.streams.sinks.api import alert_stats

        try:
            stats = await alert_stats(redis())
        except Exception as exc:
            log.warning("/api/stats failed: %r", exc)
            return self.json({"error": "alert store unavailable"}, status=503)
        return self.json(stats)

    @app.page("/api/stories")
    async def api_stories(self: Any, request: Any) -> Any:
        from newswatch.streams.sinks.stories import stories_response

        try:
            status, body = await stories_response(redis(), request.query)
        except Exception as exc:
            log.warning("/api/stories failed: %r", exc)
            return self.json({"error": "story store unavailable"}, status=503)
        return self.json(body, status=status)

    @app.page("/api/stories/{story_id}")
    async def api_story(self: Any, request: Any, story_id: str) -> Any:
        from newswatch.streams.sinks.stories import story_response

        try:
            status, body = await story_response(redis(), story_id)
        except Exception as exc:
            log.warning("/api/stories/%s failed: %r", story_id[:40], exc)
            return self.json({"error": "story store unavailable"}, status=503)
        return self.json(body, status=status)

    mount_newsroom(app, settings, deps)

    stalled = [0]

    @app.timer(LAG_INTERVAL)
    async def flow_watchdog() -> None:
        check_flow(app, stalled)

    @app.timer(LAG_INTERVAL)
    async def consumer_lag() -> None:
        update_lag(app)


def mount_newsroom(app: faust.App, settings: Settings, deps: Deps | None = None) -> None:
    """Serve the newsroom page from the worker's web server (see NewswatchApp.web_setup).

    It reuses the tag agent's tagger (for the evidence marks of an alert view) and its display
    names; the page has its own Redis clients."""
    from newswatch.streams.names import DisplayNames, display_names
    from newswatch.streams.newsroom.web import Newsroom, add_routes
    from newswatch.streams.sinks.redis_client import make_redis

    tagger = deps.tagger if deps is not None else None
    names = (
        DisplayNames.from_catalogue(tagger.catalogue)
        if tagger is not None
        else display_names(settings.catalogue_dir)
    )
    newsroom = Newsroom(
        lambda: make_redis(settings),
        names,
        tagger=tagger,
        catalogue_dir=settings.catalogue_dir,
        max_sse_clients=settings.newsroom.max_sse_clients,
        sse_retry_after=settings.newsroom.sse_retry_after,
    )
    setups = getattr(app, "web_setup", None)
    if setups is None:
        setups = app.web_setup = []  # type: ignore[attr-defined]
    setups.append(lambda web_app: add_routes(web_app, newsroom))
