"""The Faust application of `newswatch worker`: built from settings, never at import time.

`create_app(settings)` returns a configured `faust.App` with the four agents of
`newswatch.agents.pipeline` and the web views of `newswatch.agents.web`; `run_worker(settings)`
runs it until SIGTERM/SIGINT and returns the exit code.

The Faust settings below were chosen by measurement (bench/worker.py); see `TUNED` and the
consumer fix below for why each one is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.web.drivers import aiohttp as aiohttp_web_driver

from newswatch.streams.kafka import client_kwargs, ensure_topics
from newswatch.streams.settings import Settings

log = logging.getLogger(__name__)

#: Faust settings we change from the defaults, with the reason (measured in bench/worker.py).
TUNED: dict[str, Any] = {
    # The fetcher stops fetching a partition when its stream buffer is "under pressure" and,
    # when every partition is paused, sleeps a fixed 1 s before looking again: that sleep is
    # the 1.1-1.5 s pause measured against Tansu (docs/faust-notes.md). A buffer that holds
    # more than one fetch keeps the agents busy while the fetcher waits (the transport also
    # wakes it on buffer drop).
    "stream_buffer_maxsize": 16_384,
    # Startup: Tansu holds a JoinGroup for half the session timeout before it answers
    # (measured with plain aiokafka: 10 s -> 5.0 s, 6 s -> 3.0 s, 3 s -> 2.0 s; Faust's default
    # 60 s -> a 30 s startup). 6 s is Apache Kafka's minimum
    # (group.min.session.timeout.ms); heartbeats must come at least 3 times per session.
    "broker_session_timeout": 6.0,
    "broker_heartbeat_interval": 1.5,
    "broker_rebalance_timeout": 30.0,
    # Shutdown and rebalance commit what was acknowledged and do not wait for in-flight batches
    # (agents acknowledge a batch only once it is handled; an interrupted one is replayed and
    # the idempotent sinks drop the repeats). Waiting instead hung shutdown on buffered events.
    "stream_wait_empty": True,
    # Commit (and flush the producer) every second; every commit waits for the producer.
    "broker_commit_interval": 1.0,
    # Larger fetches amortise the per-request cost against Tansu.
    "consumer_max_fetch_size": 4 * 1024 * 1024,
    "broker_max_poll_records": 2_000,
    "producer_linger_ms": 5,
    "producer_max_batch_size": 512 * 1024,
    "producer_max_request_size": 4 * 1024 * 1024,
}


def faust_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `faust.App` from settings, with TUNED applied."""
    options: dict[str, Any] = {
        "broker": [f"kafka://{server}" for server in settings.kafka_servers],
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "datadir": str(settings.state_dir / "worker"),
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "store": "memory://",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": "at_least_once",
        "producer_acks": -1,
        "worker_redirect_stdouts": False,
        # Our own views only: no /router, /table, /stats, /graph pages.
        "web_stats_enabled": False,
        "web_tables_enabled": False,
        "web_graph_enabled": False,
        "web_router_enabled": False,
    }
    credentials = _credentials(settings)
    if credentials is not None:
        options["broker_credentials"] = credentials
    options.update(TUNED)
    return options


def create_app(
    settings: Settings,
    *,
    tagger: Any = None,
    rules: Any = None,
) -> faust.App:
    """A configured Faust app with the newswatch agents and web views (not started).

    `tagger` and `rules` default to `Tagger.load(settings.catalogue_dir)` and
    `load_rules(settings.rules_file)`; tests may pass their own.
    """
    from newswatch.agents import pipeline, web

    if not settings.kafka_servers:
        raise ValueError("kafka_servers: not configured (set NEWSWATCH_KAFKA_SERVERS)")
    app = NewswatchApp(settings.app_id, **faust_options(settings))
    deps = pipeline.register(app, settings, tagger=tagger, rules=rules)
    web.register(app, settings, deps)
    return app


def run_worker(settings: Settings, **app_kwargs: Any) -> int:
    """Create the topics, then run the worker until SIGTERM/SIGINT. Returns the exit code.

    `app_kwargs` go to `create_app` (benchmarks pass a stand-in tagger)."""
    (settings.state_dir / "worker").mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(settings))
    app = create_app(settings, **app_kwargs)
    worker = _Worker(
        app,
        loop=loop,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


#: Seconds a SIGTERM/SIGINT shutdown may take before the worker exits anyway.
SHUTDOWN_GRACE = 20.0


class _Worker(faust.Worker):
    """faust.Worker with a bounded shutdown.

    Now and then an agent does not finish stopping after it was cancelled (seen with the Redis
    sink against Tansu; the actor task stays "cancelling" on a pending future), and the
    process would never exit. After SHUTDOWN_GRACE seconds we log it and exit 0: offsets are
    committed every second and at-least-once delivery with idempotent sinks means anything
    not committed is replayed, not lost.
    """

    def _schedule_shutdown(self, signal: Any) -> None:
        if not self._signal_stop_time:
            timer = threading.Timer(SHUTDOWN_GRACE, self._force_exit)
            timer.daemon = True
            timer.start()
        super()._schedule_shutdown(signal)

    @staticmethod
    def _force_exit() -> None:
        log.error(
            "shutdown did not finish within %.0f s (an agent did not stop); exiting now, "
            "records not yet committed will be processed again on restart",
            SHUTDOWN_GRACE,
        )
        logging.shutdown()
        os._exit(0)


def _credentials(settings: Settings) -> Any:
    sec = settings.kafka_security
    if sec.protocol == "PLAINTEXT":
        return None
    context = client_kwargs(settings).get("ssl_context")
    if sec.protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=sec.sasl_username,
            password=sec.sasl_password.get_secret_value() if sec.sasl_password else None,
            mechanism=sec.sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    return faust.SSLCredentials(context)


# ---- the consumer fixes --------------------------------------------------------------------
#
# 1. Fetch wait (the root cause of the 1.1-1.5 s pauses and of most latency against Tansu).
#    Faust hard-codes `fetch_max_wait_ms=1500` for its aiokafka consumer (not a setting).
#    Tansu does not answer a waiting fetch when new records arrive: it holds every fetch that
#    found no data for the full max wait (measured: a record produced 0.3 s into a fetch is
#    returned 1.5 s after the fetch began; with 100 ms, 3-6 ms after it was produced). Each
#    hop that catches up with its input therefore sleeps up to 1.5 s. Apache Kafka answers as
#    soon as data arrives, so a short wait costs it only idle polls. `FETCH_MAX_WAIT_MS` below.
#
# 2. Back-pressure nap. Faust stops fetching a partition while the stream buffer it feeds is
#    80 % full, and when no partition is left it does `await self.sleep(1)` before looking
#    again (`Consumer._wait_next_records`). `Consumer` waits for the buffer-drop signal
#    instead (bounded by the same second), so fetching resumes as soon as there is room.
#
# 3. Records lost on restart (seen in tests/fault/agents and the SIGTERM test, on Tansu and
#    on Apache Kafka). When a worker with a table starts, Faust's recovery resumes the flow to
#    read the changelog, then, in `Recovery._resume_streams`, resumes the stream partitions,
#    awaits `perform_seek()` (one committed-offset request per partition) and only then calls
#    `flow_control.resume()`, which CLEARS every stream buffer. Records fetched in between are
#    delivered into the buffers and then cleared, but the fetch position and Faust's read
#    offsets have already moved past them: they are never processed, and a batch fetched before
#    the seek but iterated after it also makes Faust mark the skipped range as a "gap" (acked)
#    and drop the re-fetched records as already read. Measured: 5 of 600 alerts missing in
#    about one run in three. `Consumer.perform_seek` below stops the flow, waits for the fetch
#    in flight to come back, then seeks; Faust's callers (both recovery paths) resume the flow
#    after clearing the buffers, so the first record delivered is the committed one.

#: aiokafka `fetch_max_wait_ms` for the worker's consumer (Faust's fixed value is 1500).
FETCH_MAX_WAIT_MS = 50

#: Seconds the fetch loop waits for records per call (Faust: 1 s); idle wake-ups are cheap.
GETMANY_TIMEOUT = 0.25

#: Seconds `Consumer.perform_seek` waits at most for the fetch in flight.
SEEK_FETCH_WAIT = 10.0


class ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread with a short fetch wait."""

    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its Fetcher.
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


class Consumer(aiokafka_driver.Consumer):
    """aiokafka consumer: short fetch wait, resumes fetching as soon as a buffer drains."""

    _buffer_drained: asyncio.Event | None = None
    _fetch_idle: asyncio.Event | None = None
    _seek_lock: asyncio.Lock | None = None

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _drained_event(self) -> asyncio.Event:
        if self._buffer_drained is None:
            self._buffer_drained = asyncio.Event()
        return self._buffer_drained

    def on_buffer_full(self, tp: TP) -> None:
        super().on_buffer_full(tp)
        self._drained_event().clear()

    def on_buffer_drop(self, tp: TP) -> None:
        super().on_buffer_drop(tp)
        self._drained_event().set()

    async def _wait_next_records(self, timeout: float) -> Any:
        if (
            self.flow_active
            and not self.app.client_only
            and self._active_partitions is not None
            and not self._active_partitions
            and self._buffered_partitions
        ):
            # Every assigned partition is paused for back-pressure: wait for a buffer to drain
            # (at most the 1 s Faust would have slept) rather than napping a full second.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained_event().wait(), timeout=1.0)
        return await super()._wait_next_records(timeout)

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        idle = self._idle_event()
        idle.clear()
        try:
            # A shorter wait for records than Faust's 1 s: a seek waits for this call (fix 3).
            return await super()._getmany(active_partitions, min(timeout, GETMANY_TIMEOUT))
        finally:
            idle.set()

    def _idle_event(self) -> asyncio.Event:
        """Set while no fetch is in flight (Faust's own `not_waiting_next_records` is never
        cleared, so its `wait_for_stopped_flow()` does not wait)."""
        if self._fetch_idle is None:
            self._fetch_idle = asyncio.Event()
            self._fetch_idle.set()
        return self._fetch_idle

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # Faust treats a jump in offsets as acknowledged. Our topics are neither compacted nor
        # transactional, so a gap means records were skipped: say so (it was the symptom of
        # fix 3).
        log.warning(
            "offset jump on %s[%d]: after offset %d came %d; Faust treats the range as done",
            tp.topic,
            tp.partition,
            offset_from - 1,
            offset_to,
        )
        await super()._add_gap(tp, offset_from, offset_to)

    async def perform_seek(self) -> None:
        """Seek to the committed offsets with no record delivered around the seek (fix 3).

        If the flow is active it is stopped here and stays stopped: Faust calls this with the
        flow active only from its recovery, right before `flow_control.resume()` (which empties
        the stream buffers) and `resume_flow()`; tests/unit/agents/test_consumer_fix.py pins
        that order. Called with the flow stopped (the fetch loop, after a batch came back while
        the flow was stopped), it never touches the flow. Seeks run one at a time, and none is
        skipped: seeking to the committed offsets twice is harmless.
        """
        stop = self.flow_active  # decided now: the flow may be resumed while we wait below
        if self._seek_lock is None:
            self._seek_lock = asyncio.Lock()
        async with self._seek_lock:
            if stop and self.flow_active:
                self.stop_flow()
            try:
                await asyncio.wait_for(self._idle_event().wait(), timeout=SEEK_FETCH_WAIT)
            except TimeoutError:
                log.warning(
                    "a fetch was still in flight %.0f s after the flow stopped; seeking anyway",
                    SEEK_FETCH_WAIT,
                )
            await super().perform_seek()


class Transport(aiokafka_driver.Transport):
    Consumer = Consumer


class Web(aiohttp_web_driver.Web):
    """Faust's aiohttp web server without its production index at `/`, which the newsroom page
    takes (`newswatch.agents.web`)."""

    production_blueprints: ClassVar[list[tuple[str, Any]]] = []


class NewswatchApp(faust.App):
    """faust.App whose consumer transport has the fixes above.

    `web_setup` callbacks receive the aiohttp application of the worker's web server when it
    is built, before it starts: plain aiohttp handlers (streaming ones too) mount there."""

    web_setup: list[Callable[[Any], None]]

    def _new_web(self) -> Any:
        return Web(self)

    def on_webserver_init(self, web: Any) -> None:
        super().on_webserver_init(web)
        for setup in getattr(self, "web_setup", ()):
            setup(web.web_app)

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self, loop=self.loop)
