"""Campaigns and queues: the seed 001 campaign object and lifecycle, the seed 002 queue."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from consumers.convert import campaign as to_campaign
from engine.errors import CampaignConflict, UnknownCampaign
from engine.lead import LeadState
from engine.model import CallStatus, CampaignStatus, ModeCall, PriorityRecall, ScheduleRecall
from proto import messages as m
from tests.engine.rig import BUSY, Outcome, Rig, basic_campaign, by_number, phone, vn_epoch

# The body of seed 001's PUT /v3/campaign/{uuid} example, as published (plus a template
# text, which the seed keeps behind template_uuid).
SEED_001_UPDATE: dict[str, Any] = {
    "campaign_uuid": "c2da23c0-9739-4287-828a-7b15cf0fb19e",
    "campaign_name": "AutocallAudio", "type": "autocall", "description": "", "active": True,
    "concurrent_call": 5, "carrier_uuid": "a18b400f-d487-4e17-b5e7-eba5fe6fa54f",
    "template_uuid": "5f427552-857e-4939-8edf-cbd0f1ef6842", "recall_times": 3,
    "limit_recall_duration": 0, "schedule_recall": "minute", "schedule_recall_duration": 1,
    "answer_callback_url": "", "status": "stop",
    "created_at": "2023-03-06T16:27:17.784242+07:00",
    "updated_at": "2023-03-06T16:27:17.784242+07:00", "template_name": "",
    "carrier_name": "", "mode_call": "direct",
    "network": {"viettel": 0, "mobi": 0, "vina": 0, "tel": 0, "offnet": 0},
    "run_id": "", "type_autocall": "autocall_audio", "call_timeout": 60, "domain_name": "",
    "users": [], "groups": [], "statuses": [],
    "schedules": [{f"{d}_{edge}_time": v for d in ("monday", "tuesday", "wednesday",
                                                    "thursday", "friday", "saturday", "sunday")
                   for edge, v in (("start", 28800000000000), ("end", 75600000000000))}],
    "priority_recall": "normal",
    "recall_status": ["busy", "failed", "no-answered", "not-available", "voicemail",
                      "invalid-number", "phone-block", "congestion"],
    "enable_encrypt": False, "callback_url": "", "orig_campaign_uuid": "",
    "audio_file": "thong_bao_no_cuoc_01.wav",
}


def test_the_seed_001_campaign_object_drives_the_engine() -> None:
    """seed 001 PUT /v3/campaign: the full object, converted at the edge, is what the engine
    dials by: status stop dials nothing; start dials within concurrent_call and the
    08:00-21:00 schedules, with call_timeout, the audio script and the recall rules."""
    spec = to_campaign(m.CampaignSpec.model_validate(SEED_001_UPDATE))
    assert (spec.status, spec.mode_call, spec.priority_recall, spec.schedule_recall) == (
        CampaignStatus.STOP, ModeCall.DIRECT, PriorityRecall.NORMAL, ScheduleRecall.MINUTE)
    assert CallStatus.BUSY in spec.recall_status and CallStatus.ANSWERED not in spec.recall_status
    cid = spec.campaign_uuid
    rig = Rig(outcome=by_number({phone(0): [BUSY, Outcome()]}),
              start=vn_epoch(2026, 11, 23, 7, 30))
    rig.campaign(spec)
    for i in range(8):
        rig.lead(f"l{i}", cid, phone(i))
    rig.run(3600)
    assert rig.originated == []
    rig.dialer.set_status(cid, CampaignStatus.START)
    rig.step()
    rig.run_until_idle()
    first, o = rig.originated[0]
    assert first == vn_epoch(2026, 11, 23, 8, 30)  # status start arrived at 08:30
    assert o.timeout_s == 60 and o.variables["autocall_audio_file"] == "thong_bao_no_cuoc_01.wav"
    assert rig.max_live[cid] == 5
    assert [c.status for c in rig.cdrs_of("l0")] == ["busy", "answered"]
    assert rig.calls_of("l0")[1][0] - rig.calls_of("l0")[0][0] == 63  # 1 minute after
    rig.finish()


def test_an_inactive_campaign_is_never_dialed() -> None:
    """seed 001 PATCH /active false: not dialed even with status start (Newfies #21);
    active again → dialing resumes."""
    rig = Rig()
    rig.campaign(basic_campaign(active=False))
    rig.lead("a", "c1", phone(1))
    rig.run(3600)
    assert rig.originated == []
    rig.dialer.set_active("c1", True)
    rig.step()
    assert len(rig.originated) == 1


def test_stop_keeps_the_queue_and_lets_live_calls_finish() -> None:
    """seed 001 status stop: like pause, the queue is kept and live calls end normally."""
    rig = Rig(outcome=lambda o: Outcome(talk=100))
    rig.campaign(basic_campaign(concurrent_call=2))
    for i in range(4):
        rig.lead(f"l{i}", "c1", phone(i))
    rig.dialer.set_status("c1", CampaignStatus.STOP)
    rig.run(1000)
    assert len(rig.cdrs) == 2 and rig.hangups == []
    assert [rig.state(f"l{i}") for i in (2, 3)] == [LeadState.QUEUED] * 2
    rig.dialer.set_status("c1", CampaignStatus.START)
    rig.step()
    rig.run_until_idle()
    assert len(rig.cdrs) == 4
    rig.finish()


def test_delete_removes_waiting_leads_and_lets_live_calls_finish_without_recall() -> None:
    """seed 001 DELETE (only when deactivated): waiting leads are removed (reported), live
    calls finish with their CDR and no recall; the campaign is gone; the uuid can be
    created again, and the old calls still count against concurrent_call."""
    rig = Rig(outcome=lambda o: Outcome("USER_BUSY", ring=50, talk=0))
    rig.campaign(basic_campaign(concurrent_call=1, recall_times=3,
                                recall_status=frozenset({CallStatus.BUSY})))
    rig.lead("live", "c1", phone(1))
    rig.lead("wait", "c1", phone(2))
    with pytest.raises(CampaignConflict, match="campaign must be deactive"):
        rig.dialer.delete_campaign("c1", rig.clock.now())
    rig.dialer.set_active("c1", False)
    rig.dialer.delete_campaign("c1", rig.clock.now())
    rig.step()
    assert rig.state("wait") is LeadState.REMOVED
    assert rig.events_of("wait")[-1].reason == "campaign deleted"
    with pytest.raises(UnknownCampaign):
        rig.dialer.set_status("c1", CampaignStatus.START)
    with pytest.raises(UnknownCampaign):
        rig.lead("new", "c1", phone(3))
    rig.campaign(basic_campaign(concurrent_call=1))
    rig.lead("again", "c1", phone(4))
    assert rig.calls_of("again") == []  # the deleted campaign's call still holds the slot
    rig.run_until_idle()
    assert [c.status for c in rig.cdrs_of("live")] == ["busy"]
    assert rig.state("live") is LeadState.COMPLETED
    assert rig.calls_of("again")[0][0] == rig.start + 50
    rig.finish()


def test_queue_commands_by_queue_code() -> None:
    """seed 002 /queue/stop (pause), /queue/start (resume), /queue/delete (only after stop);
    unknown queue_code → "queue not found" (UnknownCampaign)."""
    rig = Rig(outcome=lambda o: Outcome(talk=30))
    rig.campaign(basic_campaign("q", concurrent_call=1, queue_code="Autocall-Q1"))
    for i in range(3):
        rig.lead(f"l{i}", "q", phone(i))
    rig.dialer.stop_queue("Autocall-Q1")
    rig.run(100)
    assert len(rig.originated) == 1
    rig.dialer.start_queue("Autocall-Q1")
    rig.step()
    assert len(rig.originated) == 2
    with pytest.raises(CampaignConflict, match="stopped"):
        rig.dialer.delete_queue("Autocall-Q1", rig.clock.now())
    rig.dialer.stop_queue("Autocall-Q1")
    rig.dialer.delete_queue("Autocall-Q1", rig.clock.now())
    assert rig.state("l2") is LeadState.REMOVED
    for command in (rig.dialer.stop_queue, rig.dialer.start_queue):
        with pytest.raises(UnknownCampaign):
            command("Autocall-Q1")
    rig.run_until_idle()
    rig.finish()


def test_a_queue_code_can_move_to_another_campaign_spec() -> None:
    """seed 002 queue_code identifies the queue; an update that renames it follows."""
    rig = Rig()
    spec = rig.campaign(basic_campaign("q", queue_code="A"))
    rig.dialer.upsert_campaign(replace(spec, queue_code="B"))
    assert rig.dialer.campaign_for_queue("B") == "q"
    with pytest.raises(UnknownCampaign):
        rig.dialer.campaign_for_queue("A")


def test_a_seed_002_queue_import() -> None:
    """seed 002 POST /v2/autocall/queue: queue_code, concurrent_call, max_recall_count (=
    recall_times), min_recall_duration, customers with several mobiles and any other
    fields (the script's params, the CDR's additional)."""
    rig = Rig(outcome=by_number({"0982596021": Outcome(talk=2)}))
    rig.campaign(basic_campaign("Autocall-Q1", queue_code="Autocall-Q1", concurrent_call=5,
                                recall_times=3, min_recall_duration=3,
                                mode_call=ModeCall.SERIAL,
                                template_text="Hợp đồng {{contract_number}}"))
    customer = {"contract_number": "HD123456", "upcoming_due_date": "2021-07-13",
                "upcoming_amount": 5000000, "dpd": 5, "total_ovd_amount": 3211100}
    rig.lead("TEL4VN_Test", "Autocall-Q1", "0982596021", "0912345678",
             customer_id="TEL4VN_Test", params=MappingProxyType(customer))
    rig.run_until_idle()
    cdrs = rig.cdrs_of("TEL4VN_Test")
    assert len(cdrs) == 4  # answered for 2 s < 3 s: recalled 3 times, then exhausted
    assert {c.phone_number for c in cdrs} == {"0982596021"}
    assert dict(cdrs[0].additional) == customer
    assert rig.originated[0][1].variables["autocall_tts_text"] == (
        "Hợp đồng HD123456")
    assert rig.state("TEL4VN_Test") is LeadState.EXHAUSTED
    rig.finish()
