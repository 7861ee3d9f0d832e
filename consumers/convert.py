"""Wire models (proto.messages) → engine values. The only place that knows both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from engine import commands as cmd
from engine import windows
from engine.model import (
    RECALL_STATUS_WORDS,
    WEEKDAYS,
    CallingPolicy,
    Campaign,
    CampaignStatus,
    DayWindow,
    LeadInput,
    ModeCall,
    PriorityRecall,
    ScheduleRecall,
    TypeAutocall,
)
from proto import messages as m

# Seed 001's update example lists these as the default recall statuses.
DEFAULT_RECALL = ("busy", "failed", "no-answered", "not-available", "voicemail",
                  "invalid-number", "phone-block", "congestion")


def schedules(days: list[m.DaySchedule] | None) -> dict[int, DayWindow] | None:
    """Seed 001 ``schedules``: one object with <weekday>_start_time/_end_time in ns.

    None or an empty list means no restriction. A weekday whose times are missing does
    not dial. Several objects are merged (the first that names a weekday wins).
    """
    if not days:
        return None
    out: dict[int, DayWindow] = {}
    for day in days:
        for index, name in enumerate(WEEKDAYS):
            start = getattr(day, f"{name}_start_time")
            end = getattr(day, f"{name}_end_time")
            if index not in out and start is not None and end is not None:
                out[index] = DayWindow(int(start), int(end))
    return out


def policy(p: m.Policy) -> CallingPolicy:
    base = CallingPolicy.advertising() if p.preset == "advertising" else CallingPolicy()
    return CallingPolicy(
        max_calls_per_number_per_day=(
            p.max_calls_per_number_per_day
            if p.max_calls_per_number_per_day is not None
            else base.max_calls_per_number_per_day
        ),
        allowed_start_s=p.allowed_start_s if p.allowed_start_s is not None
        else base.allowed_start_s,
        allowed_end_s=p.allowed_end_s if p.allowed_end_s is not None else base.allowed_end_s,
        respect_national_dnc=base.respect_national_dnc,
    )


@dataclass(frozen=True, slots=True)
class Template:
    """What a template_uuid (seed 001) or queue ``template`` (seed 002) says on the call."""

    text: str = ""
    audio_file: str = ""


Templates = Mapping[str, Template]


def campaign(spec: m.CampaignSpec, templates: Templates | None = None) -> Campaign:
    """The engine's campaign. A script given inline (template_text/audio_file) wins over
    the one its template_uuid names in the deployment's template registry."""
    template = (templates or {}).get(spec.template_uuid, Template())
    words = spec.recall_status if spec.recall_status is not None else list(DEFAULT_RECALL)
    mode = "parallel" if spec.mode_call == "parralel" else spec.mode_call
    return Campaign(
        campaign_uuid=spec.campaign_uuid,
        campaign_name=spec.campaign_name,
        type=spec.type,
        type_autocall=TypeAutocall(spec.type_autocall),
        description=spec.description,
        status=CampaignStatus(spec.status),
        active=spec.active,
        concurrent_call=spec.concurrent_call,
        carrier_uuid=spec.carrier_uuid,
        template_uuid=spec.template_uuid,
        template_text=spec.template_text or template.text,
        audio_file=spec.audio_file or template.audio_file,
        recall_times=spec.recall_times,
        limit_recall_duration=spec.limit_recall_duration,
        schedule_recall=ScheduleRecall(spec.schedule_recall or "minute"),
        schedule_recall_duration=spec.schedule_recall_duration,
        min_recall_duration=spec.min_recall_duration,
        mode_call=ModeCall(mode),
        network=MappingProxyType({str(k): v for k, v in spec.network.items()}),
        call_timeout=spec.call_timeout,
        schedules=schedules(spec.schedules),
        local_start_s=windows.parse_local_time(spec.local_start_time),
        local_end_s=windows.parse_local_time(spec.local_end_time) or 86_400,
        time_zone=spec.time_zone,
        priority_recall=PriorityRecall(spec.priority_recall or "normal"),
        recall_status=frozenset(RECALL_STATUS_WORDS[w] for w in words),
        callback_url=spec.callback_url,
        enable_encrypt=spec.enable_encrypt,
        caller_id=spec.caller_id,
        queue_code=spec.queue_code,
        policy=policy(spec.policy),
        created_at=spec.created_at,
        updated_at=spec.updated_at,
    )


def lead(msg: m.LeadImport) -> LeadInput:
    phones = (msg.phone_number, *(p for p in msg.phones if p != msg.phone_number))
    return LeadInput(
        lead_uuid=msg.lead_uuid,
        campaign_uuid=msg.campaign_uuid,
        phones=phones,
        params=MappingProxyType(dict(msg.param)),
        call_id=msg.call_id,
        customer_id=msg.customer_id,
        list_uuid=msg.list_uuid,
        list_name=msg.list_name,
        lead_name=msg.lead_name,
        lead_code=msg.lead_code,
        contract_number=msg.contract_number,
        created_at=msg.created_at,
    )


def control(msg: m.ControlCommand, templates: Templates | None = None) -> cmd.Command:
    match msg:
        case m.UpsertCampaign():
            return cmd.UpsertCampaign(campaign(msg.campaign, templates))
        case m.SetCampaignStatus():
            return cmd.SetStatus(msg.campaign_uuid, CampaignStatus(msg.status))
        case m.SetCampaignActive():
            return cmd.SetActive(msg.campaign_uuid, msg.active)
        case m.DeleteCampaign():
            return cmd.DeleteCampaign(msg.campaign_uuid)
    raise AssertionError(f"unhandled control message {type(msg).__name__}")


def dnc(msg: m.DncEntry) -> cmd.Dnc:
    return cmd.Dnc(
        add=msg.op == "add",
        campaign_uuid=msg.campaign_uuid,
        customer_ids=tuple(msg.customer_ids),
        phone_numbers=tuple(msg.phone_numbers),
    )


def lead_command(msg: m.LeadImport) -> cmd.AddLead:
    return cmd.AddLead(lead(msg))
