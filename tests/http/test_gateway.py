"""Gateway behaviour beyond the seed examples, on the in-memory bus (embedded mode):
hostile input, read-your-writes, the bus failing, the lead state endpoint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.memory_bus import MemoryBus
from engine.ports import Topics
from proto import messages as m
from tests.http.rig import AUTH, Stack, stack, upsert_campaign

CAMPAIGN = {"campaign_name": "Hostile", "type": "autocall"}


async def post(s: Stack, path: str, body: Any, method: str = "POST") -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = await s.client.request(method, path, data=data, headers=AUTH)
    return resp.status, await resp.json()


@pytest.mark.parametrize(("body", "error"), [
    (b"{not json", {"(root)": "body is not valid JSON"}),
    (b"", {"(root)": "body is not valid JSON"}),
    (b"[1, 2]", {"(root)": "Invalid type. Expected: object, given: array"}),
    (b'"\\ud800"', {"(root)": "body is not valid JSON"}),
    (b'{"a": ' * 40 + b"1" + b"}" * 40, {"(root)": "nesting is too deep"}),
    (b'{"campaign_name": "x", "type": "autocall", "concurrent_call": 99999999999999999999}',
     {"(root)": "number out of range"}),
    (orjson.dumps({**CAMPAIGN, "campaign_name": "x" * 300}),
     {"campaign_name": "String length must be less than or equal to 256"}),
    (orjson.dumps({**CAMPAIGN, "concurrent_call": "many"}),
     {"concurrent_call": "Invalid type. Expected: integer, given: string"}),
    (orjson.dumps({**CAMPAIGN, "concurrent_call": 0}),
     {"concurrent_call": "Must be greater than or equal to 1"}),
    (orjson.dumps({**CAMPAIGN, "callback_url": "ftp://x"}),
     {"callback_url": "callback_url must be an http(s) URL"}),
    (orjson.dumps({**CAMPAIGN, "recall_status": ["sometimes"]}),
     {"recall_status.0": 'recall_status.0 must be one of the following: "answered", "busy", '
      '"failed", "no-answered", "not-available", "voicemail", "invalid-number", '
      '"phone-block", "congestion", "cancel"'}),
])
async def test_hostile_campaign_bodies_get_a_400_in_the_seed_form(
    mstack: Stack, body: bytes, error: dict[str, str]
) -> None:
    status, reply = await post(mstack, "/v3/campaign", body)
    assert status == 400
    assert error in reply["error"], reply


async def test_hostile_import_bodies(mstack: Stack) -> None:
    await upsert_campaign(mstack, {"campaign_uuid": "c1", "campaign_name": "c1"})
    base = {"campaign_uuid": "c1", "phone_number": "0901234567", "param": {}}
    cases = [
        ({**base, "phone_number": "0901234567\r\nX-Injected: 1"}, "phone_number"),
        ({**base, "phone_number": "+1 202 555 0100"}, "phone_number"),
        ({**base, "param": {"k": "v" * 2000}}, "param.k"),
        ({**base, "param": {"k": {"nested": 1}}}, "param.k"),
        ({**base, "param": {f"k{i}": i for i in range(101)}}, "param"),
        ({**base, "campaign_uuid": "c" * 500}, "campaign_uuid"),
        ({**base, "param": []}, "param"),
    ]
    for body, field in cases:
        status, reply = await post(mstack, "/v3/autocall/import", body)
        assert status == 400, body
        assert field in reply["error"][0], reply
    assert mstack.bus.messages(mstack.topics.leads) == []  # type: ignore[attr-defined]


async def test_oversized_body_is_a_json_413(tmp_path: Path) -> None:
    async with stack(MemoryBus(), Topics("t."), tmp_path) as s:
        resp = await s.client.post("/v3/campaign", data=b"x" * (17 * 1024 * 1024),
                                   headers=AUTH)
        assert resp.status == 413
        assert "error" in await resp.json()


async def test_bad_query_and_path_values(mstack: Stack) -> None:
    for target, status in [
        ("/v3/campaign?limit=abc", 400), ("/v3/campaign?limit=0", 400),
        ("/v3/campaign?offset=-1", 400), ("/v3/report/call/lead?limit=100000", 400),
        ("/v1/autocall/report", 400), ("/v1/autocall/report?campaign_uuid=%ED%A0%80", 404),
        ("/v3/report/call/campaign?start_time=2023-13-45%2000:00:00", 400),
        (f"/v3/campaign/{'x' * 500}", 404), ("/v3/campaign/%ED%A0%80", 404),
    ]:
        resp = await mstack.client.get(target, headers=AUTH)
        assert resp.status == status, target
        assert "error" in await resp.json()


async def test_read_your_writes_and_no_resurrection(mstack: Stack) -> None:
    """Create, deactivate, delete in a row: each step shows at once, and the view never
    goes back in time while it consumes the same commands from the topic."""
    _, body = await post(mstack, "/v3/campaign", CAMPAIGN)
    uuid = body["campaign_uuid"]
    assert (await post(mstack, f"/v3/campaign/{uuid}/active", {"active": False},
                       "PATCH"))[0] == 200
    assert (await post(mstack, f"/v3/campaign/{uuid}", b"", "DELETE"))[0] == 200
    for _ in range(3):
        resp = await mstack.client.get(f"/v3/campaign/{uuid}", headers=AUTH)
        assert resp.status == 404
        await mstack.settle()
    assert await mstack.campaigns.all() == []
    # The name is free again.
    assert (await post(mstack, "/v3/campaign", CAMPAIGN))[0] == 200


async def test_commands_from_other_producers_are_applied(mstack: Stack) -> None:
    await upsert_campaign(mstack, {"campaign_uuid": "ext", "campaign_name": "External"})
    await mstack.publish_control(m.SetCampaignStatus(campaign_uuid="ext", status="start"))
    await mstack.settle()
    resp = await mstack.client.get("/v3/campaign/ext", headers=AUTH)
    assert (await resp.json())["status"] == "start"
    # A delete of an active campaign is refused by the engine; the view agrees.
    await mstack.publish_control(m.DeleteCampaign(campaign_uuid="ext"))
    await mstack.settle()
    assert (await mstack.client.get("/v3/campaign/ext", headers=AUTH)).status == 200


class FailingBus(MemoryBus):
    fail = False

    async def publish(self, topic: str, value: bytes | None, key: bytes | None = None,
                      partition: int | None = None) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        await super().publish(topic, value, key, partition)


async def test_a_failed_publish_is_a_503_and_leaves_nothing_behind(tmp_path: Path) -> None:
    bus = FailingBus()
    async with stack(bus, Topics("t."), tmp_path) as s:
        bus.fail = True
        status, body = await post(s, "/v3/campaign", CAMPAIGN)
        assert (status, body) == (503, {"error": "Service Unavailable"})
        assert await s.campaigns.all() == []  # the pending command was dropped
        bus.fail = False
        assert (await post(s, "/v3/campaign", CAMPAIGN))[0] == 200


def event(state: str, at: float, **kw: Any) -> m.LeadEventRecord:
    fields: dict[str, Any] = {"lead_uuid": "L1", "campaign_uuid": "c1", "state": state,
                              "previous": "", "reason": "", "at": at, "attempts": 0,
                              "calls": 0}
    return m.LeadEventRecord.model_validate({**fields, **kw})


async def test_lead_state_from_the_view(mstack: Stack) -> None:
    await upsert_campaign(mstack, {"campaign_uuid": "c1", "campaign_name": "c1",
                                   "status": "start"})
    assert (await mstack.client.get("/v3/lead/L1/state", headers=AUTH)).status == 404
    await mstack.publish(mstack.topics.leads, m.LeadImport(
        campaign_uuid="c1", lead_uuid="L1", phone_number="0901234567"), "c1")
    await mstack.settle()
    got = await (await mstack.client.get("/v3/lead/L1/state", headers=AUTH)).json()
    assert (got["state"], got["held_by"]["rule"], got["source"]) == (
        "", "not_queued_yet", "view")

    later = time.time() + 3600
    for record in (event("queued", 1.0, previous="new"),
                   event("dialing", 2.0, previous="queued", attempts=1, calls=1),
                   event("recall", 3.0, previous="dialing", reason="busy", attempts=1,
                         calls=1, ready_at=later)):
        await mstack.publish(mstack.topics.lead_events, record, "c1")
    await mstack.settle()
    got = await (await mstack.client.get("/v3/lead/L1/state", headers=AUTH)).json()
    assert (got["state"], got["previous"], got["attempts"], got["held_by"]["rule"]) == (
        "recall", "dialing", 1, "recall_not_due")
    assert got["held_by"]["next_try_at"].endswith("+07:00")

    resp = await mstack.client.patch("/v3/campaign/c1/active", headers=AUTH,
                                     json={"active": False})
    assert resp.status == 200
    got = await (await mstack.client.get("/v3/lead/L1/state", headers=AUTH)).json()
    assert got["held_by"]["rule"] == "campaign_inactive"


async def test_lead_state_live_from_the_engine(tmp_path: Path) -> None:
    def explain(lead_uuid: str) -> dict[str, Any] | None:
        if lead_uuid != "L9":
            return None
        return {"lead_uuid": "L9", "campaign_uuid": "c9", "state": "queued",
                "rule": "window_closed", "detail": "outside the calling window",
                "attempts": 0, "next_try_at": 1_700_000_000.0}

    async with stack(MemoryBus(), Topics("t."), tmp_path, explain=explain) as s:
        got = await (await s.client.get("/v3/lead/L9/state", headers=AUTH)).json()
        assert (got["source"], got["state"], got["held_by"]["rule"]) == (
            "engine", "queued", "window_closed")
        assert got["held_by"]["next_try_at"] == "2023-11-15T05:13:20+07:00"
        assert (await s.client.get("/v3/lead/L0/state", headers=AUTH)).status == 404
