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
    from newswatch.streams import endpoints
    from newswatch.streams.embedded import ensure_private_dir
    from newswatch.streams.supervisor import Supervisor

    settings = settings_from(ctx)
    ensure_private_dir(settings.state_dir)
    try:
        running = endpoints.read(settings.state_dir)
    except endpoints.EndpointsError:
        running = None  # unreadable: ours replaces it
    if running is not None and running.alive():
        # Two `up`s on one state directory would share the embedded Redis's data files.
        raise click.ClickException(
            f"newswatch up already runs with this state directory (pid {running.pid}, page "
            f"{running.page_url}); stop it first or set NEWSWATCH_STATE_DIR"
        )
    config_file = ctx.find_root().obj.config_file
    code = asyncio.run(Supervisor(settings, demo=demo, config_file=config_file).run())
    sys.exit(code)


COMMANDS = (up,)
