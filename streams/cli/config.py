"""`newswatch check-config`: print the effective configuration, secrets masked."""

from __future__ import annotations

import click
import yaml

from newswatch.streams.cli import settings_from


@click.command("check-config")
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the configuration and print it with secrets masked.

    Exits 2 with a message naming the bad key when the configuration is invalid.
    """
    settings = settings_from(ctx)
    click.echo(yaml.safe_dump(settings.masked(), sort_keys=False, allow_unicode=True), nl=False)


COMMANDS = (check_config,)
