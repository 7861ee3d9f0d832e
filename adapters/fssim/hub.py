"""The event bus between call logic and listeners, plus the simulated clock.

Invariants:
* Event-Sequence increases by one for every event fired, whether or not anyone listens.
* `fire` delivers synchronously to every interested listener, in listener order; an event is
  serialised at most once per format.
* Simulated time runs `speed` times faster than the event loop's monotonic clock; timers take
  simulated delays and are converted once, here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from adapters.fssim.events import CALLING, EventClock, Identity, OutEvent, Pair

__all__ = ["Hub", "Listener", "SimClock"]


class SimClock:
    __slots__ = ("_loop", "_mono0", "_wall0_us", "speed")

    def __init__(self, loop: asyncio.AbstractEventLoop, speed: float) -> None:
        self._loop = loop
        self.speed = speed
        self._mono0 = loop.time()
        self._wall0_us = time.time_ns() // 1000

    def now_us(self) -> int:
        return self._wall0_us + int((self._loop.time() - self._mono0) * self.speed * 1_000_000)

    def call_at_us(self, sim_us: int, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """Run `callback` when the simulated clock reaches `sim_us` (now if it already has)."""
        delay = (sim_us - self.now_us()) / 1_000_000 / self.speed
        return self._loop.call_later(max(delay, 0.0), callback)


class Listener(Protocol):
    def wants(self, name: str, subclass: str | None) -> bool: ...

    def deliver(self, event: OutEvent) -> None: ...


class Hub:
    __slots__ = ("_dates", "clock", "identity", "listeners", "sequence")

    def __init__(self, identity: Identity, clock: SimClock) -> None:
        self.identity = identity
        self.clock = clock
        self.sequence = 0
        self._dates = EventClock()
        self.listeners: list[Listener] = []

    def wanted(self, name: str, subclass: str | None = None) -> bool:
        """Whether any listener would take this event; lets callers skip building it."""
        for listener in self.listeners:
            if listener.wants(name, subclass):
                return True
        self.sequence += 1
        return False

    def common(self, name: str, ts_us: int, subclass: str | None = None) -> list[Pair]:
        """The headers switch_event_prep_for_delivery puts first, with the next sequence."""
        self.sequence += 1
        local, gmt = self._dates.dates(ts_us)
        file, func, line = CALLING.get(name, CALLING["API"])
        ident = self.identity
        head: list[Pair] = []
        if subclass is not None:
            head.append(("Event-Subclass", subclass))
        head += [
            ("Event-Name", name),
            ("Core-UUID", ident.core_uuid),
            ("FreeSWITCH-Hostname", ident.hostname),
            ("FreeSWITCH-Switchname", ident.hostname),
            ("FreeSWITCH-IPv4", ident.ipv4),
            ("FreeSWITCH-IPv6", ident.ipv6),
            ("Event-Date-Local", local),
            ("Event-Date-GMT", gmt),
            ("Event-Date-Timestamp", str(ts_us)),
            ("Event-Calling-File", file),
            ("Event-Calling-Function", func),
            ("Event-Calling-Line-Number", str(line)),
            ("Event-Sequence", str(self.sequence)),
        ]
        return head

    def fire(self, event: OutEvent) -> None:
        for listener in list(self.listeners):
            if listener.wants(event.name, event.subclass):
                listener.deliver(event)

    def fire_simple(
        self,
        name: str,
        ts_us: int,
        extra: Iterable[Pair] = (),
        *,
        subclass: str | None = None,
        body: str | None = None,
    ) -> None:
        """An event without channel data (BACKGROUND_JOB, HEARTBEAT, CUSTOM avmd::*)."""
        if not self.wanted(name, subclass):
            return
        head = self.common(name, ts_us, subclass)
        head.extend(extra)
        self.fire(OutEvent(name, head, subclass=subclass, body=body))
