"""The stall watchdog resumes a consumer flow left stopped on a ready worker, and only then."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from newswatch.agents import web
from newswatch.agents.metrics import FLOW_RESUMED


class _Consumer:
    def __init__(self) -> None:
        self.flow_active = True
        self.assigned = {"tp"}

    def assignment(self) -> set[str]:
        return self.assigned

    def resume_flow(self) -> None:
        self.flow_active = True


def _app(*, rebalancing: bool = False, recovered: bool = True) -> SimpleNamespace:
    completed = asyncio.Event()
    if recovered:
        completed.set()
    recovery = SimpleNamespace(completed=completed)
    return SimpleNamespace(
        consumer=_Consumer(), rebalancing=rebalancing, tables=SimpleNamespace(recovery=recovery)
    )


def test_a_ready_worker_with_a_stopped_flow_is_resumed_after_three_checks() -> None:
    app = _app()
    app.consumer.flow_active = False
    stalled = [0]
    before = FLOW_RESUMED._value.get()
    assert [web.check_flow(app, stalled) for _ in range(3)] == [False, False, True]  # type: ignore[arg-type]
    assert app.consumer.flow_active
    assert FLOW_RESUMED._value.get() == before + 1


def test_a_flow_stopped_during_a_rebalance_or_recovery_is_left_alone() -> None:
    for app in (_app(rebalancing=True), _app(recovered=False)):
        app.consumer.flow_active = False
        stalled = [0]
        assert not any(web.check_flow(app, stalled) for _ in range(10))  # type: ignore[arg-type]
        assert not app.consumer.flow_active


def test_a_flow_that_resumes_by_itself_resets_the_count() -> None:
    app = _app()
    stalled = [0]
    app.consumer.flow_active = False
    web.check_flow(app, stalled)  # type: ignore[arg-type]
    web.check_flow(app, stalled)  # type: ignore[arg-type]
    app.consumer.flow_active = True  # Faust resumed it
    assert not web.check_flow(app, stalled)  # type: ignore[arg-type]
    app.consumer.flow_active = False
    assert [web.check_flow(app, stalled) for _ in range(3)] == [False, False, True]  # type: ignore[arg-type]
