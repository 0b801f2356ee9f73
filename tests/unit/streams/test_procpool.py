"""ReplaceablePool (streams/procpool.py): replaced once per failure, old workers killed."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

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
