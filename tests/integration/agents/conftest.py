"""Fixtures of the worker's integration tests (helpers are in `tests.support`)."""

from __future__ import annotations

import pytest

from tests.support.stories import story_alerting


@pytest.fixture(scope="module")
def alerting():
    """Story alerts with the shipped rules (loading the tagger once per module)."""
    return story_alerting()
