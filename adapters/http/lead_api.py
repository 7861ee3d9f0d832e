"""Seed 000 lead import, and this project's lead state endpoint.

Import: the lead gets a fresh lead_uuid and call_id (uuid4) and becomes one LeadImport on
the leads topic, keyed by campaign_uuid. Statuses: 200 ``{"call_id","lead_uuid",
"message":"success"}``; 400 in the seed's list form for a missing/invalid field or an
invalid phone number; 404 ``{"error":"Not Found"}`` for a campaign this gateway does not
know (seed 000 shows no body for it; the engine would dead-letter such a lead, so the
caller hears it now instead of losing the lead silently); 503 when the bus is down.

State (GET /v3/lead/{lead_uuid}/state): the lead's last lifecycle event from the report
view and what holds it (campaign inactive/paused, recall not due, in a call…); in embedded
mode the engine's live ``explain`` answers instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from adapters.http.bodies import ImportBody
from adapters.http.common import bad_request, json_object, not_found, path_id, reply, validate
from adapters.http.deps import Deps
from adapters.http.replies import HeldBy, ImportReply, LeadStateReply
from adapters.sqlite.stamps import local_iso
from engine.phone import InvalidPhone, normalize
from proto import messages as m

PUBLISH_CONCURRENCY = 256
TERMINAL = frozenset({"completed", "exhausted", "skipped", "invalid", "removed"})


async def publish_leads(deps: Deps, leads: Sequence[m.LeadImport]) -> None:
    """Publish leads concurrently in bounded waves (a queue import may hold thousands)."""
    for i in range(0, len(leads), PUBLISH_CONCURRENCY):
        await asyncio.gather(
            *(deps.publish(deps.topics.leads, m.dumps(lead), lead.campaign_uuid)
              for lead in leads[i : i + PUBLISH_CONCURRENCY])
        )


def _iso(epoch: float | None) -> str:
    return local_iso(epoch) if epoch else ""


def held_by(row: Mapping[str, Any], spec: m.CampaignSpec | None, now: float) -> HeldBy | None:
    """What keeps a lead from being dialed, read from the view (rule names as the engine's
    ``Dialer.explain``)."""
    state = str(row.get("state") or "")
    if state in TERMINAL:
        return HeldBy(rule=state, detail=str(row.get("reason") or ""), next_try_at="")
    if state == "dialing":
        return HeldBy(rule="in_call", detail="a call to this lead is up", next_try_at="")
    if spec is None:
        return HeldBy(rule="campaign_deleted", detail="the campaign is not known",
                      next_try_at="")
    if not spec.active:
        return HeldBy(rule="campaign_inactive", detail="active is false", next_try_at="")
    if spec.status != "start":
        return HeldBy(rule=f"campaign_{spec.status}",
                      detail=f"campaign status is {spec.status}", next_try_at="")
    ready_at = float(row.get("ready_at") or 0.0)
    if state == "recall" and ready_at > now:
        return HeldBy(rule="recall_not_due", detail=str(row.get("reason") or ""),
                      next_try_at=_iso(ready_at))
    if state == "":
        return HeldBy(rule="not_queued_yet", detail="the engine has not reported this lead",
                      next_try_at="")
    return HeldBy(rule="waiting", detail="queued: dialed when a slot and the window allow",
                  next_try_at="")


class LeadApi:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    # POST /v3/autocall/import
    async def import_lead(self, request: web.Request) -> web.Response:
        data = validate(ImportBody, await json_object(request))
        phone = normalize(data.phone_number)
        if isinstance(phone, InvalidPhone):
            raise bad_request([{"phone_number": f"phone_number is invalid: {phone.reason}"}])
        if await self.d.campaigns.get(data.campaign_uuid) is None:
            raise not_found()
        lead = validate(m.LeadImport, {
            "campaign_uuid": data.campaign_uuid,
            "lead_uuid": str(uuid.uuid4()),
            "call_id": str(uuid.uuid4()),
            "phone_number": phone.national,
            "phones": [phone.national],
            "param": dict(data.param),
            "list_uuid": data.list_uuid,
            "list_name": data.list_name,
            "lead_name": data.lead_name,
            "lead_code": data.lead_code,
            "contract_number": data.contract_number,
            "created_at": self.d.stamp(),
        })
        await publish_leads(self.d, [lead])
        return reply(ImportReply(call_id=lead.call_id, lead_uuid=lead.lead_uuid).model_dump())

    # GET /v3/lead/{lead_uuid}/state
    async def state(self, request: web.Request) -> web.Response:
        lead_uuid = path_id(request, "lead_uuid")
        row = await self.d.reports.lead(lead_uuid) or {}
        live = self.d.explain(lead_uuid) if self.d.explain is not None else None
        if not row and live is None:
            raise not_found()
        campaign_uuid = str((live or {}).get("campaign_uuid") or row.get("campaign_uuid", ""))
        if live is not None:
            rule = str(live.get("rule") or "")
            hold = None if not rule else HeldBy(
                rule=rule, detail=str(live.get("detail") or ""),
                next_try_at=_iso(live.get("next_try_at")),
            )
            state, source = str(live.get("state") or ""), "engine"
        else:
            spec = await self.d.campaigns.get(campaign_uuid) if campaign_uuid else None
            hold = held_by(row, spec, self.d.now().timestamp())
            state, source = str(row.get("state") or ""), "view"
        body = LeadStateReply(
            lead_uuid=lead_uuid,
            campaign_uuid=campaign_uuid,
            state=state,
            previous=str(row.get("previous") or ""),
            reason=str(row.get("reason") or ""),
            attempts=int((live or row).get("attempts") or 0),
            calls=int(row.get("calls") or 0),
            called_count=int(row.get("called_count") or 0),
            ready_at=_iso(row.get("ready_at")),
            updated_at=_iso(row.get("state_at")),
            held_by=hold,
            source=source,
        )
        return reply(body.model_dump(mode="json"))
