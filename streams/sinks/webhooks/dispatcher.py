"""Signed webhook deliveries: a durable outbox in Redis and one worker per endpoint.

`submit_many(alerts)` (or `submit(alert)`) renders the body for each endpoint that wants an
alert and queues it in Redis (idempotent per alert id x endpoint; one round trip per batch),
then returns. Each endpoint's worker claims due deliveries with a lease, posts them with at
most `max_in_flight` in flight, and records the outcome: delivered (marker with TTL, never
sent again), retry (Standard Webhooks schedule divided by `time_scale`, full jitter, at least
`Retry-After` on 429), dead letter (schedule exhausted, or the endpoint's address refused by the
SSRF guard: `streams/netguard.py`, replay once allowed), or endpoint disabled: at once on 410
Gone, or when every delivery has failed for `disable_after_days` (Svix: 5 days; the streak is
kept in Redis and ended by any success). `newswatch webhooks enable NAME` re-enables it.
Dead letters are capped per endpoint and expire (see `outbox.py`).

An outage is the endpoint's, not each delivery's: `circuit_failures` endpoint failures in a row
(no answer, 408, 429, 5xx: `breaker.py`) open the endpoint's circuit. While it is open, claims
return one delivery per probe interval (the probe) and nothing else; deliveries that fail
meanwhile are held without spending attempts, so an outage never dead-letters them (only
`disable_after_days` ends it). The first success closes it and every held delivery is due at
once, oldest first. The circuit lives in the outbox and changes in the same Lua script as the
delivery's state, so all processes on the endpoint share it (one probe in flight between them,
leased like a claim) and a restart keeps it; a worker learns it with each claim and, while it
is open, sleeps until the next probe (at most POLL_INTERVAL).

An outcome that cannot be recorded because Redis is down stays in memory (`memory.py`, shared
by the process's workers on the same outbox) until it can be: workers record those outcomes
before they claim anything again, and never send a claimed delivery whose outcome is known
but not recorded yet (or was recorded while the claim was in flight). So a delivery answered
2xx during an outage longer than its lease is not sent again when Redis returns. A process
killed mid-flight (or during an outage) loses that memory: its leases expire and the next
worker sends those deliveries again, under the same `webhook-id`, which receivers dedup on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import aiohttp
from redis.asyncio import Redis

from newswatch.streams.names import display_names
from newswatch.streams.netguard import AddressPolicy, blocked_error, guarded_connector
from newswatch.streams.records import Alert
from newswatch.streams.retry_after import parse_retry_after
from newswatch.streams.settings import ConfigError, Settings, WebhookEndpoint
from newswatch.streams.sinks.metrics import (
    REDIS_ERRORS,
    WEBHOOK_CIRCUIT_OPEN,
    WEBHOOK_CIRCUIT_OPENED,
    WEBHOOK_CIRCUIT_PROBES,
    WEBHOOK_DEAD_LETTERS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_ENDPOINT_ENABLED,
    WEBHOOK_ENDPOINTS_DISABLED,
    WEBHOOK_FAILING_SECONDS,
    WEBHOOK_LATENCY,
    WEBHOOK_MUTED,
)
from newswatch.streams.sinks.mutes import MuteCache
from newswatch.streams.sinks.retry import RETRYABLE, retry_forever
from newswatch.streams.sinks.webhooks.breaker import failure_kind, probe_intervals
from newswatch.streams.sinks.webhooks.filters import matches, wants
from newswatch.streams.sinks.webhooks.formats import render
from newswatch.streams.sinks.webhooks.memory import memory_for
from newswatch.streams.sinks.webhooks.outbox import Delivery, Failure, Job, Outbox, enqueue_many
from newswatch.streams.sinks.webhooks.signing import SecretError, decode_secret, webhook_headers

T = TypeVar("T")

log = logging.getLogger(__name__)

USER_AGENT = "newswatch-webhooks/0.1"
POLL_INTERVAL = 1.0  # seconds between outbox checks when idle (other processes may add work)
PRUNE_INTERVAL = 60.0  # seconds between dead-letter expiry passes per endpoint
# Error prefix of a delivery the SSRF guard refused (dead-lettered at once, never retried).
BLOCKED = "blocked address"
# Outcomes kept in memory while Redis cannot take them, per endpoint, as a multiple of
# max_in_flight: past it the worker claims nothing more until they are recorded.
UNRECORDED_PER_SLOT = 4


async def _finish(task: asyncio.Task[None], timeout: float) -> None:
    """Wait for a task told to stop; cancel it if it has not within `timeout`."""
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait([task], timeout=1.0)


def make_outbox(redis: Redis, settings: Settings, name: str) -> Outbox:
    """The outbox of endpoint `name` with the TTLs and bounds of `settings`."""
    return Outbox(
        redis,
        name,
        int(settings.alerts.dedup_ttl_days * 86_400),
        dead_letter_max=settings.webhooks.dead_letter_max,
        dead_letter_ttl=settings.webhooks.dead_letter_ttl_days * 86_400,
    )


def lease_seconds(endpoint: WebhookEndpoint) -> float:
    """How long a claimed delivery stays invisible to other workers."""
    return endpoint.timeout * 2 + 2.0


def _recorded_due(failure: Failure, job: Job, due: float | None, now: float) -> float | None:
    """When the delivery is due again after the failure the outbox recorded (see _FAIL)."""
    if failure.outcome == "retry":
        return due
    if failure.outcome in ("held", "opened"):
        return job.queued
    if failure.outcome == "probe_failed":
        return now
    return None


def retry_delay(
    schedule: list[float], attempts: int, time_scale: float, rng: random.Random
) -> float | None:
    """Seconds before attempt `attempts + 1` (full jitter), or None when the schedule is spent."""
    if attempts >= len(schedule):
        return None
    return rng.uniform(0, schedule[attempts]) / time_scale


class WebhookDispatcher:
    """submit() from the pipeline, start()/stop() around the process's life."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._settings = settings
        self._mutes = MuteCache(redis)
        self._names = display_names(settings.catalogue_dir)
        self._workers = [
            _EndpointWorker(endpoint, settings, make_outbox(redis, settings, endpoint.name))
            for endpoint in settings.webhooks.endpoints
        ]

    @property
    def endpoints(self) -> list[str]:
        return [worker.endpoint.name for worker in self._workers]

    async def start(self) -> None:
        for worker in self._workers:
            await worker.start()

    async def submit(self, alert: Alert) -> int:
        """Queue `alert` for every endpoint that wants it; returns how many newly queued.

        Retries through a Redis outage (the caller must not acknowledge before this returns).
        """
        return await self.submit_many([alert])

    async def submit_many(self, alerts: Sequence[Alert]) -> int:
        """Queue each alert for every endpoint that wants it, in one Redis round trip (one Lua
        call per 1,000 deliveries); returns how many deliveries were newly queued.

        Same filters and idempotence (per alert id x endpoint) as `submit`. Retries through a
        Redis outage: the caller must not acknowledge the alerts before this returns.
        """
        batches: dict[_EndpointWorker, list[Delivery]] = {worker: [] for worker in self._workers}
        mutes = await self._mutes.get() if self._workers else None
        for alert in alerts:
            if mutes and mutes.mutes(alert):
                WEBHOOK_MUTED.inc()  # muted on the newsroom page: not sent to any endpoint
                continue
            bodies: dict[str, tuple[bytes, str]] = {}
            for worker in self._workers:
                if not wants(worker.endpoint, alert):
                    continue
                fmt = worker.endpoint.format
                if fmt not in bodies:
                    bodies[fmt] = render(alert, fmt, self._names)
                batches[worker].append((alert.id, *bodies[fmt]))
        todo = [(worker, items) for worker, items in batches.items() if items]
        if not todo:
            return 0
        now = time.time()
        codes = await retry_forever(
            "webhook_enqueue",
            lambda: enqueue_many([(worker.outbox, items) for worker, items in todo], now),
        )
        return sum(
            worker.enqueued(worker_codes)
            for (worker, _), worker_codes in zip(todo, codes, strict=True)
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let in-flight deliveries finish (up to `grace` s), release the rest."""
        await asyncio.gather(*(worker.stop(grace) for worker in self._workers))

    @property
    def digest_periods(self) -> set[str]:
        return {w.endpoint.digest for w in self._workers if w.endpoint.digest != "off"}

    async def submit_digests(self, redis: Redis, now: float, page_url: str | None = None) -> int:
        """Queue the digest of the last completed window for each endpoint that wants one and
        had alerts in it; returns how many were newly queued (0 once they are; see digests)."""
        from newswatch.streams.sinks.webhooks import digests

        periods = self.digest_periods
        if not periods:
            return 0
        mutes = await self._mutes.get()
        todo: list[tuple[_EndpointWorker, list[Delivery]]] = []
        for period in sorted(periods):
            start, end = digests.last_window(period, now)
            window = await digests.alerts_between(redis, start, end)
            for worker in self._workers:
                if worker.endpoint.digest != period:
                    continue

                def keep(data: dict, endpoint: WebhookEndpoint = worker.endpoint) -> bool:
                    alert = digests.as_alert(data)
                    return alert is not None and not mutes.mutes(alert) and matches(endpoint, alert)

                report = digests.digest_for(window, period, start, end, keep)
                if report.total == 0:
                    continue  # nothing new: nothing sent
                body, content_type = digests.render_digest(
                    report, worker.endpoint.format, self._names, page_url
                )
                todo.append((worker, [(digests.digest_id(period, start), body, content_type)]))
        if not todo:
            return 0
        codes = await retry_forever(
            "webhook_enqueue",
            lambda: enqueue_many([(worker.outbox, items) for worker, items in todo], now),
        )
        return sum(
            worker.enqueued(worker_codes)
            for (worker, _), worker_codes in zip(todo, codes, strict=True)
        )


class _EndpointWorker:
    def __init__(self, endpoint: WebhookEndpoint, settings: Settings, outbox: Outbox) -> None:
        self.endpoint = endpoint
        self.outbox = outbox
        try:
            self._keys = [decode_secret(s.get_secret_value()) for s in endpoint.secrets]
        except SecretError as exc:
            raise ConfigError(f"webhooks.endpoints[{endpoint.name}].secrets: {exc}") from None
        self._schedule = list(settings.webhooks.retry_schedule) or [0.0]
        self._scale = settings.webhooks.time_scale
        # Like the retry schedule, the failing period is divided by time_scale.
        self._disable_after = settings.webhooks.disable_after_days * 86_400 / self._scale
        # The circuit breaker (breaker.py; its state is in the outbox, shared by all processes).
        self._open_after = settings.webhooks.circuit_failures
        self._probe_intervals = probe_intervals(
            self._schedule, self._scale, settings.webhooks.circuit_probe_max
        )
        self._circuit_open: bool | None = None  # as this worker last saw it
        self._probes: set[str] = set()  # probes this worker is sending
        self._pruned_at = 0.0
        self._max_in_flight = settings.webhooks.max_in_flight
        self._policy = AddressPolicy.from_settings("webhooks", settings.webhooks)
        self._claim_batch = max(1, self._max_in_flight // 4)
        self._rng = random.Random()
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}  # requests being sent, by alert id
        self._tasks: set[asyncio.Task[None]] = set()  # delivery tasks, until fully recorded
        # Outcomes not yet in Redis, shared with this process's other workers on the outbox.
        self._memory = memory_for(outbox)
        self._max_unrecorded = UNRECORDED_PER_SLOT * self._max_in_flight
        self._loop_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._enabled: bool | None = None
        self._checked_at = 0.0
        self._stopping = False
        # Successful deliveries are recorded in batches (one Redis round trip for many).
        self._completed_ready = asyncio.Event()
        self._completer: asyncio.Task[None] | None = None
        name = endpoint.name
        self._m_success = WEBHOOK_DELIVERIES.labels(name, "success")
        self._m_retry = WEBHOOK_DELIVERIES.labels(name, "retry")
        self._m_failed = WEBHOOK_DELIVERIES.labels(name, "failed")
        self._m_disabled = WEBHOOK_DELIVERIES.labels(name, "disabled")
        self._m_held = WEBHOOK_DELIVERIES.labels(name, "held")
        self._m_latency = WEBHOOK_LATENCY.labels(name)
        self._m_opened = WEBHOOK_CIRCUIT_OPENED.labels(name)
        self._m_probe_ok = WEBHOOK_CIRCUIT_PROBES.labels(name, "success")
        self._m_probe_failed = WEBHOOK_CIRCUIT_PROBES.labels(name, "failure")

    # ---- pipeline side ------------------------------------------------------------------------

    def enqueued(self, codes: list[int]) -> int:
        """Account for enqueue results (see `Outbox.enqueue`); returns how many were queued."""
        queued = codes.count(1)
        if queued:
            self._wake.set()
        disabled = codes.count(2)
        if disabled:
            self._m_disabled.inc(disabled)
        return queued

    # ---- worker side ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        self._session = aiohttp.ClientSession(
            connector=guarded_connector(self._policy, limit=self._max_in_flight),
            headers={"User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=self.endpoint.timeout),
        )
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name=f"webhooks:{self.endpoint.name}")
        self._completer = asyncio.create_task(
            self._complete_batches(), name=f"webhooks:{self.endpoint.name}:complete"
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, give in-flight deliveries `grace` seconds, record what finished and
        hand the rest back to the outbox (due now).

        Shutdown goes by flag and event, with cancellation only as a bounded last resort:
        a cancellation can be lost inside third-party awaits (seen on Python 3.11), and a stop
        that waits forever would hang the worker's shutdown.
        """
        if self._loop_task is None:
            return
        self._stopping = True
        self._wake.set()
        self._completed_ready.set()
        grace = self.endpoint.timeout + 1.0 if grace is None else grace
        await _finish(self._loop_task, POLL_INTERVAL + 1.0)
        self._loop_task = None
        if self._tasks:
            _, unfinished = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished, timeout=1.0)
        leftover = list(self._inflight)
        self._inflight.clear()
        self._tasks.clear()
        if self._completer is not None:
            await _finish(self._completer, 5.0)
            self._completer = None
        try:
            await self._flush_completed()
            await self.outbox.release(leftover, time.time())
        except RETRYABLE as exc:  # Redis is down: leases expire, deliveries are retried
            log.warning("webhooks %s: could not record state at stop: %s", self.endpoint.name, exc)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self._step()
                failures = 0
            except RETRYABLE as exc:
                failures += 1
                REDIS_ERRORS.labels("webhook_outbox").inc()
                if failures == 1 or failures % 20 == 0:
                    log.warning(
                        "webhooks %s: redis error %s: %s",
                        self.endpoint.name,
                        type(exc).__name__,
                        exc,
                    )
                await asyncio.sleep(min(0.05 * 2**failures, 2.0))

    async def _step(self) -> None:
        if self._memory.delivered:
            # Record deliveries already made before claiming anything: after an outage this
            # is the first write, before another worker can take their expired leases.
            await self._flush_completed()
        if not await self._check_enabled():
            await self._sleep(POLL_INTERVAL)
            return
        free = self._max_in_flight - len(self._inflight)
        if self._inflight and free < self._claim_batch:
            # Claim in batches, not one Redis round trip per finished request: wait until
            # enough slots are free (an idle endpoint claims at once).
            await asyncio.wait(list(self._inflight.values()), return_when=asyncio.FIRST_COMPLETED)
            return
        if len(self._memory.unrecorded) >= self._max_unrecorded:
            await self._sleep(POLL_INTERVAL)  # Redis is not taking outcomes: claim no more
            return
        now = time.time()
        with self._memory.claiming() as recorded:
            claim = await self.outbox.claim_due(
                now, now + lease_seconds(self.endpoint), free, gate=self._open_after > 0
            )
        self._saw_circuit(claim.open)
        jobs = claim.jobs
        again: dict[float, list[str]] = {}
        for job in jobs:
            if not self._sendable(job.id, recorded, again):
                if claim.probe:  # the next claim may take another probe at once
                    await self.outbox.unclaim_probe(job.id)
                continue
            if claim.probe:
                self._probes.add(job.id)
            task = asyncio.create_task(self._deliver(job))
            self._inflight[job.id] = task
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, job.id))
        for due, ids in again.items():
            await self.outbox.release(ids, due)
        if jobs:
            return
        if claim.open and claim.wake_at is not None and claim.wake_at > now:
            # Until the next probe (no claims meanwhile); at most POLL_INTERVAL, to see a
            # close by another process. A probe that is due finds nothing due to send:
            # wait for the next due delivery, as when closed.
            await self._sleep(min(claim.wake_at - now, POLL_INTERVAL))
            return
        await self._sleep(await self._until_next_due(now))

    def _saw_circuit(self, is_open: bool) -> None:
        if is_open != self._circuit_open:
            self._circuit_open = is_open
            WEBHOOK_CIRCUIT_OPEN.labels(self.endpoint.name).set(1 if is_open else 0)

    def _sendable(
        self, job_id: str, recorded: dict[str, float | None], again: dict[float, list[str]]
    ) -> bool:
        """Whether a claimed delivery may be sent now. Not when this worker is sending it
        (its outcome, recorded later, sets its next state) or knows its outcome: recorded
        while the claim was in flight (the claim may have run first in Redis) or not recorded
        yet (Redis was down). A retry's due time, which the claim's lease may have replaced,
        is written again (`again`, by due time) now or once its reschedule is recorded."""
        if job_id in self._inflight:
            return False
        memory = self._memory
        if job_id in memory.unrecorded:
            if memory.unrecorded[job_id] is not None:
                memory.recheck.add(job_id)
            return False
        if job_id in recorded:
            due = recorded[job_id]
            if due is not None:
                again.setdefault(due, []).append(job_id)
            return False
        return True

    async def _record(
        self,
        job_id: str,
        due: float | None,
        operation: str,
        write: Callable[[], Awaitable[T]],
        due_of: Callable[[T], float | None] | None = None,
    ) -> T:
        """Write an outcome the memory already holds, retrying through an outage; `due_of`
        gives the due time the write actually recorded when the outbox decides it (circuit).

        Cancelled (worker stop) before it is written, the outcome is forgotten: the lease
        expires and the delivery is tried again, as after a crash.
        """
        try:
            result = await retry_forever(operation, write)
        except BaseException:
            self._memory.forget(job_id)
            raise
        if due_of is not None:
            due = due_of(result)
        self._memory.recorded(job_id, due)
        if due is not None and job_id in self._memory.recheck:
            self._memory.recheck.discard(job_id)
            await retry_forever("webhook_reschedule", lambda: self.outbox.release([job_id], due))
        return result

    async def _complete_batches(self) -> None:
        while not self._stopping:
            await self._completed_ready.wait()
            self._completed_ready.clear()
            if self._memory.delivered and not self._stopping:
                try:
                    await retry_forever("webhook_complete", self._flush_completed)
                except RETRYABLE as exc:  # deterministic: the leases expire, jobs are redone
                    log.error("webhooks %s: completions not recorded: %r", self.endpoint.name, exc)

    async def _flush_completed(self) -> None:
        batch = self._memory.take_delivered()
        if not batch:
            return
        try:
            opened = await self.outbox.complete(batch)
        except BaseException:
            self._memory.give_back(batch)  # for the next try, by this worker or another
            raise
        for job_id in batch:
            self._memory.recorded(job_id, None)
        if opened is not None:
            self._saw_circuit(False)
            self._wake.set()  # the held deliveries are due: claim them now
            log.info(
                "webhooks %s: circuit closed after %.1fs open; held deliveries are due now",
                self.endpoint.name,
                max(0.0, time.time() - opened),
            )

    def _finished(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._free_slot(job_id, task)

    def _free_slot(self, job_id: str, task: asyncio.Task[None] | None) -> None:
        if task is not None and self._inflight.get(job_id) is task:
            del self._inflight[job_id]
            self._wake.set()

    async def _until_next_due(self, now: float) -> float:
        head = await self.outbox.redis.zrange(self.outbox.due, 0, 0, withscores=True)
        if not head:
            return POLL_INTERVAL
        return min(max(head[0][1] - now, 0.001), POLL_INTERVAL)

    async def _sleep(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        # that races with the event being set, and stop() would wait forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _check_enabled(self) -> bool:
        """Re-read the disabled flag (the CLI may flip it) and the dead-letter gauge, each
        at most once per POLL_INTERVAL."""
        now = time.monotonic()
        if self._enabled is not None and now - self._checked_at < POLL_INTERVAL:
            return self._enabled
        self._checked_at = now
        if now - self._pruned_at >= PRUNE_INTERVAL:
            self._pruned_at = now
            await self.outbox.prune_dead()
        health = await self.outbox.health()
        enabled = health.disabled is None
        name = self.endpoint.name
        if enabled != self._enabled:
            self._enabled = enabled
            WEBHOOK_ENDPOINT_ENABLED.labels(name).set(1 if enabled else 0)
            if not enabled:
                log.warning("webhooks %s: endpoint disabled (%s)", name, health.disabled)
        WEBHOOK_DEAD_LETTERS.labels(name).set(health.dead)
        # A disabled endpoint gets no attempts: its streak is frozen, not growing.
        since = health.failing_since
        failing = 0.0 if since is None or not enabled else time.time() - since
        WEBHOOK_FAILING_SECONDS.labels(name).set(max(0.0, failing))
        return enabled

    async def _deliver(self, job: Job) -> None:
        status, retry_after, error = await self._post(job)
        attempts = job.attempts + 1
        now = time.time()
        name = self.endpoint.name
        # The request is over: free the slot before recording the outcome, so a retry that
        # comes due at once is claimed and sent, not skipped as still in flight. No await
        # from here to the memory: the claim loop must see the delivery in one or the other.
        self._free_slot(job.id, asyncio.current_task())
        probe = job.id in self._probes
        self._probes.discard(job.id)
        if status is not None and 200 <= status < 300:
            self._memory.remember_delivered(job.id)
            self._completed_ready.set()
            self._m_success.inc()
            self._m_latency.observe(max(0.0, now - job.queued))
            if probe:
                self._m_probe_ok.inc()
            return
        if probe:
            self._m_probe_failed.inc()
        if status == 410:
            self._memory.remember(job.id, None)
            moved, _ = await self._record(
                job.id,
                None,
                "webhook_disable",
                lambda: self.outbox.disable("HTTP 410 Gone", status, now),
            )
            self._disabled("gone")
            log.warning(
                "webhooks %s: 410 Gone; endpoint disabled, %d deliveries dead-lettered;"
                " re-enable with `newswatch webhooks enable %s`",
                name,
                moved,
                name,
            )
            return
        blocked = error is not None and error.startswith(BLOCKED)
        kind = failure_kind(status, blocked)
        # The SSRF guard refused the address: retrying cannot help.
        delay = None if blocked else retry_delay(self._schedule, attempts, self._scale, self._rng)
        not_before = None
        if status == 429 and (wait := parse_retry_after(retry_after, now)) is not None:
            not_before = now + wait
            delay = None if delay is None else max(delay, wait)
        due = None if delay is None else now + delay
        reason = f"HTTP {status}" if status is not None else (error or "error")
        # Whether this attempt counts is decided with the circuit, in Redis; until that is
        # recorded the memory holds a due time whenever the delivery may stay pending.
        held = kind == "down" and self._open_after > 0
        self._memory.remember(job.id, now if due is None and held else due)
        failure = await self._record(
            job.id,
            due,
            "webhook_reschedule",
            lambda: self.outbox.fail(
                job,
                kind=kind,
                attempts=attempts,
                due=due,
                reason=reason,
                status=status,
                now=now,
                open_after=self._open_after,
                probe_intervals=self._probe_intervals,
                not_before=not_before,
            ),
            due_of=lambda result: _recorded_due(result, job, due, now),
        )
        self._wake.set()  # the loop may be sleeping on this job's old lease
        self._count_failure(failure, job, attempts, reason, delay)
        await self._disable_if_failing_too_long(failure.since, status, now)

    def _count_failure(
        self, failure: Failure, job: Job, attempts: int, reason: str, delay: float | None
    ) -> None:
        """Metrics and log lines of a recorded failure: one line per counted attempt, one
        when the circuit opens, none per held delivery or failed probe (debug only)."""
        name = self.endpoint.name
        outcome = failure.outcome
        if outcome == "retry":
            self._m_retry.inc()
            log.info(
                "webhooks %s: attempt %d for %s failed (%s); retry in %.3fs",
                name,
                attempts,
                job.id,
                reason,
                delay or 0.0,
            )
        elif outcome == "dead":
            self._m_failed.inc()
            log.warning(
                "webhooks %s: %s dead-lettered after %d attempts (%s)",
                name,
                job.id,
                attempts,
                reason,
            )
        elif outcome == "opened":
            self._m_held.inc()
            self._m_opened.inc()
            self._saw_circuit(True)
            log.warning(
                "webhooks %s: circuit opened after %d endpoint failures in a row (last: %s);"
                " deliveries wait without spending attempts, one probe after %s",
                name,
                failure.count,
                reason,
                ", ".join(f"{step:g}s" for step in self._probe_intervals[:4])
                + (" ..." if len(self._probe_intervals) > 4 else ""),
            )
        elif outcome in ("held", "probe_failed"):
            self._m_held.inc()
            log.debug("webhooks %s: %s failed (%s) while the circuit is open", name, job.id, reason)

    async def _disable_if_failing_too_long(
        self, since: float, status: int | None, now: float
    ) -> None:
        """Disable the endpoint once every delivery has failed for `disable_after_days`."""
        failing = now - since
        WEBHOOK_FAILING_SECONDS.labels(self.endpoint.name).set(max(0.0, failing))
        if failing < self._disable_after or self._enabled is False:
            return
        name = self.endpoint.name
        days = failing * self._scale / 86_400
        moved, _ = await retry_forever(
            "webhook_disable",
            lambda: self.outbox.disable(
                f"every delivery failed for {days:.1f} days", status, time.time()
            ),
        )
        self._disabled("failing")
        log.warning(
            "webhooks %s: every delivery failed since %s (%.1f days, limit %.1f);"
            " endpoint disabled, %d deliveries dead-lettered; re-enable with"
            " `newswatch webhooks enable %s`",
            name,
            datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            days,
            self._disable_after * self._scale / 86_400,
            moved,
            name,
        )

    def _disabled(self, reason: str) -> None:
        """Account for a disable this worker made (several 410s in flight count once)."""
        if self._enabled is not False:
            WEBHOOK_ENDPOINTS_DISABLED.labels(self.endpoint.name, reason).inc()
        self._enabled = False
        self._saw_circuit(False)  # disabling closed it (see outbox._DISABLE)
        WEBHOOK_ENDPOINT_ENABLED.labels(self.endpoint.name).set(0)
        WEBHOOK_FAILING_SECONDS.labels(self.endpoint.name).set(0)
        self._m_disabled.inc()

    async def _post(self, job: Job) -> tuple[int | None, str | None, str | None]:
        """(status, Retry-After, error kind) of one signed POST."""
        assert self._session is not None
        headers = webhook_headers(self._keys, job.id, int(time.time()), job.body)
        headers["Content-Type"] = job.content_type
        try:
            async with self._session.post(
                self.endpoint.url, data=job.body, headers=headers, allow_redirects=False
            ) as response:
                await response.content.read(65_536)  # drain a little; the body is ignored
                return response.status, response.headers.get("Retry-After"), None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if (blocked := blocked_error(exc)) is not None:
                return None, None, f"{BLOCKED}: {blocked}"
            return None, None, type(exc).__name__
