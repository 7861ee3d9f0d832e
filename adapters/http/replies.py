"""Response bodies of the seed API as pydantic models: handlers build replies through them
(so a reply always matches /openapi.json) and the OpenAPI generator documents them."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from consumers.convert import DEFAULT_RECALL
from proto import messages as m


class _Reply(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorText(_Reply):
    error: str


class ErrorList(_Reply):
    error: list[dict[str, str]]


class ImportReply(_Reply):
    call_id: str
    lead_uuid: str
    message: str = "success"


class CampaignRef(_Reply):
    campaign_uuid: str


class CampaignCreated(_Reply):
    campaign_uuid: str
    created: bool = True


class ActiveReply(_Reply):
    active: bool
    campaign_uuid: str


class Network(_Reply):
    viettel: int = 0
    mobi: int = 0
    vina: int = 0
    tel: int = 0
    offnet: int = 0


class ScheduleOut(_Reply):
    domain_uuid: str
    id: str  # stable per (campaign, position): schedules have no identity of their own
    campaign_uuid: str
    monday_start_time: int | None = None
    monday_end_time: int | None = None
    tuesday_start_time: int | None = None
    tuesday_end_time: int | None = None
    wednesday_start_time: int | None = None
    wednesday_end_time: int | None = None
    thursday_start_time: int | None = None
    thursday_end_time: int | None = None
    friday_start_time: int | None = None
    friday_end_time: int | None = None
    saturday_start_time: int | None = None
    saturday_end_time: int | None = None
    sunday_start_time: int | None = None
    sunday_end_time: int | None = None


class CampaignObject(_Reply):
    """The seed 001 campaign object (GET), in the seed's field order, then this project's
    engine settings. Fields the engine has no notion of keep the seed's neutral values."""

    domain_uuid: str
    campaign_uuid: str
    campaign_name: str
    type: str
    description: str
    active: bool
    concurrent_call: int
    ratio: int = 100
    carrier_uuid: str
    call_center_queue_uuid: str = ""
    template_uuid: str
    recall_times: int
    limit_recall_duration: int
    schedule_recall: str
    schedule_recall_duration: int
    hopper: int = 0
    answer_callback_url: str = ""
    local_start_time: str = ""
    local_end_time: str = ""
    customer_order: str = ""
    allow_manual_dial: bool = False
    allow_search_lead: bool = False
    enable_callback_alert: bool = False
    default_list_uuid: str = ""
    script_uuid: str = ""
    status: str
    created_at: str
    updated_at: str
    call_center_queue_strategy: str = ""
    template_name: str = ""
    carrier_name: str = ""
    mode_call: str
    network: Network
    run_id: str = ""
    type_autocall: str
    call_timeout: int
    domain_name: str = ""
    users: list[Any] | None = None
    groups: list[Any] | None = None
    statuses: list[Any] | None = None
    schedules: list[ScheduleOut] | None
    priority_recall: str
    recall_status: list[str]
    enable_encrypt: bool
    callback_url: str
    orig_campaign_uuid: str = ""
    # ---- this project's extensions -------------------------------------------------------
    campaign_id: int
    callback_format: str
    template_text: str
    audio_file: str
    min_recall_duration: int
    time_zone: str
    caller_id: str
    queue_code: str
    policy: m.Policy


def campaign_object(spec: m.CampaignSpec, domain_uuid: str = "") -> CampaignObject:
    schedules = None
    if spec.schedules is not None:
        schedules = [
            ScheduleOut(
                domain_uuid=domain_uuid,
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.campaign_uuid}/schedules/{i}")),
                campaign_uuid=spec.campaign_uuid,
                **day.model_dump(),
            )
            for i, day in enumerate(spec.schedules)
        ]
    return CampaignObject(
        domain_uuid=domain_uuid,
        campaign_uuid=spec.campaign_uuid,
        campaign_name=spec.campaign_name,
        type=spec.type,
        description=spec.description,
        active=spec.active,
        concurrent_call=spec.concurrent_call,
        carrier_uuid=spec.carrier_uuid,
        template_uuid=spec.template_uuid,
        recall_times=spec.recall_times,
        limit_recall_duration=spec.limit_recall_duration,
        schedule_recall=spec.schedule_recall,
        schedule_recall_duration=spec.schedule_recall_duration,
        status=spec.status,
        created_at=spec.created_at,
        updated_at=spec.updated_at,
        mode_call=spec.mode_call,
        network=Network(**{str(k): v for k, v in spec.network.items()}),
        type_autocall=spec.type_autocall,
        call_timeout=spec.call_timeout,
        schedules=schedules,
        priority_recall=spec.priority_recall,
        recall_status=list(spec.recall_status if spec.recall_status is not None
                           else DEFAULT_RECALL),
        enable_encrypt=spec.enable_encrypt,
        callback_url=spec.callback_url,
        campaign_id=spec.campaign_id,
        callback_format=spec.callback_format,
        template_text=spec.template_text,
        audio_file=spec.audio_file,
        min_recall_duration=spec.min_recall_duration,
        time_zone=spec.time_zone,
        caller_id=spec.caller_id,
        queue_code=spec.queue_code,
        policy=spec.policy,
    )


class CampaignList(_Reply):
    data: list[CampaignObject]
    limit: int
    offset: int
    total: int


# ---- seed 002 / 003 ----------------------------------------------------------------------
class QueueReply(_Reply):
    code: int
    content: str


class ImportResult(_Reply):
    fail: list[str]
    success: list[str]


class QueueImportReply(QueueReply):
    data: ImportResult


class VbotReply(_Reply):
    status: int
    error: int
    msg: str
    data: int | str  # the new campaign's numeric id, "-1" on failure


# ---- seed 000 / 004 reports ------------------------------------------------------------------
class V1Status(_Reply):
    answered: int = 0
    busy: int = 0
    not_available: int = 0
    no_answer: int = 0
    cancel: int = 0
    failed: int = 0


class V1Data(_Reply):
    status: V1Status
    total_calls: int
    total_duration: int
    total_billsec: int
    total_waitsec: int


class V1Report(_Reply):
    data: V1Data


class V3CampaignRow(_Reply):
    """Seed 004's keys, in the seed's (alphabetical) order."""

    answered: int = 0
    busy: int = 0
    busy_line: int = 0
    campaign_name: str
    campaign_uuid: str
    cancel: int = 0
    congestion: int = 0
    inbound: int = 0
    invalid: int = 0
    ivr: int = 0
    local: int = 0
    no_answered: int = 0
    not_available: int = 0
    outbound: int = 0
    phone_block: int = 0
    total: int = 0


class V3CampaignReport(_Reply):
    data: list[V3CampaignRow]


class LeadRow(_Reply):
    billsec: int
    called_count: int
    campaign_name: str
    cdr_uuid: str
    contract_number: str
    duration: int
    lead_code: str
    lead_uuid: str
    lead_name: str
    list_name: str
    phone_number: str
    press_key: str
    record_name: str
    recording_url: str
    status: str
    additional: dict[str, Any]
    start_stamp: str
    end_stamp: str
    answer_stamp: str
    created_at: str
    last_call_time: str


class LeadReport(_Reply):
    data: list[LeadRow]
    limit: int
    offset: int
    total: int


class HeldBy(_Reply):
    rule: str
    detail: str
    next_try_at: str


class LeadStateReply(_Reply):
    """GET /v3/lead/{lead_uuid}/state (this project's extension)."""

    lead_uuid: str
    campaign_uuid: str
    state: str
    previous: str
    reason: str
    attempts: int
    calls: int
    called_count: int
    ready_at: str
    updated_at: str
    held_by: HeldBy | None
    source: str
