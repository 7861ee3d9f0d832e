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

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import orjson

from engine.errors import InvalidTransition
from engine.model import CallStatus, LeadInput
from engine.phone import Packed, PhoneNumber, pack, remember, unpack


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


# Optional LeadInput fields, in the order they are stored in a lead's encoded input.
_OPTIONAL = ("call_id", "customer_id", "list_uuid", "list_name", "lead_name", "lead_code",
             "contract_number", "created_at")
_INT64 = 2**63


def _encodable(params: Mapping[str, object]) -> bool:
    """orjson writes these values back exactly as they came (finite floats, 64-bit ints)."""
    for value in params.values():
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            return False
    return True


class _Template:
    """A campaign's first lead, which the campaign's other leads are encoded against: a
    field (or param value) equal to the template's is stored as ``0``, so what the leads
    of one import share (param names, list, created_at, often a due date) is kept once.
    Never changed once made (a lead decodes against the template it was encoded with)."""

    __slots__ = ("keys", "optional", "params")

    def __init__(self, lead_in: LeadInput) -> None:
        self.params = dict(lead_in.params)
        self.keys = tuple(self.params)
        self.optional = tuple(getattr(lead_in, name) for name in _OPTIONAL)


# campaign_uuid → its template; one small entry per campaign this process ever saw.
_TEMPLATES: dict[str, _Template] = {}


def _same(a: object, b: object) -> bool:
    """Equal and indistinguishable once decoded (1 is not True, 0.0 is not -0.0)."""
    if type(a) is not type(b) or a != b:
        return False
    return not isinstance(a, float) or math.copysign(1.0, a) == math.copysign(1.0, b)  # type: ignore[arg-type]


def _compact_params(params: Mapping[str, object], t: _Template) -> object:
    """0: the template's params; a list: the template's names, each value ``0`` (the
    template's) or ``[value]``; a dict: other names; None: no params."""
    if not params:
        return None if t.keys else 0
    if tuple(params) != t.keys:
        return dict(params)
    values = [0 if _same(v, t.params[k]) else [v] for k, v in params.items()]
    return 0 if not any(values) else values


def _encode_input(lead_in: LeadInput, phones: tuple[PhoneNumber, ...]) -> bytes | LeadInput | None:
    """What a lead keeps of its input beyond uuid, campaign and numbers: params and the
    optional fields as one JSON array, relative to its campaign's template (``0``: the
    template's; trailing ones left out), then the raw numbers only when they are not the
    normalised ones (``0`` when they are). None when all of it is the template's.
    Anything orjson would not give back exactly is kept as the LeadInput itself."""
    if not _encodable(lead_in.params):
        return lead_in
    t = _TEMPLATES.get(lead_in.campaign_uuid)
    if t is None:
        t = _TEMPLATES[lead_in.campaign_uuid] = _Template(lead_in)
    raw = 0 if lead_in.phones == tuple(p.national for p in phones) else list(lead_in.phones)
    row: list[object] = [_compact_params(lead_in.params, t), raw]
    row.extend(0 if mine == theirs else mine
               for theirs, mine in zip(t.optional, (getattr(lead_in, n) for n in _OPTIONAL),
                                       strict=True))
    while row and row[-1] == 0 and type(row[-1]) is int:
        row.pop()
    if not row:
        return None
    try:
        # A copy at its exact size: orjson's result keeps its whole write buffer (~4 KB).
        return bytes(memoryview(orjson.dumps(row)))
    except TypeError:  # a lone surrogate in a string: keep the value as it came
        return lead_in


# The inputs of the leads touched last, by lead: a state change reads its lead's input
# again (the durable journal writes it with the snapshot), and decoding it each time was
# the largest cost of the compact form. First in, first out; bounded, so it holds at most
# _RECENT_MAX leads alive after they are gone.
_RECENT: dict[Lead, LeadInput] = {}
_RECENT_MAX = 1024


def _remember_input(lead: Lead, lead_in: LeadInput) -> None:
    if len(_RECENT) >= _RECENT_MAX:
        del _RECENT[next(iter(_RECENT))]
    _RECENT[lead] = lead_in


class _Dialed:
    """The part of a lead that exists once it has been dialed (allocated on first write):
    a never-dialed lead keeps the defaults without storing them."""

    __slots__ = ("answered_leg", "attempts", "calls", "first_attempt_at", "input",
                 "last_call_time", "last_status", "live", "phone_index", "phones",
                 "round_billsec", "round_open", "round_statuses")

    def __init__(self, phones: tuple[PhoneNumber, ...]) -> None:
        self.attempts = 0  # rounds started
        self.calls = 0  # call legs originated, over all rounds
        self.phone_index = 0  # serial mode: the number this round dials (or dialed last)
        self.first_attempt_at = 0.0
        self.last_call_time = 0.0
        self.last_status: CallStatus | None = None
        self.round_open = False  # an attempt started and not yet decided
        self.round_statuses: list[CallStatus] = []
        self.round_billsec = 0  # talk time of the round's answered leg (min_recall_duration)
        self.live: set[str] = set()
        self.answered_leg = ""
        self.phones = phones  # unpacked once, for the calls that follow
        # The decoded input while the lead is dialing (rendering, CDRs and the DNC checks
        # of call ends read it); dropped when it stops dialing.
        self.input: LeadInput | None = None


def _dialed_field(name: str, default: object) -> property:
    """A Lead attribute kept in ``_Dialed``: reads the default until the first write that
    changes it; writing the default to a never-dialed lead stores nothing."""

    def get(lead: Lead) -> object:
        d = lead._d
        return default if d is None else getattr(d, name)

    def set_(lead: Lead, value: object) -> None:
        d = lead._d
        if d is None:
            if value == default and type(value) is type(default):
                return
            d = lead._dialed()
        setattr(d, name, value)

    return property(get, set_)


class Lead:
    """Mutable engine record of one lead; only ``transition`` changes ``state``.

    Compact on purpose (a million queued leads per engine): a never-dialed lead is ten
    slots, its numbers packed as ints (``phone.pack``), its params and optional fields
    kept as the JSON they came in until the call is rendered or a report asks
    (``input`` decodes them), its campaign id the campaign's own string object, its reason
    interned, and its queue token a small per-lead counter. Everything a dial adds lives
    in ``_Dialed``, allocated at the first dial. The attributes are the same as when this
    was a dataclass: ``input``, ``phones``, ``seq``, ``state``, ``reason``, ``attempts``,
    ``calls``, ``phone_index``, ``ready_at``, ``first_attempt_at``, ``last_call_time``,
    ``last_status``, ``round_open``, ``round_statuses``, ``round_billsec``, ``live``,
    ``answered_leg``, ``token``, ``uuid``, ``campaign_uuid``.
    """

    __slots__ = ("_d", "_extra", "_phones", "campaign_uuid", "ready_at", "reason", "seq",
                 "state", "token", "uuid")

    def __init__(
        self,
        input: LeadInput,
        phones: tuple[PhoneNumber, ...],
        seq: int,
        state: LeadState = LeadState.NEW,
        reason: str = "",
        ready_at: float = 0.0,
        token: int = 0,
        campaign_uuid: str | None = None,
    ) -> None:
        self.uuid = input.lead_uuid
        # the campaign's own string when the caller has it: one object for all its leads
        self.campaign_uuid = campaign_uuid if campaign_uuid == input.campaign_uuid else (
            input.campaign_uuid)
        self._phones: Packed = pack(phones)
        remember(self._phones, phones)
        self._extra = _encode_input(input, phones)
        _remember_input(self, input)  # read again at once (journal, lead event)
        self._d: _Dialed | None = None
        self.seq = seq
        self.state = state
        self.reason = sys.intern(reason)
        self.ready_at = ready_at
        self.token = token  # identifies the lead's current queue entry; older ones are stale

    def _dialed(self) -> _Dialed:
        d = self._d
        if d is None:
            d = self._d = _Dialed(unpack(self._phones))
        return d

    @property
    def phones(self) -> tuple[PhoneNumber, ...]:
        d = self._d
        return unpack(self._phones) if d is None else d.phones

    @property
    def input(self) -> LeadInput:
        """The lead as imported (equal to the LeadInput it was made from)."""
        extra = self._extra
        if isinstance(extra, LeadInput):
            return extra
        d = self._d
        if d is not None and d.input is not None:
            return d.input
        lead_in = _RECENT.get(self)
        if lead_in is None:
            lead_in = self._decode(extra)
        if self.state is LeadState.DIALING:
            self._dialed().input = lead_in
        return lead_in

    def _decode(self, extra: bytes | None) -> LeadInput:
        t = _TEMPLATES[self.campaign_uuid]
        row = [] if extra is None else orjson.loads(extra)
        row.extend([0] * (2 + len(_OPTIONAL) - len(row)))
        compact, raw = row[0], row[1]
        if compact == 0 and type(compact) is int:
            params = dict(t.params)
        elif isinstance(compact, list):
            params = {k: t.params[k] if v == 0 and type(v) is int else v[0]
                      for k, v in zip(t.keys, compact, strict=True)}
        else:
            params = compact or {}
        phones = tuple(raw) if raw else tuple(p.national for p in self.phones)
        optional = {name: mine if type(mine) is str else theirs
                    for name, theirs, mine in zip(_OPTIONAL, t.optional, row[2:], strict=True)}
        return LeadInput(self.uuid, self.campaign_uuid, phones, MappingProxyType(params),
                         **optional)

    attempts = _dialed_field("attempts", 0)
    calls = _dialed_field("calls", 0)
    phone_index = _dialed_field("phone_index", 0)
    first_attempt_at = _dialed_field("first_attempt_at", 0.0)
    last_call_time = _dialed_field("last_call_time", 0.0)
    last_status = _dialed_field("last_status", None)
    round_open = _dialed_field("round_open", False)
    round_billsec = _dialed_field("round_billsec", 0)
    answered_leg = _dialed_field("answered_leg", "")

    @property
    def round_statuses(self) -> list[CallStatus]:
        return self._dialed().round_statuses

    @round_statuses.setter
    def round_statuses(self, value: list[CallStatus]) -> None:
        if value or self._d is not None:
            self._dialed().round_statuses = value

    @property
    def live(self) -> set[str]:
        return self._dialed().live

    @live.setter
    def live(self, value: set[str]) -> None:
        if value or self._d is not None:
            self._dialed().live = value

    def forget_input(self) -> None:
        """Drop the decoded input kept while dialing (``transition`` does); it stays in
        the small recent-inputs cache for the reads that follow the same state change."""
        d = self._d
        if d is not None and d.input is not None:
            _remember_input(self, d.input)
            d.input = None

    def __repr__(self) -> str:
        return (f"Lead(uuid={self.uuid!r}, campaign_uuid={self.campaign_uuid!r}, "
                f"state={self.state.value!r}, attempts={self.attempts}, seq={self.seq})")


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
    if old is LeadState.DIALING and new is not LeadState.DIALING:
        lead.forget_input()
    # Interned: reasons come from a small vocabulary, and a million leads share them.
    lead.reason = sys.intern(reason)
    return old


def snapshot(lead: Lead, legs: Mapping[str, Leg], at: float) -> LeadSnapshot:
    d = lead._d  # read the dial state once, not through a property per field
    if d is None:
        return LeadSnapshot(lead.uuid, lead.campaign_uuid, lead.state, lead.reason, at, 0, 0,
                            0, lead.ready_at, 0.0, 0.0, False, (), 0, (), seq=lead.seq)
    return LeadSnapshot(
        lead_uuid=lead.uuid,
        campaign_uuid=lead.campaign_uuid,
        state=lead.state,
        reason=lead.reason,
        at=at,
        attempts=d.attempts,
        calls=d.calls,
        phone_index=d.phone_index,
        ready_at=lead.ready_at,
        first_attempt_at=d.first_attempt_at,
        last_call_time=d.last_call_time,
        round_open=d.round_open,
        round_statuses=tuple(d.round_statuses),
        round_billsec=d.round_billsec,
        live=tuple(
            (uuid, legs[uuid].index, legs[uuid].node, legs[uuid].originated_at)
            for uuid in sorted(d.live)
            if uuid in legs
        ),
        seq=lead.seq,
    )
