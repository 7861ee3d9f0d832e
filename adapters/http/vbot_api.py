"""Seed 003 (VBot): POST /api/campaign/create clones a template campaign, loads the phones
and runs it.

Campaigns have a numeric id (``campaign_id``, numbered by the gateway) beside their uuid,
because VBot clients name campaigns by Int. ``campaignId`` (or the table's ``campaignID``)
names the template: the campaign with that numeric id, else the campaign whose uuid is that
text. The clone copies every setting of the template (script, carrier, callback_url,
schedules…) under the new ``name``, with status start, a new uuid and a new numeric id,
which ``data`` returns; its CDR webhook sends seed 003's call-history shape
(``callback_format`` "vbot", ``campaign_id`` the Int) whatever the template's format, and
a PUT can change that afterwards. Each phone's fields become one lead: ``phone`` is the
number, ``name`` the lead name, every field (phone included) a template parameter;
``numberCall`` (attempts) sets the clone's recall_times to the largest numberCall − 1.
vbotId/vbot_id and groupCode/project_code are required and otherwise unused (one
deployment is one account).

Replies ``{"status","error","msg","data"}`` as the seed's tables say: HTTP 200
``status 1, error 0, data <numeric id>``; every failure HTTP 500 with ``status 0`` and
``data "-1"``, ``error`` 201 for invalid parameters (a missing or malformed field, a taken
name, a bad phone) and 400 otherwise (no such template).
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
from consumers.reports import PublishFailed
from engine.phone import InvalidPhone, normalize
from proto import messages as m

MAX_RECALL = 100


def _fail(status: int, error: int, msg: str) -> HttpError:
    return HttpError(status, VbotReply(status=0, error=error, msg=msg, data="-1").model_dump())


INVALID = 201  # seed 003 error codes
ERROR = 400
FAILED = 500  # the seed's HTTP status for every failure


def _invalid(msg: str) -> HttpError:
    return _fail(FAILED, INVALID, msg)


def _message(err: HttpError) -> str:
    items = err.body.get("error") if isinstance(err.body, dict) else None
    if isinstance(items, list):
        return "; ".join(f"{k}: {v}" for item in items for k, v in item.items())[:1000]
    return str(items or "invalid parameters")


def _number(value: str | int) -> int:
    """A campaignId as a numeric id (0 when it is not one)."""
    if isinstance(value, int):
        return value if value > 0 else 0
    text = value.strip()
    return int(text) if text.isdigit() and len(text) <= 10 else 0


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
            return await self._create(request)
        except PublishFailed as err:  # elsewhere a 503; a VBot client reads status/error
            raise _fail(FAILED, ERROR, "service unavailable, try again") from err

    async def _create(self, request: web.Request) -> web.Response:
        try:
            data = validate(VbotCreateBody, await json_object(request))
        except HttpError as err:
            raise _invalid(_message(err)) from err
        new_uuid = str(uuid.uuid4())
        leads, most_attempts = self._leads(new_uuid, data)
        async with self.d.campaigns.writing():
            template = (await self.d.campaigns.by_number(_number(data.campaignId))
                        or await self.d.campaigns.get(str(data.campaignId)))
            if template is None:
                raise _fail(FAILED, ERROR, "template campaign not found")
            other = await self.d.campaigns.by_name(data.name)
            if other is not None:
                raise _invalid(str(name_taken().body["error"]))
            now = self.d.stamp()
            number = await self.d.campaigns.next_number()
            changes: dict[str, Any] = {
                "campaign_uuid": new_uuid, "campaign_id": number, "campaign_name": data.name,
                "status": "start", "active": True, "queue_code": "", "callback_format": "vbot",
                "created_at": now, "updated_at": now,
            }
            if most_attempts:
                changes["recall_times"] = min(MAX_RECALL, most_attempts - 1)
            spec = m.CampaignSpec.model_validate({**template.model_dump(), **changes})
            await self.d.campaigns.submit(m.UpsertCampaign(campaign=spec))
        await publish_leads(self.d, leads)
        return reply(VbotReply(status=1, error=0, msg="success", data=number).model_dump())
