"""Seed 001 campaign management (/v3/campaign…) and seed 000's run/start (/v1/campaign…).

Every write is a control command published through the campaign view (read-your-writes,
see consumers.reports.campaigns), under the view's write lock so that "check, then
publish" (name uniqueness, delete only when deactivated) holds within this process.

Statuses: success 200; validation 400 (seed error list); unknown campaign 404
``{"error":"Not Found"}``; a taken name 400 ``{"error":"campaign_name is already taken"}``;
delete of an active campaign 400 ``{"error":"campaign must be deactive"}``; the bus down 503.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from yarl import URL

from adapters.http.bodies import ActiveBody, CampaignBody
from adapters.http.common import (
    HttpError,
    bad_request,
    json_object,
    not_found,
    path_id,
    query_int,
    query_text,
    reply,
    required,
    validate,
)
from adapters.http.deps import Deps
from adapters.http.replies import (
    ActiveReply,
    CampaignCreated,
    CampaignList,
    CampaignRef,
    campaign_object,
)
from proto import messages as m

# Set by the server, never by a client body.
SERVER_FIELDS = ("campaign_uuid", "campaign_id", "queue_code", "created_at", "updated_at")


def name_taken() -> HttpError:
    return HttpError(400, {"error": "campaign_name is already taken"})


def client_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in SERVER_FIELDS}


def check_callback_url(url: str) -> None:
    """callback_url must be an absolute http(s) URL (the webhook sender POSTs to it)."""
    if not url:
        return
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as err:
        raise bad_request([{"callback_url": "callback_url must be an http(s) URL"}]) from err
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise bad_request([{"callback_url": "callback_url must be an http(s) URL"}])


def _require_name_and_type(body: dict[str, Any]) -> None:
    missing = [required(name) for name in ("campaign_name", "type") if name not in body]
    if missing:
        raise bad_request(missing)


class CampaignApi:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    async def _existing(self, campaign_uuid: str) -> m.CampaignSpec:
        spec = await self.d.campaigns.get(campaign_uuid)
        if spec is None:
            raise not_found()
        return spec

    async def _name_free(self, name: str, campaign_uuid: str) -> None:
        other = await self.d.campaigns.by_name(name)
        if other is not None and other.campaign_uuid != campaign_uuid:
            raise name_taken()

    # POST /v3/campaign
    async def create(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        _require_name_and_type(body)
        now = self.d.stamp()
        new_uuid = str(uuid.uuid4())
        data = validate(CampaignBody, client_fields(body))
        check_callback_url(data.callback_url)
        spec = m.CampaignSpec.model_validate(
            {**data.model_dump(), "campaign_uuid": new_uuid, "queue_code": "",
             "created_at": now, "updated_at": now}
        )
        async with self.d.campaigns.writing():
            await self._name_free(spec.campaign_name, new_uuid)
            spec = spec.model_copy(update={"campaign_id": await self.d.campaigns.next_number()})
            await self.d.campaigns.submit(m.UpsertCampaign(campaign=spec))
        return reply(CampaignCreated(campaign_uuid=new_uuid).model_dump())

    # PUT /v3/campaign/{campaign_uuid}
    async def update(self, request: web.Request) -> web.Response:
        campaign_uuid = path_id(request, "campaign_uuid")
        body = await json_object(request)
        _require_name_and_type(body)
        async with self.d.campaigns.writing():
            current = await self._existing(campaign_uuid)
            merged = {
                **current.model_dump(mode="json"),
                **client_fields(body),
                "campaign_uuid": campaign_uuid,
            }
            data = validate(CampaignBody, merged)
            check_callback_url(data.callback_url)
            spec = m.CampaignSpec.model_validate(
                {**data.model_dump(), "campaign_uuid": campaign_uuid,
                 "campaign_id": current.campaign_id,
                 "queue_code": current.queue_code, "created_at": current.created_at,
                 "updated_at": self.d.stamp()}
            )
            await self._name_free(spec.campaign_name, campaign_uuid)
            await self.d.campaigns.submit(m.UpsertCampaign(campaign=spec))
        return reply(CampaignRef(campaign_uuid=campaign_uuid).model_dump())

    # GET /v3/campaign
    async def list(self, request: web.Request) -> web.Response:
        kind = query_text(request, "type", 32)
        limit = query_int(request, "limit", 10, 1, 1000)
        offset = query_int(request, "offset", 0, 0, 1_000_000_000)
        specs = [s for s in await self.d.campaigns.all() if kind is None or s.type == kind]
        page = specs[offset : offset + limit]
        body = CampaignList(
            data=[campaign_object(s, self.d.domain_uuid) for s in page],
            limit=limit,
            offset=offset,
            total=len(specs),
        )
        return reply(body.model_dump(mode="json"))

    # GET /v3/campaign/{campaign_uuid}
    async def get(self, request: web.Request) -> web.Response:
        spec = await self._existing(path_id(request, "campaign_uuid"))
        return reply(campaign_object(spec, self.d.domain_uuid).model_dump(mode="json"))

    # PATCH /v3/campaign/{campaign_uuid}/active
    async def set_active(self, request: web.Request) -> web.Response:
        campaign_uuid = path_id(request, "campaign_uuid")
        body = await json_object(request, empty_ok=True)
        async with self.d.campaigns.writing():
            await self._existing(campaign_uuid)
            if body.get("active") is None:
                raise HttpError(400, {"error": "active is missing"})
            active = validate(ActiveBody, body).active
            await self.d.campaigns.submit(
                m.SetCampaignActive(campaign_uuid=campaign_uuid, active=active)
            )
        return reply(ActiveReply(active=active, campaign_uuid=campaign_uuid).model_dump())

    # DELETE /v3/campaign/{campaign_uuid}
    async def delete(self, request: web.Request) -> web.Response:
        campaign_uuid = path_id(request, "campaign_uuid")
        async with self.d.campaigns.writing():
            current = await self._existing(campaign_uuid)
            if current.active:
                raise HttpError(400, {"error": "campaign must be deactive"})
            await self.d.campaigns.submit(m.DeleteCampaign(campaign_uuid=campaign_uuid))
        return reply(CampaignRef(campaign_uuid=campaign_uuid).model_dump())

    # POST /v1/campaign/{campaign_uuid}/run/start (seed 000; the body, "{}", is not read)
    async def run_start(self, request: web.Request) -> web.Response:
        campaign_uuid = path_id(request, "campaign_uuid")
        async with self.d.campaigns.writing():
            await self._existing(campaign_uuid)
            await self.d.campaigns.submit(
                m.SetCampaignStatus(campaign_uuid=campaign_uuid, status="start")
            )
        return reply(CampaignRef(campaign_uuid=campaign_uuid).model_dump())
