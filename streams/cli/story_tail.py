"""`newswatch stories tail`: follow stories as they are created and grow, one line per change.

The transport is the newsroom page's: the stories agent PUBLISHes every story it created or
changed on `newswatch:stories:live` (its state as JSON). Pub/sub keeps nothing, so after every
(re)subscription, and every RESYNC_SECONDS (redis-py may reconnect a pub/sub connection
without telling), the command re-reads the newest stories from the index and prints those
whose state differs from what it printed last: a story that grew while the connection was down
is printed once it is back, with its current state. The Redis connection, up.json and retries
are `alerts tail`'s (streams/cli/alerts.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click
import orjson
import redis

from newswatch.streams.cli.alerts import colour_label, one_line, open_redis, retrying
from newswatch.streams.names import DisplayNames, display_names
from newswatch.streams.sinks.stories import LIVE_CHANNEL, STORIES_INDEX, story_key

#: Newest stories (by last article) re-read after each (re)subscription and every
#: RESYNC_SECONDS, to print what changed while no message could arrive.
RESYNC = 50
RESYNC_SECONDS = 10.0
#: Stories whose last printed state is remembered (the oldest are forgotten first).
REMEMBER = 10_000
TOP_ENTITIES = 3

_State = tuple[Any, ...]


def story_state(story: Mapping[str, Any]) -> _State:
    """What makes a story worth a new line: its size, sources, languages, status, headline."""
    return (
        story.get("size"),
        story.get("sources"),
        tuple(story.get("languages") or ()),
        story.get("status"),
        story.get("headline"),
        bool(story.get("breaking")),
    )


def format_story(
    story: Mapping[str, Any], colour: bool = False, names: DisplayNames | None = None
) -> str:
    """`2026-12-04T10:00:00Z NEW      st-… 3 sources, 2 languages (de, en) [DeepSeek, Nvidia]
    headline`, one line. NEW for a story's first article, CLOSED for a closed story, else
    GROWN; BREAKING when the story is breaking. Feed-controlled text is folded to one line."""
    names = names or DisplayNames()
    try:
        when = datetime.fromtimestamp(float(story.get("last_seen") or 0), UTC)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        stamp = "-"
    size = story.get("size")
    if story.get("status") == "closed":
        label = "closed"
    elif size == 1:
        label = "new"
    else:
        label = "grown"
    if story.get("breaking") and label != "closed":
        label = "breaking"
    severity = {"new": "low", "grown": "medium", "breaking": "high", "closed": None}[label]
    languages = [one_line(str(lang)) for lang in story.get("languages") or ()]
    entities = [e for e in story.get("entities") or () if isinstance(e, str)][:TOP_ENTITIES]
    sources = story.get("sources") or 0
    counts = f"{sources} source{'s' if sources != 1 else ''}, {size or 0} article"
    counts += "s" if size != 1 else ""
    if languages:
        counts += f", {len(languages)} language{'s' if len(languages) != 1 else ''}"
        counts += f" ({', '.join(languages)})"
    tags = ", ".join(names.entities(entities)) or "-"
    headline = one_line(str(story.get("headline") or ""))
    return (
        f"{stamp} {colour_label(label, severity, colour)} {one_line(str(story.get('id')))} "
        f"{counts} [{tags}] {headline}"
    ).rstrip()


class StoryPrinter:
    """Prints a story when its state differs from the one it printed last."""

    def __init__(self, as_json: bool, colour: bool, names: DisplayNames) -> None:
        self.as_json = as_json
        self.colour = colour
        self.names = names
        self.printed: dict[str, _State] = {}

    def remember(self, story: Mapping[str, Any]) -> None:
        story_id = str(story["id"])
        self.printed.pop(story_id, None)
        self.printed[story_id] = story_state(story)
        while len(self.printed) > REMEMBER:
            self.printed.pop(next(iter(self.printed)))

    def show(self, story: Mapping[str, Any], raw: bytes | None = None) -> bool:
        if self.printed.get(str(story["id"])) == story_state(story):
            return False
        self.remember(story)
        if self.as_json:
            click.echo(raw.decode() if raw is not None else orjson.dumps(story).decode())
        else:
            click.echo(format_story(story, self.colour, self.names))
        sys.stdout.flush()
        return True


def parse_story(raw: Any, where: str) -> dict[str, Any] | None:
    """A story state from Redis, or None (reported on stderr) when it is not one."""
    try:
        story = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        story = None
    if not isinstance(story, dict) or not isinstance(story.get("id"), str):
        click.echo(f"newswatch: {where} holds no story; skipped", err=True)
        return None
    return story


def newest_stories(client: redis.Redis, count: int) -> list[tuple[dict[str, Any], bytes]]:
    """The `count` stories with the latest `last_seen`, oldest first (expired ones skipped)."""
    ids = client.zrevrange(STORIES_INDEX, 0, max(count, 1) - 1)
    if not ids:
        return []
    out = []
    for story_id, raw in zip(ids, client.mget([story_key(i.decode()) for i in ids]), strict=True):
        if raw is None:
            continue
        story = parse_story(raw, f"story {story_id.decode()!r}")
        if story is not None:
            out.append((story, raw))
    out.reverse()
    return out


def follow(client: redis.Redis, printer: StoryPrinter, last: int, first: bool) -> None:
    """Subscribe, then print what the index holds that was not printed yet (on the first call:
    the newest `last`), then every story published, until the connection breaks (raises)."""
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(LIVE_CHANNEL)  # before reading the index: nothing falls in between
        backlog = newest_stories(client, max(last, RESYNC) if first else RESYNC)
        for index, (story, raw) in enumerate(backlog):
            if first and index < len(backlog) - last:
                printer.remember(story)  # known, not shown: only the newest `last` are
            else:
                printer.show(story, raw)
        synced = time.monotonic()
        while True:
            message = pubsub.get_message(timeout=1.0)
            if message is not None:
                live = parse_story(message["data"], f"a message on {LIVE_CHANNEL}")
                if live is not None:
                    printer.show(live, message["data"])
            if time.monotonic() - synced >= RESYNC_SECONDS:
                for story, raw in newest_stories(client, RESYNC):
                    printer.show(story, raw)
                synced = time.monotonic()
    finally:
        pubsub.close()


@click.command("tail")
@click.option("-n", "--last", default=10, show_default=True, help="Show the newest N first.")
@click.option("--follow/--no-follow", "keep_following", default=True, show_default=True,
              help="Wait for new and growing stories.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the raw story JSON instead.")
@click.pass_context
def tail(ctx: click.Context, last: int, keep_following: bool, as_json: bool) -> None:
    """Print stories as they are created and grow (Ctrl-C stops): headline, sources, articles,
    languages and top entities, one line per change.

    Without NEWSWATCH_REDIS_URL it reads the Redis of a running `newswatch up` (its up.json in
    the state directory) and says so on stderr."""
    client, settings = open_redis(ctx)
    colour = sys.stdout.isatty() and not as_json
    printer = StoryPrinter(as_json, colour, display_names(settings.catalogue_dir))
    try:
        if not keep_following:
            for story, raw in retrying(newest_stories, client, last):
                printer.show(story, raw)
            return
        first = [True]

        def run() -> None:
            was_first, first[0] = first[0], False
            follow(client, printer, last, was_first)

        retrying(run)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
