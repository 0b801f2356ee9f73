"""`newswatch alerts tail`: follow the Redis alert stream, one readable line per alert.

`stories tail` (streams/cli/stories.py) shares the client side: `open_redis` (Redis of the
settings, or of a running `newswatch up` via its up.json, said on stderr), `retrying` (an
unreachable Redis is reported and retried, not fatal), `one_line` and `colour_label`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import redis

from newswatch.streams.cli import client_settings_from
from newswatch.streams.names import DisplayNames, display_names
from newswatch.streams.records import Alert, RecordError
from newswatch.streams.settings import Settings
from newswatch.streams.sinks.keys import STREAM

T = TypeVar("T")
_COLOURS = {"low": "blue", "medium": "yellow", "high": "red", "critical": "magenta"}


def one_line(text: str) -> str:
    """Control characters and line breaks of a feed-controlled string folded into spaces, so
    one alert (or story) stays one line of a terminal."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def colour_label(label: str, severity: str | None, colour: bool) -> str:
    """`label` padded to 8 columns, coloured by `severity` when writing to a terminal."""
    padded = label.upper().ljust(8)
    if colour:
        padded = click.style(padded, fg=_COLOURS.get(severity or ""), bold=True)
    return padded


def open_redis(ctx: click.Context) -> tuple[redis.Redis, Settings]:
    """A blocking Redis client for a client command, and the settings it came from (with
    up.json's endpoints when no Redis URL is configured; `client_settings_from` says so)."""
    settings = client_settings_from(ctx)
    client = redis.Redis.from_url(settings.redis_dsn, socket_timeout=None, socket_connect_timeout=5)
    return client, settings


def format_alert(alert: Alert, colour: bool = False, names: DisplayNames | None = None) -> str:
    """`2026-11-27T08:10:00Z HIGH rule [DeepSeek, Qwen | Export controls] title <url>`, one line.

    Entities and themes are shown by their display names; control characters and line breaks
    of the (feed-controlled) title are folded into spaces so one alert stays one line. Story
    alerts name their story; updates say what changed."""
    names = names or DisplayNames()
    when = datetime.fromtimestamp(alert.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    severity = colour_label(alert.severity, alert.severity, colour)
    tags = ", ".join(names.entities(alert.entities)) or "-"
    if alert.themes:
        tags += " | " + ", ".join(names.themes(alert.themes))
    title = one_line(alert.title)
    if alert.kind == "story_update":  # `... UPDATE #2 (sources:10, language:fr) 11 sources ...`
        story = f"{alert.sources or 0} sources, {len(alert.languages)} languages"
        if alert.breaking:
            story += ", breaking"
        reasons = ", ".join(alert.reasons)
        title = f"UPDATE #{alert.sequence} ({reasons}) {story}: " + one_line(
            alert.headline or alert.title
        )
    elif alert.story_id:
        title += f" [story {alert.story_id}, {alert.sources or 0} sources]"
    line = f"{when} {severity} {alert.rule} [{tags}] {title}"
    if alert.url:
        line += f" <{alert.url}>"
    return line


@click.group("alerts")
def alerts() -> None:
    """Read alerts from Redis."""


@alerts.command("tail")
@click.option("-n", "--last", default=10, show_default=True, help="Show the last N alerts first.")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Wait for new ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw alert JSON instead.")
@click.pass_context
def tail(ctx: click.Context, last: int, follow: bool, as_json: bool) -> None:
    """Print alerts from the Redis stream `newswatch:alerts` as they arrive (Ctrl-C stops).

    Without NEWSWATCH_REDIS_URL it reads the Redis of a running `newswatch up` (its up.json in
    the state directory) and says so on stderr."""
    client, settings = open_redis(ctx)
    colour = sys.stdout.isatty() and not as_json
    names = display_names(settings.catalogue_dir)
    try:
        last_id = retrying(_backlog, client, last, as_json, colour, names)
        while follow:
            response = retrying(client.xread, {STREAM: last_id}, block=5_000, count=100)
            for _, entries in response:
                _print(entries, as_json, colour, names)
                last_id = entries[-1][0].decode()
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


def _backlog(
    client: redis.Redis, last: int, as_json: bool, colour: bool, names: DisplayNames
) -> str:
    """Print the last `last` alerts; return the stream id to follow from."""
    entries = list(reversed(client.xrevrange(STREAM, count=max(last, 1))))
    if last > 0:
        _print(entries, as_json, colour, names)
    return entries[-1][0].decode() if entries else "0-0"


def retrying(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a Redis call until it succeeds; an unreachable Redis is reported, not fatal."""
    backoff = 1.0
    while True:
        try:
            return call(*args, **kwargs)
        except redis.ConnectionError as exc:
            click.echo(f"newswatch: Redis unreachable ({exc}); retry in {backoff:.0f}s", err=True)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


def _print(entries: list, as_json: bool, colour: bool, names: DisplayNames) -> None:
    for entry_id, fields in entries:
        data = fields.get(b"data")
        if data is None:
            click.echo(f"newswatch: stream entry {entry_id.decode()} has no 'data' field", err=True)
            continue
        if as_json:
            click.echo(data.decode())
            continue
        try:
            alert = Alert.loads(data)
        except RecordError as exc:
            click.echo(f"newswatch: stream entry {entry_id.decode()}: {exc}", err=True)
            continue
        click.echo(format_alert(alert, colour, names))
    sys.stdout.flush()


COMMANDS = (alerts,)
