"""The `newswatch` command line.

The group loads the settings once (`--config`, `NEWSWATCH_*`) and hands them to every command
as `ctx.obj`. Each command lives in a module of this package named after it and lists its
click commands in a `COMMANDS` tuple.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import prometheus_client

from newswatch.streams.settings import ConfigError, Settings, load_settings


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"newswatch: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="NEWSWATCH_CONFIG",
    help="YAML or TOML config file (environment variables override it).",
)
@click.pass_context
def main(ctx: click.Context, config_file: Path | None) -> None:
    """newswatch: a streaming news monitor for the US-China AI race."""
    ctx.obj = _LazySettings(config_file)


class _LazySettings:
    """Settings loaded on first use, so `newswatch --help` works with a broken config."""

    def __init__(self, config_file: Path | None) -> None:
        self.config_file = config_file
        self._settings: Settings | None = None
        self.client_settings: Settings | None = None

    def get(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file)
            setup_logging(self._settings.log_level)
        return self._settings


def settings_from(ctx: click.Context) -> Settings:
    """The settings of this invocation (loaded once)."""
    return ctx.find_root().obj.get()


def client_settings_from(ctx: click.Context) -> Settings:
    """The settings of a client command: completed from a running `newswatch up`'s up.json
    when no Redis URL is configured, saying so in one line on stderr (once)."""
    from newswatch.streams.endpoints import with_endpoints

    holder = ctx.find_root().obj
    if getattr(holder, "client_settings", None) is None:
        settings, note = with_endpoints(settings_from(ctx))
        if note:
            click.echo(f"newswatch: {note}", err=True)
        holder.client_settings = settings
    return holder.client_settings


def setup_logging(level: str) -> None:
    # `*_created` series double every counter's cardinality and no dashboard reads them.
    prometheus_client.disable_created_metrics()
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )


# The command modules import `settings_from` from this package: import them after it exists.
from newswatch.streams.cli import (  # noqa: E402
    alerts,
    catalogue,
    config,
    feeds,
    poll,
    status,
    stories,
    tag,
    up,
    webhooks,
    worker,
)

for _module in (
    config, up, status, poll, worker, feeds, tag, catalogue, stories, alerts, webhooks,
):  # fmt: skip
    for _command in _module.COMMANDS:
        main.add_command(_command)
