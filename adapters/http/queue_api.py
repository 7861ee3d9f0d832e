"""Seed 002, the queue API (/v2/autocall/queue…), on top of campaigns.

A queue is a campaign whose campaign_uuid is ``uuid5(QUEUE_NAMESPACE, queue_code)`` and
whose queue_code is set, so every gateway replica maps a code to the same campaign with no
lookup table. POST /queue creates it on first use (status start: the seed says the queue
is called out automatically) or updates template/concurrency/recall settings, then imports
each customer as one LeadImport: customer_id = id, phone_number = the first valid mobile,
phones = the valid mobiles, param = every other customer field (a nested value becomes
its JSON text). A customer that does not validate is listed in ``fail``, the others are
imported; when every customer fails nothing is written.

stop → status pause; start → status start; delete → active false, then delete (the seed
revokes a queue after it was stopped); dnc → a DncEntry by customer ids.

Bodies: ``{"code":200,"content":"successfully"}`` (HTTP 200); unknown queue
``{"code":404,"content":"queue not found"}`` (HTTP 404); a body that does not validate
``{"code":400,"content":"import fail","data":{…}}`` for /queue and
``{"code":400,"content":"invalid request"}`` for the others (HTTP 400).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from adapters.http.bodies import (
    Customer,
    QueueBody,
    QueueDncBody,
    QueueRefBody,
)
from adapters.http.common import HttpError, json_object, reply, validate
from adapters.http.deps import Deps
from adapters.http.lead_api import publish_leads
from adapters.http.replies import ImportResult, QueueImportReply, QueueReply
from engine.phone import PhoneNumber, normalize
from proto import messages as m

# Fixed forever: changing it would orphan every existing queue's campaign.
QUEUE_NAMESPACE = uuid.UUID("5b0d3c2e-8f4a-5e61-9c7d-2a1b3c4d5e6f")

OK = QueueReply(code=200, content="successfully").model_dump()


def queue_campaign_uuid(queue_code: str) -> str:
    return str(uuid.uuid5(QUEUE_NAMESPACE, queue_code))


def _import_fail(fail: list[str] | None = None) -> HttpError:
    body = QueueImportReply(code=400, content="import fail",
                            data=ImportResult(fail=fail or [], success=[]))
    return HttpError(400, body.model_dump())


def _queue_not_found() -> HttpError:
    return HttpError(404, QueueReply(code=404, content="queue not found").model_dump())


def _param_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return orjson.dumps(value).decode()


class QueueApi:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    async def _parse(self, request: web.Request, model: type[BaseModel]) -> Any:
        try:
            return validate(model, await json_object(request))
        except HttpError as err:
            raise HttpError(400, QueueReply(code=400, content="invalid request").model_dump()
                            ) from err

    async def _existing(self, queue_code: str) -> m.CampaignSpec:
        spec = await self.d.campaigns.get(queue_campaign_uuid(queue_code))
        if spec is None or spec.queue_code != queue_code:
            raise _queue_not_found()
        return spec

    def _lead(self, campaign_uuid: str, customer: Customer) -> m.LeadImport | None:
        phones = [p.national for raw in customer.mobiles
                  if isinstance(p := normalize(raw), PhoneNumber)]
        if not phones:
            return None
        extra = customer.model_extra or {}
        param = {str(k): _param_value(v) for k, v in extra.items()}
        contract = extra.get("contract_number", "")
        try:
            return m.LeadImport(
                campaign_uuid=campaign_uuid,
                lead_uuid=str(uuid.uuid4()),
                call_id=str(uuid.uuid4()),
                phone_number=phones[0],
                phones=phones,
                param=param,
                customer_id=str(customer.id),
                contract_number=contract if isinstance(contract, str) else str(contract),
                lead_code=str(customer.id),
                created_at=self.d.stamp(),
            )
        except ValidationError:  # a param too long, too many params…
            return None

    def _spec(self, data: QueueBody, current: m.CampaignSpec | None,
              number: int = 0) -> m.CampaignSpec:
        now = self.d.stamp()
        changes: dict[str, Any] = {"template_uuid": data.template, "updated_at": now}
        if data.concurrent_call is not None:
            changes["concurrent_call"] = data.concurrent_call
        if data.max_recall_count is not None:
            changes["recall_times"] = data.max_recall_count
        if data.min_recall_duration is not None:
            changes["min_recall_duration"] = data.min_recall_duration
        if current is None:
            base: dict[str, Any] = {
                "campaign_uuid": queue_campaign_uuid(data.queue_code),
                "campaign_name": data.queue_code,
                "campaign_id": number,
                "queue_code": data.queue_code,
                "status": "start",
                "active": True,
                "created_at": now,
            }
        else:
            base = current.model_dump()
        return m.CampaignSpec.model_validate({**base, **changes})

    # POST /v2/autocall/queue
    async def import_queue(self, request: web.Request) -> web.Response:
        try:
            data = validate(QueueBody, await json_object(request))
        except HttpError as err:
            raise _import_fail() from err
        campaign_uuid = queue_campaign_uuid(data.queue_code)
        leads: list[m.LeadImport] = []
        success: list[str] = []
        fail: list[str] = []
        for index, raw in enumerate(data.customers):
            try:
                customer = Customer.model_validate(raw)
            except ValidationError:
                ident = raw.get("id")
                fail.append(str(ident)[:128] if isinstance(ident, str | int) else f"#{index}")
                continue
            lead = self._lead(campaign_uuid, customer)
            (fail if lead is None else success).append(str(customer.id))
            if lead is not None:
                leads.append(lead)
        if data.customers and not success:
            raise _import_fail(fail)
        async with self.d.campaigns.writing():
            current = await self.d.campaigns.get(campaign_uuid)
            number = 0 if current is not None else await self.d.campaigns.next_number()
            spec = self._spec(data, current, number)
            unchanged = current is not None and (
                spec.model_copy(update={"updated_at": ""})
                == current.model_copy(update={"updated_at": ""})
            )
            if not unchanged:
                await self.d.campaigns.submit(m.UpsertCampaign(campaign=spec))
        # The campaign command is acknowledged before its leads are published.
        await publish_leads(self.d, leads)
        body = QueueImportReply(code=200, content="successfully",
                                data=ImportResult(fail=fail, success=success))
        return reply(body.model_dump())

    # POST /v2/autocall/queue/dnc
    async def dnc(self, request: web.Request) -> web.Response:
        data: QueueDncBody = await self._parse(request, QueueDncBody)
        spec = await self._existing(data.queue_code)
        entry = m.DncEntry(op="add", campaign_uuid=spec.campaign_uuid,
                           customer_ids=[str(c.id) for c in data.customers])
        await self.d.publish_dnc(entry)
        return reply(OK)

    async def _control(
        self, request: web.Request, *commands: Callable[[str], m.ControlCommand]
    ) -> web.Response:
        data: QueueRefBody = await self._parse(request, QueueRefBody)
        async with self.d.campaigns.writing():
            spec = await self._existing(data.queue_code)
            for command in commands:
                await self.d.campaigns.submit(command(spec.campaign_uuid))
        return reply(OK)

    # POST /v2/autocall/queue/stop | start | delete
    async def stop(self, request: web.Request) -> web.Response:
        return await self._control(
            request, lambda u: m.SetCampaignStatus(campaign_uuid=u, status="pause")
        )

    async def start(self, request: web.Request) -> web.Response:
        return await self._control(
            request, lambda u: m.SetCampaignStatus(campaign_uuid=u, status="start")
        )

    async def delete(self, request: web.Request) -> web.Response:
        return await self._control(
            request,
            lambda u: m.SetCampaignActive(campaign_uuid=u, active=False),
            lambda u: m.DeleteCampaign(campaign_uuid=u),
        )
