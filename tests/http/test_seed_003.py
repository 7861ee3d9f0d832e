"""Seed 003 (VBot: create a campaign from a template), replayed on the real broker and on
the in-memory bus.

The seed documents a request body and a reply rather than a curl command; both, and the
seed's tables (field spellings, HTTP statuses, error codes), come from the transcription in
tests/fixtures/seeds/003.json. Its sample phone is masked ("0366255xxx"): sent as is it is
an invalid parameter (error 201); with digits it creates and runs the campaign. Its
template is campaign 2932, a numeric id.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from proto import messages as m
from tests.http.rig import AUTH, Stack, collect, control_of, upsert_campaign
from tests.http.seeds import json_blocks, seed

SEED = seed("003")
REQUEST, REPLY = json_blocks("003")[:2]
PATH = SEED["create"]["path"]
INVALID, ERROR = (int(code) for code, text in SEED["create"]["error_codes"].items()
                  if text != "success")
(FAILED,) = (int(code) for code in SEED["create"]["http_status"] if code != "200")
TEMPLATE_ID = REQUEST["campaignId"]


async def send(s: Stack, body: Any) -> tuple[int, Any]:
    resp = await s.client.post(PATH, json=body, headers=AUTH)
    return resp.status, await resp.json()


def with_phone(phone: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = copy.deepcopy(body or REQUEST)
    out["phones"][0]["fields"][0]["value"] = phone
    return out


def table_spelling(body: dict[str, Any]) -> dict[str, Any]:
    """The request with the request table's names (vbot_id, project_code, campaignID)."""
    rename = {v: k for k, v in SEED["create"]["example_spellings"].items()}
    return {rename.get(k, k): v for k, v in body.items()}


async def template(s: Stack, **extra: Any) -> m.CampaignSpec:
    return await upsert_campaign(s, {
        "campaign_uuid": "template-uuid", "campaign_id": TEMPLATE_ID,
        "campaign_name": "Template", "status": "stop", "template_text": "Chào {{name}}",
        "recall_times": 2, "callback_url": "http://127.0.0.1:9/hook", "concurrent_call": 3,
        **extra})


def failure(body: Any, error: int) -> None:
    assert set(body) == set(REPLY)
    assert (body["status"], body["error"], body["data"]) == (0, error, "-1")


def test_the_fixture_holds_the_seed_tables() -> None:
    assert (INVALID, ERROR, FAILED, TEMPLATE_ID) == (201, 400, 500, 2932)
    assert [f["name"] for f in SEED["create"]["request_table"][:3]] == [
        "vbot_id", "project_code", "campaignID"]
    assert SEED["webhook"]["autocall_history_fields"][0] == {"name": "campaign_id",
                                                             "type": "Int"}


@pytest.mark.kafka
async def test_create_from_template(kstack: Stack) -> None:
    # No template campaign yet.
    status, body = await send(kstack, with_phone("0366255123"))
    assert status == FAILED
    failure(body, ERROR)
    assert body["msg"] == "template campaign not found"
    await template(kstack)

    # The document's body verbatim: its masked phone is an invalid parameter.
    status, body = await send(kstack, REQUEST)
    assert status == FAILED
    failure(body, INVALID)

    status, body = await send(kstack, with_phone("0366255123"))
    assert status == 200 and set(body) == set(REPLY)
    assert (body["status"], body["error"], body["msg"]) == (1, 0, REPLY["msg"])
    number = body["data"]
    assert isinstance(number, int) and number > TEMPLATE_ID
    clone = await kstack.campaigns.by_number(number)
    assert clone is not None
    (cmd,) = [m.CONTROL.validate_json(x.value) for x in await collect(
        kstack.bus, kstack.topics.control, 1, where=control_of(kstack, clone.campaign_uuid))]
    assert isinstance(cmd, m.UpsertCampaign)
    assert cmd.campaign == clone
    assert (clone.campaign_name, clone.status, clone.active, clone.template_text,
            clone.callback_format, clone.concurrent_call, clone.recall_times) == (
        "campaign_name_new", "start", True, "Chào {{name}}", "vbot", 3, 2)
    (msg,) = await collect(kstack.bus, kstack.topics.leads, 1)
    lead = m.LeadImport.model_validate_json(msg.value)
    assert (lead.campaign_uuid, lead.phone_number, lead.lead_name) == (
        clone.campaign_uuid, "0366255123", "Nguyễn Văn x")
    assert lead.param == {"phone": "0366255123", "name": "Nguyễn Văn x"}

    # The same name again is refused; a missing field is an invalid parameter.
    status, body = await send(kstack, with_phone("0366255123"))
    assert (status, body["error"], body["msg"]) == (FAILED, INVALID,
                                                    "campaign_name is already taken")
    status, body = await send(kstack, {k: v for k, v in REQUEST.items() if k != "phones"})
    assert status == FAILED
    failure(body, INVALID)


async def test_the_request_tables_spellings_are_accepted(mstack: Stack) -> None:
    await template(mstack)
    body = table_spelling(with_phone("0366255124"))
    assert {"vbot_id", "project_code", "campaignID"} <= set(body)
    assert "campaignId" not in body
    status, reply = await send(mstack, body)
    assert (status, reply["status"], reply["error"]) == (200, 1, 0)
    # campaignID as the table types it (String) names the same template.
    second = {**body, "campaignID": str(TEMPLATE_ID), "name": "second"}
    status, reply2 = await send(mstack, second)
    assert (status, reply2["status"]) == (200, 1)
    assert reply2["data"] == reply["data"] + 1
    # Without either spelling it is an invalid parameter.
    del second["campaignID"]
    status, reply3 = await send(mstack, {**second, "name": "third"})
    assert status == FAILED
    failure(reply3, INVALID)


async def test_every_campaign_the_gateway_creates_has_a_numeric_id(mstack: Stack) -> None:
    """Seed 001 and 002 campaigns are numbered too, so any can be a VBot template."""
    resp = await mstack.client.post("/v3/campaign", headers=AUTH, json={
        "campaign_name": "A", "type": "autocall", "template_text": "Chào {{name}}",
        "campaign_id": 77})  # the number is the server's, not the client's
    created = (await resp.json())["campaign_uuid"]
    spec = await mstack.campaigns.get(created)
    assert spec is not None and spec.campaign_id == 1
    got = await (await mstack.client.get(f"/v3/campaign/{created}", headers=AUTH)).json()
    assert got["campaign_id"] == 1
    await (await mstack.client.put(f"/v3/campaign/{created}", headers=AUTH, json={
        **got, "campaign_id": 5})).json()
    spec = await mstack.campaigns.get(created)
    assert spec is not None and spec.campaign_id == 1
    resp = await mstack.client.post("/v2/autocall/queue", headers=AUTH, json={
        "queue_code": "Q1", "template": "T", "customers": [
            {"id": "c1", "mobiles": ["0912345678"]}]})
    assert resp.status == 200
    queue = await mstack.campaigns.by_name("Q1")
    assert queue is not None and queue.campaign_id == 2
    # The VBot API takes it as campaignId (an Int, as in the seed's example).
    status, body = await send(mstack, {**with_phone("0912345679"), "campaignId": 1,
                                       "name": "from A"})
    assert (status, body["data"]) == (200, 3)
    clone = await mstack.campaigns.by_number(3)
    assert clone is not None and clone.template_text == "Chào {{name}}"


async def test_the_template_may_also_be_named_by_uuid(mstack: Stack) -> None:
    await upsert_campaign(mstack, {"campaign_uuid": "tpl", "campaign_name": "T"})
    body = {**with_phone("0912345678"), "campaignId": "tpl", "name": "n2"}
    body["phones"][0]["fields"].append({"key": "numberCall", "value": 3})
    status, reply = await send(mstack, body)
    assert status == 200
    spec = await mstack.campaigns.by_number(reply["data"])
    assert spec is not None and spec.recall_times == 2 and spec.callback_format == "vbot"
