"""Values the engine works on: frozen, slotted dataclasses, no I/O, no pydantic.

The wire models in ``proto.messages`` are converted into these at the edge
(``consumers.inputs``); nothing inside engine/ ever sees a raw dict from Kafka or HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class CampaignStatus(StrEnum):
    START = "start"
    PAUSE = "pause"
    STOP = "stop"


class ModeCall(StrEnum):
    DIRECT = "direct"
    SERIAL = "serial"
    PARALLEL = "parallel"


class ScheduleRecall(StrEnum):
    MINUTE = "minute"  # recall schedule_recall_duration minutes after the failed attempt
    AFTER = "after"  # recall once the first pass over new leads is done


class PriorityRecall(StrEnum):
    NORMAL = "normal"  # oldest ready work first
    RECALL = "recall"  # due recalls before new leads


class TypeAutocall(StrEnum):
    VOICE_TTS = "autocall_voice_tts"
    AUDIO = "autocall_audio"
    VOICE_OTP = "autocall_voice_otp"


class CallStatus(StrEnum):
    """One attempt's disposition (the engine's canonical vocabulary).

    The seeds spell these differently per endpoint (``no-answered`` in recall_status,
    ``no_answer`` in the v1 report, ``no_answered`` in the v3 report); the mapping to
    each spelling lives with the endpoint, not here.
    """

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    NOT_AVAILABLE = "not_available"
    INVALID = "invalid"
    PHONE_BLOCK = "phone_block"
    CONGESTION = "congestion"
    CANCEL = "cancel"
    FAILED = "failed"
    VOICEMAIL = "voicemail"
    # The call was placed but its end fell while no engine owned its partition (a crash or
    # a handover): nobody saw how it ended. Recalled like ``failed`` (recall.decide).
    UNKNOWN = "unknown"


# recall_status words of seed 001 → canonical statuses.
RECALL_STATUS_WORDS: Mapping[str, CallStatus] = MappingProxyType(
    {
        "answered": CallStatus.ANSWERED,
        "busy": CallStatus.BUSY,
        "failed": CallStatus.FAILED,
        "no-answered": CallStatus.NO_ANSWER,
        "not-available": CallStatus.NOT_AVAILABLE,
        "voicemail": CallStatus.VOICEMAIL,
        "invalid-number": CallStatus.INVALID,
        "phone-block": CallStatus.PHONE_BLOCK,
        "congestion": CallStatus.CONGESTION,
        "cancel": CallStatus.CANCEL,
    }
)

NETWORK_KEYS = ("viettel", "mobi", "vina", "tel", "offnet")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NS_PER_SECOND = 1_000_000_000
DAY_NS = 86_400 * NS_PER_SECOND


@dataclass(frozen=True, slots=True)
class DayWindow:
    """Dialing allowed from ``start_ns`` to ``end_ns`` after local midnight (seed 001)."""

    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class CallingPolicy:
    """Rules beyond the seeds (vietnam.md): a cap per number and allowed hours.

    ``max_calls_per_number_per_day`` (0 = no cap) counts call legs to one number over any
    rolling 24 hours, from every campaign of this engine: Decree 91 says "one call per
    number per 24 h", and a calendar-day count would allow 16:59 and 08:00 the next
    morning. A rolling count is never looser than a calendar-day count with the same cap,
    and counting every campaign's calls is the conservative reading for one advertiser.
    ``allowed_start_s``/``allowed_end_s`` are seconds after local midnight and narrow
    (never widen) the weekday windows. ``respect_national_dnc`` makes the global do-not-call
    list by phone binding for this campaign; it is on by default and only a campaign that
    is not advertising (an OTP a user asked for) should turn it off.
    """

    max_calls_per_number_per_day: int = 0
    allowed_start_s: int = 0
    allowed_end_s: int = 86_400
    respect_national_dnc: bool = True

    @classmethod
    def advertising(cls) -> CallingPolicy:
        """Decree 91/2020/NĐ-CP defaults: 08:00-17:00, one call per number per 24 h, and
        the national do-not-call list."""
        return cls(max_calls_per_number_per_day=1, allowed_start_s=8 * 3600,
                   allowed_end_s=17 * 3600, respect_national_dnc=True)


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign's settings: every field of the seed 001 object the engine acts on."""

    campaign_uuid: str
    campaign_name: str
    type: str = "autocall"
    type_autocall: TypeAutocall = TypeAutocall.VOICE_TTS
    description: str = ""
    status: CampaignStatus = CampaignStatus.START
    active: bool = True
    concurrent_call: int = 1
    carrier_uuid: str = ""
    template_uuid: str = ""
    template_text: str = ""
    audio_file: str = ""
    recall_times: int = 0
    limit_recall_duration: int = 0
    schedule_recall: ScheduleRecall = ScheduleRecall.MINUTE
    schedule_recall_duration: int = 0
    min_recall_duration: int = 0
    mode_call: ModeCall = ModeCall.DIRECT
    network: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    call_timeout: int = 60
    # weekday index (0 = Monday) → window; a weekday missing from the map never dials, nor
    # does one whose end is not after its start. ``None`` means no schedule: any weekday.
    schedules: Mapping[int, DayWindow] | None = None
    # Seed 001 ``local_start_time``/``local_end_time`` ("08:00:00"), as seconds after local
    # midnight (``windows.parse_local_time``): a daily window that narrows ``schedules``.
    local_start_s: int = 0
    local_end_s: int = 86_400
    time_zone: str = "Asia/Ho_Chi_Minh"
    priority_recall: PriorityRecall = PriorityRecall.NORMAL
    recall_status: frozenset[CallStatus] = frozenset()
    callback_url: str = ""
    enable_encrypt: bool = False
    caller_id: str = ""
    queue_code: str = ""
    policy: CallingPolicy = CallingPolicy()
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True, slots=True)
class LeadInput:
    """A lead as imported: who to call and what to say."""

    lead_uuid: str
    campaign_uuid: str
    phones: tuple[str, ...]
    params: Mapping[str, str | int | float | bool | None] = field(
        default_factory=lambda: MappingProxyType({})
    )
    call_id: str = ""
    customer_id: str = ""
    list_uuid: str = ""
    list_name: str = ""
    lead_name: str = ""
    lead_code: str = ""
    contract_number: str = ""
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class CallResult:
    """What the switch reported when one call leg ended (HANGUP_COMPLETE or job failure)."""

    call_uuid: str
    hangup_cause: str
    q850: int = 0
    answered: bool = False
    duration: int = 0
    billsec: int = 0
    waitsec: int = 0
    progresssec: int = 0
    start_epoch: float = 0.0
    answer_epoch: float = 0.0
    end_epoch: float = 0.0
    sip_term_status: str = ""
    amd_result: str = ""
    record_name: str = ""
    recording_url: str = ""
    # True when the switch refused the session (no channel ever existed).
    refused: bool = False
