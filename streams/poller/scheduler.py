"""The poll loop: which feed is due, concurrency limits, and what one poll does.

Concurrency: a feed first waits for its host's slot (`per_host`), then for a global slot
(`concurrency`); waiting for a busy host never holds a global slot, so one slow or hostile
server cannot starve the others. Every feed has at most one poll in flight.

One poll: fetch -> parse (process pool) -> drop seen entries -> publish to Kafka and wait for
the acks -> commit seen keys + new validators + next due time to Redis in one MULTI. The commit
phase is shielded from cancellation so a shutdown never leaves published-but-unmarked articles.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from newswatch.streams.poller import metrics
from newswatch.streams.poller.feeds import FeedSpec
from newswatch.streams.poller.fetcher import FetchError, FetchResult, fetch
from newswatch.streams.poller.parsepool import ParseInterrupted
from newswatch.streams.poller.parser import FeedParseError, ParsedEntry, ParsedFeed
from newswatch.streams.poller.policy import (
    Bounds,
    adaptive_interval,
    error_delay,
    feed_health,
    freshness,
    success_delay,
)
from newswatch.streams.poller.publisher import Publisher, PublishError
from newswatch.streams.poller.state import FeedState, StateStore
from newswatch.streams.retry_after import parse_retry_after
from newswatch.streams.settings import PollerSettings

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.2  # seconds between bulk writes of deferred feed state

ParseFn = Callable[[bytes, FeedSpec, FetchResult, float], Awaitable[ParsedFeed]]


def bounds_from(settings: PollerSettings) -> Bounds:
    return Bounds(
        min_interval=settings.min_interval,
        max_interval=max(settings.max_interval, settings.min_interval),
        default_interval=settings.default_interval,
        backoff_base=settings.min_interval,
        backoff_max=max(settings.backoff_max, settings.min_interval),
        broken_after=settings.broken_after,
    )


@dataclass(slots=True)
class PollOutcome:
    """What one poll did (for logs and tests)."""

    status: int | None = None
    new: int = 0
    duplicate: int = 0
    error_kind: str | None = None


class Poller:
    def __init__(
        self,
        settings: PollerSettings,
        feeds: list[FeedSpec],
        store: StateStore,
        publisher: Publisher,
        session: aiohttp.ClientSession,
        parse: ParseFn,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.bounds = bounds_from(settings)
        self.store = store
        self.publisher = publisher
        self.session = session
        self.parse = parse
        self.rng = rng or random.Random()
        self.feeds: dict[str, FeedSpec] = {spec.id: spec for spec in feeds}
        metrics.init_feed_series(self.feeds)
        self.states: dict[str, FeedState] = {}
        self._heap: list[tuple[float, str]] = []
        self._wake = asyncio.Event()
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._commits: set[asyncio.Future[None]] = set()
        self._waiting: dict[str, float] = {}  # feed id -> due time, for the scheduler-lag gauge
        self.polls = 0
        self._gauges_at = 0.0
        self._flushed_at = 0.0

    # ---- feed set ---------------------------------------------------------------------------

    async def load_state(self) -> None:
        """Read every feed's state; a feed without state is due now (plus a little jitter)."""
        self.states = await self.store.load(list(self.feeds))
        now = time.time()
        for feed_id in self.feeds:
            self._schedule(feed_id, self._initial_due(self.states[feed_id], now))

    def _initial_due(self, state: FeedState, now: float) -> float:
        jitter = self.rng.uniform(0, self.settings.start_jitter)
        if state.next_due <= 0:
            return now + jitter
        # Never later than one max interval from now (the clock may have jumped).
        return min(state.next_due, now + self.bounds.max_interval)

    async def replace_feeds(self, feeds: list[FeedSpec]) -> None:
        """Apply an edited feeds file: new feeds become due, removed ones stop after their
        current poll, changed ones use the new settings from their next poll."""
        new = {spec.id: spec for spec in feeds}
        added = [feed_id for feed_id in new if feed_id not in self.feeds]
        self.feeds = new
        metrics.init_feed_series(new)
        if added:
            loaded = await self.store.load(added)
            now = time.time()
            for feed_id in added:
                self.states[feed_id] = loaded[feed_id]
                self._schedule(feed_id, self._initial_due(loaded[feed_id], now))
        for feed_id in list(self.states):
            if feed_id not in new and feed_id not in self._tasks:
                del self.states[feed_id]

    async def hand_over(self, keep: list[FeedSpec], timeout: float = 60.0) -> list[str]:
        """Keep only `keep` and return once no other feed is being polled and their state is in
        Redis, so that another poller can take them over (sharding). Feeds still waiting for a
        connection slot are cancelled (nothing happened yet); polls under way finish, with
        their commits. Returns the ids released."""
        kept = {spec.id for spec in keep}
        released = [feed_id for feed_id in self.feeds if feed_id not in kept]
        await self.replace_feeds(keep)
        for feed_id in released:
            task = self._tasks.get(feed_id)
            if task is not None and feed_id in self._waiting:
                task.cancel()
        running = [self._tasks[f] for f in released if f in self._tasks]
        if running:
            await asyncio.wait(running, timeout=timeout)
        if self._commits:
            await asyncio.wait(self._commits, timeout=timeout)
        await self._flush()
        return released

    def _schedule(self, feed_id: str, due: float) -> None:
        heapq.heappush(self._heap, (due, feed_id))
        self._wake.set()

    # ---- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; then cancel fetches and let running commits finish."""
        try:
            while not stop.is_set():
                now = time.time()
                while self._heap and self._heap[0][0] <= now:
                    due, feed_id = heapq.heappop(self._heap)
                    if feed_id in self.feeds and feed_id not in self._tasks:
                        self._start(feed_id, due)
                if now - self._gauges_at >= 1.0:  # O(feeds): at most once a second
                    self._gauges_at = now
                    self._update_gauges(now)
                if now - self._flushed_at >= FLUSH_EVERY:
                    self._flushed_at = now
                    await self._flush()
                cap = FLUSH_EVERY
                timeout = cap if not self._heap else min(cap, max(0.0, self._heap[0][0] - now))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        stop_wait = asyncio.ensure_future(stop.wait())
                        wake_wait = asyncio.ensure_future(self._wake.wait())
                        try:
                            await asyncio.wait(
                                {stop_wait, wake_wait}, return_when=asyncio.FIRST_COMPLETED
                            )
                        finally:
                            stop_wait.cancel()
                            wake_wait.cancel()
        finally:
            await self.shutdown()

    async def shutdown(self, commit_timeout: float = 30.0) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._commits:
            await asyncio.wait(self._commits, timeout=commit_timeout)
        await self._flush()

    async def _flush(self) -> None:
        try:
            await self.store.flush()
        except Exception as exc:
            metrics.ERRORS.labels("state").inc()
            log.warning("cannot save feed state to Redis (will retry): %s", exc)

    def _start(self, feed_id: str, due: float) -> None:
        task = asyncio.create_task(self._run_feed(feed_id, due), name=f"poll:{feed_id}")
        self._tasks[feed_id] = task
        task.add_done_callback(lambda done: self._forget_task(feed_id, done))

    def _forget_task(self, feed_id: str, task: asyncio.Task[None] | None) -> None:
        """Drop `task` from the running set, never a newer task of the same feed."""
        if task is not None and self._tasks.get(feed_id) is task:
            del self._tasks[feed_id]

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.settings.per_host)
        return slot

    async def _run_feed(self, feed_id: str, due: float) -> None:
        """One poll of one feed; whatever happens, the feed is scheduled again."""
        spec = self.feeds[feed_id]
        self._waiting[feed_id] = due
        try:
            async with self._host_slot(spec.host), self._global:
                self._waiting.pop(feed_id, None)
                try:
                    await self.poll(spec)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise  # shutdown
                    # A CancelledError nobody asked for (a cancelled future deep down): a bug
                    # to log, never a reason to stop polling this feed.
                    self._unexpected(feed_id)
                except Exception:  # a bug must not kill the loop or silence the feed
                    self._unexpected(feed_id)
        finally:
            self._waiting.pop(feed_id, None)
            # Leave the running set before scheduling the next poll: the loop skips heap entries
            # of running feeds, and a poll that outlasted its interval schedules an entry that
            # is already due. Had the loop popped it before this task's done callback ran, the
            # feed would never have been polled again (seen in a chaos run: one feed silent for
            # five minutes after a slow publish, its articles gone from the feed meanwhile).
            self._forget_task(feed_id, asyncio.current_task())
            if feed_id in self.feeds:
                state = self.states.setdefault(feed_id, FeedState())
                self._schedule(feed_id, state.next_due)

    def _unexpected(self, feed_id: str) -> None:
        log.exception("feed %s: unexpected error", feed_id)
        metrics.ERRORS.labels("other").inc()
        state = self.states.setdefault(feed_id, FeedState())
        state.next_due = time.time() + self.bounds.min_interval

    def _update_gauges(self, now: float) -> None:
        oldest = min(self._waiting.values(), default=now)
        metrics.SCHEDULER_LAG.set(max(0.0, now - oldest))
        counts = dict.fromkeys(metrics.FEED_STATES, 0)
        for feed_id in self.feeds:
            state = self.states.get(feed_id)
            counts[feed_health(state.error_count if state else 0, self.bounds)] += 1
        for name, count in counts.items():
            metrics.FEEDS.labels(name).set(count)

    # ---- one poll ---------------------------------------------------------------------------

    async def poll(self, spec: FeedSpec) -> PollOutcome:
        """Fetch, parse, publish and commit one feed; never raises for feed problems."""
        state = self.states.setdefault(spec.id, FeedState())
        if state.origin != spec.url:  # new feed or URL edited in the feeds file: start over
            state.url, state.origin = None, spec.url
            state.etag = state.last_modified = None
            state.redirect_candidate, state.redirect_seen = None, 0
        url = state.url or spec.url
        now = time.time()
        conditional = (
            state.last_unconditional is not None
            and now - state.last_unconditional < self.settings.unconditional_interval
        )
        state.last_fetch = now
        self.polls += 1
        try:
            result = await fetch(
                self.session,
                url,
                self.settings,
                etag=state.etag if conditional else None,
                last_modified=state.last_modified if conditional else None,
            )
        except FetchError as exc:
            metrics.FETCH_DURATION.observe(time.time() - now)
            if exc.status is not None:
                metrics.RESPONSES.labels(metrics.status_class(exc.status)).inc()
            retry_after = parse_retry_after(exc.retry_after, time.time())
            return await self._failed(spec, state, exc.kind, str(exc), exc.status, retry_after)
        metrics.FETCH_DURATION.observe(result.elapsed)
        metrics.RESPONSES.labels(metrics.status_class(result.status)).inc()
        state.last_status = result.status
        self._track_redirect(spec, state, result)
        if result.status == 304:
            return await self._succeeded(spec, state, result, [], PollOutcome(304), conditional)
        body = result.body or b""
        metrics.BYTES.inc(len(body))
        try:
            parsed = await self.parse(body, spec, result, now)
        except FeedParseError as exc:
            return await self._failed(spec, state, "parse", str(exc), result.status, None)
        except ParseInterrupted as exc:  # other feeds' documents kept killing the workers
            kind, status = "parse_interrupted", result.status
            return await self._failed(spec, state, kind, str(exc), status, None, True)
        if parsed.bozo:
            log.debug("feed %s: malformed but usable: %s", spec.id, parsed.bozo)
        if parsed.over_limit:
            metrics.ENTRIES_OVER_LIMIT.inc(parsed.over_limit)
            log.info(
                "feed %s: %d older entries over max_entries_per_poll=%d left out",
                spec.id,
                parsed.over_limit,
                self.settings.max_entries_per_poll,
            )
        state.title = parsed.title or state.title
        merged = sorted(set(parsed.entry_times) | set(state.entry_times), reverse=True)
        state.entry_times = merged[:20]
        try:
            fresh = await self.store.unseen(spec.id, [e.keys for e in parsed.entries])
        except Exception as exc:
            return await self._failed(spec, state, "state", f"Redis: {exc}", None, None, True)
        new = [entry for entry, is_new in zip(parsed.entries, fresh, strict=True) if is_new]
        known = [e.keys[0] for e, is_new in zip(parsed.entries, fresh, strict=True) if not is_new]
        outcome = PollOutcome(result.status, new=len(new), duplicate=len(parsed.entries) - len(new))
        metrics.ARTICLES.labels("duplicate").inc(outcome.duplicate)
        return await self._succeeded(spec, state, result, new, outcome, conditional, known)

    async def _succeeded(
        self,
        spec: FeedSpec,
        state: FeedState,
        result: FetchResult,
        new: list[ParsedEntry],
        outcome: PollOutcome,
        conditional: bool,
        known: list[str] | None = None,
    ) -> PollOutcome:
        now = time.time()
        if result.status != 304:
            state.etag = result.etag
            state.last_modified = result.last_modified
            if not conditional:
                state.last_unconditional = now
        state.last_success = now
        state.error_count = 0
        state.error_kind = state.last_error = None
        fresh_for = freshness(result.cache_control, result.expires, now)
        delay = success_delay(
            self.bounds,
            configured=spec.interval,
            adaptive=adaptive_interval(state.entry_times, self.bounds),
            fresh_for=fresh_for,
            rng=self.rng,
        )
        state.interval = round(delay, 3)
        state.next_due = now + delay
        articles = [entry.article for entry in new]
        commit = asyncio.ensure_future(self._publish_and_commit(spec, state, new, known or []))
        self._commits.add(commit)
        commit.add_done_callback(self._commits.discard)
        try:
            await asyncio.shield(commit)
        except (PublishError, Exception) as exc:
            if isinstance(exc, PublishError):
                metrics.PUBLISH_ERRORS.inc(len(articles))
                kind = "publish"
            else:
                kind = "state"
            metrics.ERRORS.labels(kind).inc()
            log.warning("feed %s: %s failed: %s", spec.id, kind, exc)
            # Not the feed's fault: keep its health, forget the validators so the articles are
            # fetched again, and retry soon.
            state.etag = state.last_modified = None
            state.next_due = time.time() + self.bounds.min_interval
            outcome.error_kind = kind
            return outcome
        metrics.ARTICLES.labels("new").inc(len(articles))
        if articles:
            metrics.FEED_ARTICLES.labels(spec.id).inc(len(articles))
            for article in articles:
                metrics.ARTICLES_BY_LANG.labels(metrics.lang_label(article.lang)).inc()
            log.info("feed %s: %d new article(s)", spec.id, len(articles))
        return outcome

    async def _publish_and_commit(
        self, spec: FeedSpec, state: FeedState, new: list[ParsedEntry], known: list[str]
    ) -> None:
        if not new:
            self.store.defer(spec.id, state, still_listed=known)  # nothing new: write-behind
            return
        # One pending batch per feed (a failed batch's articles are all in the next one).
        batch_id = spec.id
        await self.store.begin(batch_id, spec.id, {e.article.id: list(e.keys) for e in new})
        await self.publisher.publish([entry.article for entry in new])
        keys = [key for entry in new for key in entry.keys]
        await self.store.commit(spec.id, state, keys, batch_id, still_listed=known)

    async def _failed(
        self,
        spec: FeedSpec,
        state: FeedState,
        kind: str,
        message: str,
        status: int | None,
        retry_after: float | None,
        not_the_feeds_fault: bool = False,
    ) -> PollOutcome:
        metrics.ERRORS.labels(kind).inc()
        now = time.time()
        if not_the_feeds_fault:
            state.next_due = now + self.bounds.min_interval
            return PollOutcome(status, error_kind=kind)
        state.error_count += 1
        state.error_kind = kind
        state.last_error = message[:300]
        state.last_status = status
        delay = error_delay(self.bounds, state.error_count, retry_after=retry_after, rng=self.rng)
        state.next_due = now + delay
        level = (
            logging.WARNING if state.error_count in (1, self.bounds.broken_after) else logging.DEBUG
        )
        log.log(
            level,
            "feed %s: %s (%s); failure %d, next try in %.0fs%s",
            spec.id,
            kind,
            message,
            state.error_count,
            delay,
            " — marked broken, still retried"
            if state.error_count >= self.bounds.broken_after
            else "",
        )
        self.store.defer(spec.id, state)
        return PollOutcome(status, error_kind=kind)

    def _track_redirect(self, spec: FeedSpec, state: FeedState, result: FetchResult) -> None:
        """Move the stored URL only after the same permanent redirect was seen N times running."""
        target = result.permanent_target
        if not target:
            state.redirect_candidate, state.redirect_seen = None, 0
            return
        if target == state.redirect_candidate:
            state.redirect_seen += 1
        else:
            state.redirect_candidate, state.redirect_seen = target, 1
        if state.redirect_seen >= self.settings.redirect_confirmations:
            log.info("feed %s: permanent redirect confirmed, now polling %s", spec.id, target)
            state.url = target
            state.redirect_candidate, state.redirect_seen = None, 0
