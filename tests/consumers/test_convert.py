"""Wire → engine conversion: seed 001 fields the engine acts on, and the template registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from consumers.convert import Template, campaign
from dialer.settings import Settings
from engine.model import CallStatus, ModeCall
from proto import messages as m


def spec(**kw: object) -> m.CampaignSpec:
    return m.CampaignSpec(campaign_uuid="c", campaign_name="C", **kw)  # type: ignore[arg-type]


def test_template_uuid_is_resolved_from_the_registry() -> None:
    """seed 001 template_uuid / seed 002 template: the script comes from the registry."""
    templates = {"IVR-1": Template(text="Chào bạn {{ten}}"), "AUD": Template(audio_file="a.wav")}
    assert campaign(spec(template_uuid="IVR-1"), templates).template_text == "Chào bạn {{ten}}"
    assert campaign(spec(template_uuid="AUD"), templates).audio_file == "a.wav"
    inline = campaign(spec(template_uuid="IVR-1", template_text="Xin chào"), templates)
    assert inline.template_text == "Xin chào", "an inline script wins"
    assert campaign(spec(template_uuid="nope"), templates).template_text == ""


def test_seed001_local_start_and_end_times() -> None:
    c = campaign(spec(local_start_time="08:00:00", local_end_time="23:59:59"))
    assert (c.local_start_s, c.local_end_s) == (8 * 3600, 86_400)
    c = campaign(spec())
    assert (c.local_start_s, c.local_end_s) == (0, 86_400)
    with pytest.raises(ValidationError):
        spec(local_start_time="25:00")
    with pytest.raises(ValidationError):
        spec(local_end_time="8h")


def test_seed001_recall_words_and_parralel_spelling() -> None:
    c = campaign(spec(recall_status=["no-answered", "phone-block"], mode_call="parralel"))
    assert c.recall_status == frozenset({CallStatus.NO_ANSWER, CallStatus.PHONE_BLOCK})
    assert c.mode_call is ModeCall.PARALLEL


def test_templates_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_TEMPLATES", '{"IVR-1": {"text": "Chào {{ten}}"}}')
    assert Settings().templates["IVR-1"].text == "Chào {{ten}}"
