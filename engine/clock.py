"""Time, injected: the engine never reads the system clock itself.

``now()`` is wall-clock epoch seconds (windows and stamps need the calendar);
``call_later`` arms a one-shot timer. ``VirtualClock`` lets a test run a day of a
campaign in milliseconds: ``advance(dt)`` fires due timers in time order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


@dataclass(order=True, slots=True)
class _VirtualTimer:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[_VirtualTimer] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> _VirtualTimer:
        timer = _VirtualTimer(self._now + max(0.0, delay), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer due on the way, in order."""
        target = self._now + seconds
        while (deadline := self.next_deadline()) is not None and deadline <= target:
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.when)
            timer.callback()
        self._now = target

    def set(self, epoch: float) -> None:
        if epoch < self._now:
            raise ValueError("a virtual clock never goes backwards")
        self.advance(epoch - self._now)
