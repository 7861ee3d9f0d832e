"""A whole day of a 10,000-lead campaign (and a 2,000-lead one beside it) on the virtual
clock, with every invariant checked after every step.

Seeds 001/002 together: two campaigns share two switch nodes of different size and CPS; one
is a serial debt-reminder campaign with recalls, carrier caps, a per-number daily cap and a
Monday-Saturday 08:00-21:00 schedule; the other is an advertising (Decree 91) campaign in
parallel mode. During the day customers and numbers go on the do-not-call lists, the
first campaign pauses and resumes, and its concurrent_call is lowered and raised. The
campaign opens at 17:00 on a Monday, so the 21:00 close catches live calls and the rest
runs on Tuesday morning.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from engine.lead import TERMINAL, LeadState
from engine.model import (
    CallingPolicy,
    CallStatus,
    Campaign,
    DayWindow,
    ModeCall,
    PriorityRecall,
)
from engine.pacing import SwitchNode
from engine.records import Originate
from tests.engine.rig import (
    ANSWER,
    BUSY,
    INVALID,
    MACHINE,
    NO_ANSWER,
    NOT_AVAILABLE,
    REJECTED,
    Outcome,
    OutcomeFn,
    Rig,
    basic_campaign,
    local,
    vn_epoch,
)

H = 3_600_000_000_000  # one hour in ns
PREFIXES = ("098", "097", "091", "094", "090", "093", "070", "056")  # viettel, vina, mobi, offnet
RECALL_ALL = frozenset(CallStatus) - {CallStatus.ANSWERED, CallStatus.CANCEL}


def _outcomes(seed: int) -> OutcomeFn:
    rng = random.Random(seed)
    seen: Counter[str] = Counter()

    def pick(o: Originate) -> Outcome:
        seen[o.destination] += 1
        r = rng.random()
        if r < 0.40:
            return Outcome(ring=rng.uniform(3, 15), talk=rng.choice([2, 8, 25, 40, 60]))
        if r < 0.45:
            return MACHINE
        if r < 0.60:
            return BUSY
        if r < 0.75:
            return NO_ANSWER
        if r < 0.85:
            return NOT_AVAILABLE
        if r < 0.90:
            return INVALID
        if r < 0.95:
            return REJECTED
        return ANSWER

    return pick


def test_a_day_of_ten_thousand_leads_keeps_every_invariant() -> None:
    """seed 001 (campaign object, schedules, recall, network, mode_call), seed 002 (queue,
    DNC by customer, max_recall_count/min_recall_duration), vietnam.md (Decree 91 preset):
    all rules at once, with every invariant checked after every step."""
    nodes = [SwitchNode("fs1", max_sessions=70, cps=8), SwitchNode("fs2", max_sessions=40, cps=4)]
    start = vn_epoch(2026, 11, 23, 17)  # Monday 17:00
    rig = Rig(outcome=_outcomes(7), start=start, nodes=nodes)
    week = {day: DayWindow(8 * H, 21 * H) for day in range(6)}  # no Sunday
    debt = basic_campaign(
        "debt", concurrent_call=30, mode_call=ModeCall.SERIAL, recall_times=2,
        schedule_recall_duration=20, priority_recall=PriorityRecall.RECALL,
        recall_status=RECALL_ALL, min_recall_duration=5, schedules=MappingProxyType(week),
        network=MappingProxyType({"viettel": 25, "vina": 15}),
        policy=CallingPolicy(max_calls_per_number_per_day=3), queue_code="Q-DEBT",
    )
    ads = basic_campaign(
        "ads", concurrent_call=30, mode_call=ModeCall.PARALLEL, recall_times=1,
        schedule_recall_duration=60, recall_status=frozenset({CallStatus.BUSY}),
        policy=CallingPolicy.advertising(),
    )
    rig.campaign(debt)
    rig.campaign(ads)
    rng = random.Random(1)
    numbers = [f"{rng.choice(PREFIXES)}{i:07d}" for i in range(11_000)]
    t0 = time.perf_counter()
    for i in range(10_000):
        phones = [numbers[i]] + ([numbers[(i * 7 + 1) % 11_000]] if i % 5 == 0 else [])
        rig.lead(f"d{i}", "debt", *phones, customer_id=f"K{i}")
    for i in range(2_000):
        rig.lead(f"a{i}", "ads", numbers[10_000 + i % 1_000], numbers[(i * 13) % 10_000])
    # 17:00 is past the advertising hours; the debt campaign starts at once, paced by CPS.
    assert {o.campaign_uuid for _, o in rig.originated} == {"debt"}
    rig.run(3600)  # 18:00
    dnc_at = rig.clock.now()
    dnc_customers = [f"K{i}" for i in range(5_000, 10_000, 25)]
    dialed_before = {o.lead_uuid for _, o in rig.originated}
    rig.dialer.add_dnc_customers("debt", dnc_customers, dnc_at)
    rig.dialer.add_dnc_phones(numbers[6_000:6_200])
    rig.step()
    rig.run(1800)  # 18:30: pause for half an hour
    rig.dialer.stop_queue("Q-DEBT")
    rig.step()
    rig.run(1800)
    rig.dialer.start_queue("Q-DEBT")
    rig.step()
    rig.run(1800)  # 19:30: fewer lines, then more
    rig.dialer.upsert_campaign(_with(rig, "debt", concurrent_call=10))
    rig.step()
    rig.run(1800)
    rig.dialer.upsert_campaign(_with(rig, "debt", concurrent_call=40))
    rig.step()
    rig.run_until_idle(limit=7 * 86_400)
    elapsed = time.perf_counter() - t0
    rig.finish()

    d = rig.dialer
    states = Counter(lead.state for lead in d.leads.values())
    assert set(states) <= TERMINAL, states
    # seed 002 DNC: customers not dialed yet are skipped and never called; none of them
    # (dialed before or not) is called after the list arrived.
    for customer in dnc_customers:
        lead_uuid = "d" + customer[1:]
        if lead_uuid not in dialed_before:
            assert d.leads[lead_uuid].state is LeadState.SKIPPED
        assert all(t <= dnc_at for t, _ in rig.calls_of(lead_uuid))
    assert states[LeadState.SKIPPED] >= 190
    assert states[LeadState.EXHAUSTED] > 0 and states[LeadState.COMPLETED] > 5_000
    # Calls ran on Monday evening and on Tuesday, never on the closed hours between; while
    # concurrent_call was 10 (19:30-20:00) no call was started above 10 live.
    low = [live for t, cid, live in rig.live_after
           if cid == "debt" and start + 9000 <= t < start + 10800]
    assert low and max(low) == 10
    hours = Counter(local(t).hour for t, _ in rig.originated)
    assert set(hours) <= set(range(8, 21))
    days = Counter(local(t).day for t, _ in rig.originated)
    assert days[23] > 0 and days[24] > 0
    ads_hours = {local(t).hour for t, o in rig.originated if o.campaign_uuid == "ads"}
    assert ads_hours <= set(range(8, 17))
    assert rig.max_live["debt"] == 40
    # Calls live at 21:00 were not cut: they ended after the window closed, with a CDR.
    assert any(c.start_stamp < "2026-11-23 21:00:00" < c.end_stamp for c in rig.cdrs)
    paused = [t for t, o in rig.originated if o.campaign_uuid == "debt"
              and start + 5400 <= t < start + 7200]
    assert paused == []
    # Speed is measured in benchmarks/, never asserted here (a loaded machine is slower).
    print(f"\nday run: {len(rig.originated)} calls, {rig.steps} steps, {elapsed:.2f} s")


def _with(rig: Rig, cid: str, **changes: Any) -> Campaign:
    return replace(rig.dialer.campaigns[cid].spec, **changes)
