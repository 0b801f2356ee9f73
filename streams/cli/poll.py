"""`newswatch poll`: the feed poller process."""

from __future__ import annotations

import asyncio

import click

from newswatch.streams.cli import settings_from
from newswatch.streams.poller.feeds import FeedsFileError


@click.command()
@click.pass_context
def poll(ctx: click.Context) -> None:
    """Poll the feeds and publish new articles to Kafka until SIGTERM/SIGINT."""
    settings = settings_from(ctx)
    from newswatch.streams.poller.service import PollerStartError, run_poller

    try:
        asyncio.run(run_poller(settings))
    except (FeedsFileError, PollerStartError) as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = (poll,)
