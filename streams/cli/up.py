"""`newswatch up`: run the whole pipeline in one supervised process tree."""

from __future__ import annotations

import asyncio
import sys

import click

from newswatch.streams.cli import settings_from


@click.command("up")
@click.option(
    "--demo",
    is_flag=True,
    help="Also serve the bundled sample feeds from a local HTTP server and poll them.",
)
@click.pass_context
def up(ctx: click.Context, demo: bool) -> None:
    """Start broker and Redis if none are configured, then the worker and the poller.

    Without NEWSWATCH_KAFKA_SERVERS an embedded Tansu broker is started (memory only); without
    NEWSWATCH_REDIS_URL a local redis-server with its data in the state directory (mode
    0700), protected by a random password kept there in `redis.password` (mode 0600).
    """
    from newswatch.streams.embedded import ensure_private_dir
    from newswatch.streams.supervisor import Supervisor

    settings = settings_from(ctx)
    ensure_private_dir(settings.state_dir)
    config_file = ctx.find_root().obj.config_file
    code = asyncio.run(Supervisor(settings, demo=demo, config_file=config_file).run())
    sys.exit(code)


COMMANDS = (up,)
