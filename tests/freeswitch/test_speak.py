"""Issue 11, what reaches the switch: the TTS text can never choose the engine or the voice
of ``speak``, and audio_file is a plain name resolved under the sound directory.

FreeSWITCH's ``speak`` (mod_dptools ``speak_function``) splits its argument with
``switch_separate_string(data, '|', argv, 3)``: one part is the text (engine and voice from
the channel variables ``tts_engine``/``tts_voice``), two are ``voice|text``, three are
``engine|voice|text`` where the text is the rest of the string, further ``|`` included.
The splitter (switch_utils.c ``separate_string_char_delim``) stops after the last part
it was asked for; inside a part it honours ``\\`` escapes and ``'`` quotes (a quote only
opens when another one follows). ``speak_argv`` below is that rule, transcribed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.freeswitch.dialstring import DialPlan, originate_command
from adapters.fssim.dialstring import parse_originate
from engine import script
from engine.errors import UnsafeDialValue
from engine.model import TypeAutocall
from tests.engine.rig import basic_campaign

DIALPLAN = Path(__file__).resolve().parents[2] / "adapters/freeswitch/dialplan/autocall.xml"
CALL = "0d5c6a4e-1f0b-4c53-9a43-8f2f3f7f4a10"
PLAN = DialPlan(gateway="gw1", tts_engine="vi_tts", tts_voice="ngoc-lan",
                sound_dir="/var/lib/sounds/autocall")


def separate(data: str, delim: str, limit: int) -> list[int]:
    """Start offsets of the parts ``separate_string_char_delim`` finds (before cleanup)."""
    starts: list[int] = []
    i, inside_quotes, find_delim = 0, False, False
    while i < len(data) and len(starts) < limit:
        if not find_delim:
            starts.append(i)
            find_delim = True
            continue  # START does not advance
        c = data[i]
        if c == "\\":
            i += 1
        elif c == "'" and (inside_quotes or "'" in data[i + 1:]):
            inside_quotes = not inside_quotes
        elif c == delim and not inside_quotes:
            find_delim = False
        i += 1
    return starts


def speak_argv(data: str, channel: dict[str, str]) -> tuple[str, str, str]:
    """(engine, voice, text) as ``speak_function`` takes them from its argument."""
    starts = separate(data, "|", 3)
    if len(starts) == 1:
        return channel["tts_engine"], channel["tts_voice"], data
    if len(starts) == 2:
        return channel["tts_engine"], data[:starts[1] - 1], data[starts[1]:]
    return data[:starts[1] - 1], data[starts[1]:starts[2] - 1], data[starts[2]:]


def speak_data_template() -> str:
    root = ET.parse(DIALPLAN).getroot()
    (action,) = [a for a in root.iter("action") if a.get("application") == "speak"]
    return str(action.get("data"))


def expand(template: str, variables: dict[str, str]) -> str:
    """The dialplan's own expansions: ${url_decode(${x})} and ${x}."""
    out = re.sub(r"\$\{url_decode\(\$\{(\w+)\}\)\}", lambda m: unquote(variables[m[1]]),
                 template)
    return re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m[1], ""), out)


def channel_for(text_param: str) -> dict[str, str]:
    spec = basic_campaign(template_text="Chào bạn {{ten}}, hẹn gặp lại")
    variables = script.variables("i", spec, "lead", 1, {"ten": text_param})
    command = originate_command(call_uuid=CALL, destination="0901234567", caller_id="",
                                timeout_s=30, variables=variables, plan=PLAN)
    channel = {k: unquote(v) for k, v in
               parse_originate(command.removeprefix("originate ")).global_vars.items()}
    # The dialplan's "set" actions: the deployment's engine and voice.
    channel["tts_engine"] = channel.get("autocall_tts_engine") or "flite"
    channel["tts_voice"] = channel.get("autocall_tts_voice") or "kal"
    return channel


def test_the_splitting_rule_is_freeswitchs() -> None:
    assert speak_argv("hello", {"tts_engine": "e", "tts_voice": "v"}) == ("e", "v", "hello")
    assert speak_argv("v2|hi", {"tts_engine": "e", "tts_voice": "v"}) == ("e", "v2", "hi")
    assert speak_argv("a|b|c|d", {}) == ("a", "b", "c|d")
    assert speak_argv("'a|b'|c|d", {}) == ("'a|b'", "c", "d")


@pytest.mark.parametrize("hostile", [
    "x|evil_engine|evil_voice|y", "|||", "a|b", "'|'|'", "\\|", "evil|", "Nguyễn | Văn",
])
def test_a_lead_cannot_choose_the_tts_engine_or_voice(hostile: str) -> None:
    channel = channel_for(hostile)
    engine, voice, text = speak_argv(expand(speak_data_template(), channel), channel)
    assert (engine, voice) == ("vi_tts", "ngoc-lan")
    assert "|" not in text
    assert text == channel["autocall_tts_text"]


def test_the_old_dialplan_form_let_the_lead_choose() -> None:
    """Why the dialplan passes engine|voice: with the text alone, a "|" re-split it."""
    old = speak_argv("Chào bạn x|evil_engine|evil_voice", {"tts_engine": "e", "tts_voice": "v"})
    assert old[:2] == ("Chào bạn x", "evil_engine")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_lead_text_keeps_the_deployments_engine_and_voice(param: str) -> None:
    channel = channel_for(param)
    engine, voice, _ = speak_argv(expand(speak_data_template(), channel), channel)
    assert (engine, voice) == ("vi_tts", "ngoc-lan")


def test_audio_file_is_resolved_under_the_sound_directory() -> None:
    spec = basic_campaign(type_autocall=TypeAutocall.AUDIO, audio_file="ivr/welcome.wav")
    variables = script.variables("i", spec, "lead", 1, {})
    command = originate_command(call_uuid=CALL, destination="0901234567", caller_id="",
                                timeout_s=30, variables=variables, plan=PLAN)
    got = parse_originate(command.removeprefix("originate ")).global_vars
    assert unquote(got["autocall_audio_file"]) == "/var/lib/sounds/autocall/ivr/welcome.wav"
    assert "autocall_tts_engine" not in got


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "http_cache://http://169.254.169.254/latest/meta-data/x.wav",
    "file_string://a.wav!b.wav", "${system(id)}", "a|b.wav", "/etc/passwd", "{x=y}a.wav",
    "shout://evil/x.mp3", "ivr/../../../x.wav", "a b.wav",
])
def test_a_hostile_audio_file_never_reaches_the_switch(name: str) -> None:
    spec = basic_campaign(type_autocall=TypeAutocall.AUDIO, audio_file=name)
    variables = script.variables("i", spec, "lead", 1, {})
    with pytest.raises(UnsafeDialValue):
        originate_command(call_uuid=CALL, destination="0901234567", caller_id="",
                          timeout_s=30, variables=variables, plan=PLAN)


def test_tts_engine_and_voice_cannot_come_from_the_call() -> None:
    with pytest.raises(UnsafeDialValue):
        originate_command(call_uuid=CALL, destination="0901234567", caller_id="",
                          timeout_s=30, plan=PLAN,
                          variables={"autocall_application": "speak",
                                     "autocall_tts_engine": "evil"})
