"""Seed 003 (VBot: create a campaign from a template), replayed on the real broker.

The seed documents a request body and a reply rather than a curl command; both are taken
from the document. Its sample phone is masked ("0366255xxx"): sent as is it is an invalid
parameter (error 201); with digits it creates and runs the campaign.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from proto import messages as m
from tests.http.rig import AUTH, Stack, collect, control_of, upsert_campaign
from tests.http.seeds import json_blocks

pytestmark = pytest.mark.kafka

REQUEST, REPLY = json_blocks("003")[:2]
PATH = "/api/campaign/create"


async def send(s: Stack, body: Any) -> tuple[int, Any]:
    resp = await s.client.post(PATH, json=body, headers=AUTH)
    return resp.status, await resp.json()


def with_phone(phone: str) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(REQUEST)
    body["phones"][0]["fields"][0]["value"] = phone
    return body


async def test_create_from_template(kstack: Stack) -> None:
    template_id = str(REQUEST["campaignId"])
    # No template campaign yet.
    status, body = await send(kstack, with_phone("0366255123"))
    assert (status, body) == (404, {"status": 0, "error": 400,
                                    "msg": "template campaign not found", "data": "-1"})
    await upsert_campaign(kstack, {
        "campaign_uuid": template_id, "campaign_name": "Template", "status": "stop",
        "template_text": "Chào {{name}}", "recall_times": 2, "callback_url":
        "http://127.0.0.1:9/hook", "callback_format": "vbot", "concurrent_call": 3})

    # The document's body verbatim: its masked phone is an invalid parameter.
    status, body = await send(kstack, REQUEST)
    assert status == 400 and set(body) == set(REPLY)
    assert (body["status"], body["error"], body["data"]) == (0, 201, "-1")

    status, body = await send(kstack, with_phone("0366255123"))
    assert status == 200 and set(body) == set(REPLY)
    assert (body["status"], body["error"], body["msg"]) == (1, 0, REPLY["msg"])
    created = body["data"]
    uuid.UUID(created)
    (cmd,) = [m.CONTROL.validate_json(x.value) for x in await collect(
        kstack.bus, kstack.topics.control, 1, where=control_of(kstack, created))]
    assert isinstance(cmd, m.UpsertCampaign)
    clone = cmd.campaign
    assert (clone.campaign_name, clone.status, clone.active, clone.template_text,
            clone.callback_format, clone.concurrent_call, clone.recall_times) == (
        "campaign_name_new", "start", True, "Chào {{name}}", "vbot", 3, 2)
    (msg,) = await collect(kstack.bus, kstack.topics.leads, 1)
    lead = m.LeadImport.model_validate_json(msg.value)
    assert (lead.campaign_uuid, lead.phone_number, lead.lead_name) == (
        created, "0366255123", "Nguyễn Văn x")
    assert lead.param == {"phone": "0366255123", "name": "Nguyễn Văn x"}

    # The same name again is refused; a missing field is an invalid parameter.
    status, body = await send(kstack, with_phone("0366255123"))
    assert (status, body["error"], body["msg"]) == (400, 201, "campaign_name is already taken")
    status, body = await send(kstack, {k: v for k, v in REQUEST.items() if k != "phones"})
    assert (status, body["status"], body["error"]) == (400, 0, 201)


async def test_number_call_sets_recall_times(kstack: Stack) -> None:
    await upsert_campaign(kstack, {"campaign_uuid": "tpl", "campaign_name": "T"})
    body = {**with_phone("0912345678"), "campaignId": "tpl", "name": "n2"}
    body["phones"][0]["fields"].append({"key": "numberCall", "value": 3})
    status, reply = await send(kstack, body)
    assert status == 200
    spec = await kstack.campaigns.get(reply["data"])
    assert spec is not None and spec.recall_times == 2
