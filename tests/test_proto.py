"""proto/ holds generated contracts: they must match the pydantic models."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from proto import generate
from proto import messages as m
from proto.compat import unknown_fields


def test_schemas_and_asyncapi_match_the_models() -> None:
    assert generate.drifted() == [], "run: python -m proto.generate"


def test_asyncapi_names_every_topic_and_schema() -> None:
    doc = json.loads((generate.HERE / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    assert set(doc["channels"]) == {"leads", "dnc", "control", "cdr", "lead-events", "dlq"}
    for name in generate.SCHEMAS:
        assert (generate.HERE / "schemas" / f"{name}.json").exists()


def test_inputs_ignore_unknown_fields_and_refuse_oversized_values() -> None:
    raw = {"campaign_uuid": "c", "lead_uuid": "l", "phone_number": "0901234567", "x": 1}
    lead = m.LeadImport.model_validate(raw)
    assert unknown_fields(lead, raw) == ["x"]
    assert "x" not in m.dumps(lead).decode()
    upsert = {"type": "campaign.upsert", "y": 2,
              "campaign": {"campaign_uuid": "c", "campaign_name": "n", "z": 3,
                           "schedules": [{"monday_start_time": 1, "w": 4}]}}
    assert unknown_fields(m.CONTROL.validate_python(upsert), upsert) == [
        "y", "campaign.z", "campaign.schedules.0.w"]
    with pytest.raises(ValidationError):
        m.LeadImport.model_validate(
            {"campaign_uuid": "c", "lead_uuid": "l", "phone_number": "0" * 5000}
        )


@pytest.mark.parametrize("name", ["lead-import", "dnc-entry", "control-command"])
def test_input_schemas_allow_additional_properties(name: str) -> None:
    """The published JSON Schemas say what the models do: inputs are open."""
    text = (generate.HERE / "schemas" / f"{name}.json").read_text(encoding="utf-8")
    assert '"additionalProperties": false' not in text


def test_output_records_refuse_unknown_fields() -> None:
    assert generate.schema("dlq-record")["additionalProperties"] is False
    assert generate.schema("cdr")["additionalProperties"] is False


def test_control_command_is_a_discriminated_union() -> None:
    cmd = m.CONTROL.validate_python(
        {"type": "campaign.status", "campaign_uuid": "c", "status": "pause"}
    )
    assert isinstance(cmd, m.SetCampaignStatus)
    with pytest.raises(ValidationError):
        m.CONTROL.validate_python({"type": "campaign.explode", "campaign_uuid": "c"})


@pytest.mark.parametrize(("inner", "wire"), [
    ("Cdr", m.CdrRecord), ("LeadEvent", m.LeadEventRecord),
])
def test_engine_records_and_their_wire_models_have_the_same_fields(
    inner: str, wire: type[m.BaseModel],
) -> None:
    """The engine's dataclasses are published as these models: a field added on one side
    only would be refused (extra=forbid) or silently missing on the topic."""
    import dataclasses

    from engine import records

    fields = {f.name for f in dataclasses.fields(getattr(records, inner))}
    assert fields == set(wire.model_fields)
