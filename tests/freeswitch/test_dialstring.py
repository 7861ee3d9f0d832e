"""Issue 3 §4, dial-string safety: hostile lead data cannot inject a command or a variable.

The proof has two halves: the command we build only ever contains a fixed, inert alphabet
(and no CR/LF, so it cannot end the ESL frame), and an independent parser that follows
FreeSWITCH's own splitting rules (the simulator's) reads back exactly the variables we set,
with the hostile text intact after url-decoding.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.esl import EslInjectionError, encode_command
from adapters.freeswitch.dialstring import DialPlan, originate_command
from adapters.fssim.dialstring import parse_originate
from engine.errors import UnsafeDialValue

CALL = "0d5c6a4e-1f0b-4c53-9a43-8f2f3f7f4a10"
HOSTILE = [
    "a,b", "{x=y}", "'quoted'", '"double"', "sp ace", "line\nbreak", "\n\napi hupall",
    "${system(rm -rf /)}", "a|b", "x^^:y", "[leg=1]", "%0A%0Aapi hupall", "&park()",
    "Nguyễn Văn A, còn nợ 1.500.000đ", "x" * 5000, "\r\n\r\nbgapi originate", "\\,\\}",
]


def build(variables: dict[str, str], destination: str = "0901234567",
          caller_id: str = "02873001234") -> str:
    return originate_command(call_uuid=CALL, destination=destination, caller_id=caller_id,
                             timeout_s=30, variables=variables, plan=DialPlan(gateway="gw1"))


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_variable_values_come_back_unchanged_and_inert(value: str) -> None:
    command = build({"autocall_tts_text": value, "autocall_lead": "lead-1"})
    assert "\n" not in command and "\r" not in command
    encode_command(f"bgapi {command}")  # the ESL framing accepts it as one command
    parsed = parse_originate(command.removeprefix("originate "))
    assert set(parsed.global_vars) == {
        "origination_uuid", "originate_timeout", "ignore_early_media",
        "origination_caller_id_number", "effective_caller_id_number",
        "autocall_tts_text", "autocall_lead",
    }, "no variable was injected"
    assert unquote(parsed.global_vars["autocall_tts_text"]) == value
    assert parsed.global_vars["origination_uuid"] == CALL
    assert [[leg.number for leg in g] for g in parsed.groups] == [["0901234567"]]
    assert parsed.exten == "autocall" and parsed.context == "autocall"


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
                       st.text(max_size=200), max_size=5))
def test_any_text_in_any_variable_parses_back_exactly(variables: dict[str, str]) -> None:
    variables = {f"x_{k}": v for k, v in variables.items()}
    command = build(variables)
    parsed = parse_originate(command.removeprefix("originate "))
    for name, value in variables.items():
        assert unquote(parsed.global_vars.get(name, "")) == value
    base = {"origination_uuid", "originate_timeout", "ignore_early_media",
            "origination_caller_id_number", "effective_caller_id_number"}
    assert set(parsed.global_vars) <= base | set(variables), "no variable was injected"
    assert len(parsed.groups) == 1 and len(parsed.groups[0]) == 1


@pytest.mark.parametrize("destination", [
    "0901234567,0912345678", "0901234567|0912345678", "0901234567 &park()", "abc",
    "0901234567\n\napi hupall", "", "1" * 40, "+84901234567",
])
def test_destinations_that_are_not_plain_digits_are_refused(destination: str) -> None:
    with pytest.raises(UnsafeDialValue):
        build({}, destination=destination)


@pytest.mark.parametrize("caller_id", ["028 7300", "0287300,x", "abc", "1" * 30])
def test_bad_caller_ids_are_refused(caller_id: str) -> None:
    with pytest.raises(UnsafeDialValue):
        build({}, caller_id=caller_id)


@pytest.mark.parametrize("name", ["Bad", "a,b", "a=b", "x y", "", "a" * 80, "origination uuid"])
def test_bad_variable_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeDialValue):
        build({name: "v"})


def test_bad_call_uuid_gateway_and_timeout_are_refused() -> None:
    with pytest.raises(UnsafeDialValue):
        originate_command(call_uuid="x}", destination="0901234567", caller_id="",
                          timeout_s=30, variables={}, plan=DialPlan())
    with pytest.raises(UnsafeDialValue):
        originate_command(call_uuid=CALL, destination="0901234567", caller_id="",
                          timeout_s=30, variables={}, plan=DialPlan(gateway="gw/../x"))
    with pytest.raises(UnsafeDialValue):
        originate_command(call_uuid=CALL, destination="0901234567", caller_id="",
                          timeout_s=0, variables={}, plan=DialPlan())


def test_oversized_value_is_refused() -> None:
    with pytest.raises(UnsafeDialValue):
        build({"autocall_tts_text": "x" * 9000})


def test_esl_framing_refuses_line_breaks() -> None:
    with pytest.raises(EslInjectionError):
        encode_command("bgapi originate {a=b}x &park()\n\napi hupall")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"[A-Za-z0-9_.~-]{0,40}", fullmatch=True))
def test_the_fast_path_escapes_exactly_like_quote(value: str) -> None:
    from urllib.parse import quote

    from adapters.freeswitch.dialstring import escape_value

    try:
        expected = quote(value, safe="-_.")
    except UnicodeEncodeError:  # a lone surrogate: quote refuses it, and so do we
        with pytest.raises(UnicodeEncodeError):
            escape_value(value)
        return
    assert escape_value(value) == expected
