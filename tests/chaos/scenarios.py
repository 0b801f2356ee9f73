"""The fault scenarios. Each is a coroutine `scenario(ctx)` that injects its faults through
`ctx.fault(label)` windows (which mark the plot and the report) while the feed server keeps
publishing; the runner then measures how long the pipeline takes to catch up after the last
fault was healed (`recovery_s`)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiokafka.admin import AIOKafkaAdminClient

from tests.chaos.pipeline import PREFIX, WORKER_SESSION_TIMEOUT

if TYPE_CHECKING:
    from tests.chaos.run import Chaos

Scenario = Callable[["Chaos"], Awaitable[None]]


async def _restart_worker(ctx: Chaos, worker) -> None:
    worker.start()
    await worker.wait_ready(240)


async def worker_kill9(ctx: Chaos) -> None:
    """kill -9 a random worker, restart it 3 s later; `ctx.scale.kill_repeats` times."""
    for _ in range(ctx.scale.kill_repeats):
        worker = ctx.rng.choice(ctx.pipeline.worker_daemons)
        async with ctx.fault(f"kill -9 {worker.name}"):
            worker.kill9()
            await asyncio.sleep(3)
            await _restart_worker(ctx, worker)
        await asyncio.sleep(5)


async def worker_zombie(ctx: Chaos) -> None:
    """SIGSTOP a worker for twice the session timeout (the group moves on without it), then
    SIGCONT: it wakes up believing it still owns its partitions."""
    worker = ctx.rng.choice(ctx.pipeline.worker_daemons)
    pause = 2 * WORKER_SESSION_TIMEOUT + 2
    async with ctx.fault(f"SIGSTOP {worker.name} {pause:.0f}s"):
        worker.signal(signal.SIGSTOP)
        await asyncio.sleep(pause)
        worker.signal(signal.SIGCONT)
    await asyncio.sleep(5)


async def _restart_broker(ctx: Chaos, node, *, grace: float) -> None:
    await asyncio.to_thread(node.stop, grace)
    await asyncio.sleep(1)
    node.launch()  # from the main thread: the JVM's parent-death signal is tied to it
    await asyncio.to_thread(node.wait_ready, time.monotonic() + 120)
    await asyncio.to_thread(ctx.pipeline.cluster.wait_brokers, 3, time.monotonic() + 120)


async def broker_rolling_restart(ctx: Chaos) -> None:
    """Each broker in turn: controlled shutdown (SIGTERM), start, wait until it is back."""
    for node in ctx.pipeline.cluster.nodes:
        async with ctx.fault(f"restart broker {node.node_id}"):
            await _restart_broker(ctx, node, grace=30)
        await asyncio.sleep(4)  # let it catch up into the ISR before the next one


async def _leader_of(bootstrap: str, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        for described in await admin.describe_topics([topic]):
            for p in described["partitions"]:
                if p["partition"] == partition:
                    return int(p["leader"])
    finally:
        await admin.close()
    raise RuntimeError(f"no leader found for {topic}-{partition}")


async def leader_kill9(ctx: Chaos) -> None:
    """kill -9 the leader of articles partition 0 (and of whatever else it leads), restart it
    5 s later."""
    leader = await _leader_of(ctx.pipeline.cluster.bootstrap, f"{PREFIX}.articles.v1", 0)
    node = next(n for n in ctx.pipeline.cluster.nodes if n.node_id == leader)
    async with ctx.fault(f"kill -9 leader broker {leader}"):
        node.kill()
        await asyncio.sleep(5)
        node.launch()
        await asyncio.to_thread(node.wait_ready, time.monotonic() + 120)
        await asyncio.to_thread(ctx.pipeline.cluster.wait_brokers, 3, time.monotonic() + 120)


async def cluster_down(ctx: Chaos) -> None:
    """kill -9 all three brokers, keep them down `ctx.scale.cluster_down_s`, start them again."""
    nodes = ctx.pipeline.cluster.nodes
    async with ctx.fault(f"all brokers down {ctx.scale.cluster_down_s:.0f}s"):
        for node in nodes:
            node.kill()
        await asyncio.sleep(ctx.scale.cluster_down_s)
        for node in nodes:
            node.launch()
        for node in nodes:
            await asyncio.to_thread(node.wait_ready, time.monotonic() + 180)
        await asyncio.to_thread(ctx.pipeline.cluster.wait_brokers, 3, time.monotonic() + 180)


async def redis_kill9_burst(ctx: Chaos) -> None:
    """A burst of articles; while its alerts are being written, kill -9 redis-server, restart
    it 2 s later on its AOF. Alerts the tracker saw before the kill and the stream no longer
    holds after the restart are what `appendfsync everysec` lost."""
    ctx.feeds.publish(ctx.current, ctx.scale.burst // 2)
    before = len(ctx.tracker.seen)
    deadline = time.monotonic() + 60
    while len(ctx.tracker.seen) < before + 50 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.5)
    async with ctx.fault("kill -9 redis-server"):
        await ctx.tracker.poll()
        seen_before_kill = dict(ctx.tracker.seen)
        ctx.pipeline.redis.proc.kill()  # type: ignore[union-attr]
        ctx.pipeline.redis.proc.wait(10)  # type: ignore[union-attr]
        await asyncio.sleep(2)
        await asyncio.to_thread(ctx.pipeline.restart_redis)
    after = {alert_id for alert_id, _ in await ctx.tracker.stream()}
    vanished = sorted(set(seen_before_kill) - after)
    ctx.notes["aof_lost_at_restart"] = len(vanished)
    ctx.notes["aof_lost_ids"] = vanished[:50]
    ctx.vanished.update(vanished)


async def redis_power_loss(ctx: Chaos) -> None:
    """Emulates what `kill -9` cannot: a host crash that loses the AOF writes not yet fsynced
    (up to ~1 s with `appendfsync everysec`). During a burst the AOF directory is copied, 1 s
    later redis-server is killed and restarted on the copy. The alerts written in that second
    are gone from the stream (`aof_lost_at_restart`); the Redis sink's repair writes them again
    from the alerts topic (streams/sinks/repair.py): `repaired_s` is how long after the restart
    the last of them was back, `still_missing` how many were not within 120 s. The webhook
    outbox loses the same second; the repair queues the replayed alerts again, so deliveries
    made just before the crash may be repeated (`webhook_repeats`, same webhook-id)."""
    ctx.feeds.publish(ctx.current, ctx.scale.burst // 2)
    before = len(ctx.tracker.seen)
    deadline = time.monotonic() + 60
    while len(ctx.tracker.seen) < before + 50 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    aof = ctx.pipeline.redis_dir / "appendonlydir"
    copy = ctx.pipeline.redis_dir.with_name("appendonlydir-fsynced")
    async with ctx.fault("redis host crash (last 1 s of AOF lost)"):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(aof, copy)
        await asyncio.sleep(1.0)
        await ctx.tracker.poll()
        seen_before_kill = dict(ctx.tracker.seen)
        ctx.pipeline.redis.proc.kill()  # type: ignore[union-attr]
        ctx.pipeline.redis.proc.wait(10)  # type: ignore[union-attr]
        shutil.rmtree(aof)
        copy.rename(aof)
        await asyncio.to_thread(ctx.pipeline.restart_redis)
        restarted = time.monotonic()
    after = {alert_id for alert_id, _ in await ctx.tracker.stream()}
    vanished = sorted(set(seen_before_kill) - after)
    ctx.notes["aof_lost_at_restart"] = len(vanished)
    ctx.notes["aof_lost_ids"] = vanished[:50]
    ctx.vanished.update(vanished)
    missing = set(vanished)
    while missing and time.monotonic() < restarted + 120:
        await asyncio.sleep(0.5)
        missing -= {alert_id for alert_id, _ in await ctx.tracker.stream()}
    ctx.notes["repaired_s"] = round(time.monotonic() - restarted, 1) if not missing else None
    ctx.notes["still_missing"] = len(missing)


async def webhook_down(ctx: Chaos) -> None:
    """The webhook receiver refuses connections for `ctx.scale.webhook_down_s`, then is back."""
    async with ctx.fault(f"webhook receiver down {ctx.scale.webhook_down_s:.0f}s"):
        await ctx.receiver.stop()
        await asyncio.sleep(ctx.scale.webhook_down_s)
        await ctx.receiver.start()


async def poller_kill9(ctx: Chaos) -> None:
    """kill -9 a poller, restart it 3 s later (its feeds move after the group session timeout
    and back at the rejoin)."""
    poller = ctx.rng.choice(ctx.pipeline.poller_daemons)
    async with ctx.fault(f"kill -9 {poller.name}"):
        poller.kill9()
        await asyncio.sleep(3)
        poller.start()
    await asyncio.sleep(12)


async def burst(ctx: Chaos) -> None:
    """`ctx.scale.burst` articles appear at once across the feeds."""
    async with ctx.fault(f"burst of {ctx.scale.burst} articles"):
        ctx.feeds.publish(ctx.current, ctx.scale.burst)


async def nemesis(ctx: Chaos) -> None:
    """Random faults of the kinds above, one after another with random pauses, until the
    run's time budget is spent."""
    deadline = ctx.deadline
    kinds = ["worker_kill9", "worker_zombie", "broker_kill9", "poller_kill9", "webhook_down"]
    while time.monotonic() < deadline - 20:
        kind = ctx.rng.choice(kinds)
        if kind == "worker_kill9":
            worker = ctx.rng.choice(ctx.pipeline.worker_daemons)
            async with ctx.fault(f"kill -9 {worker.name}"):
                worker.kill9()
                await asyncio.sleep(ctx.rng.uniform(1, 5))
                await _restart_worker(ctx, worker)
        elif kind == "worker_zombie":
            worker = ctx.rng.choice(ctx.pipeline.worker_daemons)
            pause = ctx.rng.uniform(3, 3 * WORKER_SESSION_TIMEOUT)
            async with ctx.fault(f"SIGSTOP {worker.name} {pause:.0f}s"):
                worker.signal(signal.SIGSTOP)
                await asyncio.sleep(pause)
                worker.signal(signal.SIGCONT)
        elif kind == "broker_kill9":
            node = ctx.rng.choice(ctx.pipeline.cluster.nodes)
            async with ctx.fault(f"kill -9 broker {node.node_id}"):
                node.kill()
                await asyncio.sleep(ctx.rng.uniform(2, 10))
                node.launch()
                await asyncio.to_thread(node.wait_ready, time.monotonic() + 120)
                await asyncio.to_thread(
                    ctx.pipeline.cluster.wait_brokers, 3, time.monotonic() + 120
                )
        elif kind == "poller_kill9":
            poller = ctx.rng.choice(ctx.pipeline.poller_daemons)
            async with ctx.fault(f"kill -9 {poller.name}"):
                poller.kill9()
                await asyncio.sleep(ctx.rng.uniform(1, 8))
                poller.start()
        else:
            down = ctx.rng.uniform(2, 15)
            async with ctx.fault(f"webhook receiver down {down:.0f}s"):
                await ctx.receiver.stop()
                await asyncio.sleep(down)
                await ctx.receiver.start()
        await asyncio.sleep(ctx.rng.uniform(2, 8))


ALL: dict[str, Scenario] = {
    "worker_kill9": worker_kill9,
    "worker_zombie": worker_zombie,
    "broker_rolling_restart": broker_rolling_restart,
    "leader_kill9": leader_kill9,
    "cluster_down": cluster_down,
    "redis_kill9_burst": redis_kill9_burst,
    "redis_power_loss": redis_power_loss,
    "webhook_down": webhook_down,
    "poller_kill9": poller_kill9,
    "burst": burst,
    "nemesis": nemesis,
}
DEFAULT = list(ALL)
SMOKE = ["worker_kill9", "leader_kill9", "webhook_down", "poller_kill9"]
