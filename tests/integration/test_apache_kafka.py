"""Apache Kafka 4.x (KRaft) from the `apache_kafka` fixture: round trip, group commits, Faust."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_round_trip(apache_kafka) -> None:
    topic = _name("fixture-check")
    producer = AIOKafkaProducer(
        bootstrap_servers=apache_kafka.bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    assert meta.offset == 0
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=apache_kafka.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value, record.partition) == (b"k", b"hello", meta.partition)


async def test_auto_created_topics_get_four_partitions(apache_kafka) -> None:
    topic = _name("auto-created")
    producer = AIOKafkaProducer(bootstrap_servers=apache_kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"x")
        assert len(await producer.partitions_for(topic)) == 4
    finally:
        await producer.stop()


async def test_consumer_group_commit_survives_a_restart(apache_kafka) -> None:
    """A committed offset is where the next member of the group resumes."""
    topic, group = _name("group-check"), _name("group")
    admin = AIOKafkaAdminClient(bootstrap_servers=apache_kafka.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=apache_kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send(topic, str(i).encode())
        await producer.flush()
    finally:
        await producer.stop()

    def member() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=apache_kafka.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    first = member()
    await first.start()
    try:
        seen = [int((await first.getone()).value) for _ in range(4)]
        await first.commit()
        committed = await first.committed(TopicPartition(topic, 0))
    finally:
        await first.stop()
    assert (seen, committed) == ([0, 1, 2, 3], 4)

    second = member()
    await second.start()
    try:
        resumed = int((await second.getone()).value)
    finally:
        await second.stop()
    assert resumed == 4


# --- Faust (faust-streaming 0.15 + aiokafka 0.14) against the broker ---------------------------

PROBE = Path(__file__).resolve().parents[1] / "kafka" / "faust_probe.py"
#: The group settings the worker uses (agents/app.py TUNED): Tansu holds a first JoinGroup for
#: half the session timeout, so Faust's default 60 s session costs 30 s before the first event.
GROUP_SETTINGS = ("broker_session_timeout", "broker_heartbeat_interval", "broker_rebalance_timeout")


@dataclass
class FaustRun:
    values: list[str]
    agent_started_s: float  # from launching the worker process
    first_event_s: float
    exit_code: int | None


async def run_faust_probe(
    bootstrap: str, tmp_path: Path, settings: dict[str, Any], events: int = 10
) -> FaustRun:
    """Produce `events` records, start a one-agent Faust worker, wait until it saw them all."""
    topic = _name("faust-in")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(events):
            await producer.send(topic, str(i).encode())
        await producer.flush()
    finally:
        await producer.stop()

    log_path = tmp_path / "faust-worker.log"
    env = {
        **os.environ,
        "PROBE_BROKER": bootstrap,
        "PROBE_APP_ID": _name("faust-probe"),
        "PROBE_TOPIC": topic,
        "PROBE_SETTINGS": json.dumps(settings),
    }
    values: list[str] = []
    started = first = -1.0
    with open(log_path, "wb") as log:
        began = time.time()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(PROBE), "worker", "--without-web", "-l", "info",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=log, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with asyncio.timeout(90):
                assert proc.stdout is not None
                while len(values) < events:
                    line = (await proc.stdout.readline()).decode()
                    if not line:
                        break
                    word, *rest = line.split()
                    if word == "started":
                        started = float(rest[-1]) - began
                    elif word == "event":
                        values.append(rest[0])
                        first = float(rest[-1]) - began if first < 0 else first
        except TimeoutError:
            pass
        finally:
            if proc.returncode is None:
                proc.terminate()
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
    run = FaustRun(values, started, first, proc.returncode)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
    assert values == [str(i) for i in range(events)], f"{run}\nworker log tail:\n{tail}"
    return run


@pytest.mark.slow
async def test_faust_agent_on_apache_kafka_with_default_settings(
    apache_kafka, tmp_path: Path, record_property
) -> None:
    run = await run_faust_probe(apache_kafka.bootstrap, tmp_path, settings={})
    record_property("first_event_s", round(run.first_event_s, 2))
    assert run.exit_code == 0


@pytest.mark.slow
async def test_faust_agent_on_tansu_starts_fast_with_tuned_group_settings(
    tansu, tmp_path: Path, record_property
) -> None:
    """With Faust's default 60 s session the first event comes after >30 s on Tansu."""
    from newswatch.agents.app import TUNED

    run = await run_faust_probe(
        tansu.bootstrap, tmp_path, settings={key: TUNED[key] for key in GROUP_SETTINGS}
    )
    record_property("first_event_s", round(run.first_event_s, 2))
    assert run.first_event_s < 20, run
    assert run.exit_code == 0
