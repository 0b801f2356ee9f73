"""`newswatch webhooks`: endpoint status, re-enabling, dead letters (list, replay).

These commands only touch Redis; a running worker picks replayed deliveries up within a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import click
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from newswatch.streams.cli import client_settings_from
from newswatch.streams.settings import Settings
from newswatch.streams.sinks.redis_client import make_redis
from newswatch.streams.sinks.webhooks.dispatcher import make_outbox
from newswatch.streams.sinks.webhooks.outbox import PREFIX, Outbox

T = TypeVar("T")


def _run(settings: Settings, action: Callable[[Redis], Awaitable[T]]) -> T:
    async def main() -> T:
        redis = make_redis(settings)
        try:
            return await action(redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(main())
    except RedisError as exc:
        raise click.ClickException(f"redis: {exc}") from None


def _outbox(redis: Redis, settings: Settings, name: str) -> Outbox:
    return make_outbox(redis, settings, name)


async def _known_endpoints(redis: Redis, settings: Settings) -> list[str]:
    """Configured endpoints plus any that still have dead letters in Redis."""
    names = {endpoint.name for endpoint in settings.webhooks.endpoints}
    async for key in redis.scan_iter(match=f"{PREFIX}*:dead", count=500):
        text = key.decode() if isinstance(key, bytes) else key
        names.add(text[len(PREFIX) : -len(":dead")])
    return sorted(names)


def _configured(settings: Settings, name: str) -> None:
    if name not in {endpoint.name for endpoint in settings.webhooks.endpoints}:
        raise click.BadParameter(
            f"no endpoint named {name!r} in the configuration", param_hint="endpoint"
        )


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group("webhooks")
def webhooks() -> None:
    """Webhook endpoints and their dead letters."""


@webhooks.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Each endpoint: enabled or disabled, deliveries pending, dead letters, since when
    every delivery has failed (an endpoint is disabled after webhooks.disable_after_days),
    and since when its circuit is open (deliveries wait for a successful probe)."""
    settings = client_settings_from(ctx)

    async def action(redis: Redis) -> None:
        for name in await _known_endpoints(redis, settings):
            health = await _outbox(redis, settings, name).health()
            disabled = health.disabled
            state = "enabled" if disabled is None else f"DISABLED ({disabled.get('reason')})"
            line = f"{name}\t{state}\tpending={health.pending}\tdead={health.dead}"
            if health.failing_since is not None:
                line += f"\tfailing since {_when(health.failing_since)}"
            if health.circuit_opened is not None:
                line += (
                    f"\tcircuit open since {_when(health.circuit_opened)}"
                    f" ({health.probes} probes failed)"
                )
            click.echo(line)

    _run(settings, action)


@webhooks.command("enable")
@click.argument("endpoint")
@click.pass_context
def enable(ctx: click.Context, endpoint: str) -> None:
    """Re-enable ENDPOINT after it answered 410 Gone or failed for days.

    Its failing streak starts afresh. Deliveries dead-lettered while it was disabled stay
    dead letters: `newswatch webhooks dead-letters replay --endpoint ENDPOINT` sends them.
    """
    settings = client_settings_from(ctx)
    _configured(settings, endpoint)
    changed = _run(settings, lambda redis: _outbox(redis, settings, endpoint).enable())
    click.echo(f"{endpoint}: {'enabled' if changed else 'was not disabled'}")


@webhooks.group("dead-letters")
def dead_letters() -> None:
    """Deliveries that exhausted their retries or hit a disabled endpoint."""


@dead_letters.command("list")
@click.option("--endpoint", help="Only this endpoint.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, with the body.")
@click.pass_context
def list_dead(ctx: click.Context, endpoint: str | None, as_json: bool) -> None:
    """List dead letters, oldest first (expired ones are deleted first)."""
    settings = client_settings_from(ctx)

    async def action(redis: Redis) -> int:
        names = [endpoint] if endpoint else await _known_endpoints(redis, settings)
        total = 0
        for name in names:
            outbox = _outbox(redis, settings, name)
            await outbox.prune_dead()  # expired ones are gone even with no worker running
            for letter in await outbox.dead_letters():
                total += 1
                if as_json:
                    record = {
                        "endpoint": letter.endpoint,
                        "id": letter.id,
                        "reason": letter.reason,
                        "status": letter.status,
                        "attempts": letter.attempts,
                        "at": letter.at,
                        "body": orjson.loads(letter.body),
                    }
                    click.echo(orjson.dumps(record).decode())
                else:
                    click.echo(
                        f"{_when(letter.at)}\t{letter.endpoint}\t{letter.id}\t"
                        f"{letter.reason}\tattempts={letter.attempts}"
                    )
        return total

    total = _run(settings, action)
    if not as_json:
        click.echo(f"{total} dead letter(s)", err=True)


@dead_letters.command("replay")
@click.option("--endpoint", help="Only this endpoint (default: every configured endpoint).")
@click.option("--id", "alert_ids", multiple=True, help="Only this alert id (repeatable).")
@click.option("--enable", is_flag=True, help="Re-enable a disabled endpoint first.")
@click.pass_context
def replay(
    ctx: click.Context, endpoint: str | None, alert_ids: tuple[str, ...], enable: bool
) -> None:
    """Queue dead letters for delivery again (the schedule restarts from the first attempt)."""
    settings = client_settings_from(ctx)
    if endpoint:
        _configured(settings, endpoint)
    names = [endpoint] if endpoint else [e.name for e in settings.webhooks.endpoints]

    async def action(redis: Redis) -> list[tuple[str, int | None]]:
        results: list[tuple[str, int | None]] = []
        for name in names:
            outbox = _outbox(redis, settings, name)
            if await outbox.disabled() is not None:
                if not enable:
                    results.append((name, None))
                    continue
                await outbox.enable()
            results.append((name, await outbox.replay(list(alert_ids) or None)))
        return results

    failed = False
    for name, moved in _run(settings, action):
        if moved is None:
            failed = True
            click.echo(
                f"{name}: endpoint is disabled; run `newswatch webhooks enable {name}` or pass"
                " --enable",
                err=True,
            )
        else:
            click.echo(f"{name}: {moved} dead letter(s) queued again")
    if failed:
        ctx.exit(1)


@dead_letters.command("purge")
@click.option("--endpoint", help="Only this endpoint (default: every endpoint with dead letters).")
@click.option("--id", "alert_ids", multiple=True, help="Only this alert id (repeatable).")
@click.confirmation_option(prompt="Delete these dead letters for good?")
@click.pass_context
def purge(ctx: click.Context, endpoint: str | None, alert_ids: tuple[str, ...]) -> None:
    """Delete dead letters for good."""
    settings = client_settings_from(ctx)

    async def action(redis: Redis) -> list[tuple[str, int]]:
        names = [endpoint] if endpoint else await _known_endpoints(redis, settings)
        ids = list(alert_ids) if alert_ids else None
        return [(name, await _outbox(redis, settings, name).purge(ids)) for name in names]

    for name, removed in _run(settings, action):
        click.echo(f"{name}: {removed} dead letter(s) deleted")


COMMANDS = (webhooks,)
