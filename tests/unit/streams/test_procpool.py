"""ReplaceablePool (streams/procpool.py): replaced once per failure, old workers killed."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver

import pytest

from newswatch.streams import procpool
from newswatch.streams.procpool import ReplaceablePool


def _executor() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


def test_concurrent_failures_replace_the_pool_once() -> None:
    made: list[ProcessPoolExecutor] = []

    def factory() -> ProcessPoolExecutor:
        made.append(_executor())
        return made[-1]

    pools = ReplaceablePool(factory)
    try:
        failed = pools.current
        assert pools.replace(failed) is True
        assert pools.replace(failed) is False  # a second caller that saw the same failure
        assert len(made) == 2
        assert pools.current is made[1]
        assert pools.current.submit(abs, -3).result(timeout=120) == 3
    finally:
        pools.close()


def test_replacing_kills_a_wedged_worker() -> None:
    pools = ReplaceablePool(_executor)
    try:
        wedged = pools.current
        wedged.submit(time.sleep, 3_600)  # a worker a hostile input has wedged
        deadline = time.monotonic() + 120
        while not wedged._processes and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        (process,) = wedged._processes.values()  # type: ignore[attr-defined]
        assert pools.replace(wedged)
        process.join(timeout=120)
        # killed by a signal, not a clean exit after an hour
        assert process.exitcode is not None and process.exitcode < 0, process.exitcode
        assert pools.current.submit(abs, -1).result(timeout=120) == 1
    finally:
        pools.close()


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux only")
def test_exit_with_parent_arms_sigkill_on_parent_death() -> None:
    """In a fresh process (the setting is per process): PR_GET_PDEATHSIG reads back SIGKILL."""
    code = (
        "import ctypes, signal\n"
        "from newswatch.streams.procpool import exit_with_parent\n"
        "assert exit_with_parent() is True\n"
        "armed = ctypes.c_int()\n"
        "assert ctypes.CDLL(None).prctl(2, ctypes.byref(armed), 0, 0, 0) == 0\n"  # GET
        "print(armed.value == signal.SIGKILL)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stderr


def test_leave_forkserver_closes_the_inherited_alive_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)  # still open elsewhere: BlockingIOError, not a hang
    monkeypatch.setattr(forkserver._forkserver, "_forkserver_alive_fd", write_end)
    try:
        procpool.leave_forkserver()
        assert forkserver._forkserver._forkserver_alive_fd is None
        assert os.read(read_end, 1) == b""  # EOF: the only write end is closed
        procpool.leave_forkserver()  # nothing left to close: a no-op
    finally:
        os.close(read_end)
