"""A lead's lifecycle, as a table. Every state change goes through ``transition``.

States:
- ``queued``: imported, never dialed, waiting in its campaign's queue;
- ``dialing``: one or more call legs of an attempt are live;
- ``recall``: an attempt failed with a recallable status; due at ``ready_at``;
- terminal: ``completed`` (answered, or a status that is not recalled), ``exhausted``
  (recall_times used up or limit_recall_duration passed), ``skipped`` (do-not-call),
  ``invalid`` (no callable number), ``removed`` (its campaign was deleted).

Invariants: a lead in ``dialing`` has at least one live leg; attempts (rounds over the
lead's numbers) never exceed recall_times + 1; a terminal lead never dials again.
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
        _S.QUEUED: frozenset({_S.DIALING, _S.SKIPPED, _S.REMOVED, _S.INVALID}),
        _S.DIALING: frozenset({_S.DIALING, _S.RECALL, _S.COMPLETED, _S.EXHAUSTED}),
        _S.RECALL: frozenset({_S.DIALING, _S.REMOVED, _S.EXHAUSTED, _S.SKIPPED}),
        _S.COMPLETED: frozenset(),
        _S.EXHAUSTED: frozenset(),
        _S.SKIPPED: frozenset(),
        _S.INVALID: frozenset(),
        _S.REMOVED: frozenset(),
    }
)


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
    phone_index: int = 0  # serial mode: the number this round dials next
    ready_at: float = 0.0
    first_attempt_at: float = 0.0
    last_call_time: float = 0.0
    last_status: CallStatus | None = None
    round_statuses: list[CallStatus] = field(default_factory=list)
    live: set[str] = field(default_factory=set)
    answered_leg: str = ""

    @property
    def uuid(self) -> str:
        return self.input.lead_uuid

    @property
    def campaign_uuid(self) -> str:
        return self.input.campaign_uuid


def transition(lead: Lead, new: LeadState, reason: str = "") -> LeadState:
    """The single place a lead changes state; returns the previous state."""
    old = lead.state
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"lead {lead.uuid}: {old} -> {new} ({reason})")
    lead.state = new
    lead.reason = reason
    return old
