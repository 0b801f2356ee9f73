from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The receiver and helpers live beside the integration tests of the sinks.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "sinks"))

from sinks_support import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    yield server
    await server.stop()
