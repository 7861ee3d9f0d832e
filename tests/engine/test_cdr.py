"""CDRs (seed 004 lead report fields; seed 000/004 statuses) and phone numbers (seed 000
import: a number that cannot be Vietnamese is invalid without a call)."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.disposition import status_of
from engine.lead import LeadState
from engine.model import CallResult, CallStatus
from tests.engine.rig import (
    MACHINE,
    Outcome,
    Rig,
    basic_campaign,
    by_number,
    phone,
    vn_epoch,
)

PARAMS = MappingProxyType({"ten": "Đỗ Thị Ngà", "sdt": "0981218709", "data1": 1,
                           "miengiam": "Giảm 50% gốc"})


def test_an_answered_call_fills_every_seed_004_field() -> None:
    """seed 004 /v3/report/call/lead: billsec, duration, called_count, press_key (DTMF),
    record_name, recording_url, start/answer/end stamps in local time, additional (the
    params), created_at, last_call_time (ISO with +07:00), lead and list fields."""
    out = Outcome(ring=9, talk=22, dtmf=((3.0, "1"), (4.0, "#")),
                  record_name="rec.mp3", recording_url="/recordings/2026/Nov/23")
    rig = Rig(outcome=lambda o: out, start=vn_epoch(2026, 11, 23, 13, 34, 26))
    rig.campaign(basic_campaign(campaign_name="AutocallTTS"))
    rig.lead("lead-1", "c1", phone(1), params=PARAMS, call_id="call-1", customer_id="KH1",
             list_uuid="list-1", list_name="ListAutocall01", lead_name="Ngà", lead_code="LC1",
             contract_number="HD123456", created_at="2026-11-23T13:34:21.310357+07:00")
    rig.run_until_idle()
    (c,) = rig.cdrs
    assert (c.status, c.hangup_cause, c.hangup_cause_q850) == ("answered", "NORMAL_CLEARING", 16)
    assert (c.billsec, c.duration, c.waitsec) == (22, 31, 9)
    assert c.called_count == 1 and c.attempt == 1
    assert json.loads(c.press_key) == {"keys": "1#"}
    assert (c.record_name, c.recording_url) == ("rec.mp3", "/recordings/2026/Nov/23")
    assert (c.start_stamp, c.answer_stamp, c.end_stamp) == (
        "2026-11-23 13:34:26", "2026-11-23 13:34:35", "2026-11-23 13:34:57")
    assert c.last_call_time == "2026-11-23T13:34:26+07:00"
    assert dict(c.additional) == dict(PARAMS)
    assert (c.campaign_name, c.lead_uuid, c.call_id, c.phone_number) == (
        "AutocallTTS", "lead-1", "call-1", phone(1))
    assert (c.customer_id, c.list_uuid, c.list_name, c.lead_name, c.lead_code,
            c.contract_number) == ("KH1", "list-1", "ListAutocall01", "Ngà", "LC1", "HD123456")
    assert c.created_at == "2026-11-23T13:34:21.310357+07:00"
    assert c.cdr_uuid == rig.originated[0][1].call_uuid


def test_an_unanswered_call_has_empty_answer_fields() -> None:
    """seed 004: no answer → billsec 0, empty answer_stamp, press_key "{}"."""
    rig = Rig(outcome=lambda o: Outcome("NO_ANSWER", ring=30, talk=0, q850=19))
    rig.campaign(basic_campaign())
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    (c,) = rig.cdrs
    assert (c.status, c.billsec, c.duration, c.answer_stamp, c.press_key) == (
        "no_answer", 0, 30, "", "{}")


def test_called_count_grows_over_the_lead_s_calls() -> None:
    """seed 004 called_count: calls made for the lead so far, recalls included."""
    rig = Rig(outcome=by_number({phone(1): [Outcome("USER_BUSY", talk=0), Outcome()]}))
    rig.campaign(basic_campaign(recall_times=2, recall_status=frozenset({CallStatus.BUSY})))
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    assert [c.called_count for c in rig.cdrs] == [1, 2]


@pytest.mark.parametrize(
    ("cause", "answered", "amd", "status"),
    [
        ("NORMAL_CLEARING", True, "", CallStatus.ANSWERED),
        ("NORMAL_CLEARING", True, "MACHINE", CallStatus.VOICEMAIL),
        ("ALLOTTED_TIMEOUT", True, "HUMAN", CallStatus.ANSWERED),
        ("USER_BUSY", False, "", CallStatus.BUSY),
        ("NO_ANSWER", False, "", CallStatus.NO_ANSWER),
        ("NO_USER_RESPONSE", False, "", CallStatus.NO_ANSWER),
        ("RECOVERY_ON_TIMER_EXPIRE", False, "", CallStatus.NO_ANSWER),
        ("SUBSCRIBER_ABSENT", False, "", CallStatus.NOT_AVAILABLE),
        ("DESTINATION_OUT_OF_ORDER", False, "", CallStatus.NOT_AVAILABLE),
        ("UNALLOCATED_NUMBER", False, "", CallStatus.INVALID),
        ("INVALID_NUMBER_FORMAT", False, "", CallStatus.INVALID),
        ("NO_ROUTE_DESTINATION", False, "", CallStatus.INVALID),
        ("CALL_REJECTED", False, "", CallStatus.PHONE_BLOCK),
        ("NORMAL_CIRCUIT_CONGESTION", False, "", CallStatus.CONGESTION),
        ("SWITCH_CONGESTION", False, "", CallStatus.CONGESTION),
        ("ORIGINATOR_CANCEL", False, "", CallStatus.CANCEL),
        ("NORMAL_TEMPORARY_FAILURE", False, "", CallStatus.FAILED),
        ("NORMAL_CLEARING", False, "", CallStatus.FAILED),
    ],
)
def test_hangup_cause_maps_to_the_seed_status(
    cause: str, answered: bool, amd: str, status: CallStatus
) -> None:
    """ARCHITECTURE.md hangup cause → seed status (busy vs no-answer never mixed up,
    Newfies #12); answering-machine detection turns an answer into voicemail."""
    assert status_of(CallResult("u", cause, answered=answered, amd_result=amd)) is status


def test_voicemail_from_answering_machine_detection() -> None:
    """seed 001 "voicemail" status: AMD said MACHINE on an answered call."""
    rig = Rig(outcome=lambda o: MACHINE)
    rig.campaign(basic_campaign())
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    assert rig.cdrs[0].status == "voicemail" and rig.cdrs[0].amd_result == "MACHINE"


def test_exactly_one_cdr_per_leg_even_if_the_end_is_reported_twice() -> None:
    """ARCHITECTURE.md guarantee 4: one CDR per attempt; a duplicate end event is ignored."""
    rig = Rig(outcome=lambda o: Outcome(talk=10))
    rig.campaign(basic_campaign())
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    call_uuid = rig.cdrs[0].cdr_uuid
    rig.dialer.call_ended(CallResult(call_uuid, "NORMAL_CLEARING"), rig.clock.now())
    rig.dialer.call_answered(call_uuid, rig.clock.now())
    rig.dialer.call_dtmf(call_uuid, "1")
    assert rig.dialer.drain() == []
    assert len(rig.cdrs) == 1


def test_a_refused_origination_is_a_failed_attempt_with_its_cdr() -> None:
    """ARCHITECTURE.md guarantee 2: an attempt whose call the switch refused counts as made
    (failed) and yields its CDR; its slot is freed at once."""
    rig = Rig(outcome=by_number({phone(1): Outcome(refused=True)}))
    rig.campaign(basic_campaign(concurrent_call=1))
    rig.lead("a", "c1", phone(1))
    rig.lead("b", "c1", phone(2))
    rig.run_until_idle()
    assert [c.status for c in rig.cdrs_of("a")] == ["failed"]
    assert rig.dialer.leads["a"].attempts == 1
    assert rig.calls_of("b")[0][0] == rig.start
    rig.finish()


def test_invalid_numbers_are_invalid_without_a_call_and_reported() -> None:
    """seed 000 import + vietnam.md: a number that cannot be Vietnamese gives the lead
    status invalid without a call, with a lead event naming why; numbers are normalised
    (+84…, spaces, old 11-digit prefixes) before dialing; a bad extra number is dropped."""
    rig = Rig()
    rig.campaign(basic_campaign(concurrent_call=10))
    rig.lead("bad", "c1", "12345")
    rig.lead("foreign", "c1", "+1 415 555 0100")
    rig.lead("list", "c1", "0901234567,0912345678")
    rig.lead("intl", "c1", "+84 90 123 4567")
    rig.lead("old", "c1", "0162 123 4567")
    rig.lead("mixed", "c1", "abc", "0987654321")
    for lead_uuid in ("bad", "foreign", "list"):
        assert rig.state(lead_uuid) is LeadState.INVALID
        (event,) = rig.events_of(lead_uuid)
        assert event.state == "invalid" and event.reason.startswith("invalid phone: ")
    assert rig.events_of("foreign")[0].reason == "invalid phone: foreign_country_code"
    dest = {o.lead_uuid: o.destination for _, o in rig.originated}
    assert dest == {"intl": "0901234567", "old": "0321234567", "mixed": "0987654321"}
    assert rig.events_of("mixed")[0].reason == "imported; 1 invalid number(s) left out"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(min_value=1.0, max_value=4.1e9, allow_nan=False),
                 st.integers(min_value=1, max_value=4_100_000_000).flatmap(
                     lambda s: st.sampled_from([s - 5e-7, s - 4e-7, s + 0.9999995, s + 0.5]))),
       st.sampled_from(["Asia/Ho_Chi_Minh", "UTC", "America/St_Johns", "Australia/Lord_Howe"]))
def test_cached_stamps_are_the_direct_formatting(epoch: float, time_zone: str) -> None:
    """CDR stamps are formatted once per (second, zone); the second is the one datetime
    shows, also when microseconds round up into the next one."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from engine import cdr

    local = datetime.fromtimestamp(epoch, ZoneInfo(time_zone))
    assert cdr.stamp(epoch, time_zone) == local.strftime("%Y-%m-%d %H:%M:%S")
    assert cdr._iso(cdr._second(epoch), time_zone) == local.isoformat(timespec="seconds")
