"""Reports: seed 000's v1 campaign report and seed 004's v3 campaign and lead reports.

Status vocabularies. CDRs carry the engine's CallStatus; each endpoint spells its own:

=============  ===============  ==================
CDR status     v1 status key    v3 key
=============  ===============  ==================
answered       answered         answered
voicemail      answered         answered
busy           busy             busy
no_answer      no_answer        no_answered
not_available  not_available    not_available
cancel         cancel           cancel
invalid        failed           invalid
phone_block    failed           phone_block
congestion     failed           congestion
failed         failed           (total only)
=============  ===============  ==================

voicemail counts as answered: the carrier connected and billed the call (billsec > 0),
which is what these provider reports count; the lead report keeps "voicemail" as the
status for whoever needs the difference. v1 has no key for invalid/phone_block/congestion,
so they are failures there. v3's inbound, ivr, local and busy_line stay 0: this engine
places outbound calls only and does not tell a busy trunk line from a busy subscriber.
total = outbound = every CDR; a status the table does not know counts in the totals only.

Filters: start_date/end_date (v1) and start_time/end_time (v3) are "YYYY-MM-DD HH:MM:SS"
in Asia/Ho_Chi_Minh, inclusive, on the call's start. The lead report's filter keeps the
leads whose latest call started in the window. An unknown campaign_uuid is 404
``{"error":"campaign is not found"}``; a malformed filter is 400 in the seed's list form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from adapters.http.common import (
    HttpError,
    bad_request,
    query_int,
    query_text,
    reply,
    required,
)
from adapters.http.deps import Deps
from adapters.http.replies import (
    LeadReport,
    LeadRow,
    V1Data,
    V1Report,
    V1Status,
    V3CampaignReport,
    V3CampaignRow,
)
from adapters.sqlite.reports import TimeRange, Totals
from adapters.sqlite.stamps import parse_filter
from proto import messages as m

V1_KEYS: Mapping[str, str] = {
    "answered": "answered", "voicemail": "answered", "busy": "busy",
    "no_answer": "no_answer", "not_available": "not_available", "cancel": "cancel",
    "invalid": "failed", "phone_block": "failed", "congestion": "failed", "failed": "failed",
    "unknown": "failed",
}
V3_KEYS: Mapping[str, str] = {
    "answered": "answered", "voicemail": "answered", "busy": "busy",
    "no_answer": "no_answered", "not_available": "not_available", "cancel": "cancel",
    "invalid": "invalid", "phone_block": "phone_block", "congestion": "congestion",
}


def campaign_not_found() -> HttpError:
    return HttpError(404, {"error": "campaign is not found"})


def time_window(request: web.Request, lo_name: str, hi_name: str) -> TimeRange:
    bounds: list[int | None] = []
    for name in (lo_name, hi_name):
        text = query_text(request, name, 64)
        if text is None:
            bounds.append(None)
            continue
        epoch = parse_filter(text)
        if epoch is None:
            raise bad_request([{name: f"{name} must be formatted YYYY-MM-DD HH:MM:SS"}])
        bounds.append(epoch)
    return TimeRange(bounds[0], bounds[1])


def v1_data(per_status: Mapping[str, Totals]) -> V1Data:
    status = dict.fromkeys(V1Status.model_fields, 0)
    total = Totals()
    for name, totals in per_status.items():
        key = V1_KEYS.get(name, "failed")
        status[key] += totals.calls
        total = total + totals
    return V1Data(status=V1Status(**status), total_calls=total.calls,
                  total_duration=total.duration, total_billsec=total.billsec,
                  total_waitsec=total.waitsec)


def v3_row(spec: m.CampaignSpec, per_status: Mapping[str, Totals]) -> V3CampaignRow:
    keys: dict[str, int] = {}
    total = 0
    for name, totals in per_status.items():
        total += totals.calls
        key = V3_KEYS.get(name)
        if key is not None:
            keys[key] = keys.get(key, 0) + totals.calls
    return V3CampaignRow(campaign_name=spec.campaign_name, campaign_uuid=spec.campaign_uuid,
                         total=total, outbound=total, **keys)


def lead_row(entry: Mapping[str, Any], campaign_names: Mapping[str, str]) -> LeadRow:
    lead: Mapping[str, Any] = entry["lead"]
    cdr: Mapping[str, Any] = entry["cdr"] or {}
    # Lead fields come from the import; a lead known only from its CDRs takes the CDR's.
    source = lead if lead["imported"] or not cdr else cdr
    name = campaign_names.get(lead["campaign_uuid"]) or str(cdr.get("campaign_name", ""))
    return LeadRow(
        billsec=int(cdr.get("billsec") or 0),
        called_count=int(lead["called_count"]),
        campaign_name=name,
        cdr_uuid=str(cdr.get("cdr_uuid") or ""),
        contract_number=str(source.get("contract_number") or ""),
        duration=int(cdr.get("duration") or 0),
        lead_code=str(source.get("lead_code") or ""),
        lead_uuid=str(lead["lead_uuid"]),
        lead_name=str(source.get("lead_name") or ""),
        list_name=str(source.get("list_name") or ""),
        phone_number=str(source.get("phone_number") or ""),
        press_key=str(cdr.get("press_key") or ""),
        record_name=str(cdr.get("record_name") or ""),
        recording_url=str(cdr.get("recording_url") or ""),
        status=str(cdr.get("status") or ""),
        additional=orjson.loads(source.get("additional") or "{}"),
        start_stamp=str(cdr.get("start_stamp") or ""),
        end_stamp=str(cdr.get("end_stamp") or ""),
        answer_stamp=str(cdr.get("answer_stamp") or ""),
        created_at=str(lead["created_at"] or ""),
        last_call_time=str(cdr.get("last_call_time") or ""),
    )


class ReportApi:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    async def _campaign(self, campaign_uuid: str) -> m.CampaignSpec:
        spec = await self.d.campaigns.get(campaign_uuid)
        if spec is None:
            raise campaign_not_found()
        return spec

    # GET /v1/autocall/report
    async def v1_report(self, request: web.Request) -> web.Response:
        campaign_uuid = query_text(request, "campaign_uuid")
        if campaign_uuid is None:
            raise bad_request([required("campaign_uuid")])
        window = time_window(request, "start_date", "end_date")
        await self._campaign(campaign_uuid)
        counts = await self.d.reports.counts([campaign_uuid], window)
        body = V1Report(data=v1_data(counts.get(campaign_uuid, {})))
        return reply(body.model_dump())

    # GET /v3/report/call/campaign
    async def campaign_report(self, request: web.Request) -> web.Response:
        campaign_uuid = query_text(request, "campaign_uuid")
        window = time_window(request, "start_time", "end_time")
        list_uuid = query_text(request, "list_uuid", 256)
        if campaign_uuid is not None:
            specs = [await self._campaign(campaign_uuid)]
        else:
            specs = await self.d.campaigns.all()
        counts = await self.d.reports.counts([s.campaign_uuid for s in specs], window, list_uuid)
        rows = [v3_row(s, counts.get(s.campaign_uuid, {})) for s in specs]
        return reply(V3CampaignReport(data=rows).model_dump())

    # GET /v3/report/call/lead
    async def lead_report(self, request: web.Request) -> web.Response:
        campaign_uuid = query_text(request, "campaign_uuid")
        window = time_window(request, "start_time", "end_time")
        list_uuid = query_text(request, "list_uuid", 256)
        limit = query_int(request, "limit", 10, 1, 1000)
        offset = query_int(request, "offset", 0, 0, 1_000_000_000)
        if campaign_uuid is not None:
            spec = await self._campaign(campaign_uuid)
            names = {spec.campaign_uuid: spec.campaign_name}
        else:
            names = {s.campaign_uuid: s.campaign_name for s in await self.d.campaigns.all()}
        entries, total = await self.d.reports.lead_page(
            campaign_uuid, window, list_uuid, limit, offset
        )
        body = LeadReport(data=[lead_row(e, names) for e in entries], limit=limit,
                          offset=offset, total=total)
        return reply(body.model_dump(mode="json"))
