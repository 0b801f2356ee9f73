"""Kafka client plumbing shared by the poller, the CLI and tests (not by Faust agents).

One place turns settings into aiokafka keyword arguments (servers, SASL/SSL) and creates the
topic table, so every producer and admin client speaks to the cluster the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from newswatch.streams.settings import Settings
from newswatch.streams.topics import topic_configs, topic_names

log = logging.getLogger(__name__)


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka connection options from settings (bootstrap servers, SASL, SSL)."""
    if not settings.kafka_servers:
        raise ValueError("kafka_servers: not configured (set NEWSWATCH_KAFKA_SERVERS)")
    sec = settings.kafka_security
    kwargs: dict[str, Any] = {
        "bootstrap_servers": ",".join(settings.kafka_servers),
        "security_protocol": sec.protocol,
    }
    if sec.protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=str(sec.ssl_cafile) if sec.ssl_cafile else None)
        if sec.ssl_certfile:
            context.load_cert_chain(
                str(sec.ssl_certfile), str(sec.ssl_keyfile) if sec.ssl_keyfile else None
            )
        kwargs["ssl_context"] = context
    if sec.protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = sec.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = sec.sasl_username
        kwargs["sasl_plain_password"] = (
            sec.sasl_password.get_secret_value() if sec.sasl_password else None
        )
    return kwargs


async def supports_idempotence(settings: Settings, timeout: float = 10.0) -> bool:
    """Does the cluster hand out producer ids? Asks one broker with an InitProducerId request.

    Probing first, instead of starting an idempotent producer and falling back when it fails,
    keeps a healthy start quiet: aiokafka logs the broker's refusal at ERROR level before it
    raises (Tansu's memory storage answers InitProducerId with UNKNOWN). A broker that cannot
    be asked counts as supporting it: the producer's own start then reports the real error.
    """
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.transaction import InitProducerIdRequest

    client = AIOKafkaClient(**client_kwargs(settings), request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        node = client.get_random_node()
        response = await asyncio.wait_for(
            client.send(node, InitProducerIdRequest(None, 60_000)), timeout
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        log.debug("idempotence probe inconclusive: %r", exc)
        return True
    finally:
        await client.close()
    return response.error_code == 0


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer (acks=all) with large batches; the caller starts and stops it."""
    options: dict[str, Any] = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "request_timeout_ms": 30_000,
        "client_id": f"{settings.app_id}-producer",
    }
    options.update(overrides)
    return AIOKafkaProducer(**client_kwargs(settings), **options)


def story_input_topic(settings: Settings) -> str:
    """The stories agent's one-partition input (agents/story_agent.py), named by app id: each
    worker group forwards its own tagged articles."""
    return f"{settings.app_id}-story-input"


async def ensure_topics(settings: Settings, *, timeout: float = 30.0) -> None:
    """Create the topic table (idempotent). Retries until the broker answers or `timeout`.

    Also the stories agent's input topic, with its single partition: created before the worker
    joins its group, or the first assignment would leave it out (Apache Kafka) and the stories
    agent would get no partition until the next rebalance."""
    names = topic_names(settings)
    configs = topic_configs()
    partitions = {name: settings.topic_partitions for name in names}
    if settings.stories.enabled:
        names["story-input"] = story_input_topic(settings)
        partitions["story-input"] = 1
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(**client_kwargs(settings), request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(
                    name,
                    partitions[short],
                    settings.topic_replication,
                    topic_configs=configs.get(short),
                )
                for short, name in names.items()
                if name not in existing
            ]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
                log.info("created topics %s", ", ".join(t.name for t in missing))
            return
        except KafkaError as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("waiting for Kafka at %s: %r", settings.kafka_servers, exc)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`, sorted, for a started consumer without a group (asks the
    broker again when the first metadata did not know the topic yet)."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]
