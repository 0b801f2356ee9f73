"""The plot of a chaos run: throughput, lag and alerts over time, with the fault windows."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import itertools

import matplotlib.pyplot as plt


def _rate(samples: list[dict], key: str) -> list[float]:
    out = [0.0]
    for a, b in itertools.pairwise(samples):
        dt = max(1e-3, b["t"] - a["t"])
        out.append(max(0.0, (b[key] - a[key]) / dt))
    return out


def plot(samples: list[dict], faults: list[tuple[float, float, str]], results, path: Path) -> None:
    if not samples:
        return
    t = [s["t"] for s in samples]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(14, 9), sharex=True)
    ax1.plot(t, _rate(samples, "published"), label="articles published /s", lw=0.8)
    ax1.plot(t, _rate(samples, "alerts_seen"), label="alerts into Redis /s", lw=0.8)
    ax1.plot(t, _rate(samples, "webhook_unique"), label="alerts delivered by webhook /s", lw=0.8)
    ax1.set_ylabel("throughput (1/s)")
    ax1.set_yscale("symlog", linthresh=10)
    ax2.plot(t, [s["lag_articles"] for s in samples], label="alerting articles without alert yet")
    ax2.plot(t, [s["webhook_backlog"] for s in samples], label="alerts not yet delivered")
    ax2.set_ylabel("lag (articles / alerts)")
    ax2.set_yscale("symlog", linthresh=10)
    ax3.plot(t, [s["alerts_seen"] for s in samples], label="alerts in Redis stream")
    ax3.plot(t, [s["webhook_unique"] for s in samples], label="alerts delivered (unique)")
    ax3.set_ylabel("alerts (cumulative)")
    ax3.set_xlabel("seconds since the pipeline started")
    for ax in (ax1, ax2, ax3):
        for began, ended, _label in faults:
            ax.axvspan(began, max(ended, began + 0.5), color="red", alpha=0.15, lw=0)
        for result in results:
            ax.axvline(result.started, color="grey", lw=0.6, ls=":")
        ax.legend(loc="upper left", fontsize=7)
        ax.grid(alpha=0.3)
    top = ax1.get_ylim()[1]
    for result in results:
        ax1.text(result.started, top, " " + result.name, rotation=90, va="top", fontsize=7)
    fig.suptitle("newswatch chaos run (red: fault windows)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
