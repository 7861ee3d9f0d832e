"""Calling policy beyond the seeds (vietnam.md): a per-number cap over 24 h, allowed hours,
and the "advertising" preset with Decree 91/2020 defaults."""

from __future__ import annotations

from types import MappingProxyType

from engine.lead import LeadState
from engine.model import CallingPolicy, CallStatus, DayWindow, ModeCall
from tests.engine.rig import (
    BUSY,
    DAY,
    NO_ANSWER,
    Outcome,
    Rig,
    basic_campaign,
    local,
    phone,
    vn_epoch,
)

H = 3_600_000_000_000
BUSY_RECALL = frozenset({CallStatus.BUSY})


def test_per_number_cap_defers_the_next_call_by_24_hours() -> None:
    """vietnam.md policy max_calls_per_number_per_day 2: the third call to a number waits
    until 24 h after the first (and explain names the cap)."""
    rig = Rig(outcome=lambda o: BUSY)
    rig.campaign(basic_campaign(recall_times=5, recall_status=BUSY_RECALL,
                                schedule_recall_duration=1,
                                policy=CallingPolicy(max_calls_per_number_per_day=2)))
    rig.lead("a", "c1", phone(1))
    rig.run(200)
    assert len(rig.calls_of("a")) == 2
    ex = rig.dialer.explain("a", rig.clock.now())
    assert ex is not None and ex.rule == "daily_cap" and ex.next_try_at == rig.start + DAY
    assert rig.events_of("a")[-1].reason.startswith("per-number cap reached")
    rig.run(DAY)
    times = [t - rig.start for t, _ in rig.calls_of("a")]
    assert times[:4] == [0, 63, DAY, DAY + 63]
    rig.run_until_idle(limit=10 * DAY)
    rig.finish()


def test_the_cap_counts_every_campaign_and_lead_calling_the_number() -> None:
    """vietnam.md policy: the cap is per number, whoever called it (conservative for one
    advertiser with several campaigns)."""
    rig = Rig()
    rig.campaign(basic_campaign("free"))
    rig.campaign(basic_campaign("ads", policy=CallingPolicy(max_calls_per_number_per_day=1)))
    rig.lead("x", "free", phone(1))
    rig.run(60)
    rig.lead("y", "ads", phone(1))
    rig.lead("z", "ads", phone(2))
    assert [o.lead_uuid for _, o in rig.originated] == ["x", "z"]
    ex = rig.dialer.explain("y", rig.clock.now())
    assert ex is not None and ex.rule == "daily_cap" and ex.next_try_at == rig.start + DAY
    rig.run_until_idle()
    assert rig.calls_of("y")[0][0] == rig.start + DAY
    rig.finish()


def test_a_cap_release_in_closed_hours_waits_for_the_next_window() -> None:
    """vietnam.md cap × seed 001 schedules: released Tuesday 16:00 while Tuesday's window
    ends at 12:00 → dialed at Wednesday's opening."""
    week = MappingProxyType({0: DayWindow(8 * H, 17 * H), 1: DayWindow(8 * H, 12 * H),
                             2: DayWindow(8 * H, 17 * H)})
    rig = Rig(start=vn_epoch(2026, 11, 23, 16))
    rig.campaign(basic_campaign(schedules=week,
                                policy=CallingPolicy(max_calls_per_number_per_day=1)))
    rig.lead("a", "c1", phone(1))
    rig.run(60)
    rig.lead("b", "c1", phone(1))
    rig.run_until_idle()
    assert rig.calls_of("b")[0][0] == vn_epoch(2026, 11, 25, 8)
    rig.finish()


def test_advertising_preset_follows_decree_91() -> None:
    """vietnam.md Decree 91/2020: 08:00-17:00 local, one call per number per 24 h (rolling:
    a number called at 16:59 is not called again at 08:00 the next morning), national DNC."""
    policy = CallingPolicy.advertising()
    assert (policy.allowed_start_s, policy.allowed_end_s) == (8 * 3600, 17 * 3600)
    assert policy.max_calls_per_number_per_day == 1 and policy.respect_national_dnc
    rig = Rig(outcome=lambda o: NO_ANSWER, start=vn_epoch(2026, 11, 23, 7))
    rig.campaign(basic_campaign(policy=policy, recall_times=3,
                                recall_status=frozenset({CallStatus.NO_ANSWER})))
    rig.dialer.add_dnc_phones([phone(9)])
    rig.lead("early", "c1", phone(1))
    rig.lead("listed", "c1", phone(9))
    rig.run_to(vn_epoch(2026, 11, 23, 16, 59))
    rig.lead("late", "c1", phone(2))
    rig.run_until_idle(limit=10 * DAY)
    assert rig.calls_of("early")[0][0] == vn_epoch(2026, 11, 23, 8)
    late = [t for t, _ in rig.calls_of("late")]
    assert late[:2] == [vn_epoch(2026, 11, 23, 16, 59), vn_epoch(2026, 11, 24, 16, 59)]
    assert all(8 <= local(t).hour < 17 for t, _ in rig.originated)
    assert rig.state("listed") is LeadState.SKIPPED
    rig.finish()


def test_parallel_rings_the_numbers_still_under_the_cap() -> None:
    """vietnam.md cap × seed 001 parallel: a capped number is left out of the round."""
    rig = Rig(outcome=lambda o: Outcome(talk=10))
    rig.campaign(basic_campaign(mode_call=ModeCall.PARALLEL,
                                policy=CallingPolicy(max_calls_per_number_per_day=1)))
    rig.lead("x", "c1", phone(1))
    rig.run(60)
    rig.lead("y", "c1", phone(1), phone(2))
    assert [o.destination for _, o in rig.calls_of("y")] == [phone(2)]
    rig.run_until_idle()
    rig.finish()
