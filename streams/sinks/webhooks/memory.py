"""What this process knows about an endpoint's deliveries that Redis does not (yet).

A delivery's outcome (delivered, retry at, dead letter, endpoint disabled) is written to the
outbox after its request; while Redis is down it waits here. All workers of this process on
the same outbox (same Redis server and database, same endpoint) share one `OutcomeMemory`,
so none of them sends a delivery whose outcome another knows, and a worker started after one
that stopped during an outage records what the stopped one could not.

Bounded in practice: only claimed deliveries get outcomes, claims need Redis, and a worker
claims nothing more while `len(unrecorded)` is at its limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from newswatch.streams.sinks.webhooks.outbox import Outbox


@dataclass
class OutcomeMemory:
    # Outcomes not (yet) in Redis, by alert id: the due time of a retry, or None when the
    # delivery is over (delivered, dead-lettered, endpoint disabled).
    unrecorded: dict[str, float | None] = field(default_factory=dict)
    # Answered 2xx and not being recorded yet (recorded in batches).
    delivered: list[str] = field(default_factory=list)
    # Retries a claim returned before their reschedule was recorded: the claim's lease may
    # have replaced the retry's due time, which is written again once the reschedule is.
    recheck: set[str] = field(default_factory=set)
    # Outcomes recorded while a claim was in flight, one dict per claim in flight: in Redis
    # the claim may have run before them.
    _claims: list[dict[str, float | None]] = field(default_factory=list)

    def remember(self, alert_id: str, due: float | None) -> None:
        self.unrecorded[alert_id] = due

    def remember_delivered(self, alert_id: str) -> None:
        self.unrecorded[alert_id] = None
        self.delivered.append(alert_id)

    def take_delivered(self) -> list[str]:
        """The deliveries to record now; `give_back` them if that fails."""
        batch, self.delivered = self.delivered, []
        return batch

    def give_back(self, batch: list[str]) -> None:
        self.delivered[:0] = batch

    def recorded(self, alert_id: str, due: float | None) -> None:
        self.unrecorded.pop(alert_id, None)
        for seen in self._claims:
            seen[alert_id] = due

    def forget(self, alert_id: str) -> None:
        """The outcome will never be recorded (its writer was cancelled): the lease decides."""
        self.unrecorded.pop(alert_id, None)
        self.recheck.discard(alert_id)

    @contextmanager
    def claiming(self) -> Iterator[dict[str, float | None]]:
        """Collect the outcomes recorded while a claim is in flight."""
        seen: dict[str, float | None] = {}
        self._claims.append(seen)
        try:
            yield seen
        finally:
            self._claims.remove(seen)


_MEMORIES: dict[tuple[object, ...], OutcomeMemory] = {}


def memory_for(outbox: Outbox) -> OutcomeMemory:
    """The memory shared by every worker of this process on `outbox`'s Redis and endpoint."""
    return _MEMORIES.setdefault(outbox.identity, OutcomeMemory())
