"""Weekday calling windows in the campaign's own time zone (seed 001 ``schedules``).

Windows are compared in local time of ``Campaign.time_zone`` (default Asia/Ho_Chi_Minh),
never in UTC: the classic failure of dialers (Newfies #11) is a window hours off.
A window is [start, end) in nanoseconds after local midnight; the calling policy's
allowed hours intersect it. Across a DST change local midnight still anchors the day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from engine.model import NS_PER_SECOND, Campaign, DayWindow

_SEARCH_DAYS = 8


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _effective(campaign: Campaign, weekday: int) -> tuple[float, float] | None:
    """Seconds after local midnight [start, end) for one weekday, or None (no dialing)."""
    policy = campaign.policy
    start, end = float(policy.allowed_start_s), float(policy.allowed_end_s)
    if campaign.schedules is not None:
        window: DayWindow | None = campaign.schedules.get(weekday)
        if window is None:
            return None
        start = max(start, window.start_ns / NS_PER_SECOND)
        end = min(end, window.end_ns / NS_PER_SECOND)
    return (start, end) if end > start else None


def _local_midnight(local: datetime) -> datetime:
    tz = local.tzinfo
    naive = local.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    return naive.replace(tzinfo=tz)


def is_open(campaign: Campaign, now: float) -> bool:
    local = datetime.fromtimestamp(now, zone(campaign.time_zone))
    bounds = _effective(campaign, local.weekday())
    if bounds is None:
        return False
    midnight = _local_midnight(local)
    wall_seconds = (local.replace(tzinfo=None) - midnight.replace(tzinfo=None)).total_seconds()
    return bounds[0] <= wall_seconds < bounds[1]


def next_open(campaign: Campaign, now: float) -> float | None:
    """Epoch seconds when the window next opens after ``now`` (None: never in a week)."""
    tz = zone(campaign.time_zone)
    local = datetime.fromtimestamp(now, tz)
    midnight = _local_midnight(local).replace(tzinfo=None)
    for day in range(_SEARCH_DAYS):
        day_start = midnight + timedelta(days=day)
        bounds = _effective(campaign, day_start.weekday())
        if bounds is None:
            continue
        opening = (day_start + timedelta(seconds=bounds[0])).replace(tzinfo=tz).timestamp()
        closing = (day_start + timedelta(seconds=bounds[1])).replace(tzinfo=tz).timestamp()
        if opening > now:
            return opening
        if closing > now:
            return now
    return None


def local_day(campaign_tz: str, now: float) -> str:
    """The callee-facing calendar day (YYYY-MM-DD) for daily caps."""
    return datetime.fromtimestamp(now, zone(campaign_tz)).strftime("%Y-%m-%d")


def next_midnight(campaign_tz: str, now: float) -> float:
    """Epoch seconds of the next local midnight (daily caps reset there)."""
    tz = zone(campaign_tz)
    local = datetime.fromtimestamp(now, tz).replace(tzinfo=None)
    tomorrow = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return tomorrow.replace(tzinfo=tz).timestamp()
