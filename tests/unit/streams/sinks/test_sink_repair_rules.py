"""Pure rules of the Redis sink's repair: batch offset ranges and the lookback setting."""

from __future__ import annotations

import pytest

from newswatch.streams.errors import ConfigError
from newswatch.streams.settings import load_settings
from newswatch.streams.sinks import keys
from newswatch.streams.sinks.repair import offset_ranges


def test_offset_ranges_per_partition_in_any_order() -> None:
    positions = [(1, 7), (0, 3), (1, 5), (0, 4), (1, 6), (2, 0)]
    assert offset_ranges(positions) == {0: (3, 4), 1: (5, 7), 2: (0, 0)}
    assert offset_ranges([]) == {}


def test_the_lookback_must_stay_below_the_dedup_ttl() -> None:
    # An alert older than its dedup key could be written a second time by a replay.
    with pytest.raises(ConfigError, match="repair_lookback_seconds"):
        load_settings(alerts={"dedup_ttl_days": 1, "repair_lookback_seconds": 86_400})
    settings = load_settings(alerts={"dedup_ttl_days": 1, "repair_lookback_seconds": 86_399})
    assert settings.alerts.repair_lookback_seconds == 86_399
    assert load_settings().alerts.repair_lookback_seconds == 3_600
    assert load_settings(alerts={"repair_lookback_seconds": 0}).alerts.repair_lookback_seconds == 0


def test_the_watermark_key_is_per_topic() -> None:
    assert keys.sink_offsets("a.alerts.v1") != keys.sink_offsets("b.alerts.v1")
