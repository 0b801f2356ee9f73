"""`newswatch up`: the whole pipeline in one supervised process tree.

Starts what is missing (embedded Tansu broker, redis-server, the demo feed server), creates the
topics, then runs `newswatch worker` and `newswatch poll` as child processes, restarting a child
that dies (with backoff) until SIGTERM/SIGINT. Shutdown order: poller first (its producer
flushes), then the worker (commits offsets), then the demo server, Redis and the broker.

While it runs, `$NEWSWATCH_STATE_DIR/up.json` (0600) tells client commands where Redis, Kafka
and the web ports are (`newswatch.streams.endpoints`). With `--demo` it also prints the URL of
the newsroom page and one line per alert as it arrives, in the format of `alerts tail`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import Counter, Gauge
from pydantic import SecretStr

from newswatch.streams import endpoints
from newswatch.streams.demo import DemoFeedServer
from newswatch.streams.embedded import (
    REDIS_PASSWORD_FILE,
    RedisServer,
    TansuBroker,
    ensure_private_dir,
    ensure_redis_password,
)
from newswatch.streams.kafka import ensure_topics
from newswatch.streams.netguard import IPNetwork
from newswatch.streams.settings import CONFIG_ENV, PollerSettings, Settings
from newswatch.streams.web import start_health_server

log = logging.getLogger("newswatch.up")

CHILD_RESTARTS = Counter(
    "newswatch_up_child_restarts_total", "Child processes restarted by `newswatch up`", ["child"]
)
CHILD_RUNNING = Gauge(
    "newswatch_up_child_running", "1 while the child process of `newswatch up` runs", ["child"]
)
EMBEDDED = Gauge(
    "newswatch_up_embedded_service",
    "1 for each embedded service `newswatch up` started",
    ["service"],
)

STOP_TIMEOUT = 30.0
MAX_BACKOFF = 30.0


@dataclass
class Child:
    """One supervised `newswatch <command>` process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        # Children write to stderr only: stdout belongs to `up` (the demo prints alerts there).
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=sys.stderr
        )
        self.started_at = time.monotonic()
        CHILD_RUNNING.labels(self.name).set(1)
        log.info("started %s (pid %d)", self.name, self.proc.pid)

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        if not self.running:
            return self.proc.returncode if self.proc else None
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            log.error("%s did not stop within %.0fs; killing it", self.name, timeout)
            self.proc.kill()
            code = await self.proc.wait()
        CHILD_RUNNING.labels(self.name).set(0)
        log.info("%s stopped (exit code %s)", self.name, code)
        return code


def demo_allowed_networks(poller: PollerSettings, host: str) -> list[IPNetwork]:
    """The poller's allow-list plus the demo feed server's own address (a /32 or /128)."""
    own = ipaddress.ip_network(host)
    return [*poller.allowed_networks, *([own] if own not in poller.allowed_networks else [])]


class Supervisor:
    """Owns the embedded services and the child processes of `newswatch up`."""

    def __init__(self, settings: Settings, *, demo: bool = False, config_file: Path | None = None):
        self.settings = settings
        self.demo = demo
        self.config_file = config_file
        self.broker: TansuBroker | None = None
        self.redis: RedisServer | None = None
        self.feed_server: DemoFeedServer | None = None
        self.children: list[Child] = []
        self._stopping = asyncio.Event()

    # ---- services -------------------------------------------------------------------------

    async def _start_services(self) -> None:
        settings = self.settings
        logs = settings.state_dir / "logs"
        updates: dict[str, object] = {}
        if not settings.kafka_servers:
            self.broker = await asyncio.to_thread(TansuBroker().start, logs)
            EMBEDDED.labels("tansu").set(1)
            updates["kafka_servers"] = [self.broker.bootstrap]
            log.warning(
                "embedded Kafka-compatible broker (Tansu) started at %s; it keeps data IN MEMORY "
                "ONLY: every record is lost when `up` stops. For a daemon set "
                "NEWSWATCH_KAFKA_SERVERS to a real Kafka cluster. Log: %s",
                self.broker.bootstrap,
                self.broker.log_path,
            )
        if settings.redis_url is None:
            ensure_private_dir(settings.state_dir)
            data_dir = settings.state_dir / "redis"
            password = ensure_redis_password(settings.state_dir)
            self.redis = await asyncio.to_thread(RedisServer(password=password).start, data_dir)
            EMBEDDED.labels("redis").set(1)
            updates["redis_url"] = SecretStr(self.redis.url)
            log.warning(
                "embedded redis-server started at %s with its data (AOF) in %s; its password"
                " is in %s (redis-cli: REDISCLI_AUTH=$(cat that file) redis-cli -p %d)",
                self.redis.address,
                data_dir,
                settings.state_dir / REDIS_PASSWORD_FILE,
                self.redis.port,
            )
        if self.demo:
            self.feed_server = await DemoFeedServer().start()
            feeds_file = self.feed_server.write_feeds_file(settings.state_dir / "demo-feeds.yaml")
            updates["feeds_file"] = feeds_file
            log.warning(
                "demo: serving %d sample feeds at %s/feeds/ (list in %s); one more of their %d "
                "items appears every %.0fs",
                len(self.feed_server._feeds),
                self.feed_server.base_url,
                feeds_file,
                self.feed_server.item_count,
                self.feed_server.reveal_every,
            )
        if updates:
            # model_copy does not validate: every value above already has its field's type.
            self.settings = settings.model_copy(update=updates)

    async def _stop_services(self) -> None:
        if self.feed_server is not None:
            await self.feed_server.stop()
        if self.redis is not None:
            await asyncio.to_thread(self.redis.stop)
            EMBEDDED.labels("redis").set(0)
            log.info("embedded redis-server stopped")
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
            EMBEDDED.labels("tansu").set(0)
            log.info("embedded broker stopped (its in-memory data is gone)")

    # ---- children -------------------------------------------------------------------------

    def _child_env(self, web_port: int) -> dict[str, str]:
        """The children get the effective settings through the fixed environment names."""
        s = self.settings
        env = dict(os.environ)
        env["NEWSWATCH_KAFKA_SERVERS"] = ",".join(s.kafka_servers)
        env["NEWSWATCH_REDIS_URL"] = s.redis_dsn
        env["NEWSWATCH_WEB_HOST"] = s.web_host
        env["NEWSWATCH_WEB_PORT"] = str(web_port)
        env["NEWSWATCH_STATE_DIR"] = str(s.state_dir)
        if s.feeds_file is not None:
            env["NEWSWATCH_FEEDS_FILE"] = str(s.feeds_file)
        if self.demo:
            # Demo feeds change rarely but a newcomer should see polling happen.
            env.setdefault("NEWSWATCH_POLLER__MIN_INTERVAL", "15")
            # The terminal shows alerts, not the children's progress lines (logs: WARNING up).
            env.setdefault("NEWSWATCH_LOG_LEVEL", "WARNING")
        if self.feed_server is not None:
            # The SSRF guard refuses loopback: allow the demo feed server's address, nothing
            # more (the configured allow-list is kept).
            env["NEWSWATCH_POLLER__ALLOWED_NETWORKS"] = json.dumps(
                [str(net) for net in demo_allowed_networks(s.poller, self.feed_server.host)]
            )
        if self.config_file is not None:
            env[CONFIG_ENV] = str(self.config_file)
        return env

    def _make_children(self) -> None:
        base = [sys.executable, "-m", "newswatch.streams.cli"]
        port = self.settings.web_port
        # Worker first: joining the consumer group is the slow part of a cold start.
        self.children = [
            Child("worker", [*base, "worker"], self._child_env(port)),
            Child("poll", [*base, "poll"], self._child_env(port + 1 if port else 0)),
        ]

    async def _watch(self, child: Child) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            await child.start()
            assert child.proc is not None
            code = await child.proc.wait()
            CHILD_RUNNING.labels(child.name).set(0)
            if self._stopping.is_set():
                return
            if time.monotonic() - child.started_at > 60:
                backoff = 1.0  # it ran for a while: a fresh failure, not a crash loop
            log.error("%s exited with code %s; restarting in %.0fs", child.name, code, backoff)
            child.restarts += 1
            CHILD_RESTARTS.labels(child.name).inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _endpoints(self, supervisor_port: int) -> endpoints.Endpoints:
        s = self.settings
        return endpoints.Endpoints(
            pid=os.getpid(),
            redis_url=s.redis_dsn,
            kafka_bootstrap=list(s.kafka_servers),
            web_host=s.web_host,
            worker_port=s.web_port,
            poller_port=s.web_port + 1 if s.web_port else 0,
            supervisor_port=supervisor_port,
            demo=self.demo,
            embedded=[
                name
                for name, service in (("tansu", self.broker), ("redis", self.redis))
                if service is not None
            ],
            feeds_file=str(s.feeds_file) if self.demo and s.feeds_file else None,
        )

    async def _print_alerts(self, page_url: str) -> None:
        """Print each new alert of the Redis stream on stdout as `alerts tail` does."""
        from newswatch.streams.alert_printer import follow_alerts

        await follow_alerts(self.settings, page_url)

    def _ready(self) -> tuple[bool, str]:
        down = [c.name for c in self.children if not c.running]
        return (not down, "all children running" if not down else f"not running: {down}")

    # ---- lifecycle ------------------------------------------------------------------------

    def request_stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping newswatch up …")
            self._stopping.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        runner = None
        printer: asyncio.Task[None] | None = None
        exit_code = 0
        try:
            await self._start_services()
            await ensure_topics(self.settings)
            self._make_children()
            port = self.settings.web_port + 2 if self.settings.web_port else 0
            runner = await start_health_server(self.settings.web_host, port, self._ready)
            for child in self.children:
                child.task = asyncio.create_task(self._watch(child), name=f"watch-{child.name}")
            found = self._endpoints(port)
            path = endpoints.write(self.settings.state_dir, found)
            log.info(
                "newswatch is up: newsroom %s  poller http://%s:%d  (endpoints in %s; Ctrl-C "
                "stops)",
                found.page_url,
                self.settings.web_host,
                self.settings.web_port + 1,
                path,
            )
            if self.demo:
                printer = asyncio.create_task(self._print_alerts(found.page_url), name="printer")
            await self._stopping.wait()
        except Exception:
            log.exception("newswatch up failed")
            exit_code = 1
        finally:
            endpoints.remove(self.settings.state_dir, pid=os.getpid())
            if printer is not None:
                printer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await printer
            # Poller first so no article is published to a worker-less pipeline mid-shutdown.
            for child in reversed(self.children):
                code = await child.stop()
                if code not in (0, None, -signal.SIGTERM):
                    exit_code = exit_code or 1
                if child.task is not None:
                    child.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await child.task
            if runner is not None:
                await runner.cleanup()
            await self._stop_services()
        return exit_code
