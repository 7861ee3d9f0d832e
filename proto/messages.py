"""Wire contracts of the topics: pydantic v2 models, encoded as JSON with orjson.

These models are the single source of the JSON Schemas in ``proto/schemas/`` and of the
AsyncAPI document ``proto/asyncapi.yaml`` (``python -m proto.generate`` writes them; a test
fails when the files drift). Field names follow the seeds (000 import, 001 campaign,
002 queue/DNC, 004 lead report). Strings are bounded: hostile or oversized input is a
schema violation (→ DLQ), never a stall.

Inputs (leads, dnc, control) are forward compatible: a field this version does not know is
ignored (the input consumer counts it, ``proto.compat.unknown_fields``), so a publisher
may add fields before the engine knows them; their JSON Schemas allow additional
properties. Outputs (cdr, lead-events, dlq) forbid unknown fields: they are ours, and a
mismatch with the engine's records is a bug to catch.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)
from yarl import URL

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ShortText = Annotated[str, StringConstraints(max_length=256)]
Text = Annotated[str, StringConstraints(max_length=4096)]
RawPhone = Annotated[str, StringConstraints(min_length=1, max_length=32)]
ParamValue = Annotated[str, StringConstraints(max_length=1024)] | int | float | bool | None
Params = Annotated[dict[Annotated[str, StringConstraints(max_length=64)], ParamValue],
                   Field(max_length=100)]

LocalTime = Annotated[
    str, StringConstraints(pattern=r"^(([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?|24:00(:00)?)?$")
]
# ---- hostile-input guards (issue 11): a value the engine or the switch cannot take
# safely is refused where it enters (HTTP 400, or DLQ with the reason), never at dial time.
@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    """An IANA zone name from the tz database ("Asia/Ho_Chi_Minh"); nothing else (no
    paths, no made-up zones): windows are computed in it on every pump."""
    if name not in _zones():
        raise ValueError(f"time_zone {name[:64]!r} is not a tz database zone name")
    return name


# A sound file name under the deployment's sound directory (DIALER_SOUND_DIR): segments
# of letters, digits, "_", "-", "." that do not start with "."; so no scheme (":"), no
# traversal (".."), no absolute path, no "$", "{", "!", "|", space or quote.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
SOUND_FILE = re.compile(rf"(?:{_SEGMENT}/){{0,3}}{_SEGMENT}")


def check_audio_file(name: str) -> str:
    if name and not SOUND_FILE.fullmatch(name):
        raise ValueError("audio_file must be a plain file name under the sound directory "
                         "(letters, digits, _ - . and /; no scheme, no .., no $ { ! |)")
    return name


def check_callback_url(url: str) -> str:
    """An absolute http(s) URL without credentials (``user:pass@`` would become Basic
    auth on every CDR). Where it may point is the sender's egress policy, checked on
    the resolved address at connect time (consumers.webhooks)."""
    if not url:
        return url
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as err:
        raise ValueError("callback_url must be an http(s) URL") from err
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("callback_url must be an http(s) URL")
    if parsed.user is not None or parsed.password is not None:
        raise ValueError("callback_url must not carry credentials (user:pass@)")
    return url


TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_time_zone)]
AudioFile = Annotated[str, StringConstraints(max_length=256), AfterValidator(check_audio_file)]
CallbackUrl = Annotated[str, StringConstraints(max_length=256),
                        AfterValidator(check_callback_url)]
# Seed 001 schedules are nanoseconds after local midnight: within one day.
DayNs = Annotated[int, Field(ge=0, le=86_400_000_000_000)]

NetworkKey = Literal["viettel", "mobi", "vina", "tel", "offnet"]
RecallWord = Literal[
    "answered", "busy", "failed", "no-answered", "not-available", "voicemail",
    "invalid-number", "phone-block", "congestion", "cancel",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Input(BaseModel):
    """An input message: unknown fields are ignored (and counted), never dead-lettered."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _Open(BaseModel):
    """Seed objects carry fields we do not act on (domain_uuid, users, …): accept them."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# ---- leads topic ---------------------------------------------------------------------
class LeadImport(_Input):
    """One lead for one campaign (seed 000 import; seed 002 customers become these)."""

    type: Literal["lead"] = "lead"
    campaign_uuid: Id
    lead_uuid: Id
    phone_number: RawPhone
    phones: Annotated[list[RawPhone], Field(max_length=10)] = []
    param: Params = {}
    call_id: ShortText = ""
    customer_id: ShortText = ""
    list_uuid: ShortText = ""
    list_name: ShortText = ""
    lead_name: ShortText = ""
    lead_code: ShortText = ""
    contract_number: ShortText = ""
    created_at: ShortText = ""


# ---- dnc topic -----------------------------------------------------------------------
class DncEntry(_Input):
    """Do-not-call add/remove: by customer id within a campaign, or by phone globally."""

    type: Literal["dnc"] = "dnc"
    op: Literal["add", "remove"] = "add"
    campaign_uuid: ShortText = ""  # empty: the global list (phone numbers only)
    customer_ids: Annotated[list[ShortText], Field(max_length=10_000)] = []
    phone_numbers: Annotated[list[RawPhone], Field(max_length=10_000)] = []


# ---- control topic -------------------------------------------------------------------
class DaySchedule(_Open):
    monday_start_time: DayNs | None = None
    monday_end_time: DayNs | None = None
    tuesday_start_time: DayNs | None = None
    tuesday_end_time: DayNs | None = None
    wednesday_start_time: DayNs | None = None
    wednesday_end_time: DayNs | None = None
    thursday_start_time: DayNs | None = None
    thursday_end_time: DayNs | None = None
    friday_start_time: DayNs | None = None
    friday_end_time: DayNs | None = None
    saturday_start_time: DayNs | None = None
    saturday_end_time: DayNs | None = None
    sunday_start_time: DayNs | None = None
    sunday_end_time: DayNs | None = None


class Policy(_Input):
    preset: Literal["none", "advertising"] = "none"
    max_calls_per_number_per_day: Annotated[int, Field(ge=0, le=1000)] | None = None
    allowed_start_s: Annotated[int, Field(ge=0, le=86_400)] | None = None
    allowed_end_s: Annotated[int, Field(ge=0, le=86_400)] | None = None


class CampaignSpec(_Open):
    """The seed 001 campaign object, plus the engine's own settings (script, policy)."""

    campaign_uuid: Id
    campaign_name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    # The campaign's numeric id (seed 003 names campaigns by Int: campaignId, the
    # webhook's campaign_id). 0 = none; the gateway numbers every campaign it creates.
    campaign_id: Annotated[int, Field(ge=0, le=2_147_483_647)] = 0
    type: Literal["autodialer", "autocall", "inbound", "manual"] = "autocall"
    type_autocall: Literal["autocall_voice_tts", "autocall_audio", "autocall_voice_otp"] = (
        "autocall_voice_tts"
    )
    description: Text = ""
    status: Literal["start", "pause", "stop"] = "stop"
    active: bool = True
    concurrent_call: Annotated[int, Field(ge=1, le=10_000)] = 1
    carrier_uuid: ShortText = ""
    template_uuid: ShortText = ""
    template_text: Text = ""
    audio_file: AudioFile = ""
    recall_times: Annotated[int, Field(ge=0, le=100)] = 0
    limit_recall_duration: Annotated[int, Field(ge=0, le=31_536_000)] = 0
    schedule_recall: Literal["minute", "after", ""] = "minute"
    schedule_recall_duration: Annotated[int, Field(ge=0, le=525_600)] = 0
    min_recall_duration: Annotated[int, Field(ge=0, le=86_400)] = 0
    mode_call: Literal["direct", "serial", "parallel", "parralel"] = "direct"
    network: dict[NetworkKey, Annotated[int, Field(ge=0, le=10_000)]] = {}
    call_timeout: Annotated[int, Field(ge=1, le=600)] = 60
    schedules: Annotated[list[DaySchedule], Field(max_length=7)] | None = None
    # Seed 001 daily bounds in local time, "HH:MM[:SS]" ("" = none; "23:59:59" = day end).
    local_start_time: LocalTime = ""
    local_end_time: LocalTime = ""
    time_zone: TimeZone = "Asia/Ho_Chi_Minh"
    priority_recall: Literal["normal", "recall", ""] = "normal"
    recall_status: list[RecallWord] | None = None
    callback_url: CallbackUrl = ""
    # Body format of the CDR webhook: the CDR record as on the topic, or seed 003's VBot form.
    callback_format: Literal["seed", "vbot"] = "seed"
    enable_encrypt: bool = False
    caller_id: Annotated[str, StringConstraints(max_length=20, pattern=r"^\+?[0-9]*$")] = ""
    queue_code: ShortText = ""
    policy: Policy = Policy()
    created_at: ShortText = ""
    updated_at: ShortText = ""


class UpsertCampaign(_Input):
    type: Literal["campaign.upsert"] = "campaign.upsert"
    campaign: CampaignSpec


class SetCampaignStatus(_Input):
    type: Literal["campaign.status"] = "campaign.status"
    campaign_uuid: Id
    status: Literal["start", "pause", "stop"]


class SetCampaignActive(_Input):
    type: Literal["campaign.active"] = "campaign.active"
    campaign_uuid: Id
    active: bool


class DeleteCampaign(_Input):
    type: Literal["campaign.delete"] = "campaign.delete"
    campaign_uuid: Id


ControlCommand = Annotated[
    UpsertCampaign | SetCampaignStatus | SetCampaignActive | DeleteCampaign,
    Field(discriminator="type"),
]
CONTROL = TypeAdapter[ControlCommand](ControlCommand)


# ---- cdr topic -----------------------------------------------------------------------
class CdrRecord(_Model):
    """One finished call leg (seed 004 lead-report fields + switch facts)."""

    cdr_uuid: str
    campaign_uuid: str
    campaign_name: str
    lead_uuid: str
    call_id: str
    phone_number: str
    status: str
    hangup_cause: str
    hangup_cause_q850: int
    billsec: int
    duration: int
    waitsec: int
    called_count: int
    attempt: int
    press_key: str
    record_name: str
    recording_url: str
    start_stamp: str
    answer_stamp: str
    end_stamp: str
    created_at: str
    last_call_time: str
    customer_id: str = ""
    list_uuid: str = ""
    list_name: str = ""
    lead_name: str = ""
    lead_code: str = ""
    contract_number: str = ""
    amd_result: str = ""
    sip_term_status: str = ""
    additional: dict[str, Any] = {}


# ---- lead-events topic ---------------------------------------------------------------
class LeadEventRecord(_Model):
    lead_uuid: str
    campaign_uuid: str
    state: str
    previous: str
    reason: str
    at: float
    attempts: int
    calls: int
    ready_at: float = 0.0


# ---- dlq topic -----------------------------------------------------------------------
DlqError = Literal[
    "oversized", "malformed_json", "schema", "not_an_input_topic", "unknown_campaign",
    "misrouted", "refused", "webhook_failed",
]


class DlqHeader(_Model):
    """One Kafka record header of the original message (a key may repeat)."""

    key: str
    value: str
    value_encoding: Literal["utf-8", "base64"]


class DlqRecord(_Model):
    """A rejected message: why and when, and the original bytes (UTF-8, or base64) with its
    key and headers, enough to replay it as its producer sent it."""

    reason: str
    # Stable, for alerting and routing; ``reason`` is the human text.
    error_code: DlqError
    # When it was dead-lettered, ISO 8601 UTC with milliseconds ("2026-11-30T15:04:05.123Z").
    timestamp: str
    source_topic: str
    partition: int
    offset: int
    key: str | None
    value: str
    value_encoding: Literal["utf-8", "base64"]
    headers: list[DlqHeader] = []


def dumps(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))


def loads(raw: bytes) -> Any:
    """JSON → Python; raises orjson.JSONDecodeError (a ValueError) on malformed input."""
    return orjson.loads(raw)
