"""`agents.app.Consumer.perform_seek` stops the flow and leaves it stopped: that is only safe
while every Faust caller that runs with the flow active empties the stream buffers and resumes
the flow right after the seek. These tests pin that contract to the installed Faust, so an
upgrade that changes it fails here instead of stalling or losing records in production."""

from __future__ import annotations

import inspect
import re

import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer as FaustConsumer

from newswatch.agents import app as worker_app


def _calls(func: object) -> list[str]:
    source = inspect.getsource(func)  # type: ignore[arg-type]
    return re.findall(r"perform_seek|flow_control\.resume|resume_flow", source)


@pytest.mark.parametrize("method", ["_resume_streams", "on_recovery_completed"])
def test_recovery_resumes_the_flow_after_seeking(method: str) -> None:
    calls = _calls(getattr(Recovery, method))
    assert "perform_seek" in calls, f"Recovery.{method} no longer seeks: review fix 3"
    after = calls[calls.index("perform_seek") + 1 :]
    assert after[:2] == ["flow_control.resume", "resume_flow"], (
        f"Recovery.{method} must clear the buffers and resume the flow after the seek: {calls}"
    )


def test_only_known_callers_seek() -> None:
    """Any other caller of perform_seek must run with the flow already stopped."""
    import faust

    callers = []
    for module in (
        faust.tables.recovery,
        faust.transport.consumer,
        faust.app.base,
        faust.transport.drivers.aiokafka,
    ):
        for line in inspect.getsource(module).splitlines():
            if "perform_seek()" in line and "def " not in line:
                callers.append((module.__name__, line.strip()))
    assert len(callers) == 3, callers  # the two recovery paths + getmany with the flow stopped
    getmany = inspect.getsource(FaustConsumer.getmany)
    assert "getmany called while flow not active" in getmany


def test_our_consumer_is_the_transport_consumer() -> None:
    assert worker_app.Transport.Consumer is worker_app.Consumer
    assert "perform_seek" in vars(worker_app.Consumer)
    assert "_getmany" in vars(worker_app.Consumer)
