"""Calling windows (seed 001 ``schedules``, ``local_start_time``/``local_end_time``, the
campaign's time zone) as local wall-clock time, also across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from engine import windows
from engine.lead import LeadState
from engine.model import CallingPolicy, Campaign, DayWindow
from tests.engine.rig import Outcome, Rig, basic_campaign, epoch, local, phone, vn_epoch

H = 3_600_000_000_000  # one hour in ns
SEED_START, SEED_END = 28_800_000_000_000, 75_600_000_000_000  # seed 001: 08:00, 21:00
EVERY_DAY = MappingProxyType({d: DayWindow(SEED_START, SEED_END) for d in range(7)})


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()


def camp(**kw: object) -> Campaign:
    return basic_campaign("c1", **kw)


def test_seed_schedule_is_local_time_in_ho_chi_minh_by_default() -> None:
    """seed 001 schedules (28800000000000 = 08:00, 75600000000000 = 21:00) are nanoseconds
    after local midnight in Asia/Ho_Chi_Minh, not UTC (Newfies #11)."""
    c = camp(schedules=EVERY_DAY)
    assert c.time_zone == "Asia/Ho_Chi_Minh"
    before = windows.state_at(c, vn_epoch(2026, 11, 23, 7, 59, 59))
    assert not before.open
    assert before.until == vn_epoch(2026, 11, 23, 8) == utc(2026, 11, 23, 1)
    during = windows.state_at(c, vn_epoch(2026, 11, 23, 8))
    assert during.open and during.until == vn_epoch(2026, 11, 23, 21)
    assert not windows.is_open(c, vn_epoch(2026, 11, 23, 21))  # [start, end)


def test_a_weekday_missing_from_schedules_never_dials() -> None:
    """seed 001 schedules: a weekday without times does not dial; the next window is found
    days ahead."""
    c = camp(schedules=MappingProxyType({0: DayWindow(8 * H, 21 * H), 2: DayWindow(8 * H, 21 * H)}))
    tuesday_noon = vn_epoch(2026, 11, 24, 12)
    assert not windows.is_open(c, tuesday_noon)
    assert windows.next_open(c, vn_epoch(2026, 11, 23, 21)) == vn_epoch(2026, 11, 25, 8)


@pytest.mark.parametrize(("start", "end"), [(8 * H, 8 * H), (21 * H, 8 * H), (0, 0)])
def test_a_window_whose_end_is_not_after_its_start_is_closed(start: int, end: int) -> None:
    """seed 001 schedules: start == end (or end before start) is no window that day; a
    window never crosses midnight."""
    c = camp(schedules=MappingProxyType({0: DayWindow(start, end), 1: DayWindow(8 * H, 9 * H)}))
    assert not any(windows.is_open(c, vn_epoch(2026, 11, 23, h)) for h in range(24))
    assert windows.next_open(c, vn_epoch(2026, 11, 23, 0)) == vn_epoch(2026, 11, 24, 8)


def test_no_schedules_means_any_time() -> None:
    """seed 001 GET example: "schedules": null → no weekday restriction."""
    c = camp()
    assert all(windows.is_open(c, vn_epoch(2026, 11, 23 + d, h)) for d in range(7)
               for h in (0, 3, 12, 23))


def test_local_start_and_end_time_narrow_the_schedule() -> None:
    """seed 001 local_start_time / local_end_time ("00:00:00"/"23:59:59" = all day)."""
    assert windows.parse_local_time("08:30:00") == 8 * 3600 + 1800
    assert windows.parse_local_time("23:59:59") == 86_400
    assert windows.parse_local_time("24:00:00") == 86_400
    assert windows.parse_local_time("") == 0
    for bad in ("8h", "25:00:00", "12:60:00", "１2:00:00", "12:00:00:00"):
        with pytest.raises(ValueError, match="not a local time"):
            windows.parse_local_time(bad)
    c = camp(schedules=EVERY_DAY, local_start_s=9 * 3600, local_end_s=18 * 3600)
    assert windows.next_open(c, vn_epoch(2026, 11, 23, 7)) == vn_epoch(2026, 11, 23, 9)
    assert windows.state_at(c, vn_epoch(2026, 11, 23, 9)).until == vn_epoch(2026, 11, 23, 18)
    all_day = camp(local_start_s=0, local_end_s=windows.parse_local_time("23:59:59"))
    assert windows.is_open(all_day, vn_epoch(2026, 11, 23, 23, 59, 59))


def test_policy_hours_narrow_and_never_widen() -> None:
    """Calling policy allowed hours (vietnam.md): intersected with the schedule."""
    narrow = camp(schedules=EVERY_DAY, policy=CallingPolicy(allowed_start_s=7 * 3600,
                                                             allowed_end_s=17 * 3600))
    assert windows.next_open(narrow, vn_epoch(2026, 11, 23, 6)) == vn_epoch(2026, 11, 23, 8)
    assert windows.state_at(narrow, vn_epoch(2026, 11, 23, 8)).until == vn_epoch(2026, 11, 23, 17)


# ---- daylight saving: Europe/Berlin 2026-03-29 02:00→03:00, 2026-10-25 03:00→02:00 ----
BERLIN = "Europe/Berlin"


def test_berlin_spring_forward_keeps_the_wall_clock() -> None:
    """seed 001 schedules in a DST zone: 08:00 local is 07:00Z in winter, 06:00Z in summer."""
    c = camp(schedules=EVERY_DAY, time_zone=BERLIN)
    assert windows.next_open(c, utc(2026, 3, 28, 0)) == utc(2026, 3, 28, 7)
    assert windows.next_open(c, utc(2026, 3, 29, 0)) == utc(2026, 3, 29, 6)
    # 21:00 CEST closes at 19:00Z; the day's window is 13 h of wall clock, 13 h real.
    assert windows.state_at(c, utc(2026, 3, 29, 6)).until == utc(2026, 3, 29, 19)


def test_berlin_a_start_inside_the_spring_gap_opens_at_the_transition() -> None:
    """02:30 does not exist on 2026-03-29 in Berlin: the window opens when the clock jumps
    to 03:00 (01:00Z), not an hour late at 03:30."""
    c = camp(time_zone=BERLIN,
             schedules=MappingProxyType({6: DayWindow(int(2.5 * H), 4 * H)}))
    state = windows.state_at(c, utc(2026, 3, 29, 0, 10))  # 01:10 CET
    assert not state.open and state.until == utc(2026, 3, 29, 1)
    assert windows.state_at(c, utc(2026, 3, 29, 1)).until == utc(2026, 3, 29, 2)  # 04:00 CEST


def test_berlin_fall_back_does_not_open_a_window_twice() -> None:
    """02:00-02:30 happens twice on 2026-10-25 in Berlin; the window is the first of them."""
    c = camp(time_zone=BERLIN, schedules=MappingProxyType({6: DayWindow(2 * H, int(2.5 * H))}))
    assert windows.next_open(c, utc(2026, 10, 24, 23)) == utc(2026, 10, 25, 0)  # 02:00 CEST
    assert windows.state_at(c, utc(2026, 10, 25, 0)).until == utc(2026, 10, 25, 0, 30)
    assert not windows.is_open(c, utc(2026, 10, 25, 1, 15))  # 02:15 CET, second time round
    whole_day = camp(time_zone=BERLIN, schedules=MappingProxyType({6: DayWindow(0, 24 * H)}))
    state = windows.state_at(whole_day, utc(2026, 10, 25, 0))
    assert state.open and state.until == utc(2026, 10, 25, 23)  # 25 real hours that day
    assert windows.next_open(whole_day, utc(2026, 10, 25, 23)) == utc(2026, 11, 1, 0) - 3600


@pytest.mark.parametrize(
    ("day", "opens_utc_hour"),
    [((2026, 3, 7), 13), ((2026, 3, 8), 12), ((2026, 10, 31), 12), ((2026, 11, 1), 13)],
)
def test_new_york_both_transitions(day: tuple[int, int, int], opens_utc_hour: int) -> None:
    """seed 001 schedules in America/New_York: 08:00 local across both 2026 transitions."""
    c = camp(schedules=EVERY_DAY, time_zone="America/New_York")
    assert windows.next_open(c, utc(*day, 2)) == utc(*day, opens_utc_hour)


def test_window_cache_follows_spec_changes() -> None:
    """seed 001 PUT: a schedule update takes effect at once (the cached state is per spec)."""
    cache = windows.WindowCache()
    c = camp(schedules=EVERY_DAY)
    t = vn_epoch(2026, 11, 23, 7)
    assert not cache.state(c, t).open
    widened = camp(schedules=MappingProxyType({0: DayWindow(6 * H, 22 * H)}))
    assert cache.state(widened, t).open


# ---- on the engine -----------------------------------------------------------------------
def test_outside_the_window_leads_wait_live_calls_finish_and_dialing_resumes() -> None:
    """seed 001 schedules: at 21:00 nothing new is dialed but the live call finishes; at
    08:00 the next morning dialing resumes by itself (the wake-up is the opening)."""
    rig = Rig(outcome=lambda o: Outcome(talk=120), start=vn_epoch(2026, 11, 23, 20, 59))
    rig.campaign(camp(concurrent_call=1, schedules=EVERY_DAY))
    for i in range(3):
        rig.lead(f"l{i}", "c1", phone(i))
    assert len(rig.originated) == 1
    rig.run_to(vn_epoch(2026, 11, 23, 21, 30))
    assert len(rig.cdrs) == 1 and rig.cdrs[0].status == "answered"
    assert rig.cdrs[0].end_stamp == "2026-11-23 21:01:05"
    assert len(rig.originated) == 1
    assert rig.dialer.next_wakeup() == vn_epoch(2026, 11, 24, 8)
    ex = rig.dialer.explain("l1", rig.clock.now())
    assert ex is not None and ex.rule == "window_closed"
    assert ex.next_try_at == vn_epoch(2026, 11, 24, 8)
    rig.run_until_idle()
    times = [t for t, _ in rig.originated]
    assert times[1] == vn_epoch(2026, 11, 24, 8)
    assert all(rig.state(f"l{i}") is LeadState.COMPLETED for i in range(3))


def test_a_campaign_in_berlin_dials_at_local_eight_on_both_sides_of_spring_forward() -> None:
    """seed 001 schedules + time zone with DST: the engine wakes at 08:00 local each day."""
    start = epoch(BERLIN, 2026, 3, 28, 7)
    rig = Rig(outcome=lambda o: Outcome(talk=3600), start=start)
    window = MappingProxyType({d: DayWindow(8 * H, 10 * H) for d in range(7)})
    rig.campaign(camp(concurrent_call=1, schedules=window, time_zone=BERLIN))
    for i in range(3):
        rig.lead(f"l{i}", "c1", phone(i))
    rig.run_until_idle()
    times = [t for t, _ in rig.originated]
    assert times[0] == utc(2026, 3, 28, 7)  # Saturday 08:00 CET
    assert local(times[1], BERLIN).hour == 9  # the second call fits before 10:00
    assert times[2] == utc(2026, 3, 29, 6)  # Sunday 08:00 CEST
    assert rig.cdrs[1].end_stamp == "2026-03-28 10:00:10"  # the live call ran past 10:00
