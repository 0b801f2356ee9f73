"""Spike detection: last window against the baseline mean; one alert per spike."""

from __future__ import annotations

import pytest

from newswatch.agents.alerting import SpikeConfig, is_spike, spike_alert

CONFIG = SpikeConfig(window=3600, baseline=4 * 3600, ratio=3.0, min_count=5)


def test_baseline_is_mean_of_previous_windows() -> None:
    # baseline mean 2 -> a spike needs >= 6 (ratio) and >= 5 (min_count)
    assert not is_spike(5, [2, 2, 2, 2], CONFIG)
    assert is_spike(6, [2, 2, 2, 2], CONFIG)


def test_min_count_guards_quiet_entities() -> None:
    assert not is_spike(4, [0, 0, 0, 0], CONFIG)
    assert is_spike(5, [0, 0, 0, 0], CONFIG)


def test_only_the_baseline_windows_count() -> None:
    # an old busy window beyond the baseline span is ignored
    assert is_spike(6, [100, 2, 2, 2, 2], CONFIG)


def test_spike_alert_has_deterministic_id_and_window() -> None:
    alert = spike_alert("entity", "deepseek", 7200.0, 12, [1, 1, 1, 1], CONFIG, now=1.0)
    assert alert is not None
    again = spike_alert("entity", "deepseek", 7200.0, 20, [1, 1, 1, 1], CONFIG, now=2.0)
    assert again is not None and again.id == alert.id  # same window -> same alert
    other = spike_alert("entity", "deepseek", 10800.0, 12, [1, 1, 1, 1], CONFIG)
    assert other is not None and other.id != alert.id
    assert alert.kind == "spike" and alert.rule == "spike_entity"
    assert alert.entities == ["deepseek"] and alert.themes == []
    assert (alert.window_start, alert.window_end, alert.count) == (7200.0, 10800.0, 12)
    assert alert.baseline == pytest.approx(1.0)


def test_theme_spikes_carry_the_theme() -> None:
    alert = spike_alert("theme", "export_controls", 0.0, 9, [], CONFIG)
    assert alert is not None and alert.themes == ["export_controls"] and alert.entities == []


def test_a_continuing_spike_is_not_raised_again() -> None:
    # previous window (12 vs baseline ~0) was already a spike
    assert spike_alert("entity", "qwen", 3600.0 * 10, 15, [0, 0, 0, 12], CONFIG) is None


def test_no_alert_without_a_spike() -> None:
    assert spike_alert("entity", "qwen", 0.0, 3, [0, 0, 0, 0], CONFIG) is None


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError):
        spike_alert("feed", "x", 0.0, 100, [], CONFIG)
