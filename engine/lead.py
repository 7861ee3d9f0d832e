"""A lead's lifecycle, as a table. Every state change goes through ``transition``.

States:
- ``queued``: imported, never dialed, waiting in its campaign's queue;
- ``dialing``: one or more call legs of an attempt are live;
- ``recall``: dialed before and waiting again, due at ``ready_at``: a recall after a
  recallable status, serial mode's next number of the same round, or a lead held back by
  the per-number cap (a never-dialed lead held back stays ``queued``);
- terminal: ``completed`` (answered, or a status that is not recalled), ``exhausted``
  (recall_times used up or limit_recall_duration passed), ``skipped`` (do-not-call),
  ``invalid`` (no callable number, or a script that cannot be said), ``removed`` (its
  campaign was deleted).

Self-transitions of ``queued`` and ``recall`` record a new ``ready_at`` (held back by the
per-number cap) so that a replay of the changes sees it too.

Invariants: a lead in ``dialing`` has at least one live leg; a lead in ``queued`` or
``recall`` has exactly one current entry in its campaign's queue (the entry carrying its
``token``); attempts (rounds over the lead's numbers) never exceed recall_times + 1; a
terminal lead never dials again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from engine.errors import InvalidTransition
from engine.model import CallStatus, LeadInput
from engine.phone import PhoneNumber


class LeadState(StrEnum):
    NEW = "new"
    QUEUED = "queued"
    DIALING = "dialing"
    RECALL = "recall"
    COMPLETED = "completed"
    EXHAUSTED = "exhausted"
    SKIPPED = "skipped"
    INVALID = "invalid"
    REMOVED = "removed"


TERMINAL = frozenset(
    {LeadState.COMPLETED, LeadState.EXHAUSTED, LeadState.SKIPPED, LeadState.INVALID,
     LeadState.REMOVED}
)

_S = LeadState
TRANSITIONS: Mapping[LeadState, frozenset[LeadState]] = MappingProxyType(
    {
        _S.NEW: frozenset({_S.QUEUED, _S.SKIPPED, _S.INVALID}),
        _S.QUEUED: frozenset({_S.QUEUED, _S.DIALING, _S.SKIPPED, _S.REMOVED}),
        # DIALING → SKIPPED: the customer was put on do-not-call during the call, so the
        # round ends without a recall.
        _S.DIALING: frozenset({_S.RECALL, _S.COMPLETED, _S.EXHAUSTED, _S.SKIPPED}),
        # RECALL → COMPLETED/EXHAUSTED/SKIPPED: also a serial round that ends at dial time
        # because its remaining numbers are on the do-not-call list.
        _S.RECALL: frozenset(
            {_S.RECALL, _S.DIALING, _S.REMOVED, _S.COMPLETED, _S.EXHAUSTED, _S.SKIPPED}
        ),
        _S.COMPLETED: frozenset(),
        _S.EXHAUSTED: frozenset(),
        _S.SKIPPED: frozenset(),
        _S.INVALID: frozenset(),
        _S.REMOVED: frozenset(),
    }
)


@dataclass(slots=True)
class Leg:
    """One call leg of a lead's attempt: one number, one origination_uuid."""

    call_uuid: str
    lead_uuid: str
    campaign_uuid: str
    phone: PhoneNumber
    index: int  # position of ``phone`` in the lead's numbers
    node: str
    attempt: int
    originated_at: float
    answered: bool = False
    cancelled: bool = False
    orphaned: bool = False  # its campaign was deleted while it was up: no recall after it
    digits: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Lead:
    """Mutable engine record of one lead; only ``transition`` changes ``state``."""

    input: LeadInput
    phones: tuple[PhoneNumber, ...]
    seq: int
    state: LeadState = LeadState.NEW
    reason: str = ""
    attempts: int = 0  # rounds started
    calls: int = 0  # call legs originated, over all rounds
    phone_index: int = 0  # serial mode: the number this round dials (or dialed last)
    ready_at: float = 0.0
    first_attempt_at: float = 0.0
    last_call_time: float = 0.0
    last_status: CallStatus | None = None
    round_open: bool = False  # an attempt started and not yet decided
    round_statuses: list[CallStatus] = field(default_factory=list)
    round_billsec: int = 0  # talk time of the round's answered leg (min_recall_duration)
    live: set[str] = field(default_factory=set)
    answered_leg: str = ""
    token: int = 0  # identifies the lead's current queue entry; older entries are stale

    @property
    def uuid(self) -> str:
        return self.input.lead_uuid

    @property
    def campaign_uuid(self) -> str:
        return self.input.campaign_uuid


@dataclass(frozen=True, slots=True)
class LeadSnapshot:
    """Everything needed to rebuild a lead's dialing state (the durable changelog).

    ``live`` lists the call legs of an open round as (call_uuid, phone_index, node,
    originated_at): after a restart they are reconciled with the switch, and each of them
    counts as an attempt made.
    """

    lead_uuid: str
    campaign_uuid: str
    state: LeadState
    reason: str
    at: float
    attempts: int
    calls: int
    phone_index: int
    ready_at: float
    first_attempt_at: float
    last_call_time: float
    round_open: bool
    round_statuses: tuple[CallStatus, ...]
    round_billsec: int
    live: tuple[tuple[str, int, str, float], ...] = ()
    seq: int = 0  # import order within the engine: a restore keeps each queue's order


def transition(lead: Lead, new: LeadState, reason: str = "") -> LeadState:
    """The single place a lead changes state; returns the previous state."""
    old = lead.state
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"lead {lead.uuid}: {old} -> {new} ({reason})")
    lead.state = new
    lead.reason = reason
    return old


def snapshot(lead: Lead, legs: Mapping[str, Leg], at: float) -> LeadSnapshot:
    return LeadSnapshot(
        lead_uuid=lead.uuid,
        campaign_uuid=lead.campaign_uuid,
        state=lead.state,
        reason=lead.reason,
        at=at,
        attempts=lead.attempts,
        calls=lead.calls,
        phone_index=lead.phone_index,
        ready_at=lead.ready_at,
        first_attempt_at=lead.first_attempt_at,
        last_call_time=lead.last_call_time,
        round_open=lead.round_open,
        round_statuses=tuple(lead.round_statuses),
        round_billsec=lead.round_billsec,
        live=tuple(
            (uuid, legs[uuid].index, legs[uuid].node, legs[uuid].originated_at)
            for uuid in sorted(lead.live)
            if uuid in legs
        ),
        seq=lead.seq,
    )
