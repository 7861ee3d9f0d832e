"""Seed 003 (VBot): POST /api/campaign/create clones a template campaign, loads the phones
and runs it.

``campaignId`` names the template: a campaign of this deployment by campaign_uuid (an
integer id is looked up as its decimal text). The clone copies every setting of the
template (script, carrier, callback_url and callback_format, schedules…) under the new
``name``, with status start and a new campaign_uuid, which ``data`` returns. Each phone's
fields become one lead: ``phone`` is the number, ``name`` the lead name, every field
(phone included) a template parameter; ``numberCall`` (attempts) sets the clone's
recall_times to the largest numberCall − 1. vbotId and groupCode are required and
otherwise unused (one deployment is one account).

Replies ``{"status","error","msg","data"}``: 200 ``status 1, error 0, data <uuid>``;
invalid parameters 400 ``status 0, error 201, data "-1"``; an unknown template 404
``status 0, error 400``. The seed answers failures with HTTP 500; this gateway keeps 5xx
for its own faults (a client that checks ``status`` sees the same answer).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from adapters.http.bodies import VbotCreateBody
from adapters.http.campaign_api import name_taken
from adapters.http.common import HttpError, json_object, reply, validate
from adapters.http.deps import Deps
from adapters.http.lead_api import publish_leads
from adapters.http.replies import VbotReply
from engine.phone import InvalidPhone, normalize
from proto import messages as m

MAX_RECALL = 100


def _fail(status: int, error: int, msg: str) -> HttpError:
    return HttpError(status, VbotReply(status=0, error=error, msg=msg, data="-1").model_dump())


def _invalid(msg: str) -> HttpError:
    return _fail(400, 201, msg)


def _message(err: HttpError) -> str:
    items = err.body.get("error") if isinstance(err.body, dict) else None
    if isinstance(items, list):
        return "; ".join(f"{k}: {v}" for item in items for k, v in item.items())[:1000]
    return str(items or "invalid parameters")


def _attempts(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()[:6])
    return None


class VbotApi:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def _leads(self, campaign_uuid: str, data: VbotCreateBody) -> tuple[list[m.LeadImport], int]:
        leads: list[m.LeadImport] = []
        most_attempts = 0
        for i, entry in enumerate(data.phones):
            fields = {f.key: f.value for f in entry.fields}
            raw = fields.get("phone")
            if not isinstance(raw, str | int) or isinstance(raw, bool):
                raise _invalid(f"phones.{i}: phone is required")
            phone = normalize(str(raw))
            if isinstance(phone, InvalidPhone):
                raise _invalid(f"phones.{i}: phone is invalid: {phone.reason}")
            most_attempts = max(most_attempts, _attempts(fields.get("numberCall")) or 0)
            name = fields.get("name")
            try:
                leads.append(m.LeadImport(
                    campaign_uuid=campaign_uuid,
                    lead_uuid=str(uuid.uuid4()),
                    call_id=str(uuid.uuid4()),
                    phone_number=phone.national,
                    phones=[phone.national],
                    param=fields,
                    lead_name=name[:256] if isinstance(name, str) else "",
                    created_at=self.d.stamp(),
                ))
            except ValidationError as err:
                raise _invalid(f"phones.{i}: {err.errors()[0]['msg']}") from err
        return leads, most_attempts

    # POST /api/campaign/create
    async def create(self, request: web.Request) -> web.Response:
        try:
            data = validate(VbotCreateBody, await json_object(request))
        except HttpError as err:
            raise _invalid(_message(err)) from err
        new_uuid = str(uuid.uuid4())
        leads, most_attempts = self._leads(new_uuid, data)
        async with self.d.campaigns.writing():
            template = await self.d.campaigns.get(str(data.campaignId))
            if template is None:
                raise _fail(404, 400, "template campaign not found")
            other = await self.d.campaigns.by_name(data.name)
            if other is not None:
                raise _invalid(str(name_taken().body["error"]))
            now = self.d.stamp()
            changes: dict[str, Any] = {
                "campaign_uuid": new_uuid, "campaign_name": data.name, "status": "start",
                "active": True, "queue_code": "", "created_at": now, "updated_at": now,
            }
            if most_attempts:
                changes["recall_times"] = min(MAX_RECALL, most_attempts - 1)
            spec = m.CampaignSpec.model_validate({**template.model_dump(), **changes})
            await self.d.campaigns.submit(m.UpsertCampaign(campaign=spec))
        await publish_leads(self.d, leads)
        return reply(VbotReply(status=1, error=0, msg="success", data=new_uuid).model_dump())
