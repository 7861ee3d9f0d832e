""""Why is this lead not being dialed?" (what-users-expect.md, goautodial #4): for any
lead, its state and the rule that holds it."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from engine.model import CallingPolicy, CallStatus, CampaignStatus, DayWindow, ScheduleRecall
from engine.pacing import SwitchNode
from engine.records import Explanation
from tests.engine.rig import BUSY, Outcome, Rig, basic_campaign, phone, vn_epoch

LONG = Outcome(talk=600)


def why(rig: Rig, lead_uuid: str) -> Explanation:
    ex = rig.dialer.explain(lead_uuid, rig.clock.now())
    assert ex is not None
    return ex


def test_terminal_states_name_how_the_lead_ended() -> None:
    """seed 004 statuses: completed, exhausted, dnc, invalid, removed are final answers."""
    rig = Rig(outcome=lambda o: BUSY if o.lead_uuid == "ex" else Outcome(talk=1))
    rig.campaign(basic_campaign(recall_status=frozenset({CallStatus.BUSY})))
    rig.lead("done", "c1", phone(1))
    rig.lead("ex", "c1", phone(2))
    rig.lead("bad", "c1", "0")
    rig.dialer.add_dnc_customers("c1", ["K"], rig.clock.now())
    rig.lead("dnc", "c1", phone(3), customer_id="K")
    rig.run_until_idle()
    rules = {u: (why(rig, u).rule, why(rig, u).state) for u in ("done", "ex", "bad", "dnc")}
    assert rules == {"done": ("completed", "completed"), "ex": ("exhausted", "exhausted"),
                     "bad": ("invalid", "invalid"), "dnc": ("dnc", "skipped")}
    assert why(rig, "done").detail == "done: answered"
    assert why(rig, "ex").next_try_at is None
    assert rig.dialer.explain("nope", rig.clock.now()) is None
    rig.dialer.set_active("c1", False)
    rig.dialer.set_status("c1", CampaignStatus.STOP)
    rig.lead("late", "c1", phone(4))
    rig.dialer.delete_campaign("c1", rig.clock.now())
    assert why(rig, "late").rule == "removed"


def test_campaign_rules_hold_a_waiting_lead() -> None:
    """seed 001 active / status (pause, stop) and a missing script hold every lead."""
    rig = Rig()
    spec = rig.campaign(basic_campaign(status=CampaignStatus.STOP))
    rig.lead("a", "c1", phone(1))
    assert (why(rig, "a").rule, why(rig, "a").state) == ("campaign_stop", "queued")
    rig.dialer.set_status("c1", CampaignStatus.PAUSE)
    assert why(rig, "a").rule == "campaign_pause"
    rig.dialer.set_active("c1", False)
    assert why(rig, "a").rule == "campaign_inactive"
    rig.dialer.upsert_campaign(replace(spec, status=CampaignStatus.START, template_text=""))
    assert why(rig, "a").rule == "script_missing"
    rig.dialer.upsert_campaign(replace(spec, status=CampaignStatus.START))
    assert why(rig, "a").rule == ""  # next in line
    rig.step()
    assert why(rig, "a").rule == "in_call"


def test_window_dnc_and_exhausted_while_waiting() -> None:
    """seed 001 schedules, seed 002/vietnam.md DNC, seed 001 recall_times lowered."""
    week = MappingProxyType({d: DayWindow(8 * 3600 * 10**9, 21 * 3600 * 10**9)
                             for d in range(7)})
    rig = Rig(outcome=lambda o: BUSY, start=vn_epoch(2026, 11, 23, 7))
    spec = rig.campaign(basic_campaign(schedules=week, recall_times=2,
                                       schedule_recall_duration=5,
                                       recall_status=frozenset({CallStatus.BUSY})))
    rig.lead("a", "c1", phone(1))
    ex = why(rig, "a")
    assert ex.rule == "window_closed" and ex.next_try_at == vn_epoch(2026, 11, 23, 8)
    rig.dialer.add_dnc_phones([phone(1)])
    assert why(rig, "a").rule == "dnc"
    rig.dialer.remove_dnc_phones([phone(1)])
    rig.run_to(vn_epoch(2026, 11, 23, 8, 0, 10))  # one busy attempt made
    assert why(rig, "a").rule == "recall_not_due"
    rig.dialer.upsert_campaign(replace(spec, recall_times=0))
    assert why(rig, "a").rule == "exhausted"


def test_capacity_rules_name_what_is_full() -> None:
    """seed 001 concurrent_call and network caps, switch node capacity, per-number cap."""
    rig = Rig(outcome=lambda o: LONG, nodes=[SwitchNode("fs1", cps=1)])
    rig.campaign(basic_campaign("full", concurrent_call=1))
    rig.lead("f0", "full", phone(1))
    rig.lead("f1", "full", phone(2))
    ex = why(rig, "f1")
    assert ex.rule == "concurrency_full" and ex.detail == "1/1 live, 1 slot(s) needed"
    rig.run(2)
    rig.campaign(basic_campaign("cap", concurrent_call=9,
                                network=MappingProxyType({"viettel": 1})))
    rig.lead("c0", "cap", phone(1, "098"))
    rig.lead("c1", "cap", phone(2, "098"))
    assert why(rig, "c1").rule == "carrier_cap"
    assert why(rig, "c1").detail == "viettel: 1/1 live"
    rig.lead("c2", "cap", phone(3, "091"))
    rig.lead("c3", "cap", phone(4, "091"))  # the one token went to c2
    ex = why(rig, "c3")
    assert ex.rule == "switch_capacity" and ex.next_try_at == rig.clock.now() + 1
    rig.campaign(basic_campaign("daily", policy=CallingPolicy(max_calls_per_number_per_day=1)))
    rig.dialer.upsert_campaign(replace(rig.dialer.campaigns["daily"].spec,
                                       status=CampaignStatus.STOP))
    rig.lead("d0", "daily", phone(1))  # phone(1) was called by "full" already
    rig.dialer.set_status("daily", CampaignStatus.START)
    ex = why(rig, "d0")
    assert ex.rule == "daily_cap" and ex.next_try_at == rig.start + 86_400


def test_recall_after_first_pass_is_named() -> None:
    """seed 001 schedule_recall "after": the recall waits for the never-dialed leads."""
    rig = Rig(outcome=lambda o: BUSY if o.lead_uuid == "r" else LONG)
    rig.campaign(basic_campaign(concurrent_call=1, schedule_recall=ScheduleRecall.AFTER,
                                recall_times=1, recall_status=frozenset({CallStatus.BUSY})))
    rig.lead("r", "c1", phone(1))
    rig.lead("n", "c1", phone(2))
    rig.lead("m", "c1", phone(3))
    rig.run(5)
    ex = why(rig, "r")
    assert ex.rule == "recall_after_first_pass" and ex.detail == "1 never-dialed lead(s) first"
