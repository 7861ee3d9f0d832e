"""Issue 11: hostile campaign fields are refused where they enter, with the seeds' error
shape over HTTP (400 ``{"error": [{"<field>": "<why>"}]}``) and as a DLQ reason on Kafka."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.inputs import Rejected, decode
from engine.core import Dialer
from engine.model import Campaign, LeadInput
from engine.ports import BusMessage, Topics
from tests.http.rig import AUTH, Stack, memory_stack

BASE = {"campaign_name": "Hostile", "type": "autocall", "type_autocall": "autocall_audio",
        "audio_file": "welcome.wav"}
HOSTILE: list[tuple[str, Any]] = [
    ("time_zone", "Mars/Olympus"),
    ("time_zone", "../../etc/passwd"),
    ("audio_file", "../../etc/passwd"),
    ("audio_file", "http_cache://http://169.254.169.254/latest/meta-data"),
    ("audio_file", "file_string://a.wav!b.wav"),
    ("audio_file", "${system(id)}"),
    ("audio_file", "a|b.wav"),
    ("audio_file", "/etc/passwd"),
    ("callback_url", "http://user:pass@example.com/cdr"),
    ("callback_url", "ftp://example.com/cdr"),
    ("limit_recall_duration", 10**12),
    ("network", {"viettel": 10**9}),
    ("schedules", [{"monday_start_time": 0, "monday_end_time": 2**62}]),
    ("schedules", [{"monday_start_time": -1, "monday_end_time": 3600}]),
    ("concurrent_call", 0),
    ("local_start_time", "25:00"),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE)
async def test_a_hostile_field_is_a_400_in_the_seed_shape(
    mstack: Stack, field: str, value: Any
) -> None:
    resp = await mstack.client.post("/v3/campaign", headers=AUTH,
                                    data=orjson.dumps({**BASE, field: value}))
    assert resp.status == 400
    body = await resp.json()
    items = body["error"]
    assert isinstance(items, list) and len(items) >= 1
    assert all(isinstance(i, dict) and len(i) == 1 for i in items)
    assert any(k.split(".")[0] == field for i in items for k in i), items


async def test_safe_fields_are_accepted(mstack: Stack) -> None:
    ok = {**BASE, "time_zone": "Europe/Berlin", "audio_file": "ivr/welcome-2.wav",
          "callback_url": "https://hooks.example.com/cdr?token=abc"}
    resp = await mstack.client.post("/v3/campaign", headers=AUTH, data=orjson.dumps(ok))
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize(("field", "value"), HOSTILE)
def test_a_hostile_field_on_the_control_topic_is_dead_lettered_with_the_reason(
    field: str, value: Any
) -> None:
    t = Topics("t.")
    spec = {**BASE, "campaign_uuid": "c1", field: value}
    raw = orjson.dumps({"type": "campaign.upsert", "campaign": spec})
    with pytest.raises(Rejected) as caught:
        decode(t, BusMessage(t.control, 0, 0, b"c1", raw))
    assert field in caught.value.reason


async def test_lead_state_answers_for_a_campaign_the_engine_cannot_evaluate(
    tmp_path: Path,
) -> None:
    """A campaign that got past every edge with a bad zone: its leads' state is a 200
    naming the error, never a plain-text 500."""
    from dataclasses import replace

    dialer = Dialer()
    dialer.upsert_campaign(Campaign("c1", "C1", template_text="x"))
    dialer.add_lead(LeadInput("l1", "c1", ("0901234567",)), 0.0)
    run = dialer.campaigns["c1"]
    run.spec = replace(run.spec, time_zone="Mars/Olympus")  # behind the engine's back

    def explain(lead_uuid: str) -> dict[str, Any] | None:
        found = dialer.explain(lead_uuid, 1.0)
        return dataclasses.asdict(found) if found is not None else None

    async with memory_stack(Topics("t."), tmp_path, explain=explain) as s:
        resp = await s.client.get("/v3/lead/l1/state", headers=AUTH)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["held_by"]["rule"] == "campaign_error"
        assert "ZoneInfoNotFoundError" in body["held_by"]["detail"]


async def test_an_unexpected_error_is_a_json_500(tmp_path: Path) -> None:
    def explain(lead_uuid: str) -> dict[str, Any] | None:
        raise RuntimeError("a bug, with data 0901234567")

    async with memory_stack(Topics("t."), tmp_path, explain=explain) as s:
        resp = await s.client.get("/v3/lead/l1/state", headers=AUTH)
        assert resp.status == 500
        assert resp.content_type == "application/json"
        assert await resp.json() == {"error": "Internal Server Error"}
