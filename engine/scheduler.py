"""The scheduler: the engine's state and its dialing loop (``pump``).

``Scheduler`` holds what the ``Dialer`` (engine.core) owns: campaigns, leads, live legs, the
switch pool, the do-not-call list and the per-number call log. It decides, at ``pump(now)``,
which waiting leads to dial into the free slots, under every rule at once:

- a campaign dials only when start + active, its script exists and its window is open;
- campaigns take turns (round robin, rotating start), one lead per turn, so that campaigns
  sharing a CPS-limited switch share it;
- a lead is taken from its campaign's ``WorkQueue`` (continuations, then recalls and new
  leads by priority_recall) from a carrier lane that is under its ``network`` cap;
- its plan (which numbers to ring: mode_call minus DNC numbers minus numbers at the
  per-number cap) must fit the free slots, the carrier caps and the switch pool whole,
  else the lead keeps its place: a parallel lead is never rung on a subset of what would
  fit later, and the next free slots of its campaign are kept for it;
- a lead that can never be dialed any more leaves the queue in a state change (skipped,
  exhausted), never silently.

Every lead state change goes through ``_move`` (one LeadEvent, one journal snapshot).

Isolation and one call per number (issue 11):
- a campaign whose evaluation raises (a spec no edge should have let in: a time zone the
  tz database lacks, a value out of range) is held with ``fault`` set, logged once, and
  skipped until its spec is replaced; the pump goes on for every other campaign;
- the engine never has two live calls to one number, within a campaign or across its
  campaigns: a lead whose next call would ring a number already live is parked on that
  number (out of its queue, state unchanged, ``explain``: number_busy) and put back in
  its place (same seq and ready_at) when the number's last live call ends.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, auto
from types import MappingProxyType

from engine import recall, script
from engine.caps import CallLog
from engine.lead import Lead, LeadSnapshot, LeadState, Leg, snapshot, transition
from engine.model import Campaign, CampaignStatus, ModeCall, PriorityRecall, ScheduleRecall
from engine.pacing import NodePool, SwitchNode
from engine.phone import PhoneNumber
from engine.queue import Ticket, WorkClass, WorkQueue
from engine.records import Action, LeadEvent, Originate
from engine.windows import WindowCache

log = logging.getLogger(__name__)

CALL_NAMESPACE = uuid.UUID("6f1c1f52-9a55-4c1e-8f3e-5b1d0c4a7e21")
WAITING = frozenset({LeadState.QUEUED, LeadState.RECALL})
# Reason prefixes other modules read (explain): keep them stable.
REASON_AFTER_PASS = "recall after first pass"
REASON_CAP = "per-number cap"
REASON_DNC_CUSTOMER = "dnc: customer"
REASON_DNC_PHONE = "dnc: phone"

Journal = Callable[[LeadSnapshot], None]


_NAMESPACE_BYTES = CALL_NAMESPACE.bytes


def call_uuid_for(lead_uuid: str, attempt: int, phone_index: int) -> str:
    """Deterministic origination_uuid: a replayed attempt can never dial twice.

    ``str(uuid.uuid5(CALL_NAMESPACE, name))``, written out without the UUID objects
    (tests/engine holds the two equal): SHA-1 of namespace + name, version 5, RFC 4122
    variant."""
    digest = bytearray(hashlib.sha1(
        _NAMESPACE_BYTES + f"{lead_uuid}/{attempt}/{phone_index}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def customer_key(customer_id: str) -> int:
    """A customer's key in ``CampaignRun.by_customer``: 30 bits of its hash, an int of 32
    bytes where the id as a key cost 64 and more per queued lead (the lead keeps the id
    itself in its compact input)."""
    return hash(customer_id) & 0x3FFF_FFFF


@dataclass(slots=True)
class CampaignRun:
    spec: Campaign
    queue: WorkQueue = field(default_factory=WorkQueue)
    live: dict[str, Leg] = field(default_factory=dict)
    live_by_key: Counter[str] = field(default_factory=Counter)
    never_dialed: int = 0  # leads in state queued: the "first pass" of schedule_recall after
    dnc_customers: set[str] = field(default_factory=set)
    # customer_key(customer id) → its lead's uuid, or a list of them when it has several
    # (the leads of customers whose keys collide share the list: readers check the id)
    by_customer: dict[int, str | list[str]] = field(default_factory=dict)
    window: WindowCache = field(default_factory=WindowCache)
    deleted: bool = False
    fault: str = ""  # why evaluating this campaign raised; held until its spec changes

    def dialable(self) -> bool:
        s = self.spec
        return (not self.deleted and not self.fault and s.active
                and s.status is CampaignStatus.START)

    def key_room(self, key: str) -> int | None:
        """Free legs under the ``network`` cap of ``key`` (None: no cap)."""
        cap = self.spec.network.get(key, 0)
        return None if cap <= 0 else cap - self.live_by_key[key]

    def key_open(self, key: str) -> bool:
        room = self.key_room(key)
        return room is None or room > 0


class _Step(Enum):
    DIALED = auto()  # legs originated; the campaign may take more
    NEXT = auto()  # the lead left the queue or moved within it; try the next entry
    HOLD_LANE = auto()  # a carrier cap holds the lead; its lane waits for this pump
    DONE = auto()  # the campaign can take nothing more in this pump
    HOLD_NODES = auto()  # no switch capacity now: stop this pump, wake at the next token


@dataclass(frozen=True, slots=True)
class Plan:
    indexes: tuple[int, ...] = ()  # numbers to ring now
    all_dnc: bool = False  # every remaining number is on a do-not-call list
    defer_until: float | None = None  # every remaining number is at its per-number cap


class Scheduler:
    def __init__(
        self,
        nodes: list[SwitchNode] | None = None,
        *,
        instance: str = "dialer",
        journal: Journal | None = None,
    ) -> None:
        self.instance = instance
        self.pool = NodePool(nodes or [SwitchNode("fs1")])
        self.campaigns: dict[str, CampaignRun] = {}
        self.leads: dict[str, Lead] = {}
        self.legs: dict[str, Leg] = {}
        self.dnc_phones: set[str] = set()
        self.call_log = CallLog()
        self._queues: dict[str, str] = {}  # queue_code → campaign_uuid
        self._journal = journal
        self._outbox: list[Action] = []
        self._seq = 0
        self._rr = 0
        self._wake: float | None = None
        self.live_numbers: Counter[str] = Counter()  # national number → live legs (≤ 1)
        self._parked: dict[str, list[tuple[str, WorkClass]]] = {}  # number → (lead, work)
        self.parked_on: dict[str, str] = {}  # lead_uuid → the live number it waits for

    def set_journal(self, journal: Journal | None) -> None:
        self._journal = journal

    # ---- outputs -------------------------------------------------------------------
    def drain(self) -> list[Action]:
        out, self._outbox = self._outbox, []
        return out

    def next_wakeup(self) -> float | None:
        return self._wake

    def dnc_phone(self, spec: Campaign, phone: PhoneNumber) -> bool:
        """Is this number on the global do-not-call list, for this campaign's policy?"""
        return spec.policy.respect_national_dnc and phone.national in self.dnc_phones

    def _finish_round(self, run: CampaignRun, lead: Lead, now: float, *, may_recall: bool) -> None:
        spec = run.spec
        result = recall.decide(spec, lead.round_statuses, lead.round_billsec)
        lead.round_open = False
        lead.round_statuses = []
        lead.round_billsec = 0
        lead.answered_leg = ""
        lead.phone_index = 0
        outcome = str(result.outcome)
        if result.too_short:
            outcome += " (shorter than min_recall_duration)"
        if not result.recall or not may_recall:
            self._move(lead, LeadState.COMPLETED, f"done: {outcome}", now)
        elif lead.input.customer_id and lead.input.customer_id in run.dnc_customers:
            self._move(lead, LeadState.SKIPPED, REASON_DNC_CUSTOMER, now)
        elif lead.attempts >= spec.recall_times + 1:
            self._move(lead, LeadState.EXHAUSTED, f"recall_times reached after {outcome}", now)
        else:
            ready_at = now + 60.0 * spec.schedule_recall_duration
            if self._past_recall_limit(spec, lead, ready_at):
                self._move(lead, LeadState.EXHAUSTED, "limit_recall_duration passed", now)
            elif spec.schedule_recall is ScheduleRecall.AFTER:
                self._push(run, lead, WorkClass.AFTER_PASS, ready_at)
                self._move(lead, LeadState.RECALL, f"{REASON_AFTER_PASS}: {outcome}", now)
            else:
                self._push(run, lead, WorkClass.RECALL, ready_at)
                self._move(lead, LeadState.RECALL, f"recall: {outcome}", now)

    @staticmethod
    def _past_recall_limit(spec: Campaign, lead: Lead, at: float) -> bool:
        """limit_recall_duration (seconds, 0 = none): a new attempt may start only while
        fewer seconds than that have passed since the lead's first attempt."""
        limit = spec.limit_recall_duration
        return limit > 0 and lead.attempts > 0 and at - lead.first_attempt_at >= limit

    # ---- the pump ------------------------------------------------------------------
    def pump(self, now: float) -> None:
        """Originate into every free slot the rules allow; compute the next wake-up."""
        wake: list[float] = []
        ready: list[CampaignRun] = []
        for run in self.campaigns.values():
            if not run.queue or not run.dialable() or script.missing(run.spec):
                continue
            try:
                window = run.window.state(run.spec, now)
            except Exception as err:  # noqa: BLE001 - a campaign boundary: hold it alone
                self.hold_campaign(run, err)
                continue
            if window.open:
                ready.append(run)
            elif window.until is not None:
                wake.append(window.until)
        if ready:
            self._fill(ready, now, wake)
            for run in ready:
                if run.fault:
                    continue
                due = run.queue.next_due(now, run.never_dialed == 0)
                if due is not None:
                    wake.append(due)
        self._wake = min(wake) if wake else None

    def _fill(self, ready: list[CampaignRun], now: float, wake: list[float]) -> None:
        """Round robin over the campaigns, one lead each per turn, so that campaigns
        sharing the switch's calls-per-second share it fairly; the starting campaign
        rotates from one pump to the next."""
        k = self._rr % len(ready)
        self._rr += 1
        active = ready[k:] + ready[:k]
        blocked: dict[str, set[str]] = {run.spec.campaign_uuid: set() for run in active}
        while active:
            still: list[CampaignRun] = []
            for run in active:
                try:
                    step = self._next_call(run, now, blocked[run.spec.campaign_uuid])
                except Exception as err:  # noqa: BLE001 - a campaign boundary: hold it alone
                    self.hold_campaign(run, err)
                    continue
                if step is _Step.HOLD_NODES:
                    token_at = self.pool.next_token_at(now)
                    if token_at is not None:
                        wake.append(token_at)
                    return
                if step is _Step.DIALED:
                    still.append(run)
            active = still

    def hold_campaign(self, run: CampaignRun, err: Exception) -> None:
        """Stop dialing this campaign only; logged once (it is skipped from now on)."""
        run.fault = f"{type(err).__name__}: {str(err)[:200]}"
        log.error("campaign %s held: %s", run.spec.campaign_uuid, run.fault, exc_info=err)

    def _next_call(self, run: CampaignRun, now: float, blocked: set[str]) -> _Step:
        spec = run.spec

        def key_open(key: str) -> bool:
            return key not in blocked and run.key_open(key)

        while len(run.live) < spec.concurrent_call:
            ticket = run.queue.pop(
                now,
                recall_first=spec.priority_recall is PriorityRecall.RECALL,
                first_pass_done=run.never_dialed == 0,
                key_open=key_open,
            )
            if ticket is None:
                return _Step.DONE
            lead = self.leads.get(ticket.lead_uuid)
            if lead is None or lead.token != ticket.token or lead.state not in WAITING:
                continue  # stale entry (skipped by DNC, removed, moved to another lane)
            step = self._try(run, lead, ticket, now)
            if step is _Step.HOLD_LANE:
                blocked.add(ticket.key)
            elif step is not _Step.NEXT:
                return step
        return _Step.DONE

    def _try(self, run: CampaignRun, lead: Lead, ticket: Ticket, now: float) -> _Step:
        spec = run.spec
        if lead.round_open:
            if lead.attempts > spec.recall_times + 1:
                # recall_times was lowered during this round: its next number would be a
                # call beyond the new limit, so the round ends here.
                self._finish_round(run, lead, now, may_recall=True)
                return _Step.NEXT
        else:
            if lead.attempts >= spec.recall_times + 1:  # recall_times lowered meanwhile
                self._move(lead, LeadState.EXHAUSTED, "recall_times reached", now)
                return _Step.NEXT
            if self._past_recall_limit(spec, lead, now):
                self._move(lead, LeadState.EXHAUSTED, "limit_recall_duration passed", now)
                return _Step.NEXT
        plan = self.plan(run, lead, now)
        if plan.all_dnc:
            if lead.round_open:  # serial: the numbers left in this round are all DNC
                self._finish_round(run, lead, now, may_recall=True)
            else:
                self._move(lead, LeadState.SKIPPED, REASON_DNC_PHONE, now)
            return _Step.NEXT
        if plan.defer_until is not None:
            self._push(run, lead, WorkClass.RECALL, plan.defer_until)
            self._move(lead, lead.state, f"{REASON_CAP} reached: every number called "
                       f"{spec.policy.max_calls_per_number_per_day} time(s) in 24 h", now)
            return _Step.NEXT
        busy = next((lead.phones[i].national for i in plan.indexes
                     if self.live_numbers[lead.phones[i].national]), None)
        if busy is not None:
            self._park(lead, busy, ticket.work)
            return _Step.NEXT
        keys = Counter(lead.phones[i].network_key for i in plan.indexes)
        first_key = lead.phones[plan.indexes[0]].network_key
        if first_key != ticket.key:  # DNC or the cap moved the lead to another carrier
            lead.token += 1
            ready_at, seq, _, lead_uuid = ticket.entry
            run.queue.push(first_key, ticket.work, ready_at, seq, lead.token, lead_uuid)
            return _Step.NEXT
        for key, count in keys.items():
            room = run.key_room(key)
            if room is not None and room < count:
                run.queue.unpop(ticket)
                return _Step.HOLD_LANE
        if len(plan.indexes) > spec.concurrent_call - len(run.live):
            # parallel: the lead keeps its place and the next free slots are kept for it
            run.queue.unpop(ticket)
            return _Step.DONE
        if self.pool.available(now) < len(plan.indexes):
            run.queue.unpop(ticket)
            return _Step.HOLD_NODES
        self._dial(run, lead, plan.indexes, now)
        return _Step.DIALED

    def candidates(self, spec: Campaign, lead: Lead) -> range:
        """The numbers this round may still ring, in order (mode_call).

        An open round waiting to go on (serial's next number) continues after the number
        it dialed last, whatever mode_call says now: a mode changed mid-round must never
        ring a number of the round twice (its origination_uuid is taken).
        """
        if lead.round_open:
            return range(lead.phone_index, len(lead.phones))
        if spec.mode_call is ModeCall.DIRECT:
            return range(1)
        return range(len(lead.phones))

    def plan(self, run: CampaignRun, lead: Lead, now: float) -> Plan:
        """Which numbers to ring now; reads the state, changes nothing."""
        spec = run.spec
        callable_ = [
            i for i in self.candidates(spec, lead) if not self.dnc_phone(spec, lead.phones[i])
        ]
        if not callable_:
            return Plan(all_dnc=True)
        cap = spec.policy.max_calls_per_number_per_day
        if cap > 0:
            released = {i: self.call_log.released_at(lead.phones[i].national, cap, now)
                        for i in callable_}
            free = [i for i in callable_ if released[i] <= now]
            if not free:
                return Plan(defer_until=min(released.values()))
            callable_ = free
        if spec.mode_call is not ModeCall.PARALLEL:
            return Plan((callable_[0],))
        # parallel: ring every callable number at once, but never more legs than
        # concurrent_call, a carrier's cap or the switch pool's burst could ever allow,
        # else the lead would wait forever; the numbers left out are not rung this round.
        limit = max(1, min(spec.concurrent_call, self.pool.max_burst()))
        per_key: Counter[str] = Counter()
        chosen: list[int] = []
        for i in callable_:
            key = lead.phones[i].network_key
            key_cap = spec.network.get(key, 0)
            if key_cap > 0 and per_key[key] >= key_cap:
                continue
            per_key[key] += 1
            chosen.append(i)
            if len(chosen) >= limit:
                break
        return Plan(tuple(chosen))

    def _dial(self, run: CampaignRun, lead: Lead, indexes: Iterable[int], now: float) -> None:
        spec = run.spec
        if not lead.round_open:
            lead.attempts += 1
            lead.round_open = True
            if lead.attempts == 1:
                lead.first_attempt_at = now
        legs: list[Leg] = []
        for index in indexes:
            node = self.pool.pick(now)
            if node is None:  # cannot happen: the caller checked pool.available
                break
            phone = lead.phones[index]
            call_uuid = call_uuid_for(lead.uuid, lead.attempts, index)
            leg = Leg(call_uuid, lead.uuid, spec.campaign_uuid, phone, index, node.name,
                      lead.attempts, now)
            self.pool.take(node, now)
            self.legs[call_uuid] = leg
            run.live[call_uuid] = leg
            run.live_by_key[phone.network_key] += 1
            lead.live.add(call_uuid)
            lead.calls += 1
            lead.last_call_time = now
            lead.phone_index = index
            self.call_log.record(phone.national, now)
            self.live_numbers[phone.national] += 1
            legs.append(leg)
        # The attempt is journalled before any Originate leaves: after a crash it counts.
        self._move(lead, LeadState.DIALING, f"attempt {lead.attempts}", now)
        variables = MappingProxyType(
            script.variables(self.instance, spec, lead.uuid, lead.attempts, lead.input.params)
        )
        for leg in legs:
            self._outbox.append(
                Originate(
                    call_uuid=leg.call_uuid,
                    node=leg.node,
                    campaign_uuid=spec.campaign_uuid,
                    lead_uuid=lead.uuid,
                    destination=leg.phone.national,
                    caller_id=spec.caller_id,
                    timeout_s=spec.call_timeout,
                    variables=variables,
                )
            )

    # ---- one live call per number ------------------------------------------------
    def _park(self, lead: Lead, number: str, work: WorkClass) -> None:
        lead.token += 1  # its popped ticket was its only entry: now stale
        self._parked.setdefault(number, []).append((lead.uuid, work))
        self.parked_on[lead.uuid] = number

    def number_ended(self, number: str) -> None:
        """A live leg to ``number`` ended: when it was the last, the leads parked on it
        go back to their queues in their old places."""
        self.live_numbers[number] -= 1
        if self.live_numbers[number] > 0:
            return
        del self.live_numbers[number]
        for lead_uuid, work in self._parked.pop(number, ()):
            if self.parked_on.get(lead_uuid) != number:
                continue
            del self.parked_on[lead_uuid]
            lead = self.leads.get(lead_uuid)
            run = self.campaigns.get(lead.campaign_uuid) if lead is not None else None
            if lead is None or run is None or run.deleted or lead.state not in WAITING:
                continue
            self._push(run, lead, work, lead.ready_at)

    def unpark_campaign(self, campaign_uuid: str) -> list[str]:
        """Forget the parked leads of a campaign being deleted; returns them."""
        out = [u for u in self.parked_on
               if (lead := self.leads.get(u)) is not None and lead.campaign_uuid == campaign_uuid]
        for u in out:
            del self.parked_on[u]
        return out

    # ---- helpers -------------------------------------------------------------------
    def _push(self, run: CampaignRun, lead: Lead, work: WorkClass, ready_at: float) -> None:
        """Give the lead a new queue entry; any older entry of it becomes stale. Tokens
        count per lead (an entry is only ever compared with its own lead's token), so they
        stay small ints that cost a lead nothing."""
        lead.token += 1
        lead.ready_at = ready_at
        run.queue.push(self.lane_key(run.spec, lead), work, ready_at, lead.seq, lead.token,
                       lead.uuid)

    def lane_key(self, spec: Campaign, lead: Lead) -> str:
        """The carrier lane a waiting lead queues in: its next number's network key."""
        for i in self.candidates(spec, lead):
            if not self.dnc_phone(spec, lead.phones[i]):
                return lead.phones[i].network_key
        return lead.phones[0].network_key if lead.phones else "offnet"

    def _move(self, lead: Lead, new: LeadState, reason: str, now: float) -> None:
        """Every lead state change passes here: one place to persist and to publish."""
        old = transition(lead, new, reason)
        if old is not new and LeadState.QUEUED in (old, new):
            run = self.campaigns.get(lead.campaign_uuid)
            if run is not None:
                run.never_dialed += 1 if new is LeadState.QUEUED else -1
        self._outbox.append(
            LeadEvent(
                lead_uuid=lead.uuid,
                campaign_uuid=lead.campaign_uuid,
                state=str(new),
                previous=str(old),
                reason=reason,
                at=now,
                attempts=lead.attempts,
                calls=lead.calls,
                ready_at=lead.ready_at if new in WAITING else 0.0,
            )
        )
        if self._journal is not None:
            self._journal(snapshot(lead, self.legs, now))

