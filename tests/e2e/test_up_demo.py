"""`newswatch up --demo` on a machine without internet: embedded broker and Redis, the bundled
demo feeds, and the first alert in the Redis stream and in `newswatch alerts tail`; SIGTERM stops
the whole tree with exit code 0. The embedded Redis wants the password kept in the state
directory (0700) in `redis.password` (0600); the log never shows it.

The first run as a new user sees it: `up` prints the newsroom URL and one line per alert on
stdout, writes up.json (0600) so `alerts tail` and `status` work with no settings, serves the
page at `/`, and logs no ERROR line while healthy.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from newswatch.streams.embedded import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

FIRST_ALERT_BUDGET = 60.0  # the "done when"; the demo aims for 30 s


def _redis_address(log: str) -> str | None:
    for line in log.splitlines():
        if "embedded redis-server started at" in line:
            return line.split("started at ", 1)[1].split()[0]
    return None


def test_up_demo_shows_first_alert(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    port = free_port()
    env.update(NEWSWATCH_STATE_DIR=str(tmp_path / "state"), NEWSWATCH_WEB_PORT=str(port))
    log_path = tmp_path / "up.log"
    out_path = tmp_path / "up.out"
    started = time.monotonic()
    up = subprocess.Popen(
        [sys.executable, "-m", "newswatch.streams.cli", "up", "--demo"],
        env=env,
        stdout=out_path.open("wb"),
        stderr=log_path.open("wb"),
    )
    try:
        address = None
        while address is None and time.monotonic() - started < 30:
            assert up.poll() is None, log_path.read_text()
            address = _redis_address(log_path.read_text(errors="replace"))
            time.sleep(0.2)
        assert address, "no embedded redis-server line in the log:\n" + log_path.read_text()
        log = log_path.read_text()
        assert "IN MEMORY" in log and "Tansu" in log
        state = tmp_path / "state"
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        password_file = state / "redis.password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 32 and password not in log
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(f"redis://{address}/0").ping()
        url = f"redis://:{password}@{address}/0"
        client = redis.Redis.from_url(url)
        first_alert_after = None
        while time.monotonic() - started < FIRST_ALERT_BUDGET:
            if client.xlen("newswatch:alerts") > 0:
                first_alert_after = time.monotonic() - started
                break
            time.sleep(0.5)
        assert first_alert_after is not None, (
            f"no alert within {FIRST_ALERT_BUDGET:.0f}s\n" + log_path.read_text()[-5000:]
        )
        print(f"first alert {first_alert_after:.1f}s after `newswatch up --demo`")
        # No NEWSWATCH_REDIS_URL: the client finds `up` through up.json and says so.
        up_json = tmp_path / "state" / "up.json"
        assert stat.S_IMODE(up_json.stat().st_mode) == 0o600
        tail = subprocess.run(
            [sys.executable, "-m", "newswatch.streams.cli", "alerts", "tail", "--no-follow"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert tail.returncode == 0, tail.stderr
        assert tail.stderr.count("\n") == 1 and str(up_json) in tail.stderr, tail.stderr
        lines = tail.stdout.strip().splitlines()
        assert lines and all(" [" in line for line in lines), tail.stdout
        assert "DeepSeek" in tail.stdout  # display names, not ids
        status = subprocess.run(
            [sys.executable, "-m", "newswatch.streams.cli", "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert f"newsroom page: http://127.0.0.1:{port}/" in status.stdout, status.stdout
        for part in ("worker", "redis", "kafka", "supervisor"):
            assert re.search(rf"ok +{part} ", status.stdout), status.stdout
        # The alerts `up` printed on stdout are the lines of `alerts tail`.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and lines[0] not in out_path.read_text():
            time.sleep(0.5)
        printed = out_path.read_text()
        assert printed.startswith(f"newsroom: http://127.0.0.1:{port}/"), printed[:500]
        assert lines[0] in printed, printed[-2000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and b'id="alerts"' in page.read()
        client.close()
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
        try:
            code = up.wait(90)
        except subprocess.TimeoutExpired:
            up.kill()
            code = -9
    log = log_path.read_text(errors="replace")
    assert code == 0, log[-5000:]
    assert "embedded broker stopped" in log and "embedded redis-server stopped" in log
    assert not re.search(r"\bERROR\b", log), [ln for ln in log.splitlines() if "ERROR" in ln]
    assert not (tmp_path / "state" / "up.json").exists()  # removed on a clean stop
