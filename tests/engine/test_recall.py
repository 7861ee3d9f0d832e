"""Recall (seed 001 recall_status, recall_times, schedule_recall, schedule_recall_duration,
limit_recall_duration, priority_recall; seed 002 max_recall_count, min_recall_duration)."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lead import LeadState
from engine.model import (
    CallStatus,
    Campaign,
    CampaignStatus,
    DayWindow,
    PriorityRecall,
    ScheduleRecall,
)
from engine.recall import decide
from tests.engine.rig import (
    ANSWER,
    BUSY,
    INVALID,
    MACHINE,
    NO_ANSWER,
    NOT_AVAILABLE,
    Outcome,
    Rig,
    basic_campaign,
    by_number,
    phone,
    vn_epoch,
)

SEED_RECALL = frozenset({CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER,
                         CallStatus.NOT_AVAILABLE, CallStatus.VOICEMAIL, CallStatus.INVALID,
                         CallStatus.PHONE_BLOCK, CallStatus.CONGESTION})


def recall_campaign(**kw: object) -> Campaign:
    fields: dict[str, object] = {"recall_status": SEED_RECALL, "recall_times": 3,
                                 "schedule_recall": ScheduleRecall.MINUTE,
                                 "schedule_recall_duration": 1}
    fields.update(kw)
    return basic_campaign("c1", **fields)


def test_a_status_in_recall_status_is_recalled_and_others_are_not() -> None:
    """seed 001 recall_status: busy is in the seed's list → recalled; answered is not →
    completed after one call."""
    rig = Rig(outcome=by_number({phone(1): [BUSY, ANSWER]}))
    rig.campaign(recall_campaign())
    rig.lead("busy", "c1", phone(1))
    rig.lead("ok", "c1", phone(2))
    rig.run_until_idle()
    assert [c.status for c in rig.cdrs_of("busy")] == ["busy", "answered"]
    assert [c.status for c in rig.cdrs_of("ok")] == ["answered"]
    assert rig.state("busy") is LeadState.COMPLETED
    rig.finish()


def test_recall_times_counts_recalls_so_attempts_never_exceed_it_plus_one() -> None:
    """seed 001 recall_times ("số lần gọi lại", the number of recalls) = 3 → 4 attempts,
    then exhausted; seed 002 max_recall_count is the same setting."""
    rig = Rig(outcome=lambda o: BUSY)
    rig.campaign(recall_campaign(recall_times=3))
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    assert len(rig.cdrs_of("a")) == 4
    assert [c.attempt for c in rig.cdrs_of("a")] == [1, 2, 3, 4]
    assert rig.state("a") is LeadState.EXHAUSTED
    assert rig.dialer.leads["a"].reason.startswith("recall_times reached")
    rig.finish()


def test_recall_times_zero_means_one_attempt() -> None:
    """seed 001 recall_times 0 (the seed's GET example): a busy lead is called once."""
    rig = Rig(outcome=lambda o: BUSY)
    rig.campaign(recall_campaign(recall_times=0))
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    assert len(rig.cdrs_of("a")) == 1 and rig.state("a") is LeadState.EXHAUSTED


def test_schedule_recall_minute_waits_schedule_recall_duration_minutes() -> None:
    """seed 001 schedule_recall "minute" + schedule_recall_duration 5: the recall is placed
    5 minutes after the failed call ended, not before."""
    rig = Rig(outcome=by_number({phone(1): [BUSY, ANSWER]}))
    rig.campaign(recall_campaign(schedule_recall_duration=5))
    rig.lead("a", "c1", phone(1))
    rig.run(3)  # busy after 3 s
    ex = rig.dialer.explain("a", rig.clock.now())
    assert ex is not None and ex.rule == "recall_not_due"
    assert ex.next_try_at == rig.start + 3 + 300
    assert rig.dialer.next_wakeup() == rig.start + 303
    rig.run_until_idle()
    (t1, _), (t2, _) = rig.calls_of("a")
    assert t2 - t1 == 303
    rig.finish()


def test_schedule_recall_after_waits_for_the_first_pass() -> None:
    """seed 001 schedule_recall "after": a recall is placed only once every new lead has
    been dialed once."""
    rig = Rig(outcome=by_number({phone(0): [BUSY, ANSWER]}))
    rig.campaign(recall_campaign(concurrent_call=1, schedule_recall=ScheduleRecall.AFTER,
                                 schedule_recall_duration=0))
    for i in range(4):
        rig.lead(f"l{i}", "c1", phone(i))
    rig.run(4)
    ex = rig.dialer.explain("l0", rig.clock.now())
    assert ex is not None and ex.rule == "recall_after_first_pass"
    rig.run_until_idle()
    order = [o.lead_uuid for _, o in rig.originated]
    assert order == ["l0", "l1", "l2", "l3", "l0"]
    rig.finish()


def test_limit_recall_duration_stops_recalls_after_n_seconds_from_the_first_attempt() -> None:
    """seed 001 limit_recall_duration (seconds; 0 = no limit): no attempt starts once that
    long has passed since the lead's first attempt."""
    rig = Rig(outcome=lambda o: BUSY)
    rig.campaign(recall_campaign(recall_times=10, schedule_recall_duration=2,
                                 limit_recall_duration=300))
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    times = [t - rig.start for t, _ in rig.calls_of("a")]
    assert times == [0, 123, 246]  # the next would be at 369 s ≥ 300 s
    assert rig.state("a") is LeadState.EXHAUSTED
    assert rig.dialer.leads["a"].reason == "limit_recall_duration passed"
    rig.finish()


def test_min_recall_duration_recalls_an_answer_shorter_than_n_seconds() -> None:
    """seed 002 min_recall_duration 10: an answered call with less than 10 s of talk is
    called again, even though "answered" is not in recall_status; 10 s or more is done."""
    short, enough = Outcome(talk=4), Outcome(talk=10)
    rig = Rig(outcome=by_number({phone(1): [short, enough], phone(2): enough}))
    rig.campaign(recall_campaign(min_recall_duration=10))
    rig.lead("short", "c1", phone(1))
    rig.lead("enough", "c1", phone(2))
    rig.run_until_idle()
    assert [c.billsec for c in rig.cdrs_of("short")] == [4, 10]
    assert len(rig.cdrs_of("enough")) == 1
    assert rig.state("short") is LeadState.COMPLETED
    rig.finish()


def test_voicemail_from_machine_detection_is_recalled_when_listed() -> None:
    """seed 001 recall_status "voicemail": an answering machine (AMD) is recalled."""
    rig = Rig(outcome=by_number({phone(1): [MACHINE, ANSWER]}))
    rig.campaign(recall_campaign())
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    assert [c.status for c in rig.cdrs_of("a")] == ["voicemail", "answered"]


def test_priority_recall_recall_puts_due_recalls_before_new_leads() -> None:
    """seed 001 priority_recall "recall": a due recall is dialed before waiting new leads;
    "normal" takes the oldest ready work first (the new leads imported earlier)."""
    for priority, expected in ((PriorityRecall.RECALL, "r"), (PriorityRecall.NORMAL, "n1")):
        rig = Rig(outcome=by_number({phone(1): [BUSY, ANSWER]}, default=Outcome(talk=120)))
        rig.campaign(recall_campaign(concurrent_call=1, schedule_recall_duration=1,
                                     priority_recall=priority))
        rig.lead("r", "c1", phone(1))
        rig.run(3)  # r busy; recall due at +63 s
        for i in range(3):
            rig.lead(f"n{i}", "c1", phone(10 + i))
        rig.run(200)  # n0 is live until +128 s; then the choice is made
        third = rig.originated[2][1].lead_uuid
        assert third == expected, priority
        rig.run_until_idle()
        rig.finish()


def test_a_recall_waits_while_the_campaign_is_paused_and_across_the_night() -> None:
    """seed 001 status pause + schedules: a recall that falls due while paused or outside
    the window is dialed when the campaign runs again and the window is open."""
    window = MappingProxyType({d: DayWindow(8 * 3600 * 10**9, 21 * 3600 * 10**9)
                               for d in range(7)})
    rig = Rig(outcome=by_number({phone(1): [BUSY, ANSWER]}),
              start=vn_epoch(2026, 11, 23, 20, 50))
    rig.campaign(recall_campaign(schedule_recall_duration=30, schedules=window))
    rig.lead("a", "c1", phone(1))
    rig.run(60)
    rig.dialer.set_status("c1", CampaignStatus.PAUSE)
    rig.step()
    assert rig.state("a") is LeadState.RECALL
    rig.run_to(vn_epoch(2026, 11, 24, 9))
    assert len(rig.calls_of("a")) == 1
    ex = rig.dialer.explain("a", rig.clock.now())
    assert ex is not None and ex.rule == "campaign_pause"
    rig.dialer.set_status("c1", CampaignStatus.START)
    rig.step()
    assert [t for t, _ in rig.calls_of("a")][1] == vn_epoch(2026, 11, 24, 9)
    rig.run_until_idle()
    rig.finish()


def test_lowering_recall_times_exhausts_waiting_recalls() -> None:
    """seed 001 PUT recall_times while leads wait: the new limit binds at their next turn."""
    rig = Rig(outcome=lambda o: BUSY)
    spec = rig.campaign(recall_campaign(recall_times=5))
    rig.lead("a", "c1", phone(1))
    rig.run(100)  # two attempts made, the third is due at +126
    assert len(rig.calls_of("a")) == 2
    rig.dialer.upsert_campaign(replace(spec, recall_times=1))
    rig.run_until_idle()
    assert len(rig.calls_of("a")) == 2
    assert rig.state("a") is LeadState.EXHAUSTED
    rig.finish()


def test_round_outcome_rules() -> None:
    """seed 001 recall_status over a round of several legs (serial/parallel): any
    recallable status recalls; an answer decides; cancelled legs do not count."""
    spec = recall_campaign(recall_status=frozenset({CallStatus.BUSY}), min_recall_duration=5)
    r = decide(spec, [CallStatus.BUSY, CallStatus.INVALID], 0)
    assert (r.outcome, r.recall) == (CallStatus.BUSY, True)
    r = decide(spec, [CallStatus.INVALID, CallStatus.NO_ANSWER], 0)
    assert (r.outcome, r.recall) == (CallStatus.NO_ANSWER, False)
    r = decide(spec, [CallStatus.CANCEL, CallStatus.ANSWERED], 30)
    assert (r.outcome, r.recall) == (CallStatus.ANSWERED, False)
    r = decide(spec, [CallStatus.ANSWERED], 3)
    assert (r.outcome, r.recall, r.too_short) == (CallStatus.ANSWERED, True, True)


OUTCOMES = [ANSWER, BUSY, NO_ANSWER, NOT_AVAILABLE, INVALID, MACHINE, Outcome(talk=2)]


@settings(max_examples=40, deadline=None)
@given(
    recall_times=st.integers(0, 4),
    duration=st.integers(0, 3),
    after=st.booleans(),
    min_recall=st.integers(0, 5),
    plan=st.lists(st.lists(st.sampled_from(range(len(OUTCOMES))), min_size=1, max_size=6),
                  min_size=1, max_size=8),
)
def test_attempts_never_exceed_recall_times_plus_one(
    recall_times: int, duration: int, after: bool, min_recall: int, plan: list[list[int]]
) -> None:
    """seed 001 recall_times (property): whatever the outcomes, each lead gets at most
    recall_times + 1 attempts, one CDR per call, and ends in a terminal state."""
    table = {phone(i): [OUTCOMES[k] for k in ks] for i, ks in enumerate(plan)}
    rig = Rig(outcome=by_number(table))
    rig.campaign(recall_campaign(
        recall_times=recall_times, schedule_recall_duration=duration,
        schedule_recall=ScheduleRecall.AFTER if after else ScheduleRecall.MINUTE,
        min_recall_duration=min_recall, concurrent_call=3))
    for i in range(len(plan)):
        rig.lead(f"l{i}", "c1", phone(i))
    rig.run_until_idle()
    rig.finish()
    for i in range(len(plan)):
        lead = rig.dialer.leads[f"l{i}"]
        assert 1 <= lead.attempts <= recall_times + 1
        assert len(rig.cdrs_of(f"l{i}")) == lead.attempts
        assert lead.state in (LeadState.COMPLETED, LeadState.EXHAUSTED)


def test_recall_times_lowered_mid_round_stops_a_serial_round_before_its_next_number() -> None:
    """seed 001 recall_times (+ mode_call serial): lowered while attempt 2 is between its
    numbers, the next number is not dialed: attempts never exceed recall_times + 1, also
    for the calls of a round already started (found by test_random_runs)."""
    from engine.model import ModeCall
    from engine.pacing import SwitchNode

    rig = Rig(outcome=lambda _o: BUSY, nodes=[SwitchNode("a", cps=0.1)])  # a token per 10 s
    rig.campaign(recall_campaign(recall_times=1, schedule_recall_duration=0,
                                 mode_call=ModeCall.SERIAL))
    rig.lead("l", "c1", phone(1), phone(2))
    start = rig.clock.now()
    rig.run_to(start + 25)  # attempt 1: both numbers; attempt 2: number 1 ended at +23
    assert [o.destination for _t, o in rig.originated] == [phone(1), phone(2), phone(1)]
    assert rig.dialer.leads["l"].attempts == 2
    spec = rig.dialer.campaigns["c1"].spec
    rig.dialer.upsert_campaign(replace(spec, recall_times=0))
    rig.step()
    rig.run_until_idle()
    assert len(rig.originated) == 3, "number 2 of attempt 2 was not dialed"
    assert rig.state("l") is LeadState.EXHAUSTED
