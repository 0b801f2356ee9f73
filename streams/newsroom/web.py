"""The newsroom's HTTP handlers (aiohttp), mounted on the worker's web server at `/`.

    GET  /                      the page: filtered alert list, facets with counts, search
    GET  /alerts/{id}           one alert: article, entities and themes with evidence marked
    POST /alerts/{id}/ack       acknowledge (acked=1) or reopen (acked=0), for every viewer
    GET  /stories/{id}          one story: its sources, entities, themes, alert history
    POST /mutes                 mute or unmute an entity, a rule or a story (kind, value,
                                action)
    GET  /events                Server-Sent Events: new alerts matching the filters, acks,
                                mute changes, created and grown stories; alerts resumable
                                with Last-Event-ID (a stream id); at most `max_sse_clients`
                                per process, beyond it 503 with Retry-After
    GET  /updates?after=ID      the alerts as JSON, for browsers that cannot keep an SSE open
    GET  /updates/stories       the stories panel as JSON (its resync after a reconnect)
    GET  /feeds/alerts.atom     Atom feed of the filtered list
    GET  /digest?period=day     what happened in the last hour or day
    GET  /static/…              the page's CSS and JavaScript

`add_routes(router, newsroom)` wires them; every handler is a plain aiohttp coroutine, so an
authentication middleware on the application covers them like the API. Responses carry a
strict Content-Security-Policy (scripts and styles from /static only, nothing inline), and
POSTs must come from a page of the same origin (Origin / Sec-Fetch-Site), so another site
cannot make a viewer's browser acknowledge or mute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from newswatch.streams.names import DisplayNames
from newswatch.streams.newsroom import atom
from newswatch.streams.newsroom.live import SSE_REFUSED, LiveEvent, LiveHub, stream_key
from newswatch.streams.newsroom.query import (
    FACETS,
    FilterError,
    Filters,
    build_view,
    facet_values,
    matches,
    story_matches,
)
from newswatch.streams.newsroom.render import STATIC, environment, highlight
from newswatch.streams.newsroom.store import NewsroomStore, valid_stream_id
from newswatch.streams.sinks.mutes import Mutes, check_mute, read_mutes, set_mute
from newswatch.streams.sinks.stories import QueryError, get_story, query_stories, story_key

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
KEEPALIVE = 15.0  # seconds between SSE comments on a quiet connection
#: Seconds between checks that a quiet SSE client is still connected: a client that left
#: frees its place (of `max_sse_clients`) within this, not at the next keepalive.
CLIENT_CHECK = 1.0
PAGE_LIMIT = 200
FEED_LIMIT = 100
FACET_LABELS = (
    ("severity", "Severity"),
    ("entity", "Entity"),
    ("theme", "Theme"),
    ("rule", "Rule"),
    ("lang", "Language"),
    ("feed", "Feed"),
)
NEWSROOM_KEY = web.AppKey("newsroom", object)
#: Stories in the panel, and the newest stories looked at to fill it under filters and mutes.
STORY_LIMIT = 10
STORY_SCAN = 100


class Newsroom:
    """What the handlers share: Redis, the live hub, names, templates, and (for evidence) a
    tagger — the worker passes its own; without one the page loads the shipped engine lazily."""

    def __init__(
        self,
        redis_factory: Callable[[], Redis],
        names: DisplayNames,
        *,
        tagger: Any = None,
        catalogue_dir: Any = None,
        max_sse_clients: int = 200,
        sse_retry_after: int = 30,
    ) -> None:
        self.max_sse_clients = max_sse_clients
        self.sse_retry_after = sse_retry_after
        self._redis_factory = redis_factory
        self._redis: Redis | None = None
        self.names = names
        self.env = environment(names)
        self._tagger = tagger
        self._catalogue_dir = catalogue_dir
        self._store: NewsroomStore | None = None
        self._hub: LiveHub | None = None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = self._redis_factory()
        return self._redis

    @property
    def store(self) -> NewsroomStore:
        if self._store is None:
            self._store = NewsroomStore(self.redis)
        return self._store

    @property
    def hub(self) -> LiveHub:
        if self._hub is None:
            self._hub = LiveHub(self._redis_factory, self.store)
        return self._hub

    def tagger(self) -> Any:
        if self._tagger is None:
            from newswatch.agents.tagging.tagger import Tagger

            self._tagger = Tagger.load(self._catalogue_dir)
        return self._tagger

    async def close(self) -> None:
        if self._hub is not None:
            await self._hub.stop()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._redis.aclose(), 2.0)

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def alert_html(self, alert: dict[str, Any], acked: bool, muted: bool) -> str:
        macro = self.env.get_template("_alert.html").module.alert_item  # type: ignore[attr-defined]
        return str(macro(alert, acked, muted, "/"))

    def story_html(self, story: dict[str, Any], muted: bool, here: str = "/") -> str:
        macro = self.env.get_template("_story.html").module.story_item  # type: ignore[attr-defined]
        return str(macro(story, muted, here))


# ---- helpers ---------------------------------------------------------------------------------


def _newsroom(request: web.Request) -> Newsroom:
    return request.app[NEWSROOM_KEY]  # type: ignore[return-value]


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _error(newsroom: Newsroom, status: int, heading: str, message: str) -> web.Response:
    return _html(newsroom.render("error.html", heading=heading, message=message, nav=""), status)


def _here(request: web.Request) -> str:
    return request.path_qs


def _safe_next(value: Any) -> str:
    """A local path to go back to after a form POST (never another site)."""
    text = str(value or "/")
    if not text.startswith("/") or text.startswith("//") or "\\" in text or "\n" in text:
        return "/"
    return text


def same_origin(request: web.Request) -> bool:
    """A POST from our own pages: Sec-Fetch-Site says so, or Origin (else Referer) is us.
    Requests with neither header (curl, scripts) are allowed: they carry no ambient cookies
    from another site, and the API token check (when configured) still applies."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.host


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


async def _page_state(newsroom: Newsroom, filters: Filters) -> dict[str, Any]:
    entries = await newsroom.store.recent()
    alerts = [alert for _, alert in entries]
    acked = await newsroom.store.acked([a["id"] for a in alerts])
    mutes = await read_mutes(newsroom.redis)
    view = build_view(alerts, filters, newsroom.names, acked=acked, mutes=mutes, limit=PAGE_LIMIT)
    return {
        "view": view,
        "acked": acked,
        "mutes_obj": mutes,
        "last_id": entries[0][0] if entries else "0-0",
    }


async def story_panel(newsroom: Newsroom, filters: Filters, mutes: Mutes) -> list[dict[str, Any]]:
    """The stories panel: the newest stories (by last article) that match the filters and are
    not muted (unless `muted=1`), at most STORY_LIMIT of the newest STORY_SCAN."""
    stories = await query_stories(newsroom.redis, limit=STORY_SCAN)
    shown = [s for s in stories if story_matches(s, filters, newsroom.names, mutes)]
    return shown[:STORY_LIMIT]


async def _story_names(newsroom: Newsroom, mutes: Mutes) -> dict[str, str]:
    """Headlines of the muted stories, for the list of mutes."""
    ids = sorted(mutes.stories)
    if not ids:
        return {}
    names: dict[str, str] = {}
    raws = await newsroom.redis.mget([story_key(i) for i in ids])
    for story_id, raw in zip(ids, raws, strict=True):
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            headline = orjson.loads(raw).get("headline") if raw else None
            if isinstance(headline, str) and headline:
                names[story_id] = headline
    return names


def _with(filters: Filters, **changes: Any) -> str:
    from dataclasses import replace

    return replace(filters, **changes).query_string()


# ---- handlers --------------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    newsroom = _newsroom(request)
    try:
        filters = Filters.parse(request.query)
    except FilterError as exc:
        return _error(newsroom, 400, "That filter does not work", str(exc))
    try:
        state = await _page_state(newsroom, filters)
        mutes: Mutes = state["mutes_obj"]
        stories = await story_panel(newsroom, filters, mutes)
        story_names = await _story_names(newsroom, mutes)
    except RedisError as exc:
        log.warning("newsroom page: Redis unavailable: %r", exc)
        return _error(newsroom, 503, "Alert store unavailable", "Redis did not answer; retry.")
    body = newsroom.render(
        "index.html",
        stories=stories,
        story_limit=STORY_LIMIT,
        story_names=story_names,
        nav="alerts",
        filters=filters,
        facet_labels=FACET_LABELS,
        here=_here(request),
        mutes=[("entity", e) for e in sorted(mutes.entities)]
        + [("rule", r) for r in sorted(mutes.rules)]
        + [("story", s) for s in sorted(mutes.stories)],
        status_all=_with(filters, open_only=False),
        status_open=_with(filters, open_only=True),
        muted_on=_with(filters, show_muted=True),
        muted_off=_with(filters, show_muted=False),
        **state,
    )
    return _html(body)


def evidence_for(newsroom: Newsroom, alert: dict[str, Any]) -> dict[str, Any]:
    """What the tagging engine finds in the alert's title and summary: the entity mentions and
    theme evidence terms, for marking them in the text. Best effort: a tagger failure leaves
    the text unmarked."""
    summary = str(alert.get("summary") or "")
    title = str(alert.get("title") or "")
    out: dict[str, Any] = {"entities": {}, "themes": {}, "marks": []}
    try:
        result = newsroom.tagger().tag(summary, title=title, lang=alert.get("lang"))
    except Exception as exc:
        log.warning("evidence for alert %s: tagger failed: %r", alert.get("id"), exc)
        return out
    wanted_entities = set(alert.get("entities") or ())
    wanted_themes = set(alert.get("themes") or ())
    for mention in result.mentions:
        if mention.entity in wanted_entities:
            found = out["entities"].setdefault(mention.entity, [])
            if mention.text not in found:
                found.append(mention.text)
            out["marks"].append((mention.text, "entity", newsroom.names.entity(mention.entity)))
    for hit in result.themes:
        if hit.id in wanted_themes:
            terms = list(dict.fromkeys(hit.evidence))
            out["themes"][hit.id] = terms
            label = newsroom.names.short_theme(hit.id)
            out["marks"].extend((term, "theme", label) for term in terms)
    return out


async def alert_page(request: web.Request) -> web.Response:
    newsroom = _newsroom(request)
    alert_id = request.match_info["alert_id"]
    try:
        alert = await newsroom.store.get(alert_id)
        acked = await newsroom.store.acked([alert_id]) if alert else {}
        mutes = await read_mutes(newsroom.redis)
    except RedisError as exc:
        log.warning("newsroom alert view: Redis unavailable: %r", exc)
        return _error(newsroom, 503, "Alert store unavailable", "Redis did not answer; retry.")
    if alert is None:
        return _error(newsroom, 404, "No such alert", "It may have expired from the store.")
    # In the event loop, not a thread: the worker's tagger may be in use by an inline tag agent
    # and is not documented as thread-safe; one title and summary take about a millisecond.
    evidence = evidence_for(newsroom, alert)
    marks = evidence["marks"]
    body = newsroom.render(
        "alert.html",
        nav="",
        a=alert,
        acked=alert_id in acked,
        acked_at=acked.get(alert_id),
        muted=mutes.mutes(alert),
        evidence=evidence,
        title_segments=highlight(str(alert.get("title") or ""), marks),
        summary_segments=highlight(str(alert.get("summary") or ""), marks)
        if alert.get("summary")
        else [],
        here=_here(request),
    )
    return _html(body)


#: Newest alerts scanned for a story's alert history (story alerts carry the story id).
STORY_HISTORY_SCAN = 5_000


async def story_page(request: web.Request) -> web.Response:
    """One story: headline, every source kept with its language and time, entities and
    themes, and the history of the alerts that name it (created, updated)."""
    newsroom = _newsroom(request)
    story_id = request.match_info["story_id"]
    mutes = Mutes()
    try:
        story = await get_story(newsroom.redis, story_id)
        recent = await newsroom.store.recent(STORY_HISTORY_SCAN) if story else []
        mutes = await read_mutes(newsroom.redis)
    except QueryError:
        story = None
    except RedisError as exc:
        log.warning("newsroom story view: Redis unavailable: %r", exc)
        return _error(newsroom, 503, "Story store unavailable", "Redis did not answer; retry.")
    if story is None:
        return _error(newsroom, 404, "No such story", "It may have closed and expired.")
    history = sorted(
        (alert for _, alert in recent if alert.get("story_id") == story_id),
        key=lambda alert: float(alert.get("created_at") or 0),
    )
    articles = sorted(
        (a for a in story.get("articles") or [] if isinstance(a, dict)),
        key=lambda a: float(a.get("published") or 0),
    )
    body = newsroom.render(
        "story.html",
        nav="",
        s=story,
        articles=articles,
        history=history,
        scanned=STORY_HISTORY_SCAN,
        muted=story_id in mutes.stories,
        here=_here(request),
    )
    return _html(body)


async def ack(request: web.Request) -> web.StreamResponse:
    newsroom = _newsroom(request)
    if not same_origin(request):
        return web.json_response({"error": "cross-site request refused"}, status=403)
    alert_id = request.match_info["alert_id"]
    form = await request.post()
    acked = str(form.get("acked", "1")) != "0"
    try:
        if await newsroom.store.get(alert_id) is None:
            return web.json_response({"error": "no such alert"}, status=404)
        await newsroom.store.set_ack(alert_id, acked)
    except RedisError as exc:
        log.warning("acknowledge %s: Redis unavailable: %r", alert_id, exc)
        return web.json_response({"error": "alert store unavailable"}, status=503)
    if _wants_json(request):
        return web.json_response({"id": alert_id, "acked": acked})
    raise web.HTTPSeeOther(_safe_next(form.get("next")))


async def mute(request: web.Request) -> web.StreamResponse:
    newsroom = _newsroom(request)
    if not same_origin(request):
        return web.json_response({"error": "cross-site request refused"}, status=403)
    form = await request.post()
    kind, value, action = (str(form.get(k, "")) for k in ("kind", "value", "action"))
    try:
        check_mute(kind, value)
        if action not in ("mute", "unmute"):
            raise ValueError("action must be mute or unmute")
    except ValueError as exc:
        return web.json_response(
            {"error": f"{exc} (kind: entity, rule or story; value: its id; action: mute or"
             " unmute)"},
            status=400,
        )  # fmt: skip
    try:
        stored = kind != "story" or await newsroom.redis.exists(story_key(value))
        if action == "mute" and not stored:
            # A mute of a story that is not (or no longer) stored would be dropped at once.
            return web.json_response({"error": f"no story {value}"}, status=404)
        current = await set_mute(newsroom.redis, kind, value, action == "mute")
    except RedisError as exc:
        log.warning("mute %s:%s: Redis unavailable: %r", kind, value, exc)
        return web.json_response({"error": "alert store unavailable"}, status=503)
    if _wants_json(request):
        return web.json_response(
            {"kind": kind, "value": value, "muted": action == "mute", **current.as_message()}
        )
    raise web.HTTPSeeOther(_safe_next(form.get("next")))


def _alert_payload(
    newsroom: Newsroom, event: LiveEvent | None, alert: dict, acked: bool, muted: bool
) -> bytes:
    key = (acked, muted)
    if event is not None and key in event.rendered:
        return event.rendered[key]
    payload = orjson.dumps(
        {
            "id": alert["id"],
            "title": str(alert.get("title") or ""),
            "severity": alert.get("severity"),
            "facets": {facet: list(facet_values(alert, facet)) for facet in FACETS},
            "html": newsroom.alert_html(alert, acked, muted),
        }
    )
    if event is not None:
        event.rendered[key] = payload
    return payload


def _story_payload(newsroom: Newsroom, event: LiveEvent | None, muted: bool) -> bytes:
    key = ("story", muted)
    if event is not None and key in event.rendered:
        return event.rendered[key]
    story = event.data if event is not None else {}
    payload = orjson.dumps(
        {
            "id": story["id"],
            "sources": story.get("sources"),
            "last_seen": story.get("last_seen"),
            "html": newsroom.story_html(story, muted),
        }
    )
    if event is not None:
        event.rendered[key] = payload
    return payload


def _sse(event: str, data: bytes, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\n".encode() + b"data: " + data + b"\n\n"


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events. The first connection passes `after` (the newest stream id the page
    showed); a reconnecting browser sends Last-Event-ID. Both replay from the stream."""
    newsroom = _newsroom(request)
    try:
        filters = Filters.parse(request.query)
    except FilterError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    resume = request.headers.get("Last-Event-ID") or request.query.get("after")
    if resume and not valid_stream_id(resume):
        resume = None
    hub = newsroom.hub
    if hub.clients >= newsroom.max_sse_clients:
        # Full: the page's script falls back to polling /updates (EventSource does not retry
        # after a 503); Retry-After tells other clients and proxies when to try again.
        SSE_REFUSED.inc()
        return web.json_response(
            {"error": "too many live connections; poll /updates instead"},
            status=503,
            headers={"Retry-After": str(newsroom.sse_retry_after)},
        )
    sub = hub.subscribe()  # before the replay, so nothing falls between the two
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n")
        await asyncio.wait_for(hub.ready.wait(), 10.0)
        sent = stream_key(resume) if resume else stream_key(hub.last_id or "0-0")
        if resume:
            replay = await newsroom.store.after(resume)
            acked = await newsroom.store.acked([a["id"] for _, a in replay])
            for stream_id, alert in replay:
                muted = hub.mutes.mutes(alert)
                if (muted and not filters.show_muted) or not matches(
                    alert, filters, newsroom.names, acked=alert["id"] in acked
                ):
                    sent = stream_key(stream_id)
                    continue
                data = _alert_payload(newsroom, None, alert, alert["id"] in acked, muted)
                await response.write(_sse("alert", data, stream_id))
                sent = stream_key(stream_id)
        await response.write(_sse("ready", b"{}"))
        quiet = 0.0
        while True:
            try:
                event = await asyncio.wait_for(sub.get(), CLIENT_CHECK)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break  # the client left
                quiet += CLIENT_CHECK
                if quiet >= KEEPALIVE:
                    await response.write(b": keepalive\n\n")
                    quiet = 0.0
                continue
            if event is None:
                break  # overflowed or shutting down: the browser reconnects and resumes
            if event.kind == "alert":
                assert event.stream_id is not None
                position = stream_key(event.stream_id)
                if position <= sent:
                    continue
                sent = position
                alert = event.data
                muted = hub.mutes.mutes(alert)
                if (muted and not filters.show_muted) or not matches(
                    alert, filters, newsroom.names
                ):
                    # Still move the client's resume point past it.
                    await response.write(f"id: {event.stream_id}\n\n".encode())
                    continue
                data = _alert_payload(newsroom, event, alert, False, muted)
                await response.write(_sse("alert", data, event.stream_id))
            elif event.kind == "story":
                # No event id: stories are state, re-read on reconnect (GET /updates/stories).
                if story_matches(event.data, filters, newsroom.names, hub.mutes):
                    data = _story_payload(newsroom, event, hub.mutes.mutes_story(event.data))
                    await response.write(_sse("story", data))
            else:
                await response.write(_sse(event.kind, orjson.dumps(event.data)))
    except (ConnectionResetError, asyncio.CancelledError, TimeoutError, RedisError):
        pass
    finally:
        sub.close()
    return response


async def updates(request: web.Request) -> web.Response:
    """Polling fallback: alerts after `after` that match the filters, oldest first."""
    newsroom = _newsroom(request)
    try:
        filters = Filters.parse(request.query)
    except FilterError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    after = request.query.get("after", "")
    try:
        if not valid_stream_id(after):
            return web.json_response({"last_id": await newsroom.store.last_id(), "alerts": []})
        entries = await newsroom.store.after(after)
        acked = await newsroom.store.acked([a["id"] for _, a in entries])
        mutes = await read_mutes(newsroom.redis)
    except RedisError:
        return web.json_response({"error": "alert store unavailable"}, status=503)
    items = []
    for _, alert in entries:
        is_acked = alert["id"] in acked
        muted = mutes.mutes(alert)
        if (muted and not filters.show_muted) or not matches(
            alert, filters, newsroom.names, acked=is_acked
        ):
            continue
        items.append(orjson.loads(_alert_payload(newsroom, None, alert, is_acked, muted)))
    last = entries[-1][0] if entries else after
    return web.json_response({"last_id": last, "alerts": items})


async def story_updates(request: web.Request) -> web.Response:
    """The stories panel as JSON, newest first: what the page re-reads after an SSE
    (re)connect and on every poll."""
    newsroom = _newsroom(request)
    try:
        filters = Filters.parse(request.query)
    except FilterError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    try:
        mutes = await read_mutes(newsroom.redis)
        stories = await story_panel(newsroom, filters, mutes)
    except RedisError:
        return web.json_response({"error": "story store unavailable"}, status=503)
    items = [
        {
            "id": story["id"],
            "sources": story.get("sources"),
            "last_seen": story.get("last_seen"),
            "html": newsroom.story_html(story, mutes.mutes_story(story)),
        }
        for story in stories
    ]
    return web.json_response({"stories": items})


async def atom_feed(request: web.Request) -> web.Response:
    newsroom = _newsroom(request)
    try:
        filters = Filters.parse(request.query)
    except FilterError as exc:
        return web.Response(text=str(exc), status=400)
    try:
        state = await _page_state(newsroom, filters)
    except RedisError:
        return web.Response(text="alert store unavailable", status=503)
    base = f"{request.scheme}://{request.host}/"
    query = filters.query_string()
    body = atom.render_feed(
        state["view"].alerts[:FEED_LIMIT],
        base_url=base,
        self_url=f"{base}feeds/alerts.atom" + (f"?{query}" if query else ""),
        names=newsroom.names,
        subtitle=_describe(filters, newsroom.names),
    )
    return web.Response(body=body, headers={"Content-Type": atom.CONTENT_TYPE})


def _describe(filters: Filters, names: DisplayNames) -> str:
    parts = []
    for facet in FACETS:
        values = sorted(getattr(filters, facet))
        if not values:
            continue
        if facet == "entity":
            values = names.entities(values)
        elif facet == "theme":
            values = names.themes(values)
        parts.append(f"{facet}: {', '.join(values)}")
    if filters.q:
        parts.append(f"search: {filters.q}")
    return "; ".join(parts) or "all alerts"


async def digest(request: web.Request) -> web.Response:
    from newswatch.streams.newsroom.digest import PERIODS, build_digest

    newsroom = _newsroom(request)
    period = request.query.get("period", "day")
    if period not in PERIODS:
        return _error(newsroom, 400, "Unknown period", "period must be 'hour' or 'day'.")
    try:
        entries = await newsroom.store.recent()
        mutes = await read_mutes(newsroom.redis)
    except RedisError:
        return _error(newsroom, 503, "Alert store unavailable", "Redis did not answer; retry.")
    report = build_digest(
        [a for _, a in entries], period, now=time.time(), mutes=mutes, names=newsroom.names
    )
    return _html(newsroom.render("digest.html", nav="digest", d=report, here=_here(request)))


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers on every response of the application (pages, static files, errors)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def add_routes(app: web.Application, newsroom: Newsroom) -> None:
    """Mount the newsroom on `app` (the worker's aiohttp application, before it starts)."""
    app[NEWSROOM_KEY] = newsroom
    router = app.router
    router.add_get("/", index)
    router.add_get("/alerts/{alert_id}", alert_page)
    router.add_get("/stories/{story_id}", story_page)
    router.add_post("/alerts/{alert_id}/ack", ack)
    router.add_post("/mutes", mute)
    router.add_get("/events", events)
    router.add_get("/updates", updates)
    router.add_get("/updates/stories", story_updates)
    router.add_get("/feeds/alerts.atom", atom_feed)
    router.add_get("/digest", digest)
    router.add_static("/static/", STATIC, append_version=False)
    app.on_response_prepare.append(_on_prepare)

    async def close(_: web.Application) -> None:
        await newsroom.close()

    app.on_shutdown.append(close)


def newsroom_app(newsroom: Newsroom) -> web.Application:
    """A stand-alone application with only the newsroom (tests, benchmarks)."""
    app = web.Application()
    add_routes(app, newsroom)
    return app
