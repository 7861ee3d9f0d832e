"""What the engine asks the world to do (actions) and what it reports (records)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Originate:
    """Place one call leg. ``call_uuid`` is deterministic per (lead, attempt, number)."""

    call_uuid: str
    node: str
    campaign_uuid: str
    lead_uuid: str
    destination: str  # national digits, already validated
    caller_id: str
    timeout_s: int
    # Channel variables for the switch; the adapter escapes or refuses every value.
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Monotonic time after which the call must not be sent any more (0: no limit): the
    # durable engine's dial intent expires, so a paused engine cannot dial late.
    not_after: float = 0.0


@dataclass(frozen=True, slots=True)
class Hangup:
    call_uuid: str
    cause: str = "NORMAL_CLEARING"


@dataclass(frozen=True, slots=True)
class Cdr:
    """One finished call leg: the seed 004 lead-report fields plus switch facts."""

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
    additional: Mapping[str, Scalar] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """A lead changed state (lead-events topic)."""

    lead_uuid: str
    campaign_uuid: str
    state: str
    previous: str
    reason: str
    at: float
    attempts: int
    calls: int
    ready_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Explanation:
    """Answer to "why is this lead not being dialed?"."""

    lead_uuid: str
    campaign_uuid: str
    state: str
    rule: str  # the rule holding the lead, or "" when it is next in line / terminal
    detail: str
    attempts: int
    next_try_at: float | None = None


Action = Originate | Hangup | Cdr | LeadEvent
