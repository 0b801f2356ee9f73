"""Live updates: one Redis pub/sub subscription per process, fanned out to every SSE client.

The Redis sink PUBLISHes each new alert on `newswatch:alerts:live`; the newsroom PUBLISHes
acknowledgements and mute changes on `newswatch:newsroom:changes`; the stories agent PUBLISHes
each story it created or changed on `newswatch:stories:live` (its state as JSON). An alert
publish is only a wake-up call here: the hub then reads the alert *stream* after the last
entry it saw, so every alert event it fans out carries its stream id. That id is the SSE
event id, which makes a client's `Last-Event-ID` resumable from the stream, and a publish
lost while the subscription was reconnecting is caught up from the stream, not lost.

Stories are state, not a log: a story message is fanned out as it is (the newest state of
that story, without an event id), and a client that reconnects re-reads the stories panel
instead of replaying (see `web.story_panel`): the panel shows the newest few stories, so the
current state is all a reader needs, and nothing missed while away can be lost that way.

Slow clients do not slow the others: each has a bounded queue; one that overflows is closed
and its browser reconnects with its Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from newswatch.streams.newsroom.store import NewsroomStore
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.mutes import Mutes, mutes_from_message, parse_mutes
from newswatch.streams.sinks.stories import LIVE_CHANNEL as STORIES_CHANNEL

log = logging.getLogger(__name__)

QUEUE_SIZE = 1_000
RECONNECT_DELAY = 1.0

SSE_CLIENTS = Gauge("newswatch_newsroom_sse_clients", "Open Server-Sent Events connections")
SSE_DROPPED = Counter(
    "newswatch_newsroom_sse_overflows_total",
    "SSE clients closed because they fell more than the queue size behind",
)
SSE_REFUSED = Counter(
    "newswatch_newsroom_sse_refused_total",
    "SSE connections answered 503 because the worker had its maximum of SSE clients open",
)


def stream_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class LiveEvent:
    """One thing to tell viewers: a new alert (with its stream id) or a change."""

    kind: str  # "alert" | "ack" | "mutes" | "story"
    data: dict[str, Any]
    stream_id: str | None = None
    rendered: dict[Any, Any] = field(default_factory=dict)  # per-event render cache


class Subscription:
    def __init__(self, hub: LiveHub) -> None:
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False
        self._hub = hub

    def put(self, event: LiveEvent) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            SSE_DROPPED.inc()
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)  # tells the handler to end the response

    async def get(self) -> LiveEvent | None:
        return await self.queue.get()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class LiveHub:
    """Start lazily with the first subscriber; `stop()` on shutdown."""

    def __init__(self, redis_factory: Callable[[], Redis], store: NewsroomStore) -> None:
        self._redis_factory = redis_factory
        self._store = store
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self.mutes = Mutes()
        self.last_id: str | None = None
        self.ready = asyncio.Event()

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subs.add(sub)
        SSE_CLIENTS.set(len(self._subs))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="newsroom-live")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        SSE_CLIENTS.set(len(self._subs))

    @property
    def clients(self) -> int:
        return len(self._subs)

    async def stop(self) -> None:
        for sub in list(self._subs):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _broadcast(self, event: LiveEvent) -> None:
        for sub in list(self._subs):
            sub.put(event)

    async def _run(self) -> None:
        while True:
            redis = self._redis_factory()
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.LIVE_CHANNEL, keys.CHANGES_CHANNEL, STORIES_CHANNEL)
                self.mutes = parse_mutes(await redis.hgetall(keys.MUTES))
                if self.last_id is None:
                    self.last_id = await self._store.last_id()
                else:
                    await self._catch_up()  # publishes missed while reconnecting
                self.ready.set()
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("newsroom live updates: Redis unavailable (%r); reconnecting", exc)
                await asyncio.sleep(RECONNECT_DELAY)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 2.0)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(redis.aclose(), 2.0)

    async def _listen(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                # Quiet, or a publish we missed: one cheap look at the stream a second.
                await self._catch_up()
                continue
            wake = False
            while message is not None:  # drain what is already here: one stream read for all
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else channel
                if channel == keys.LIVE_CHANNEL:
                    wake = True
                elif channel == STORIES_CHANNEL:
                    self._story(message["data"])
                else:
                    self._change(message["data"])
                message = await pubsub.get_message(timeout=0)
            if wake:
                await self._catch_up()

    async def _catch_up(self) -> None:
        assert self.last_id is not None
        while True:
            entries = await self._store.after(self.last_id)
            for stream_id, alert in entries:
                self.last_id = stream_id
                self._broadcast(LiveEvent("alert", alert, stream_id))
            if len(entries) < 500:
                return

    def _story(self, raw: Any) -> None:
        try:
            story = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("newsroom: a story message that is not JSON; ignored")
            return
        if isinstance(story, dict) and isinstance(story.get("id"), str):
            self._broadcast(LiveEvent("story", story))

    def _change(self, raw: Any) -> None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("newsroom: a change message that is not JSON; ignored")
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "mutes":
            self.mutes = mutes_from_message(data)
            self._broadcast(LiveEvent("mutes", self.mutes.as_message()))
        elif data.get("type") == "ack" and isinstance(data.get("id"), str):
            self._broadcast(LiveEvent("ack", data))
