"""Tripwires for every private Faust/aiokafka name `newswatch.agents.app` overrides or relies on.

`agents/app.py` changes Faust's consumer in four places (fetch wait, back-pressure nap,
offset-gap logging, the seek during recovery) and bounds the worker's shutdown. Each of those
overrides a private method; an upgrade that renames, re-signs or rewrites one would silently
turn a fix off. The tests below read the installed Faust and aiokafka and fail loudly, naming
the fix to review. The seek fix (fix 3) has its own, finer tests in test_consumer_fix.py.
See docs/faust-notes.md for each fix and the upstream threads.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import faust
import mode
import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers import aiokafka as driver

from newswatch.agents import app as worker_app

#: The minor versions the overrides were written against; pyproject.toml bounds the same.
TESTED = {"faust-streaming": "0.15", "aiokafka": "0.14", "mode-streaming": "0.7"}


@pytest.mark.parametrize("package", sorted(TESTED))
def test_installed_versions_are_the_tested_ones(package: str) -> None:
    installed = ".".join(version(package).split(".")[:2])
    assert installed == TESTED[package], (
        f"{package} {version(package)} is installed; agents/app.py was checked against "
        f"{TESTED[package]}.x: re-read docs/faust-notes.md, then update TESTED and pyproject.toml"
    )


def _params(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


def _source(func: object) -> str:
    return inspect.getsource(func)  # type: ignore[arg-type]


def test_fix1_fetch_wait_is_read_from_the_private_attribute() -> None:
    """Fix 1: Faust hard-codes fetch_max_wait_ms=1500; aiokafka's start() reads the attribute
    we overwrite after construction."""
    assert "fetch_max_wait_ms=1500" in _source(
        driver.AIOKafkaConsumerThread._create_worker_consumer
    ), "Faust's fetch wait changed: review fix 1 (it may now be a setting)"
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in _source(AIOKafkaConsumer.start), (
        "aiokafka no longer reads _fetch_max_wait_ms in start(): fix 1 is silently off"
    )
    assert _params(driver.AIOKafkaConsumerThread._create_worker_consumer) == ["self", "transport"]
    assert _params(driver.Consumer._new_consumer_thread) == ["self"]


def test_fix2_back_pressure_nap_is_still_a_one_second_sleep() -> None:
    """Fix 2: Faust sleeps 1 s when every partition is paused; we wait for a buffer drop."""
    source = _source(FaustConsumer._wait_next_records)
    assert "await self.sleep(1)" in source, "Faust's back-pressure nap changed: review fix 2"
    assert _params(FaustConsumer._wait_next_records) == ["self", "timeout"]
    for hook in ("on_buffer_full", "on_buffer_drop"):
        assert _params(getattr(FaustConsumer, hook)) == ["self", "tp"], hook
    for name in ("_active_partitions", "_buffered_partitions", "flow_active"):
        assert name in inspect.getsource(FaustConsumer), f"Faust lost {name}: review fix 2"


def test_fix3_fetch_and_gap_hooks_keep_their_signatures() -> None:
    assert _params(driver.Consumer._getmany) == ["self", "active_partitions", "timeout"]
    assert _params(FaustConsumer._add_gap) == ["self", "tp", "offset_from", "offset_to"]
    assert _params(FaustConsumer.perform_seek) == ["self"]
    assert "self._add_gap(" in inspect.getsource(FaustConsumer), "gap handling moved"


def test_transport_and_app_hooks() -> None:
    """The app swaps in our Transport through App._new_transport; the transport exposes its
    consumer class as the `Consumer` attribute."""
    assert _params(faust.App._new_transport) == ["self"]
    assert "Consumer" in vars(driver.Transport), "driver.Transport.Consumer moved"
    assert issubclass(worker_app.Transport, driver.Transport)
    assert worker_app.Transport.Consumer is worker_app.Consumer


def test_web_server_hooks() -> None:
    """The newsroom page mounts through App._new_web (our Web without Faust's production index
    at `/`) and App.on_webserver_init (called with the web server before it starts)."""
    from faust.web import base as web_base
    from faust.web.drivers import aiohttp as web_driver

    assert _params(faust.App._new_web) == ["self"]
    assert _params(faust.App.on_webserver_init) == ["self", "web"]
    assert "production_blueprints" in vars(web_base.Web), "Faust's index moved: review app.Web"
    assert ("", "faust.web.apps.production_index:blueprint") in web_base.Web.production_blueprints
    assert issubclass(worker_app.Web, web_driver.Web)
    assert worker_app.Web.production_blueprints == []
    assert "web_app" in inspect.getsource(web_driver.Web), "the aiohttp application moved"
    assert "self.app.on_webserver_init(self)" in inspect.getsource(web_base.Web)


def test_bounded_shutdown_hooks() -> None:
    """_Worker arms its exit timer in mode's _schedule_shutdown and reads _signal_stop_time."""
    assert _params(mode.Worker._schedule_shutdown) == ["self", "signal"]
    assert "_signal_stop_time" in inspect.getsource(mode.Worker), (
        "mode.Worker no longer tracks _signal_stop_time: review app._Worker"
    )


def test_every_override_is_covered_here() -> None:
    """A new override in agents/app.py must get a tripwire: this list is the inventory."""
    covered = {
        "ConsumerThread": {"fetch_max_wait_ms", "_create_worker_consumer"},
        "Consumer": {
            "_buffer_drained",
            "_fetch_idle",
            "_seek_lock",
            "_new_consumer_thread",
            "_drained_event",
            "on_buffer_full",
            "on_buffer_drop",
            "_wait_next_records",
            "_getmany",
            "_idle_event",
            "_add_gap",
            "perform_seek",
        },
        "Transport": {"Consumer"},
        "NewswatchApp": {"_new_transport", "_new_web", "on_webserver_init"},
        "Web": {"production_blueprints"},
        "_Worker": {"_schedule_shutdown", "_force_exit"},
    }
    for name, members in covered.items():
        cls = getattr(worker_app, name)
        own = {
            k
            for k in vars(cls)
            if not (k.startswith("__") and k.endswith("__")) and k not in ("_abc_impl", "logger")
        }
        assert own == members, f"{name} overrides changed: {sorted(own ^ members)}"
