"""Seed 000, replayed against the gateway on the real broker: lead import, run/start, and
the v1 campaign report. Every curl example of the document, success and error bodies."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from proto import messages as m
from tests.http.rig import AUTH, Stack, collect, upsert_campaign
from tests.http.seeds import Example, examples, same_shape

pytestmark = pytest.mark.kafka

EXAMPLES = examples("000")


def test_the_document_has_three_curl_examples() -> None:
    assert [(e.method, e.path) for e in EXAMPLES] == [
        ("POST", "/v3/autocall/import"),
        ("POST", "/v1/campaign/c2da23c0-9739-4287-828a-7b15cf0fb19e/run/start"),
        ("GET", "/v1/autocall/report"),
    ]


async def send(s: Stack, ex: Example, body: Any = "seed") -> tuple[int, Any]:
    payload = ex.body if body == "seed" else body
    resp = await s.client.request(ex.method, ex.target, headers=AUTH,
                                  data=None if payload is None else orjson.dumps(payload))
    return resp.status, await resp.json()


async def test_import_lead(kstack: Stack) -> None:
    ex = EXAMPLES[0]
    campaign = ex.body["campaign_uuid"]
    # Unknown campaign: refused (the seed implies an error; this gateway says 404).
    assert await send(kstack, ex) == (404, {"error": "Not Found"})
    await upsert_campaign(kstack, {"campaign_uuid": campaign, "campaign_name": "Import"})

    status, body = await send(kstack, ex)
    assert status == 200
    same_shape(body, ex.success)
    assert body["message"] == "success"
    uuid.UUID(body["call_id"]), uuid.UUID(body["lead_uuid"])

    (msg,) = await collect(kstack.bus, kstack.topics.leads, 1)
    assert msg.key == campaign.encode()
    lead = m.LeadImport.model_validate_json(msg.value)
    assert (lead.lead_uuid, lead.call_id) == (body["lead_uuid"], body["call_id"])
    assert lead.phone_number == "0331111111" and lead.phones == ["0331111111"]
    assert lead.param == ex.body["param"]

    # The three error bodies, each from the seed body without that field.
    for field, error in zip(("campaign_uuid", "phone_number", "param"), ex.errors, strict=True):
        partial = {k: v for k, v in ex.body.items() if k != field}
        assert await send(kstack, ex, partial) == (400, error)
    # An invalid number is refused in the same list form.
    status, body = await send(kstack, ex, {**ex.body, "phone_number": "0331 11"})
    assert status == 400 and list(body["error"][0]) == ["phone_number"]


async def test_run_start(kstack: Stack) -> None:
    ex = EXAMPLES[1]
    campaign = ex.path.split("/")[3]
    assert await send(kstack, ex) == (404, ex.errors[0])
    await upsert_campaign(kstack, {"campaign_uuid": campaign, "campaign_name": "Run",
                                   "status": "pause"})
    assert await send(kstack, ex) == (200, ex.success)
    msgs = await collect(kstack.bus, kstack.topics.control, 2)
    assert m.CONTROL.validate_json(msgs[-1].value) == m.SetCampaignStatus(
        campaign_uuid=campaign, status="start")
    got = await kstack.client.get(f"/v3/campaign/{campaign}", headers=AUTH)
    assert (await got.json())["status"] == "start"


def cdr(campaign: str, n: int, status: str, start: str, duration: int, billsec: int,
        waitsec: int = 0) -> m.CdrRecord:
    return m.CdrRecord(
        cdr_uuid=f"cdr-{n}", campaign_uuid=campaign, campaign_name="Report",
        lead_uuid=f"lead-{n}", call_id="", phone_number="0331111111", status=status,
        hangup_cause="NORMAL_CLEARING", hangup_cause_q850=16, billsec=billsec,
        duration=duration, waitsec=waitsec, called_count=1, attempt=1, press_key="{}",
        record_name="", recording_url="", start_stamp=start, answer_stamp="",
        end_stamp="", created_at="", last_call_time=start.replace(" ", "T") + "+07:00",
    )


async def test_v1_report(kstack: Stack) -> None:
    ex = EXAMPLES[2]
    campaign = "avavavav-1111-2222-3333-eeeeeeee"
    assert await send(kstack, ex) == (404, ex.errors[0])
    await upsert_campaign(kstack, {"campaign_uuid": campaign, "campaign_name": "Report"})
    # The seed's numbers: 3 answered + 1 busy between 10:00 and 12:00, 43 s, 10 billsec;
    # calls outside the window and a duplicate CDR must not count.
    records = [
        cdr(campaign, 1, "answered", "2022-01-01 10:00:00", 12, 4),
        cdr(campaign, 2, "answered", "2022-01-01 10:59:59", 11, 3),
        cdr(campaign, 3, "voicemail", "2022-01-01 12:00:00", 10, 3),
        cdr(campaign, 4, "busy", "2022-01-01 11:30:00", 10, 0),
        cdr(campaign, 5, "answered", "2022-01-01 09:59:59", 50, 40),
        cdr(campaign, 6, "busy", "2022-01-01 12:00:01", 9, 0),
    ]
    for record in [*records, records[0]]:
        await kstack.publish(kstack.topics.cdr, record, campaign)
    await kstack.settle()
    assert await send(kstack, ex) == (200, ex.success)

    # Without dates every call counts once (the duplicate CDR too only once).
    resp = await kstack.client.get(f"/v1/autocall/report?campaign_uuid={campaign}",
                                   headers=AUTH)
    data = (await resp.json())["data"]
    assert data["total_calls"] == 6 and data["status"]["answered"] == 4
    assert data["status"]["busy"] == 2 and data["total_billsec"] == 50
