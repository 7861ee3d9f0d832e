"""Ready for durability (ARCHITECTURE.md guarantees 1, 2): every lead state change passes
through one place that publishes and journals it; each attempt has a deterministic
origination_uuid; a restart from the journal never dials an attempt twice."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import Dialer, call_uuid_for
from engine.errors import InvalidTransition
from engine.lead import TRANSITIONS, LeadSnapshot, LeadState, snapshot, transition
from engine.model import CallStatus, Campaign, LeadInput, ModeCall
from engine.pacing import SwitchNode
from engine.records import LeadEvent, Originate
from tests.engine.rig import BUSY, NO_ANSWER, Outcome, Rig, basic_campaign, phone

OUTCOMES = [BUSY, Outcome(talk=40), NO_ANSWER, Outcome(ring=2, talk=3)]


def _mixed(o: Originate) -> Outcome:
    return OUTCOMES[(int(o.lead_uuid[1:]) + int(o.variables["autocall_attempt"])) % 4]


def _campaign(**kw: object) -> Campaign:
    fields: dict[str, object] = {
        "concurrent_call": 4, "recall_times": 2, "schedule_recall_duration": 1,
        "mode_call": ModeCall.SERIAL, "min_recall_duration": 5,
        "recall_status": frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER})}
    fields.update(kw)
    return basic_campaign("c1", **fields)


def _journalled_rig() -> tuple[Rig, list[LeadSnapshot]]:
    journal: list[LeadSnapshot] = []
    rig = Rig(outcome=_mixed)
    rig.dialer = Dialer(rig.nodes, journal=journal.append)
    rig.campaign(_campaign())
    return rig, journal


def test_every_state_change_is_one_event_and_one_snapshot_in_table_order() -> None:
    """lead.py state table: each lead's events chain from "new" through legal transitions
    to its final state; the journal has one snapshot per event, the last one equal to the
    lead."""
    rig, journal = _journalled_rig()
    for i in range(30):
        rig.lead(f"l{i}", "c1", phone(i), phone(100 + i))
    rig.lead("bad", "c1", "123")
    rig.run_until_idle()
    rig.finish()
    assert len(journal) == len(rig.events)
    by_lead: dict[str, list[LeadEvent]] = defaultdict(list)
    for e in rig.events:
        by_lead[e.lead_uuid].append(e)
    for lead_uuid, events in by_lead.items():
        state = LeadState.NEW
        for e in events:
            assert e.previous == state
            assert LeadState(e.state) in TRANSITIONS[state]
            state = LeadState(e.state)
        lead = rig.dialer.leads[lead_uuid]
        assert state is lead.state
        last = [s for s in journal if s.lead_uuid == lead_uuid][-1]
        assert last == snapshot(lead, rig.dialer.legs, last.at)


def test_an_attempt_is_journalled_before_it_is_originated() -> None:
    """ARCHITECTURE.md guarantee 2: record the attempt (with its origination_uuid) before
    originating: the dialing snapshot names the legs, and precedes their Originate."""
    seen: list[LeadSnapshot] = []
    d = Dialer([SwitchNode("fs1", cps=100)], journal=seen.append)
    d.upsert_campaign(_campaign(mode_call=ModeCall.PARALLEL))
    d.add_lead(LeadInput("l1", "c1", (phone(1), phone(2))), 0.0)
    d.pump(0.0)
    actions = d.drain()
    dialing = next(i for i, a in enumerate(actions)
                   if isinstance(a, LeadEvent) and a.state == "dialing")
    originates = [i for i, a in enumerate(actions) if isinstance(a, Originate)]
    assert originates and min(originates) > dialing
    snap = seen[-1]
    assert snap.state is LeadState.DIALING and snap.attempts == 1
    assert {leg[0] for leg in snap.live} == {a.call_uuid for a in actions
                                              if isinstance(a, Originate)}


def test_origination_uuids_are_deterministic_and_unique() -> None:
    """ARCHITECTURE.md guarantee 2: the same lead, attempt and number always give the same
    origination_uuid, so a replayed attempt can be recognised on the switch."""
    runs = []
    for _ in range(2):
        rig, _journal = _journalled_rig()
        for i in range(10):
            rig.lead(f"l{i}", "c1", phone(i), phone(100 + i))
        rig.run_until_idle()
        runs.append([o.call_uuid for _, o in rig.originated])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == len(runs[0])
    assert call_uuid_for("l1", 1, 0) != call_uuid_for("l1", 2, 0) != call_uuid_for("l1", 1, 1)


def test_a_restart_from_the_journal_never_dials_an_attempt_twice() -> None:
    """ARCHITECTURE.md guarantees 1-3: the engine dies mid-run; a new one restored from the
    last snapshot of each lead takes over the live legs (their ends still arrive), keeps
    every waiting lead and recall, and finishes with no call_uuid dialed twice, attempts
    ≤ recall_times + 1 and one CDR per leg."""
    rig, journal = _journalled_rig()
    inputs: dict[str, LeadInput] = {}
    for i in range(40):
        li = LeadInput(f"l{i}", "c1", (phone(i), phone(100 + i)), customer_id=f"K{i}")
        inputs[li.lead_uuid] = li
        rig.dialer.add_lead(li, rig.clock.now())
    rig.step()
    rig.run(150)
    live_before = len(rig.dialer.legs)
    assert live_before > 0
    last: dict[str, LeadSnapshot] = {}
    for snap in journal:
        last[snap.lead_uuid] = snap
    fresh = Dialer([SwitchNode("fs1", cps=1000)])  # a new process
    fresh.upsert_campaign(rig.dialer.campaigns["c1"].spec)
    for lead_uuid, snap in last.items():
        fresh.restore_lead(inputs[lead_uuid], snap)
    assert len(fresh.legs) == live_before
    assert fresh.live_calls("c1") == live_before
    assert {u: lead.state for u, lead in fresh.leads.items()} == {
        u: lead.state for u, lead in rig.dialer.leads.items()}
    rig.dialer = fresh
    rig.step()
    rig.run_until_idle()
    rig.finish()
    assert all(lead.state in (LeadState.COMPLETED, LeadState.EXHAUSTED)
               for lead in fresh.leads.values())


def test_an_illegal_transition_raises() -> None:
    """lead.py state table: a terminal lead never changes again; nothing skips the table."""
    rig = Rig()
    rig.campaign(_campaign())
    rig.lead("a", "c1", "123")
    lead = rig.dialer.leads["a"]
    with pytest.raises(InvalidTransition):
        transition(lead, LeadState.DIALING, "test")
    assert lead.state is LeadState.INVALID


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=60), st.integers(1, 1000), st.integers(0, 20))
def test_call_uuids_are_uuid5_of_lead_attempt_and_number(
    lead_uuid: str, attempt: int, index: int
) -> None:
    """call_uuid_for formats the uuid5 itself (no UUID objects): the same ids as before,
    so calls placed by an older engine are recognised after an upgrade."""
    import uuid

    from engine.scheduler import CALL_NAMESPACE

    expected = str(uuid.uuid5(CALL_NAMESPACE, f"{lead_uuid}/{attempt}/{index}"))
    assert call_uuid_for(lead_uuid, attempt, index) == expected
