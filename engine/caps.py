"""Calls per number over a rolling 24 hours (the calling policy's per-number cap).

Every call leg is recorded against its number, whatever the campaign; a campaign whose
policy sets ``max_calls_per_number_per_day`` may call a number only while fewer than that
many legs reached it in the last 24 hours (see ``CallingPolicy``). Times older than 24 h
are dropped when the number is next looked at, so each number keeps at most a day of
history.
"""

from __future__ import annotations

from collections import deque

PERIOD = 86_400.0


class CallLog:
    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}

    def record(self, number: str, at: float) -> None:
        times = self._times.get(number)
        if times is None:
            times = self._times[number] = deque()
        self._trim(times, at)
        times.append(at)

    def count(self, number: str, now: float) -> int:
        times = self._times.get(number)
        if times is None:
            return 0
        self._trim(times, now)
        if not times:
            del self._times[number]
            return 0
        return len(times)

    def released_at(self, number: str, cap: int, now: float) -> float:
        """When the number may be called again under ``cap`` (``now`` if it may already)."""
        n = self.count(number, now)
        if n < cap:
            return now
        return self._times[number][n - cap] + PERIOD

    @staticmethod
    def _trim(times: deque[float], now: float) -> None:
        while times and times[0] <= now - PERIOD:
            times.popleft()
