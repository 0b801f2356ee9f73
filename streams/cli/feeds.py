"""`newswatch feeds`: manage the feeds file, see feed health, debug a feed's parsing."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click
import orjson

from newswatch.streams.cli import client_settings_from, settings_from
from newswatch.streams.poller.feeds import (
    DEFAULT_FEEDS_FILE,
    FeedsFileError,
    FeedSpec,
    export_opml,
    feeds_path,
    import_opml,
    load_feeds,
    save_feeds,
    slugify,
)
from newswatch.streams.settings import Settings


def _path(ctx: click.Context, writable: bool = False, settings: Settings | None = None) -> Path:
    explicit = ctx.find_object(_FeedsOptions)
    settings = settings or settings_from(ctx)
    path = explicit.file if explicit and explicit.file else settings.feeds_file
    if writable and path is None:
        raise click.ClickException(
            "no feeds file configured: set NEWSWATCH_FEEDS_FILE (or pass --file); the shipped"
            f" default list ({DEFAULT_FEEDS_FILE}) is read-only — copy it first"
        )
    return feeds_path(path)


def _load(path: Path, missing_ok: bool = False) -> list[FeedSpec]:
    if missing_ok and not path.exists():
        return []
    try:
        return load_feeds(path)
    except FeedsFileError as exc:
        raise click.ClickException(str(exc)) from None


class _FeedsOptions:
    def __init__(self, file: Path | None) -> None:
        self.file = file


@click.group()
@click.option(
    "--file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Feeds file to use instead of the configured one.",
)
@click.pass_context
def feeds(ctx: click.Context, file: Path | None) -> None:
    """Manage feeds (YAML feeds file, OPML import/export) and inspect their health."""
    ctx.obj = _FeedsOptions(file)


@feeds.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List the configured feeds."""
    for spec in _load(_path(ctx)):
        interval = f"{spec.interval:g}s" if spec.interval else "auto"
        click.echo(f"{spec.id:<28} {spec.lang or '-':<5} {interval:>7}  {spec.url}")


@feeds.command()
@click.argument("url")
@click.option("--id", "feed_id", help="Feed id (default: derived from --name or the host).")
@click.option("--name")
@click.option("--lang", help="Declared language, e.g. de.")
@click.option("--interval", type=float, help="Seconds between polls (default: adaptive).")
@click.pass_context
def add(
    ctx: click.Context,
    url: str,
    feed_id: str | None,
    name: str | None,
    lang: str | None,
    interval: float | None,
) -> None:
    """Add a feed to the feeds file (a running poller picks it up within seconds).

    A URL whose host resolves only to addresses the SSRF guard refuses (loopback, private …)
    is rejected unless allowed by poller.allowed_networks / allow_private_networks."""
    path = _path(ctx, writable=True)
    current = _load(path, missing_ok=True)
    if any(spec.url == url for spec in current):
        raise click.ClickException(f"{url} is already in {path}")
    taken = {spec.id for spec in current}
    if feed_id and feed_id in taken:
        raise click.ClickException(f"feed id {feed_id!r} is already in {path}")
    from urllib.parse import urlsplit

    feed_id = feed_id or slugify(name or urlsplit(url).hostname or "feed", taken)
    try:
        spec = FeedSpec(id=feed_id, url=url, name=name, lang=lang, interval=interval)
    except ValueError as exc:
        raise click.ClickException(f"invalid feed: {exc}") from None
    refused = _refused(settings_from(ctx), [url])
    if refused:
        raise click.ClickException(f"{url}: {refused[url]}")
    save_feeds(path, [*current, spec])
    click.echo(f"added {spec.id} to {path}")
    _publish(ctx, [spec], [])


@feeds.command()
@click.argument("feed_id")
@click.pass_context
def remove(ctx: click.Context, feed_id: str) -> None:
    """Remove a feed by id (its Redis state expires on its own)."""
    path = _path(ctx, writable=True)
    current = _load(path)
    kept = [spec for spec in current if spec.id != feed_id]
    if len(kept) == len(current):
        raise click.ClickException(f"no feed {feed_id!r} in {path}")
    save_feeds(path, kept)
    click.echo(f"removed {feed_id} from {path}")
    _publish(ctx, [], [feed_id])


@feeds.command("import")
@click.argument("opml", type=click.File("rb"))
@click.pass_context
def import_(ctx: click.Context, opml) -> None:
    """Add every feed of an OPML file (skipping URLs already present, and URLs the SSRF guard
    refuses, each named on stderr)."""
    path = _path(ctx, writable=True)
    current = _load(path, missing_ok=True)
    try:
        added = import_opml(opml.read(), current)
    except FeedsFileError as exc:
        raise click.ClickException(str(exc)) from None
    refused = _refused(settings_from(ctx), [spec.url for spec in added])
    for spec in added:
        if spec.url in refused:
            click.echo(f"skipped {spec.id}: {spec.url}: {refused[spec.url]}", err=True)
    added = [spec for spec in added if spec.url not in refused]
    save_feeds(path, [*current, *added])
    skipped = f"; {len(refused)} skipped (SSRF guard)" if refused else ""
    click.echo(f"imported {len(added)} feed(s) into {path}{skipped}")
    _publish(ctx, added, [])


@feeds.command()
@click.option("-o", "--output", type=click.File("w"), default="-", help="Default: stdout.")
@click.pass_context
def export(ctx: click.Context, output) -> None:
    """Write the feeds as OPML 2.0."""
    output.write(export_opml(_load(_path(ctx))))


@feeds.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Per-feed health from the poller's state in Redis: ok, backing off or broken."""
    settings = client_settings_from(ctx)
    specs = _load(_path(ctx, settings=settings))
    from newswatch.streams.poller.policy import feed_health
    from newswatch.streams.poller.scheduler import bounds_from
    from newswatch.streams.poller.state import StateStore, connect

    async def read():
        client = connect(settings.redis_dsn)
        try:
            return await StateStore(client, 1).load([spec.id for spec in specs])
        finally:
            await client.aclose()

    states = asyncio.run(read())
    bounds = bounds_from(settings.poller)
    now = time.time()
    if not as_json:
        click.echo(
            f"{'feed':<24} {'health':<11} {'last success':>12} {'next due':>9} {'errors':>6}"
            "  last error"
        )
    for spec in specs:
        state = states[spec.id]
        health = "new" if state.last_fetch is None else feed_health(state.error_count, bounds)
        row = {
            "feed": spec.id,
            "health": health,
            "url": state.url or spec.url,
            "last_success": state.last_success,
            "last_fetch": state.last_fetch,
            "last_status": state.last_status,
            "next_due": state.next_due or None,
            "interval": state.interval,
            "error_count": state.error_count,
            "error_kind": state.error_kind,
            "last_error": state.last_error,
            "redirect_candidate": state.redirect_candidate,
        }
        if as_json:
            click.echo(orjson.dumps(row).decode())
            continue
        error = f"{state.error_kind}: {state.last_error}" if state.error_kind else ""
        click.echo(
            f"{spec.id:<24} {health:<11} {_ago(state.last_success, now):>12}"
            f" {_until(state.next_due, now):>9} {state.error_count:>6}  {error[:60]}"
        )


@feeds.command()
@click.argument("source")
@click.option("--feed-id", default="cli", show_default=True)
@click.option("--lang", help="Declared language.")
@click.pass_context
def parse(ctx: click.Context, source: str, feed_id: str, lang: str | None) -> None:
    """Print the articles a feed FILE or URL yields, as JSON lines (nothing is published)."""
    from newswatch.streams.poller.parser import FeedParseError, parse_feed

    settings = settings_from(ctx)
    content_type = base_url = None
    if source.startswith(("http://", "https://")):
        body, content_type, base_url = asyncio.run(_download(settings, source))
    else:
        try:
            body = Path(source).read_bytes()
        except OSError as exc:
            raise click.ClickException(f"{source}: {exc.strerror or exc}") from None
    try:
        parsed = parse_feed(
            body,
            feed_id=feed_id,
            feed_name=feed_id,
            declared_lang=lang,
            content_type=content_type,
            base_url=base_url,
            max_entries=settings.poller.max_entries_per_poll,
        )
    except FeedParseError as exc:  # the only exception parse_feed raises, whatever the body
        raise click.ClickException(f"{source}: {exc}") from None
    if parsed.bozo:
        click.echo(f"warning: malformed but usable: {parsed.bozo}", err=True)
    if parsed.over_limit:
        click.echo(
            f"warning: {parsed.over_limit} older entries over the limit of"
            f" {settings.poller.max_entries_per_poll} (poller.max_entries_per_poll) left out",
            err=True,
        )
    out = sys.stdout.buffer
    for entry in parsed.entries:
        out.write(orjson.dumps(entry.article) + b"\n")
    out.flush()


async def _download(settings, url: str) -> tuple[bytes, str | None, str]:
    from newswatch.streams.poller.fetcher import FetchError, fetch, make_session

    async with make_session(settings.poller) as session:
        try:
            result = await fetch(session, url, settings.poller)
        except FetchError as exc:
            raise click.ClickException(f"{url}: {exc.kind}: {exc}") from None
    return result.body or b"", result.content_type, result.url


def _refused(settings, urls: list[str]) -> dict[str, str]:
    """URL -> the SSRF guard's refusal, for URLs whose host resolves to refused addresses only
    (the poller would refuse them at every poll). A DNS lookup only: nothing is fetched."""
    from newswatch.streams.netguard import AddressPolicy, check_url

    policy = AddressPolicy.from_settings("poller", settings.poller)

    async def check_all() -> list[str | None]:
        slots = asyncio.Semaphore(32)

        async def one(url: str) -> str | None:
            async with slots:
                return await check_url(url, policy)

        return await asyncio.gather(*(one(url) for url in urls))

    results = asyncio.run(check_all()) if urls else []
    return {url: reason for url, reason in zip(urls, results, strict=True) if reason}


def _ago(when: float | None, now: float) -> str:
    return "never" if not when else _span(now - when) + " ago"


def _until(when: float | None, now: float) -> str:
    if not when:
        return "now"
    return "now" if when <= now else "in " + _span(when - now)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


COMMANDS = (feeds,)


def _publish(ctx: click.Context, changed: list[FeedSpec], removed: list[str]) -> None:
    """With sharded pollers, also publish the change to the feeds topic (the pollers' list)."""
    settings = settings_from(ctx)
    if not settings.poller.sharding or not (changed or removed):
        return
    if not settings.kafka_servers:
        raise click.ClickException(
            "poller.sharding is on but kafka_servers is not configured: the feeds file was "
            "changed, the pollers' feeds topic was not"
        )
    from newswatch.streams.poller.sharding import publish_feeds

    count = asyncio.run(publish_feeds(settings, changed, removed))
    click.echo(f"published {count} change(s) to {settings.topic('feeds')}")
