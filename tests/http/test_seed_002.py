"""Seed 002 (queue API), replayed against the gateway on the real broker."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.http.queue_api import queue_campaign_uuid
from consumers.keys import partition_for
from proto import messages as m
from tests.http.rig import AUTH, Stack, collect, control_of
from tests.http.seeds import Example, examples

pytestmark = pytest.mark.kafka

EXAMPLES = examples("002")
QUEUE = "Autocall-Q1"


def test_the_document_has_five_curl_examples() -> None:
    assert [e.path for e in EXAMPLES] == [
        "/v2/autocall/queue", "/v2/autocall/queue/dnc", "/v2/autocall/queue/stop",
        "/v2/autocall/queue/delete", "/v2/autocall/queue/start",
    ]


async def send(s: Stack, ex: Example, body: Any = "seed") -> tuple[int, Any]:
    payload = ex.body if body == "seed" else body
    resp = await s.client.request(ex.method, ex.target, headers=AUTH,
                                  data=orjson.dumps(payload))
    return resp.status, await resp.json()


async def test_queue_lifecycle(kstack: Stack) -> None:
    queue, dnc, stop, delete, start = EXAMPLES
    campaign = queue_campaign_uuid(QUEUE)
    not_found = {"code": 404, "content": "queue not found"}
    # Before the queue exists, every queue command says so (the seed's error bodies).
    for ex in (dnc, stop, delete, start):
        assert ex.errors == [not_found]
        assert await send(kstack, ex) == (404, not_found)

    # The import: body verbatim, answer verbatim.
    assert await send(kstack, queue) == (200, queue.success)
    (upsert,) = [m.CONTROL.validate_json(x.value) for x in await collect(
        kstack.bus, kstack.topics.control, 1, where=control_of(kstack, campaign))]
    assert isinstance(upsert, m.UpsertCampaign)
    spec = upsert.campaign
    assert (spec.queue_code, spec.template_uuid, spec.concurrent_call, spec.recall_times,
            spec.min_recall_duration, spec.status, spec.active) == (
        QUEUE, "IVR-1", 5, 3, 3, "start", True)
    (msg,) = await collect(kstack.bus, kstack.topics.leads, 1)
    lead = m.LeadImport.model_validate_json(msg.value)
    assert msg.key == campaign.encode() and lead.campaign_uuid == campaign
    assert (lead.customer_id, lead.phone_number, lead.phones) == (
        "TEL4VN_Test", "0982596021", ["0982596021"])
    customer = queue.body["customers"][0]
    assert lead.param == {k: v for k, v in customer.items() if k not in ("id", "mobiles")}
    assert lead.contract_number == "HD123456"

    # The seed's error body: an import where nothing could be imported.
    assert await send(kstack, queue, {"queue_code": QUEUE}) == (400, queue.errors[0])
    status, body = await send(kstack, queue, {**queue.body, "customers": [
        {"id": "BAD", "mobiles": ["12345"]}]})
    assert (status, body["code"], body["content"], body["data"]) == (
        400, 400, "import fail", {"fail": ["BAD"], "success": []})
    # A partly bad batch imports the good customers and lists the bad ones.
    status, body = await send(kstack, queue, {**queue.body, "customers": [
        customer, {"id": "NOPHONE"}]})
    assert (status, body["data"]) == (200, {"fail": ["NOPHONE"], "success": ["TEL4VN_Test"]})

    assert await send(kstack, dnc) == (200, dnc.success)
    # One record per customer under its own key (compaction keeps each), all in the
    # campaign's partition (where its leads are).
    entries = await collect(kstack.bus, kstack.topics.dnc, 3)
    assert sorted((e.key or b"").decode() for e in entries) == [
        f"dnc/{campaign}/KH_0{i}" for i in (1, 2, 3)]
    assert {e.partition for e in entries} == {partition_for(campaign, 3)}
    assert sorted(m.DncEntry.model_validate_json(e.value or b"").customer_ids[0]
                  for e in entries) == ["KH_01", "KH_02", "KH_03"]
    assert all(m.DncEntry.model_validate_json(e.value or b"").campaign_uuid == campaign
               for e in entries)

    assert await send(kstack, stop) == (200, stop.success)
    assert await send(kstack, start) == (200, start.success)
    assert await send(kstack, stop) == (200, stop.success)
    assert await send(kstack, delete) == (200, delete.success)
    cmds = [m.CONTROL.validate_json(x.value or b"") for x in await collect(
        kstack.bus, kstack.topics.control, 6, where=control_of(kstack, campaign))]
    assert cmds[1:] == [
        m.SetCampaignStatus(campaign_uuid=campaign, status="pause"),
        m.SetCampaignStatus(campaign_uuid=campaign, status="start"),
        m.SetCampaignStatus(campaign_uuid=campaign, status="pause"),
        m.SetCampaignActive(campaign_uuid=campaign, active=False),
        m.DeleteCampaign(campaign_uuid=campaign),
    ]
    # Then every key of the campaign is tombstoned, the campaign key last: compaction
    # forgets the deleted campaign instead of keeping its spec forever.
    tombstones = await collect(kstack.bus, kstack.topics.control, 4,
                               where=lambda x: x.value is None)
    assert [x.key for x in tombstones] == [
        f"{campaign}/{k}".encode() for k in ("status", "active", "delete")] + [campaign.encode()]
    # Deleted: the queue is unknown again.
    assert await send(kstack, stop) == (404, not_found)
    assert (await send(kstack, dnc, {"customers": []}))[0] == 400
