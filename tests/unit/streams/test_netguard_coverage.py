"""Every outgoing HTTP client of newswatch goes through the SSRF guard's connector."""

from __future__ import annotations

import re

from tests.support.environment import ROOT

SOURCES = [*(ROOT / "streams").rglob("*.py"), *(ROOT / "agents").rglob("*.py")]


def test_only_the_guard_builds_tcp_connectors() -> None:
    builders = [
        path.relative_to(ROOT).as_posix()
        for path in SOURCES
        if re.search(r"\bTCPConnector\(", path.read_text(encoding="utf-8"))
    ]
    assert builders == ["streams/netguard.py"]


def test_every_client_session_uses_the_guarded_connector() -> None:
    sessions = {}
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bClientSession\(", text):
            sessions[path.relative_to(ROOT).as_posix()] = "guarded_connector(" in text
    assert {"streams/poller/fetcher.py", "streams/sinks/webhooks/dispatcher.py"} <= set(sessions)
    unguarded = [path for path, guarded in sessions.items() if not guarded]
    assert unguarded == [], "build the connector with netguard.guarded_connector()"
