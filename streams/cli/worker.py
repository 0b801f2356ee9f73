"""`newswatch worker`: the Faust worker (tag, alert, spikes, Redis sink, webhook sink agents)."""

from __future__ import annotations

import sys

import click

from newswatch.streams.cli import settings_from


@click.command("worker")
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the stream-processing worker until SIGTERM/SIGINT (exit code 0 on a clean stop).

    Reads articles from Kafka, tags them, raises alerts by the rules and writes the alerts to
    Redis and the webhook outbox. Serves the newsroom page at /, /metrics, /healthz, /readyz
    and /api/* on NEWSWATCH_WEB_HOST:NEWSWATCH_WEB_PORT.
    """
    from newswatch.agents.app import run_worker

    settings = settings_from(ctx)
    sys.exit(run_worker(settings))


COMMANDS = (worker,)
