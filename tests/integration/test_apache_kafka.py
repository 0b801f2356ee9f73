"""Apache Kafka 4.x (KRaft) from the `apache_kafka` fixture: round trip, group commits, Faust."""

from __future__ import annotations

import uuid

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
