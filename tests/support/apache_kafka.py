"""Apache Kafka 4.x in KRaft mode for tests: one JVM that is broker and controller at once.

The jars come from Maven Central through `tests/kafka/pom.xml` (`fetch.sh` copies them into a
cache directory that later runs reuse); the broker runs with the machine's Java 17 on free
loopback ports, with a small heap and settings tuned for fast tests (no initial rebalance delay,
replication factor 1, small internal topics).

    kafka = ApacheKafka().start(tmp_dir)   # blocks until the broker answers metadata requests
    kafka.bootstrap                        # "127.0.0.1:<port>"
    kafka.stop()                           # idempotent; SIGTERM, then SIGKILL

`KafkaCluster` runs several such combined nodes as one cluster (a controller quorum of all of
them, replication across them) for the chaos harness; each node can be killed and restarted on
its own ports and data.

`start()` raises `KafkaUnavailable` when java, mvn or the jars are missing (callers may skip)
and `KafkaStartError`, with the tail of the broker's log, when the broker does not come up.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from newswatch.streams.embedded import free_port

#: tests/kafka/ holds the Maven project (pom.xml) and the script that fetches the jars.
FETCH_SCRIPT = Path(__file__).resolve().parents[1] / "kafka" / "fetch.sh"
DEFAULT_VERSION = "4.1.1"  # keep in step with <kafka.version> in tests/kafka/pom.xml
HOST = "127.0.0.1"

# Log4j 2 to stdout, which the launcher sends to a file; INFO so that start-up failures show.
_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


class KafkaError(RuntimeError):
    """The test broker is unusable."""


class KafkaUnavailable(KafkaError):
    """java, mvn or the Kafka jars are missing on this machine."""


class KafkaStartError(KafkaError):
    """The broker was launched but did not come up; the message carries its log tail."""


def random_cluster_id() -> str:
    """A cluster id as `kafka-storage random-uuid` makes it (URL-safe base64, no leading '-')."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not encoded.startswith("-"):
            return encoded


def fetch_jars(version: str = DEFAULT_VERSION, timeout: float = 600.0) -> Path:
    """The directory of the broker's jars, fetched by `fetch.sh` unless already cached."""
    if shutil.which("bash") is None:
        raise KafkaUnavailable("bash is needed to run tests/kafka/fetch.sh")
    env = {**os.environ, "KAFKA_VERSION": version}
    try:
        done = subprocess.run(
            ["bash", str(FETCH_SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise KafkaUnavailable(f"fetching Kafka {version} jars took over {timeout:.0f}s") from None
    if done.returncode != 0:
        raise KafkaUnavailable(
            f"tests/kafka/fetch.sh failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    jars = Path(done.stdout.strip().splitlines()[-1])
    if not (jars / f"kafka_2.13-{version}.jar").is_file():
        raise KafkaUnavailable(f"no kafka_2.13-{version}.jar in {jars}")
    return jars


def java_binary() -> str:
    """java from JAVA_HOME or PATH; Kafka 4 brokers need Java 17 or later."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    found = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if not found:
        raise KafkaUnavailable(
            "java not found (Kafka 4 needs Java 17+: apt-get install openjdk-17-jre-headless)"
        )
    return found


def _libc_prctl():
    """libc's prctl, resolved in the parent: a forked child should not dlopen anything."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl() if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the parent dies (Linux), so no JVM outlives a
    killed pytest. Linux ties this to the *thread* that forked: start from a long-lived thread
    (pytest's main thread is), or pass `die_with_parent=False`."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class _ClassArchive:
    """An AppCDS archive of the classes one main class loads, kept beside the cached jars.

    The first run records it (-XX:ArchiveClassesAtExit, written when the JVM exits normally);
    later runs map it (-XX:SharedArchiveFile) and skip loading and verifying ~5,000 classes:
    `kafka-storage format` 2.1 s -> 0.9 s here. A stale or foreign archive is ignored by the
    JVM (-Xshare:auto), and the name carries the JVM's identity, so a new JDK records anew."""

    path: Path
    recording: Path | None = None

    @classmethod
    def for_main(cls, jars: Path, main: str) -> _ClassArchive:
        java = Path(java_binary()).resolve()
        stat = java.stat()
        jvm = uuid.uuid5(uuid.NAMESPACE_URL, f"{java}:{stat.st_size}:{stat.st_mtime_ns}").hex[:10]
        return cls(jars / ".cds" / f"{main}-{jvm}.jsa")

    def jvm_args(self) -> list[str]:
        if self.path.is_file():
            return [f"-XX:SharedArchiveFile={self.path}"]
        self.path.parent.mkdir(exist_ok=True)
        self.recording = self.path.with_name(f"{self.path.name}.{os.getpid()}.{id(self)}.tmp")
        return [f"-XX:ArchiveClassesAtExit={self.recording}"]

    def keep(self, returncode: int | None) -> None:
        """After the JVM exited: publish a complete recording (atomically), drop a torn one."""
        if self.recording is None:
            return
        done = returncode is not None and returncode != -signal.SIGKILL
        if done and self.recording.is_file() and self.recording.stat().st_size > 0:
            os.replace(self.recording, self.path)
        else:
            self.recording.unlink(missing_ok=True)
        self.recording = None


@dataclass(eq=False)  # identity hash: instances live in _LIVE
class ApacheKafka:
    """A single-node KRaft Kafka (combined broker + controller) on free loopback ports."""

    version: str = DEFAULT_VERSION
    heap: str = "512m"
    extra_config: dict[str, str] = field(default_factory=dict)
    die_with_parent: bool = True
    port: int = 0
    controller_port: int = 0
    jars: Path | None = None
    log_path: Path | None = None
    started_in: float = 0.0  # seconds from `start()` (format included) to ready
    class_sharing: bool = True  # AppCDS archives in the jar cache (see _ClassArchive)
    # Cluster membership (KafkaCluster): node id, "id@host:port,..." of every controller, the
    # shared cluster id and the replication of internal topics; the defaults are one node.
    node_id: int = 1
    voters: str = ""
    cluster_id: str = ""
    replication: int = 1
    work_dir: Path | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _archive: _ClassArchive | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def server_properties(self, data_dir: Path) -> dict[str, str]:
        """The broker's configuration: one node, plaintext, tuned for fast tests."""
        rf = str(self.replication)
        min_isr = str(min(2, self.replication))
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters or f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data_dir),
            "num.partitions": "4",
            "auto.create.topics.enable": "true",
            "delete.topic.enable": "true",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": min_isr,
            "min.insync.replicas": min_isr,
            "default.replication.factor": rf,
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.flush.interval.messages": str(2**62),
            **self.extra_config,
        }

    def _java(
        self, work: Path, main: str, *args: str, archive: _ClassArchive | None = None
    ) -> list[str]:
        assert self.jars is not None
        return [
            java_binary(),
            *(archive.jvm_args() if archive else ()),
            f"-Xmx{self.heap}",
            "-Xms64m",
            "-XX:+UseSerialGC",  # two shared cores: no parallel GC threads
            "-XX:TieredStopAtLevel=1",  # C1 only: much less JIT work at start-up
            "-Xss512k",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={work / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={work}",
            "-cp",
            f"{self.jars}/*",
            main,
            *args,
        ]

    def _class_archive(self, main: str) -> _ClassArchive | None:
        return _ClassArchive.for_main(self.jars, main) if self.class_sharing and self.jars else None

    def start(self, work_dir: Path, timeout: float = 60.0) -> ApacheKafka:
        """Fetch (or reuse) the jars, format storage, launch the broker, wait until it serves."""
        began = time.monotonic()
        self.prepare(work_dir, timeout)
        self.launch()
        self.wait_ready(began + timeout)
        self.started_in = time.monotonic() - began
        return self

    @property
    def data_dir(self) -> Path:
        assert self.work_dir is not None
        return self.work_dir / f"kafka-{self.port}-data"

    @property
    def properties_path(self) -> Path:
        assert self.work_dir is not None
        return self.work_dir / f"kafka-{self.port}.properties"

    def allocate_ports(self) -> None:
        self.port = self.port or free_port(HOST)
        self.controller_port = self.controller_port or free_port(HOST)

    def prepare(self, work_dir: Path, timeout: float = 60.0) -> None:
        """Jars, ports, configuration and formatted storage; the broker is not started."""
        java_binary()
        self.jars = self.jars or fetch_jars(self.version)
        work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = work_dir
        self.allocate_ports()
        props = self.properties_path
        props.write_text(
            "".join(f"{k}={v}\n" for k, v in self.server_properties(self.data_dir).items())
        )
        (work_dir / "log4j2.properties").write_text(_LOG4J2)
        self.log_path = work_dir / f"kafka-{self.port}.log"
        fmt_archive = self._class_archive("kafka.tools.StorageTool")
        fmt = subprocess.run(
            self._java(
                work_dir,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id or random_cluster_id(),
                "-c",
                str(props),
                archive=fmt_archive,
            ),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if fmt_archive:
            fmt_archive.keep(fmt.returncode)
        if fmt.returncode != 0:
            raise KafkaStartError(
                f"kafka-storage format failed (exit {fmt.returncode}):\n"
                f"{(fmt.stdout + fmt.stderr).strip()[-3000:]}"
            )

    def launch(self) -> None:
        """Start the broker JVM on the prepared configuration and data (again after a stop)."""
        assert self.work_dir is not None and self.log_path is not None
        if self.running():
            return
        self._archive = self._class_archive("kafka.Kafka")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self._java(
                    self.work_dir, "kafka.Kafka", str(self.properties_path), archive=self._archive
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        _LIVE.add(self)

    def wait_ready(self, deadline: float) -> None:
        """`_wait_ready`, stopping the broker (and saying why) when it does not come up."""
        try:
            self._wait_ready(deadline)
        except BaseException as exc:
            self.stop(grace=0)
            if isinstance(exc, KafkaError):
                raise
            raise KafkaStartError(f"{exc!r}\n{self.tail_log()}") from exc

    def kill(self) -> None:
        """SIGKILL, no controlled shutdown (the node can be `launch()`ed again)."""
        self.stop(grace=0)

    def _wait_ready(self, deadline: float) -> None:
        """Until a metadata request lists this broker (registered and unfenced) and the group
        coordinator answers."""
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = self.proc.returncode if self.proc else None
                raise KafkaStartError(
                    f"Kafka {self.version} exited with code {code} while starting;"
                    f" log tail ({self.log_path}):\n{self.tail_log()}"
                )
            if not _port_open(HOST, self.port):
                last_error = "port not open yet"
                time.sleep(0.1)
                continue
            try:
                if _run_in_thread(_metadata_ok(self.bootstrap), timeout=5.0):
                    return
                last_error = "metadata lists no broker yet"
            except Exception as exc:
                last_error = repr(exc)
            time.sleep(0.2)
        raise KafkaStartError(
            f"Kafka {self.version} on {self.bootstrap} not ready after the timeout"
            f" (last probe: {last_error}); log tail ({self.log_path}):\n{self.tail_log()}"
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (controlled shutdown), SIGKILL after `grace` seconds; idempotent.

        While a class archive is being recorded the JVM writes it on exit: allow it 30 s."""
        _LIVE.discard(self)
        if self.proc is None:
            return
        recording = self._archive is not None and self._archive.recording is not None
        if self.proc.poll() is None:
            if grace > 0:
                self.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(max(grace, 30.0) if recording else grace)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        if self._archive is not None:
            self._archive.keep(self.proc.returncode)
            self._archive = None

    def rss_bytes(self) -> int | None:
        """Resident memory of the broker JVM (Linux /proc), or None when not running."""
        if not self.running():
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def tail_log(self, lines: int = 30) -> str:
        """The end of the broker's log without Java stack frames, so the cause stays visible."""
        if not self.log_path or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        kept = [line for line in text if not line.lstrip().startswith(("at ", "... "))]
        return "\n".join(kept[-lines:])


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


async def _metadata_ok(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            return False
        await admin.list_topics()
        # Creates __consumer_offsets now rather than in the first test that uses a group
        # (which would otherwise see GROUP_COORDINATOR_NOT_AVAILABLE and retry).
        await admin.find_coordinator("newswatch-fixture-ready")
        return True
    finally:
        await admin.close()


def _run_in_thread(coro, timeout: float):
    """Run a coroutine on a fresh loop in a helper thread: callers may already be in a loop."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(asyncio.wait_for(coro, timeout))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="kafka-ready-probe", daemon=True)
    thread.start()
    thread.join(timeout + 2)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    if "value" not in box:
        raise TimeoutError("readiness probe hung")
    return box["value"]


_LIVE: set[ApacheKafka] = set()


@dataclass
class KafkaCluster:
    """`size` combined broker+controller nodes on loopback: a KRaft quorum of all of them,
    internal and default topics replicated `size` times, `min.insync.replicas` 2.

    Three combined nodes are the lightest real cluster: any one may be down (quorum and ISR
    both keep a majority), two down stop writes with acks=all, as they should."""

    size: int = 3
    heap: str = "384m"
    version: str = DEFAULT_VERSION
    extra_config: dict[str, str] = field(default_factory=dict)
    nodes: list[ApacheKafka] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def start(self, work_dir: Path, timeout: float = 120.0) -> KafkaCluster:
        began = time.monotonic()
        cluster_id = random_cluster_id()
        self.nodes = [
            ApacheKafka(
                self.version,
                heap=self.heap,
                extra_config=dict(self.extra_config),
                node_id=i + 1,
                cluster_id=cluster_id,
                replication=self.size,
            )
            for i in range(self.size)
        ]
        for node in self.nodes:
            node.allocate_ports()
        voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in self.nodes)
        for node in self.nodes:
            node.voters = voters
            node.prepare(work_dir / f"node{node.node_id}", timeout)
        for node in self.nodes:
            node.launch()  # together: a controller quorum needs a majority to elect
        try:
            for node in self.nodes:
                node.wait_ready(began + timeout)
            self.wait_brokers(self.size, began + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_brokers(self, count: int, deadline: float) -> None:
        """Until the cluster's metadata lists `count` live brokers."""
        last = "no attempt"
        while time.monotonic() < deadline:
            try:
                if _run_in_thread(_broker_count(self.bootstrap), timeout=5.0) >= count:
                    return
                last = "too few brokers registered"
            except Exception as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise KafkaStartError(f"cluster never listed {count} brokers (last probe: {last})")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(grace=0)


async def _broker_count(bootstrap: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        return len((await admin.describe_cluster()).get("brokers") or [])
    finally:
        await admin.close()


@atexit.register
def _kill_leftovers() -> None:
    """Whatever happened to the session, no broker JVM outlives the interpreter."""
    for broker in list(_LIVE):
        broker.stop(grace=0)


async def _first_produce(bootstrap: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("newswatch-fixture-probe", b"x")
    finally:
        await producer.stop()


def _measure(runs: int, version: str) -> None:
    """Start/produce/stop `runs` times; print each run and the medians (warm cache)."""
    import statistics
    import tempfile

    rows = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            began = time.monotonic()
            kafka = ApacheKafka(version).start(Path(tmp))
            ready = time.monotonic() - began
            asyncio.run(_first_produce(kafka.bootstrap))
            produced = time.monotonic() - began
            rss = (kafka.rss_bytes() or 0) / 2**20
            stopping = time.monotonic()
            kafka.stop()
            stopped = time.monotonic() - stopping
        rows.append((ready, produced, rss, stopped))
        print(
            f"ready {ready:5.1f}s  first produce acked {produced:5.1f}s  RSS {rss:4.0f} MiB"
            f"  stop {stopped:4.1f}s",
            flush=True,
        )
    medians = [statistics.median(column) for column in zip(*rows, strict=True)]
    print(
        "median: ready {:.1f}s, first produce {:.1f}s, RSS {:.0f} MiB, stop {:.1f}s".format(
            *medians
        )
    )


if __name__ == "__main__":  # python -m tests.support.apache_kafka [runs] [version]
    _measure(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1,
        sys.argv[2] if len(sys.argv) > 2 else DEFAULT_VERSION,
    )
