"""A redis-server of one test alone, with a host-crash (power-loss) emulation."""

from __future__ import annotations

from pathlib import Path


class RedisHost:
    """A redis-server of one test alone (AOF everysec, the default), with a power-loss
    emulation: `snapshot()` keeps a copy of the AOF as an fsync would have made it durable,
    `power_loss()` kills redis-server and restarts it on that copy, so every write after the
    snapshot is gone — what a host crash does to the writes of the last second."""

    def __init__(self, data_dir: Path) -> None:
        from newswatch.streams.embedded import RedisServer

        self.dir = data_dir
        self.server = RedisServer().start(data_dir)
        self.saved = data_dir.with_name(data_dir.name + "-aof-saved")

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def aof(self) -> Path:
        return self.dir / "appendonlydir"

    def snapshot(self) -> None:
        """Everything written so far. Redis may hold acknowledged writes in its AOF buffer for
        up to 2 s while a background fsync is slow (it postpones the write(2), not the reply):
        wait until the buffer is in the file."""
        import shutil
        import time

        import redis

        client = redis.Redis.from_url(self.server.url)
        try:
            deadline = time.monotonic() + 10
            while client.info("persistence")["aof_buffer_length"] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            client.close()
        shutil.rmtree(self.saved, ignore_errors=True)
        shutil.copytree(self.aof, self.saved)

    def power_loss(self, *, cut_into_tail: bool = False) -> None:
        """kill -9, then restart on the snapshot. With `cut_into_tail`, the AOF keeps about
        half of what was written since the snapshot, cut at whatever byte that is (inside a
        script's MULTI/EXEC block, most likely)."""
        import shutil

        from newswatch.streams.embedded import RedisServer

        incr = sorted(self.saved.glob("*.incr.aof"))[-1]
        if cut_into_tail:
            kept = incr.stat().st_size
            now = (self.aof / incr.name).read_bytes()
            incr.write_bytes(now[: kept + (len(now) - kept) // 2 + 7])
        assert self.server.proc is not None
        self.server.proc.kill()
        self.server.proc.wait(10)
        shutil.rmtree(self.aof)
        shutil.copytree(self.saved, self.aof)
        self.server = RedisServer(port=self.server.port).start(self.dir)

    def stop(self) -> None:
        self.server.stop()
