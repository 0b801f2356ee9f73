"""`newswatch status`: what a local `newswatch up` runs and whether each part is healthy."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import aiohttp
import click

from newswatch.streams import endpoints
from newswatch.streams.cli import settings_from
from newswatch.streams.netguard import AddressPolicy, guarded_connector


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


#: `status` asks only the local `up`'s own processes (their addresses come from up.json): the
#: SSRF guard lets it reach loopback and nothing else.
LOCAL_ONLY = AddressPolicy(
    "status",
    allowed_networks=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")),
)


async def _http(name: str, url: str) -> Check:
    try:
        timeout = aiohttp.ClientTimeout(total=3)
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=guarded_connector(LOCAL_ONLY)) as s,
            s.get(url) as resp,
        ):
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Check(name, False, f"{url}: {exc.__class__.__name__}: {exc}".rstrip(": "))
    detail = body.get("detail") or body.get("status") if isinstance(body, dict) else ""
    return Check(name, resp.status == 200, f"{url} {resp.status} {detail}".strip())


async def _redis(url: str) -> Check:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from newswatch.streams.sinks import keys

    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
        count = await client.xlen(keys.STREAM)
    except (RedisError, OSError) as exc:
        return Check("redis", False, f"{_host(url)}: {exc}")
    finally:
        await client.aclose()
    return Check("redis", True, f"{_host(url)}, {count} alerts in the stream")


def _kafka(bootstrap: list[str]) -> Check:
    for server in bootstrap:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=3):
                return Check("kafka", True, f"{server} accepts connections")
        except OSError as exc:
            last = f"{server}: {exc.strerror or exc}"
    return Check("kafka", False, last if bootstrap else "no bootstrap servers")


def _host(url: str) -> str:
    return url.rsplit("@", 1)[-1]


async def run_checks(found: endpoints.Endpoints) -> list[Check]:
    host = found.web_host if found.web_host not in ("0.0.0.0", "::") else "127.0.0.1"
    checks = [
        _http("worker", f"http://{host}:{found.worker_port}/readyz"),
        _http("poller", f"http://{host}:{found.poller_port}/readyz"),
        _http("supervisor", f"http://{host}:{found.supervisor_port}/readyz"),
        _redis(found.redis_url),
    ]
    results = list(await asyncio.gather(*checks))
    results.append(await asyncio.to_thread(_kafka, found.kafka_bootstrap))
    return results


@click.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """What `newswatch up` runs here (from $NEWSWATCH_STATE_DIR/up.json) and its health.

    Exit code 0 when every part answers, 1 when one does not, 3 when `up` is not running."""
    settings = settings_from(ctx)
    path = endpoints.path_for(settings.state_dir)
    try:
        found = endpoints.read(settings.state_dir)
    except endpoints.EndpointsError as exc:
        raise click.ClickException(str(exc)) from None
    if found is None:
        click.echo(f"newswatch up is not running here (no {path})")
        ctx.exit(3)
    assert found is not None
    if not found.alive():
        click.echo(f"newswatch up is not running: {path} names pid {found.pid}, which is gone")
        ctx.exit(3)
    uptime = time.time() - found.started_at
    embedded = ", ".join(found.embedded) or "none"
    click.echo(
        f"newswatch up: pid {found.pid}, up {_duration(uptime)}"
        f"{', demo' if found.demo else ''}, embedded services: {embedded}"
    )
    click.echo(f"newsroom page: {found.page_url}")
    checks = asyncio.run(run_checks(found))
    width = max(len(check.name) for check in checks)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"  {mark} {check.name.ljust(width)}  {check.detail}")
    ctx.exit(0 if all(check.ok for check in checks) else 1)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


COMMANDS = (status,)
