"""What is said on the call (seed 001 type_autocall; seed 000 reading rules): the engine's
channel variables for the switch, and that the switch adapter accepts them."""

from __future__ import annotations

from types import MappingProxyType
from urllib.parse import unquote

from adapters.freeswitch.dialstring import DialPlan, originate_command
from engine.lead import LeadState
from engine.model import TypeAutocall
from tests.engine.rig import Rig, basic_campaign, phone

SEED_TEMPLATE = (
    "Chào bạn {{customer_name}} vui lòng thanh toán khoản nợ {{due_amount}} "
    "trước ngày {{due_date}}"
)
SEED_SPOKEN = (
    "Chào bạn Nguyễn Văn A vui lòng thanh toán khoản nợ mười triệu bốn trăm mười nghìn "
    "trước ngày ba mươi tháng một năm hai không hai mươi mốt"
)


def test_voice_tts_renders_the_template_with_the_seed_000_reading() -> None:
    """seed 000 + seed 001 autocall_voice_tts: the template's {{key}} placeholders are the
    lead's params read aloud (amount, date), as autocall_tts_text."""
    rig = Rig()
    rig.campaign(basic_campaign(type_autocall=TypeAutocall.VOICE_TTS, template_text=SEED_TEMPLATE))
    rig.lead("a", "c1", phone(1), params=MappingProxyType(
        {"customer_name": "Nguyễn Văn A", "due_amount": "10410000", "due_date": "30/01/2021"}))
    (_, o), = rig.originated
    v = o.variables
    assert v["autocall_tts_text"] == SEED_SPOKEN
    assert v["autocall_application"] == "speak"
    assert v["autocall_type"] == "autocall_voice_tts"
    assert "autocall_audio_file" not in v
    assert (v["autocall_campaign"], v["autocall_lead"], v["autocall_attempt"]) == ("c1", "a", "1")


def test_audio_plays_the_campaign_file() -> None:
    """seed 001 autocall_audio: the template's audio file is played as is."""
    rig = Rig()
    rig.campaign(basic_campaign(type_autocall=TypeAutocall.AUDIO, template_text="",
                                audio_file="thong_bao_no_cuoc_01.wav"))
    rig.lead("a", "c1", phone(1))
    (_, o), = rig.originated
    assert o.variables["autocall_audio_file"] == "thong_bao_no_cuoc_01.wav"
    assert o.variables["autocall_application"] == "playback"
    assert "autocall_tts_text" not in o.variables


def test_voice_otp_reads_the_code_digit_by_digit_twice() -> None:
    """seed 001 autocall_voice_otp: the code is read digit by digit and repeated; a code
    that is not 1-12 digits makes the lead invalid without a call."""
    rig = Rig()
    rig.campaign(basic_campaign(type_autocall=TypeAutocall.VOICE_OTP, template_text=""))
    rig.lead("a", "c1", phone(1), params=MappingProxyType({"otp": "0815"}))
    rig.lead("b", "c1", phone(2), params=MappingProxyType({"code": 42}))
    rig.lead("bad", "c1", phone(3), params=MappingProxyType({"otp": "12a4"}))
    rig.lead("none", "c1", phone(4))
    text = {o.lead_uuid: o.variables["autocall_tts_text"] for _, o in rig.originated}
    assert text == {"a": "không tám một năm, không tám một năm", "b": "bốn hai, bốn hai"}
    assert rig.state("bad") is LeadState.INVALID and rig.state("none") is LeadState.INVALID
    assert rig.events_of("bad")[-1].reason.startswith("invalid otp")


def test_a_campaign_without_a_script_does_not_dial() -> None:
    """seed 001 type_autocall without its template/file: nothing to say → no call (a silent
    call is worse than none); explain says why; adding the template starts dialing."""
    rig = Rig()
    spec = rig.campaign(basic_campaign(template_text=""))
    rig.lead("a", "c1", phone(1))
    assert rig.originated == []
    ex = rig.dialer.explain("a", rig.clock.now())
    assert ex is not None and ex.rule == "script_missing"
    rig.campaign(basic_campaign(template_text="Xin chào"))
    assert len(rig.originated) == 1
    assert spec.template_text == ""


def test_the_variables_reach_the_switch_escaped() -> None:
    """seed 001 script → FreeSWITCH: every engine variable survives the adapter's escaping
    (percent-encoding) and decodes back to the same text."""
    rig = Rig()
    rig.campaign(basic_campaign(template_text=SEED_TEMPLATE + ", {x}, $var | 'q'"))
    rig.lead("a", "c1", phone(1), params=MappingProxyType(
        {"customer_name": "Nguyễn Văn A", "due_amount": "10410000", "due_date": "30/01/2021"}))
    (_, o), = rig.originated
    command = originate_command(call_uuid=o.call_uuid, destination=o.destination,
                                caller_id=o.caller_id, timeout_s=o.timeout_s,
                                variables=o.variables, plan=DialPlan())
    block = command[command.index("{") + 1:command.index("}")]
    pairs = dict(p.split("=", 1) for p in block.split(","))
    assert unquote(pairs["autocall_tts_text"]) == o.variables["autocall_tts_text"]
    assert pairs["origination_uuid"] == o.call_uuid
