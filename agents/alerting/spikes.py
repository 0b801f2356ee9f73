"""Spike detection, the pure part: is the last window's count a spike against its baseline?

Counts live in tumbling windows of `window` seconds (a Faust windowed table in the worker).
The baseline is the mean count of the `baseline / window` windows before the current one.
A window is a spike when its count is at least `min_count` and at least `ratio` times the
baseline. One alert per spike, not one per article: the alert id is fixed by kind, key and
window start, and a window whose previous window was already a spike continues that spike
instead of raising a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from newswatch.agents.alerting.engine import alert_id
from newswatch.streams.records import Alert

if TYPE_CHECKING:
    from newswatch.streams.settings import AlertSettings

SPIKE_KINDS = ("entity", "theme")


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    window: float = 3600.0
    baseline: float = 86400.0
    ratio: float = 3.0
    min_count: int = 10
    severity: str = "medium"

    @property
    def baseline_windows(self) -> int:
        return max(1, round(self.baseline / self.window))

    @classmethod
    def from_settings(cls, alerts: AlertSettings) -> SpikeConfig:
        return cls(
            window=float(alerts.spike_window),
            baseline=float(alerts.spike_baseline),
            ratio=float(alerts.spike_ratio),
            min_count=int(alerts.spike_min_count),
        )


def baseline_mean(history: Sequence[int], config: SpikeConfig) -> float:
    """Mean count per window over the baseline windows (missing windows count as 0)."""
    return sum(history[-config.baseline_windows :]) / config.baseline_windows


def is_spike(current: int, history: Sequence[int], config: SpikeConfig) -> bool:
    """`history`: counts of the windows before the current one, oldest first."""
    return current >= config.min_count and current >= config.ratio * baseline_mean(history, config)


def spike_alert(
    kind: str,
    key: str,
    window_start: float,
    current: int,
    history: Sequence[int],
    config: SpikeConfig,
    *,
    now: float | None = None,
    label: str | None = None,
) -> Alert | None:
    """The alert for a new spike in this window, or None (no spike, or a continuing one).

    `label` is the display name of `key` for the title (the id when not given)."""
    if kind not in SPIKE_KINDS:
        raise ValueError(f"spike kind must be one of {SPIKE_KINDS}, got {kind!r}")
    if not is_spike(current, history, config):
        return None
    if history and is_spike(history[-1], history[:-1], config):
        return None  # the previous window already raised this spike
    baseline = baseline_mean(history, config)
    start = float(window_start)
    extra: dict[str, Any] = {"created_at": now} if now is not None else {}
    return Alert(
        id=alert_id("spike", kind, key, int(start)),
        rule=f"spike_{kind}",
        severity=config.severity,
        title=(
            f"Spike: {label or key} in {current} articles in {_human(config.window)}"
            f" (baseline {baseline:.1f})"
        ),
        kind="spike",
        entities=[key] if kind == "entity" else [],
        themes=[key] if kind == "theme" else [],
        window_start=start,
        window_end=start + config.window,
        count=current,
        baseline=baseline,
        **extra,
    )


def _human(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
