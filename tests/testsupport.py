"""Helpers for tests: import them as `from testsupport import shared_path, unavailable`.

(Not `from conftest import …`: several folders have a conftest.py and the name is ambiguous.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    if IN_CI:
        pytest.fail(f"required service unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A path under ../shared/: absent, it skips with the reason, or fails under CI=true."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        unavailable(f"{path} not present (../shared/ lies beside the project root in dev and CI)")
    return path


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start `app` on a free 127.0.0.1 port; returns the runner (call `cleanup()`) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
