"""Several numbers per customer (seed 002 ``mobiles``) and seed 001 ``mode_call``: direct
(first number), serial (next number when one fails), parallel (ring all; first answer wins,
the others are cancelled and recorded as cancel)."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from engine.core import call_uuid_for
from engine.lead import LeadState
from engine.model import CallStatus, CampaignStatus, ModeCall
from tests.engine.rig import (
    ANSWER,
    BUSY,
    INVALID,
    NO_ANSWER,
    Outcome,
    Rig,
    basic_campaign,
    by_number,
    phone,
)

A, B, C = phone(1), phone(2), phone(3)
RECALL_BUSY = frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER})


def test_direct_calls_only_the_first_number() -> None:
    """seed 001 mode_call direct: the first number only, also on recalls."""
    rig = Rig(outcome=lambda o: BUSY)
    rig.campaign(basic_campaign(mode_call=ModeCall.DIRECT, recall_times=1,
                                recall_status=RECALL_BUSY))
    rig.lead("a", "c1", A, B, C)
    rig.run_until_idle()
    assert [o.destination for _, o in rig.calls_of("a")] == [A, A]
    rig.finish()


def test_serial_tries_the_next_number_when_one_fails() -> None:
    """seed 001 mode_call serial: busy on the first number → the second at once, within
    the same attempt; an answer ends the round."""
    rig = Rig(outcome=by_number({A: BUSY, B: NO_ANSWER, C: ANSWER}))
    rig.campaign(basic_campaign(mode_call=ModeCall.SERIAL, recall_status=RECALL_BUSY))
    rig.lead("a", "c1", A, B, C)
    rig.run_until_idle()
    calls = rig.calls_of("a")
    assert [o.destination for _, o in calls] == [A, B, C]
    assert [t - rig.start for t, _ in calls] == [0, 3, 33]  # each right after the last
    assert {o.variables["autocall_attempt"] for _, o in calls} == {"1"}
    assert [o.call_uuid for _, o in calls] == [call_uuid_for("a", 1, i) for i in range(3)]
    assert rig.state("a") is LeadState.COMPLETED
    rig.finish()


def test_serial_stops_at_the_first_answer() -> None:
    """seed 001 mode_call serial: an answered first number means no other is called."""
    rig = Rig()
    rig.campaign(basic_campaign(mode_call=ModeCall.SERIAL))
    rig.lead("a", "c1", A, B)
    rig.run_until_idle()
    assert [o.destination for _, o in rig.calls_of("a")] == [A]


def test_serial_round_failing_on_every_number_is_one_attempt_then_recalled() -> None:
    """seed 001 mode_call serial + recall_times: a round over all numbers is one attempt;
    the recall starts again from the first number."""
    rig = Rig(outcome=lambda o: BUSY)
    rig.campaign(basic_campaign(mode_call=ModeCall.SERIAL, recall_times=1,
                                recall_status=RECALL_BUSY, schedule_recall_duration=1))
    rig.lead("a", "c1", A, B)
    rig.run_until_idle()
    calls = rig.calls_of("a")
    assert [o.destination for _, o in calls] == [A, B, A, B]
    assert [c.attempt for c in rig.cdrs_of("a")] == [1, 1, 2, 2]
    assert len({o.call_uuid for _, o in calls}) == 4
    assert rig.state("a") is LeadState.EXHAUSTED
    rig.finish()


def test_serial_skips_a_dnc_number_and_tries_the_next() -> None:
    """seed 001 serial + global DNC by phone: a number on the list is passed over, the
    customer's other numbers are still called (one DNC number must not skip the lead)."""
    rig = Rig(outcome=by_number({A: BUSY}))
    rig.campaign(basic_campaign(mode_call=ModeCall.SERIAL, recall_status=RECALL_BUSY))
    rig.dialer.add_dnc_phones([B])
    rig.lead("a", "c1", B, A, C)
    rig.run_until_idle()
    assert [o.destination for _, o in rig.calls_of("a")] == [A, C]
    assert rig.state("a") is LeadState.COMPLETED
    rig.finish()


def test_serial_round_ends_when_the_remaining_numbers_go_on_the_dnc_list() -> None:
    """seed 001 serial + DNC added mid-round: the round ends with what was tried, the
    recall rules apply to it (busy → recall of the first number)."""
    rig = Rig(outcome=by_number({A: [BUSY, ANSWER]}))
    rig.campaign(basic_campaign(mode_call=ModeCall.SERIAL, recall_status=RECALL_BUSY,
                                recall_times=1, schedule_recall_duration=1))
    rig.lead("a", "c1", A, B)
    rig.dialer.add_dnc_phones([B])
    rig.run_until_idle()
    assert [o.destination for _, o in rig.calls_of("a")] == [A, A]
    assert rig.state("a") is LeadState.COMPLETED
    rig.finish()


def test_parallel_rings_all_and_the_first_answer_wins() -> None:
    """seed 001 mode_call parallel: all numbers ring at once; the first to answer wins, the
    others are hung up and recorded as cancel (seed status "cancel")."""
    rig = Rig(outcome=by_number({A: Outcome(ring=8), B: Outcome(ring=4), C: NO_ANSWER}))
    rig.campaign(basic_campaign(mode_call=ModeCall.PARALLEL))
    rig.lead("a", "c1", A, B, C)
    assert [o.destination for _, o in rig.calls_of("a")] == [A, B, C]
    assert {t for t, _ in rig.calls_of("a")} == {rig.start}
    rig.run_until_idle()
    status = {c.phone_number: c.status for c in rig.cdrs_of("a")}
    assert status == {A: "cancel", B: "answered", C: "cancel"}
    assert {h.call_uuid for h in rig.hangups} == {call_uuid_for("a", 1, 0),
                                                  call_uuid_for("a", 1, 2)}
    assert all(h.cause == "LOSE_RACE" for h in rig.hangups)
    assert rig.state("a") is LeadState.COMPLETED
    assert rig.dialer.leads["a"].reason == "done: answered"
    rig.finish()


def test_parallel_round_without_an_answer_is_recalled_as_one_attempt() -> None:
    """seed 001 mode_call parallel + recall_status: no answer on any leg → one attempt,
    recalled as a whole."""
    rig = Rig(outcome=by_number({A: [BUSY, ANSWER], B: INVALID}))
    rig.campaign(basic_campaign(mode_call=ModeCall.PARALLEL, recall_times=2,
                                recall_status=RECALL_BUSY))
    rig.lead("a", "c1", A, B)
    rig.run_until_idle()
    assert [c.attempt for c in rig.cdrs_of("a")] == [1, 1, 2, 2]
    assert rig.state("a") is LeadState.COMPLETED
    rig.finish()


def test_parallel_waits_for_enough_free_slots_and_keeps_its_place() -> None:
    """seed 001 parallel + concurrent_call: a lead with 3 numbers and 1 free slot is not
    rung on 1 number; it keeps the head of the queue and the next free slots are kept for
    it, so single-number leads behind it cannot starve it."""
    rig = Rig(outcome=lambda o: Outcome(talk=100 + int(o.lead_uuid[1:] or 0)))
    rig.campaign(basic_campaign(concurrent_call=3, mode_call=ModeCall.PARALLEL))
    rig.lead("s0", "c1", phone(10))
    rig.lead("s1", "c1", phone(11))
    rig.lead("p", "c1", A, B, C)
    rig.lead("s2", "c1", phone(12))
    assert [o.lead_uuid for _, o in rig.originated] == ["s0", "s1"]
    ex = rig.dialer.explain("p", rig.clock.now())
    assert ex is not None and ex.rule == "concurrency_full"
    assert ex.detail == "2/3 live, 3 slot(s) needed"
    rig.run(105.5)  # s0 ended at 105: 2 free, still not 3
    assert [o.lead_uuid for _, o in rig.originated] == ["s0", "s1"]
    rig.run(0.5)  # s1 ended at 106
    assert [o.lead_uuid for _, o in rig.originated][2:] == ["p", "p", "p"]
    rig.run_until_idle()
    rig.finish()


def test_parallel_never_rings_more_legs_than_concurrent_call_or_a_carrier_cap() -> None:
    """seed 001 parallel + concurrent_call 2 + network {viettel: 1}: a lead with more
    numbers than could ever ring together rings the first ones that fit the limits."""
    v1, v2, m1, m2 = phone(1, "098"), phone(2, "098"), phone(3, "090"), phone(4, "090")
    rig = Rig(outcome=lambda o: NO_ANSWER)
    rig.campaign(basic_campaign(concurrent_call=2, mode_call=ModeCall.PARALLEL,
                                network=MappingProxyType({"viettel": 1})))
    rig.lead("a", "c1", v1, v2, m1, m2)
    assert [o.destination for _, o in rig.calls_of("a")] == [v1, m1]
    rig.run_until_idle()
    assert rig.state("a") is LeadState.COMPLETED
    rig.finish()


def test_duplicate_numbers_of_one_customer_are_called_once() -> None:
    """seed 002 customers.mobiles: the same number written twice is one number."""
    rig = Rig(outcome=lambda o: NO_ANSWER)
    rig.campaign(basic_campaign(mode_call=ModeCall.PARALLEL))
    rig.lead("a", "c1", A, "+84" + A[1:], A.replace("0", "0 ", 1))
    assert [o.destination for _, o in rig.calls_of("a")] == [A]


def test_a_mode_change_mid_round_never_rings_a_number_of_the_round_twice() -> None:
    """seed 001 PUT mode_call while a serial round waits for its next number: the round
    goes on from that number (the first one's origination_uuid is already used)."""
    rig = Rig(outcome=by_number({A: BUSY}))
    spec = rig.campaign(basic_campaign(mode_call=ModeCall.SERIAL, recall_status=RECALL_BUSY))
    rig.dialer.set_status("c1", CampaignStatus.PAUSE)
    rig.lead("a", "c1", A, B)
    rig.dialer.set_status("c1", CampaignStatus.START)
    rig.step()
    rig.dialer.set_status("c1", CampaignStatus.PAUSE)
    rig.run(10)  # A was busy; B waits as the round's continuation
    rig.dialer.upsert_campaign(replace(spec, mode_call=ModeCall.DIRECT,
                                       status=CampaignStatus.PAUSE))
    assert rig.state("a") is LeadState.RECALL and len(rig.calls_of("a")) == 1
    rig.dialer.set_status("c1", CampaignStatus.START)
    rig.step()
    rig.run_until_idle()
    assert [o.destination for _, o in rig.calls_of("a")] == [A, B]
    rig.finish()
