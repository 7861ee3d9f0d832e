"""Random campaigns, leads and commands on the virtual clock (hypothesis): whatever the
mix, every invariant of the rig holds after every step, every leg yields one CDR, and every
lead ends in a terminal state or is explainably held (seeds 001, 002; vietnam.md).

A second campaign shares the numbers (one live call per number across campaigns) and is
sometimes hostile (issue 11: a field no edge should let in): then it is held with
``campaign_error`` and dials nothing, and the first campaign's rules all still hold."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.lead as lead_module
from engine.lead import TERMINAL, LeadState
from engine.model import (
    CallingPolicy,
    CallStatus,
    CampaignStatus,
    DayWindow,
    ModeCall,
    PriorityRecall,
    ScheduleRecall,
)
from engine.pacing import SwitchNode
from engine.records import Originate
from tests.engine.rig import (
    ANSWER,
    BUSY,
    INVALID,
    MACHINE,
    NO_ANSWER,
    Outcome,
    Rig,
    basic_campaign,
    vn_epoch,
)
from tests.engine.test_isolation import HOSTILE

H = 3_600_000_000_000
NUMBERS = [f"{p}{i:07d}" for p in ("098", "091", "090", "056") for i in range(4)]
OUTCOMES = [ANSWER, BUSY, NO_ANSWER, INVALID, MACHINE, Outcome(talk=2),
            Outcome(refused=True), Outcome(ring=90)]

commands = st.lists(
    st.tuples(
        st.floats(0, 4 * 3600),
        st.sampled_from(["pause", "start", "stop", "inactive", "active", "dnc_customer",
                         "dnc_phone", "undnc_phone", "cc_down", "cc_up", "node_down",
                         "node_up", "recall_down"]),
        st.integers(0, 15),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(list(ModeCall)),
    cc=st.integers(1, 6),
    recall_times=st.integers(0, 3),
    duration=st.integers(0, 30),
    schedule=st.sampled_from(list(ScheduleRecall)),
    priority=st.sampled_from(list(PriorityRecall)),
    viettel_cap=st.integers(0, 2),
    daily_cap=st.integers(0, 3),
    windowed=st.booleans(),
    limit=st.sampled_from([0, 600, 3600]),
    leads=st.lists(st.lists(st.integers(0, len(NUMBERS) - 1), min_size=1, max_size=3),
                   min_size=5, max_size=30),
    outcome_seed=st.lists(st.integers(0, len(OUTCOMES) - 1), min_size=1, max_size=20),
    script=commands,
    hostile=st.sampled_from([None, *sorted(HOSTILE)]),
    others=st.lists(st.integers(0, len(NUMBERS) - 1), max_size=6),
)
def test_random_runs_keep_every_invariant(
    mode: ModeCall, cc: int, recall_times: int, duration: int, schedule: ScheduleRecall,
    priority: PriorityRecall, viettel_cap: int, daily_cap: int, windowed: bool, limit: int,
    leads: list[list[int]], outcome_seed: list[int], script: list[tuple[float, str, int]],
    hostile: str | None, others: list[int],
) -> None:
    """seeds 001/002 + vietnam.md together, at random (property)."""
    calls = iter(range(10**9))

    def outcome(o: Originate) -> Outcome:
        # the params kept encoded in the compact lead are the ones rendered into the call
        # (the c1 leads carry them; the other campaign's leads have none)
        if o.campaign_uuid == "c1":
            assert o.variables["autocall_tts_text"].startswith(
                f"Chào bạn Khách {o.lead_uuid[1:]}")
        return OUTCOMES[outcome_seed[next(calls) % len(outcome_seed)]]

    nodes = [SwitchNode("a", max_sessions=4, cps=2), SwitchNode("b", max_sessions=3, cps=1)]
    rig = Rig(outcome=outcome, start=vn_epoch(2026, 11, 23, 19), nodes=nodes)
    week = MappingProxyType({d: DayWindow(8 * H, 20 * H) for d in range(7)})
    spec = rig.campaign(basic_campaign(
        mode_call=mode, concurrent_call=cc, recall_times=recall_times,
        schedule_recall_duration=duration, schedule_recall=schedule, priority_recall=priority,
        recall_status=frozenset(CallStatus) - {CallStatus.ANSWERED},
        min_recall_duration=3, limit_recall_duration=limit,
        network=MappingProxyType({"viettel": viettel_cap}),
        policy=CallingPolicy(max_calls_per_number_per_day=daily_cap),
        schedules=week if windowed else None, queue_code="Q"))
    rig.campaign(basic_campaign("c2", concurrent_call=2, **(HOSTILE[hostile] if hostile else {})))
    for i, numbers in enumerate(leads):
        rig.lead(f"l{i}", "c1", *(NUMBERS[n] for n in numbers), customer_id=f"K{i % 7}",
                 params=MappingProxyType({"name": f"Khách {i}", "n": i, "ok": i % 2 == 0}),
                 call_id=f"call-{i}" if i % 3 else "", list_name="Danh sách" if i % 2 else "")
        if i < len(others):
            rig.lead(f"o{i}", "c2", NUMBERS[others[i]])
    # From here every read of a lead's input (render, CDR, customer DNC) decodes it from
    # the compact form (relative to its campaign's template), not from the cache of the
    # inputs just imported.
    lead_module._RECENT.clear()
    d = rig.dialer
    for at, op, arg in sorted(script):
        rig.run_to(max(rig.clock.now(), rig.start + at))
        spec = d.campaigns["c1"].spec
        match op:
            case "pause" | "stop" | "start":
                d.set_status("c1", CampaignStatus(op))
            case "inactive" | "active":
                d.set_active("c1", op == "active")
            case "dnc_customer":
                d.add_dnc_customers("c1", [f"K{arg % 7}"], rig.clock.now())
            case "dnc_phone":
                d.add_dnc_phones([NUMBERS[arg]])
            case "undnc_phone":
                d.remove_dnc_phones([NUMBERS[arg]])
            case "cc_down" | "cc_up":
                d.upsert_campaign(replace(spec, concurrent_call=max(1, cc + (
                    2 if op == "cc_up" else -arg % 3))))
            case "node_down" | "node_up":
                nodes[arg % 2].healthy = op == "node_up"
            case "recall_down":
                d.upsert_campaign(replace(spec, recall_times=max(0, spec.recall_times - 1)))
        rig.step()
    d.set_status("c1", CampaignStatus.START)
    d.set_active("c1", True)
    for node in nodes:
        node.healthy = True
    rig.step()
    rig.run_until_idle(limit=30 * 86_400.0)
    rig.finish()
    for lead in d.leads.values():
        if hostile and lead.campaign_uuid == "c2":
            why = d.explain(lead.uuid, rig.clock.now())
            assert why is not None and why.rule == "campaign_error" and lead.attempts == 0
            continue
        assert lead.state in TERMINAL, d.explain(lead.uuid, rig.clock.now())
        if lead.state is LeadState.COMPLETED or lead.state is LeadState.EXHAUSTED:
            assert lead.attempts >= 1
