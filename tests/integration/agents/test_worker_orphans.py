"""A stopped or killed `newswatch worker` leaves no process behind.

The worker's descendants are the tag agent's spawned child (agents/tagpool.py) and
multiprocessing's `resource_tracker`. The child leaves when it is orphaned (it watches its
parent), and the tracker when the last holder of its pipe is gone. The test records the
descendants from /proc while they run, stops the worker and asserts none survives it for long
(the same check as tests/integration/streams/poller/test_poller_orphans.py for the poller).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import cmdline, descendants, kill_all, survivors
from tests.support.worker import WorkerHarness

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc"),
]

GONE_WITHIN = 10.0  # seconds: the tag child checks its parent every second


@pytest.fixture
def harness(tansu, redis_url: str, tmp_path: Path) -> Iterator[WorkerHarness]:
    h = WorkerHarness(tansu.bootstrap, redis_url, tmp_path / "state")
    yield h
    h.stop()


async def tag_child_started(harness: WorkerHarness) -> set[int]:
    """The worker's descendants once its tag child runs."""
    assert harness.daemon.proc is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = descendants(harness.daemon.proc.pid)
        if any("multiprocessing.spawn" in cmdline(pid) for pid in found):
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"no tag child started:\n{harness.log()}")


@pytest.mark.parametrize("stop", ["kill -9", "kill -9 while the child starts", "SIGTERM"])
async def test_worker_leaves_no_process_behind(stop: str, harness: WorkerHarness) -> None:
    await harness.create_topics()
    harness.start()
    if stop != "kill -9 while the child starts":
        await harness.wait_ready()
    # Otherwise killed the moment the child exists, before its imports are done: it must not
    # take whoever adopted it for the worker (it once did, and stayed for good).
    before = await tag_child_started(harness)
    if stop == "SIGTERM":
        assert harness.terminate(60) == 0, harness.log()
    else:
        harness.kill9()
    left = await survivors(before, GONE_WITHIN)
    kill_all(left)
    assert left == {}, (left, harness.log())
