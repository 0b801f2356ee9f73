"""The digest: what the last hour or day brought, for `/digest?period=hour|day`. Pure.

One entry per alert (stories will group them once they exist), most severe first, then newest;
with counts per severity and the entities and themes most alerted on. Muted alerts are left
out, as on the page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from newswatch.streams.names import DisplayNames
from newswatch.streams.records import SEVERITIES
from newswatch.streams.sinks.mutes import Mutes

PERIODS = {"hour": 3_600.0, "day": 86_400.0}
TOP = 10
MAX_ENTRIES = 50
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass
class Digest:
    period: str
    start: float
    end: float
    entries: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    severities: list[tuple[str, int]] = field(default_factory=list)
    entities: list[tuple[str, int]] = field(default_factory=list)
    themes: list[tuple[str, int]] = field(default_factory=list)
    languages: list[tuple[str, int]] = field(default_factory=list)


def build_digest(
    alerts: list[dict[str, Any]],
    period: str,
    *,
    now: float,
    mutes: Mutes | None = None,
    names: DisplayNames | None = None,
) -> Digest:
    length = PERIODS[period]
    mutes = mutes or Mutes()
    start = now - length
    chosen = [
        a for a in alerts if start <= float(a.get("created_at") or 0) <= now and not mutes.mutes(a)
    ]
    severities: Counter[str] = Counter(a.get("severity", "low") for a in chosen)
    entities: Counter[str] = Counter(e for a in chosen for e in set(a.get("entities") or ()))
    themes: Counter[str] = Counter(t for a in chosen for t in set(a.get("themes") or ()))
    languages: Counter[str] = Counter(a.get("lang") or "?" for a in chosen)
    chosen.sort(
        key=lambda a: (-_RANK.get(str(a.get("severity")), 0), -float(a.get("created_at", 0)))
    )
    return Digest(
        period=period,
        start=start,
        end=now,
        entries=chosen[:MAX_ENTRIES],
        total=len(chosen),
        severities=[(s, severities[s]) for s in reversed(SEVERITIES) if severities[s]],
        entities=entities.most_common(TOP),
        themes=themes.most_common(TOP),
        languages=languages.most_common(TOP),
    )
