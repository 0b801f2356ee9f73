"""Print new alerts on stdout as they arrive (`newswatch up --demo`), in the format of
`newswatch alerts tail`, after a line with the URL of the newsroom page."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TextIO

from redis.exceptions import RedisError

from newswatch.streams.names import display_names
from newswatch.streams.records import Alert, RecordError
from newswatch.streams.settings import Settings
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.redis_client import make_redis

log = logging.getLogger(__name__)

BLOCK_MS = 2_000


async def follow_alerts(settings: Settings, page_url: str, out: TextIO | None = None) -> None:
    """Follow `newswatch:alerts` from now on until cancelled; Redis errors are retried."""
    from newswatch.streams.cli.alerts import format_alert

    out = out or sys.stdout
    colour = out.isatty()
    names = display_names(settings.catalogue_dir)
    print(
        f"newsroom: {page_url}  — alerts appear below as they arrive"
        " (also: `newswatch alerts tail` in another terminal; Ctrl-C stops)",
        file=out,
        flush=True,
    )
    client = make_redis(settings, socket_timeout=None)
    last_id = "$"
    hinted = False
    try:
        while True:
            try:
                response = await client.xread({keys.STREAM: last_id}, block=BLOCK_MS, count=100)
            except RedisError as exc:
                log.warning("alert printer: Redis unavailable (%r); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            for _, entries in response or ():
                for entry_id, fields in entries:
                    last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    try:
                        alert = Alert.loads(fields.get(b"data", b""))
                    except RecordError as exc:
                        log.warning("alert printer: stream entry %s: %s", last_id, exc)
                        continue
                    print(format_alert(alert, colour, names), file=out)
                if not hinted:  # once, under the first alerts
                    print(f"  (read them on the page: {page_url})", file=out)
                    hinted = True
                out.flush()
    finally:
        await client.aclose()
