"""Weekday calling windows in the campaign's own time zone (seed 001 ``schedules``).

Windows are local wall-clock times in ``Campaign.time_zone`` (default Asia/Ho_Chi_Minh),
never UTC: the classic failure of dialers (Newfies #11) is a window hours off.

Rules:
- A weekday's window is [start, end) seconds after local midnight: the seed's ``schedules``
  entry for that weekday, narrowed by the seed's ``local_start_time``/``local_end_time``
  (``Campaign.local_start_s``/``local_end_s``) and by the calling policy's allowed hours.
  ``schedules`` None means every weekday is allowed; a weekday missing from ``schedules``,
  or whose end is not after its start (start == end included), never dials. Values are
  clamped to one day: a window never crosses midnight. A ``local_end_s`` of 0 means no
  bound (the seed sends "" when it has none).
- Local times become instants by the first instant at which the wall clock shows that
  time or later. On a spring-forward day a start inside the gap (02:30 in Berlin) opens at
  the transition (03:00 local); on a fall-back day a time that occurs twice counts at its
  first occurrence, so a window never opens twice and an hour is never lost or doubled
  at its edges. A window spanning the change is an hour shorter or longer in real time.
- ``state_at`` answers "open or closed, and until when", so the owner can cache the answer
  until that instant instead of converting time zones on every pump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from engine.model import NS_PER_SECOND, Campaign, DayWindow

DAY_SECONDS = 86_400
# Windows repeat weekly; eight days cover every weekday from any starting point.
_SEARCH_DAYS = 8


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_local_time(text: str) -> int:
    """Seed 001 ``local_start_time``/``local_end_time`` ("08:00:00") → seconds.

    "" means no bound and maps to 0; an end of "23:59:59" is the end of the day (86 400):
    the seed's all-day example must not leave the last second of each day closed.
    Raises ValueError on anything else.
    """
    if not text:
        return 0
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"not a local time: {text!r}")
    h, m, s = (int(p) for p in [*parts, "0"][:3])
    if h > 24 or m > 59 or s > 59 or (h == 24 and (m or s)):
        raise ValueError(f"not a local time: {text!r}")
    seconds = h * 3600 + m * 60 + s
    return DAY_SECONDS if seconds == DAY_SECONDS - 1 else seconds


def day_bounds(campaign: Campaign, weekday: int) -> tuple[float, float] | None:
    """Seconds after local midnight [start, end) for one weekday, or None (no dialing)."""
    policy = campaign.policy
    start = float(max(0, policy.allowed_start_s, campaign.local_start_s))
    end = float(min(DAY_SECONDS, policy.allowed_end_s, campaign.local_end_s or DAY_SECONDS))
    if campaign.schedules is not None:
        window: DayWindow | None = campaign.schedules.get(weekday)
        if window is None or window.end_ns <= window.start_ns:
            return None
        start = max(start, window.start_ns / NS_PER_SECOND)
        end = min(end, window.end_ns / NS_PER_SECOND)
    return (start, end) if end > start else None


def _wall(epoch: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(epoch, tz).replace(tzinfo=None)


def first_instant(day: date, seconds: float, tz: tzinfo) -> float:
    """The first instant at which the local wall clock of ``day`` reads ``seconds`` or more."""
    naive = datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)
    a = naive.replace(tzinfo=tz, fold=0).timestamp()
    b = naive.replace(tzinfo=tz, fold=1).timestamp()
    lo, hi = min(a, b), max(a, b)
    if lo == hi or _wall(lo, tz) == naive:
        return lo  # an ordinary time, or the first of a repeated one (fall back)
    # Inside a spring-forward gap: the wall clock jumps past ``naive`` at the transition,
    # which lies in (lo, hi]. Transitions fall on whole seconds.
    left, right = math.floor(lo), math.ceil(hi)
    while right - left > 1:
        mid = (left + right) // 2
        if _wall(mid, tz) >= naive:
            right = mid
        else:
            left = mid
    return float(right)


@dataclass(frozen=True, slots=True)
class WindowState:
    """Open or closed at some instant, and the instant that changes (None: never)."""

    open: bool
    until: float | None


def _span(campaign: Campaign, day: date, tz: tzinfo) -> tuple[float, float] | None:
    bounds = day_bounds(campaign, day.weekday())
    if bounds is None:
        return None
    opening, closing = first_instant(day, bounds[0], tz), first_instant(day, bounds[1], tz)
    return (opening, closing) if closing > opening else None


def state_at(campaign: Campaign, now: float) -> WindowState:
    tz = zone(campaign.time_zone)
    today = datetime.fromtimestamp(now, tz).date()
    for i in range(_SEARCH_DAYS):
        span = _span(campaign, today + timedelta(days=i), tz)
        if span is None:
            continue
        opening, closing = span
        if now < opening:
            return WindowState(False, opening)
        if now < closing:
            # Windows that touch across midnight (00:00-24:00 every day) are one window.
            for j in range(i + 1, i + _SEARCH_DAYS):
                following = _span(campaign, today + timedelta(days=j), tz)
                if following is None or following[0] > closing:
                    break
                closing = following[1]
            return WindowState(True, closing)
    return WindowState(False, None)


def is_open(campaign: Campaign, now: float) -> bool:
    return state_at(campaign, now).open


def next_open(campaign: Campaign, now: float) -> float | None:
    """``now`` when open, else when the window next opens (None: never in a week)."""
    state = state_at(campaign, now)
    return now if state.open else state.until


class WindowCache:
    """One campaign's window state, recomputed only when its spec changes or it expires."""

    __slots__ = ("_computed_at", "_spec", "_state")

    def __init__(self) -> None:
        self._spec: Campaign | None = None
        self._state = WindowState(False, None)
        self._computed_at = 0.0

    def state(self, campaign: Campaign, now: float) -> WindowState:
        s = self._state
        fresh = (
            self._spec is campaign
            and self._computed_at <= now
            and (s.until is None or now < s.until)
        )
        if not fresh:
            s = self._state = state_at(campaign, now)
            self._spec, self._computed_at = campaign, now
        return s
