"""The shipped dialplan and the engine agree: every application the engine asks for has
an extension, and every channel variable the dialplan reads is one the engine sets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from adapters.freeswitch.dialstring import DialPlan
from engine import script
from engine.model import TypeAutocall
from tests.engine.rig import basic_campaign

DIALPLAN = Path(__file__).resolve().parents[2] / "adapters/freeswitch/dialplan/autocall.xml"


def variables_for(kind: TypeAutocall) -> dict[str, str]:
    spec = basic_campaign(type_autocall=kind, template_text="Chào {{ten}}", audio_file="a.wav")
    return script.variables("i", spec, "lead", 1, {"ten": "A", "otp": "1234"})


def test_the_dialplan_is_the_context_and_extension_the_engine_dials() -> None:
    root = ET.parse(DIALPLAN).getroot()
    (context,) = root.iter("context")
    plan = DialPlan()
    assert context.get("name") == plan.context
    first = {ext.find("condition").get("expression") for ext in context.iter("extension")}
    assert first == {f"^{plan.extension}$"}


def test_every_application_the_engine_sets_has_an_extension() -> None:
    text = DIALPLAN.read_text(encoding="utf-8")
    handled = set(re.findall(r'field="\$\{autocall_application\}" expression="\^(\w+)\$"',
                             text))
    asked = {variables_for(kind)["autocall_application"] for kind in TypeAutocall}
    assert asked <= handled


def test_every_engine_variable_the_dialplan_reads_is_set_by_the_engine() -> None:
    text = DIALPLAN.read_text(encoding="utf-8")
    body = text.split("-->", 1)[1]  # the header comment documents, the actions read
    read = set(re.findall(r"\$\{(autocall_\w+)\}", body))
    optional = {"autocall_tts_engine", "autocall_tts_voice"}  # deployment defaults apply
    set_somewhere = set().union(*(variables_for(kind) for kind in TypeAutocall))
    assert read - optional <= set_somewhere
