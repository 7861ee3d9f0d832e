"""The hooks the engine's shell calls at its boundaries (style.md §12): what an operator
measures, without the engine knowing how it is measured. dialer/metrics.py implements
them with Prometheus; the load test adds its own recorder; ``NO_HOOKS`` does nothing.

Times are the engine clock's seconds (``Clock.now``), so latencies are differences of two
readings of the same clock.

Refill latency: a leg ends while its campaign still has queued work, freeing a slot; the
campaign's next origination refills it. ``RefillTracker`` pairs the two, oldest freed slot
first, and forgets freed slots once the campaign's queue is empty (a slot nobody waits for
is not a slot waiting to be refilled).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Protocol

from engine.records import Cdr, LeadEvent

__all__ = ["NO_HOOKS", "EngineHooks", "FanOut", "NoHooks", "RefillTracker"]

# A campaign never has more freed-and-waiting slots than live legs; this bounds the memory
# of a pathological run (a campaign that keeps work queued that never becomes ready).
MAX_FREED = 100_000


class EngineHooks(Protocol):
    def originated(self, campaign_uuid: str, node: str) -> None:
        """The shell handed one Originate to the switch."""

    def answered(self, campaign_uuid: str, node: str, seconds: float) -> None:
        """A leg was answered ``seconds`` after the engine originated it."""

    def refilled(self, campaign_uuid: str, seconds: float) -> None:
        """A freed slot of the campaign was refilled ``seconds`` after it was freed."""

    def recorded(self, record: Cdr | LeadEvent) -> None:
        """The engine produced a record (before it is published)."""


class NoHooks:
    def originated(self, campaign_uuid: str, node: str) -> None:
        return None

    def answered(self, campaign_uuid: str, node: str, seconds: float) -> None:
        return None

    def refilled(self, campaign_uuid: str, seconds: float) -> None:
        return None

    def recorded(self, record: Cdr | LeadEvent) -> None:
        return None


NO_HOOKS = NoHooks()


class FanOut:
    """Several hooks as one (metrics and a load-test recorder in the same process)."""

    def __init__(self, hooks: Iterable[EngineHooks]) -> None:
        self._hooks = tuple(hooks)

    def originated(self, campaign_uuid: str, node: str) -> None:
        for h in self._hooks:
            h.originated(campaign_uuid, node)

    def answered(self, campaign_uuid: str, node: str, seconds: float) -> None:
        for h in self._hooks:
            h.answered(campaign_uuid, node, seconds)

    def refilled(self, campaign_uuid: str, seconds: float) -> None:
        for h in self._hooks:
            h.refilled(campaign_uuid, seconds)

    def recorded(self, record: Cdr | LeadEvent) -> None:
        for h in self._hooks:
            h.recorded(record)


class RefillTracker:
    """Freed slots per campaign (their times), oldest first."""

    def __init__(self) -> None:
        self._freed: dict[str, deque[float]] = {}

    def freed(self, campaign_uuid: str, at: float) -> None:
        q = self._freed.get(campaign_uuid)
        if q is None:
            q = self._freed[campaign_uuid] = deque(maxlen=MAX_FREED)
        q.append(at)

    def refill(self, campaign_uuid: str, at: float) -> float | None:
        """Seconds the oldest freed slot waited, or None (the origination filled a slot
        that was never taken: a campaign ramping up)."""
        q = self._freed.get(campaign_uuid)
        if not q:
            return None
        return max(0.0, at - q.popleft())

    def forget(self, campaign_uuid: str) -> None:
        self._freed.pop(campaign_uuid, None)

    def campaigns(self) -> list[str]:
        return [c for c, q in self._freed.items() if q]
