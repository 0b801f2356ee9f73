"""A parse target for ParsePool tests that misbehaves on purpose; it runs in the pool's worker
processes, which import this module by name when the first document arrives. It imports only
the parser (already loaded in a warmed-up worker), so that import does not count against the
parse timeout the tests measure."""

from __future__ import annotations

import os
import time

from newswatch.streams.poller.parser import ParsedFeed, parse_feed

HANG = "<!--hang-->"
DIE = "<!--die-->"
SLOW = "<!--slow-->"


def misbehaving_parse(body: bytes, **kwargs) -> ParsedFeed:
    """For ParsePool tests (runs in a worker): a body that is, or contains the marker, b"hang"
    sleeps for an hour, b"die" kills the worker; SLOW takes 0.3 s (keeps others queued)."""
    if body == b"hang" or HANG.encode() in body:
        time.sleep(3600)
    if body == b"die" or DIE.encode() in body:
        os._exit(1)
    if SLOW.encode() in body:
        time.sleep(0.3)
    return parse_feed(body, **kwargs)
