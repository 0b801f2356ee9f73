"""A killed poller leaves no process behind.

The parse pool's `forkserver`, the parse workers it forks and multiprocessing's
`resource_tracker` are the poller's descendants. Before the fix a `kill -9` of `newswatch
poll` left all three running for good (they kept each other alive: see
`streams/procpool.py`, `leave_forkserver`). Each test records the descendants from /proc
while they run, stops the owner and asserts that none of them survives it for long.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from newswatch.streams.embedded import free_port
from tests.support.environment import ROOT
from tests.support.feeds import FeedServer, rss
from tests.support.processes import cmdline, descendants, kill_all, survivors

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; the fix is Linux only"),
]

GONE_WITHIN = 10.0  # seconds: the parse workers die with the forkserver, the tracker after them


def parse_workers(pid: int) -> set[int]:
    """The forkserver's children among `pid`'s descendants: the parse workers."""
    found = set()
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[-1].split()[1])
        except OSError:
            continue
        if parent != pid and "multiprocessing.forkserver" in cmdline(parent):
            found.add(child)
    return found


async def wait_for_workers(proc: subprocess.Popen, count: int, log: Path) -> set[int]:
    """The poller's descendants once its parse pool has `count` workers (it starts them at the
    first document)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        if len(parse_workers(proc.pid)) >= count:
            return descendants(proc.pid)
        await asyncio.sleep(0.2)
    raise AssertionError("no parse workers started:\n" + log.read_text(errors="replace")[-3000:])


def describe(pids: set[int]) -> list[str]:
    return sorted(cmdline(pid)[:90] for pid in pids)


# -- a real `newswatch poll` --------------------------------------------------------------------


def start_poll(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "newswatch.streams.cli", "poll"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("poller not ready:\n" + log.read_text(errors="replace")[-3000:])


@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
async def test_poll_leaves_no_process_behind(
    stop: str, tansu, redis_url: str, feed_server: FeedServer, tmp_path: Path
) -> None:
    feeds = 4
    for i in range(feeds):
        feed_server.static(f"/f{i}.xml", rss([(f"f{i}-1", f"item of feed {i}")]))
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{id: f{i}, url: '{feed_server.url(f'/f{i}.xml')}'}}\n" for i in range(feeds)
        )
    )
    web_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")},
        "NEWSWATCH_KAFKA_SERVERS": tansu.bootstrap,
        "NEWSWATCH_REDIS_URL": redis_url,
        "NEWSWATCH_FEEDS_FILE": str(feeds_file),
        "NEWSWATCH_TOPIC_PREFIX": "orphans-" + uuid.uuid4().hex[:8],
        "NEWSWATCH_WEB_PORT": str(web_port),
        "NEWSWATCH_POLLER__MIN_INTERVAL": "0.5",
        "NEWSWATCH_POLLER__DEFAULT_INTERVAL": "0.5",
        "NEWSWATCH_POLLER__START_JITTER": "0",
        "NEWSWATCH_POLLER__PARSE_WORKERS": "2",
        "NEWSWATCH_POLLER__ALLOWED_NETWORKS": "127.0.0.1/32",  # SSRF guard: the feed server only
    }
    log = tmp_path / "poller.log"
    proc = start_poll(env, log)
    try:
        await wait_ready(web_port, proc, log)
        before = await wait_for_workers(proc, 2, log)
        # the forkserver, its two parse workers and the resource tracker
        assert len(before) >= 4, describe(before)
        if stop == "kill -9":
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        else:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text(errors="replace")[-3000:]
        left = await survivors(before, GONE_WITHIN)
        kill_all(left)
        assert left == {}, (left, log.read_text(errors="replace")[-2000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# -- the parse pool alone, with a worker wedged at the moment of the kill -----------------------

OWNER = textwrap.dedent(
    """
    import asyncio, sys

    from tests.support.feeds import rss
    from tests.support.hostile_parse import misbehaving_parse

    from newswatch.streams.poller.fetcher import FetchResult
    from newswatch.streams.poller.feeds import FeedSpec
    from newswatch.streams.poller.parsepool import ParsePool
    from newswatch.streams.poller.parser import FeedParseError

    SPEC = FeedSpec(id="f", url="http://127.0.0.1/f.xml")
    RESULT = FetchResult(status=200, url="http://127.0.0.1/f.xml", body=None)


    async def main(mode: str) -> None:
        pool = ParsePool(2, timeout=2.0, target=misbehaving_parse)
        good = rss([("g1", "fine")])
        assert (await pool.parse(good, SPEC, RESULT, 0.0)).entries
        try:  # a wedged worker: the pool is replaced, the new one works
            await pool.parse(b"hang", SPEC, RESULT, 0.0)
            raise AssertionError("the hanging parse returned")
        except FeedParseError:
            pass
        assert (await pool.parse(good, SPEC, RESULT, 0.0)).entries
        pool.timeout = 3600.0
        wedged = asyncio.create_task(pool.parse(b"hang", SPEC, RESULT, 0.0))
        await asyncio.gather(*(pool.parse(good, SPEC, RESULT, 0.0) for _ in range(4)))
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the test has seen the processes
        if mode == "close":
            pool.close()
            wedged.cancel()
            return
        await asyncio.sleep(3600)


    if __name__ == "__main__":
        asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.parametrize("stop", ["kill -9", "close"])
async def test_parse_pool_owner_leaves_no_process_behind(stop: str, tmp_path: Path) -> None:
    """After the pool replaced a wedged worker, with another worker wedged in a document when
    the owner goes: a `kill -9` of the owner or its orderly `close()` and exit leaves nothing."""
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    log = tmp_path / "owner.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # `tests.support`, for misbehaving_parse
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script), "close" if stop == "close" else "wait"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while "ready" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            await asyncio.sleep(0.1)
        before = descendants(proc.pid)
        assert len(parse_workers(proc.pid)) == 2, describe(before)
        if stop == "kill -9":
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        else:
            assert proc.stdin is not None
            proc.stdin.write(b"close\n")
            proc.stdin.flush()
            assert proc.wait(60) == 0, log.read_text(errors="replace")
        left = await survivors(before, GONE_WITHIN)
        kill_all(left)
        assert left == {}, (left, log.read_text(errors="replace"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdin is not None:
            proc.stdin.close()
