"""The dialing core: pure, event-driven, driven by an injected ``now``.

The ``Dialer`` owns every campaign given to it and enforces its rules alone. Inputs are
method calls (a command, a lead, a call event); outputs are actions appended to an outbox
that the caller drains (originate, hang up, publish a CDR or a lead event). ``pump(now)``
fills free slots at once, so a hangup is followed by the next origination in the same
step: there is no polling loop. ``next_wakeup()`` says when time alone will change
something (a window opens, a recall falls due, a CPS token refills).

Invariants (tests check them after every step):
- live legs of a campaign ≤ concurrent_call; live legs of a network key ≤ its cap (0 = none);
- a lead's attempts ≤ recall_times + 1; no leg of a terminal lead is ever originated;
- nothing is originated while the campaign is not start+active or its window is closed;
- every originated leg yields exactly one CDR (a second end event for a leg is ignored).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from engine import vnread, windows
from engine.disposition import status_of
from engine.errors import CampaignConflict, UnknownCampaign
from engine.lead import TERMINAL, Lead, LeadState, transition
from engine.model import (
    CallResult,
    CallStatus,
    Campaign,
    CampaignStatus,
    LeadInput,
    ModeCall,
    PriorityRecall,
    ScheduleRecall,
    TypeAutocall,
)
from engine.pacing import NodePool, SwitchNode
from engine.phone import InvalidPhone, PhoneNumber, normalize
from engine.queue import WorkClass, WorkQueue
from engine.records import Action, Cdr, Explanation, Hangup, LeadEvent, Originate

CALL_NAMESPACE = uuid.UUID("6f1c1f52-9a55-4c1e-8f3e-5b1d0c4a7e21")
ANSWERED_STATUSES = frozenset({CallStatus.ANSWERED, CallStatus.VOICEMAIL})


def call_uuid_for(lead_uuid: str, attempt: int, phone_index: int) -> str:
    """Deterministic origination_uuid: a replayed attempt can never dial twice."""
    return str(uuid.uuid5(CALL_NAMESPACE, f"{lead_uuid}/{attempt}/{phone_index}"))


@dataclass(slots=True)
class Leg:
    call_uuid: str
    lead_uuid: str
    campaign_uuid: str
    phone: PhoneNumber
    node: str
    attempt: int
    originated_at: float
    answered: bool = False
    cancelled: bool = False
    digits: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CampaignRun:
    spec: Campaign
    queue: WorkQueue = field(default_factory=WorkQueue)
    live: dict[str, Leg] = field(default_factory=dict)
    live_by_key: Counter[str] = field(default_factory=Counter)
    never_dialed: int = 0
    dnc_customers: set[str] = field(default_factory=set)
    deleted: bool = False

    def dialable(self) -> bool:
        s = self.spec
        return not self.deleted and s.active and s.status is CampaignStatus.START

    def key_open(self, key: str) -> bool:
        cap = self.spec.network.get(key, 0)
        return cap <= 0 or self.live_by_key[key] < cap


class Dialer:
    def __init__(self, nodes: list[SwitchNode] | None = None, *, instance: str = "dialer") -> None:
        self.instance = instance
        self.pool = NodePool(nodes or [SwitchNode("fs1")])
        self.campaigns: dict[str, CampaignRun] = {}
        self.leads: dict[str, Lead] = {}
        self.legs: dict[str, Leg] = {}
        self.dnc_phones: set[str] = set()
        self._daily: Counter[tuple[str, str]] = Counter()
        self._outbox: list[Action] = []
        self._seq = 0
        self._wake: float | None = None

    # ---- outputs -------------------------------------------------------------------
    def drain(self) -> list[Action]:
        out, self._outbox = self._outbox, []
        return out

    def next_wakeup(self) -> float | None:
        return self._wake

    # ---- campaigns -----------------------------------------------------------------
    def upsert_campaign(self, spec: Campaign) -> None:
        run = self.campaigns.get(spec.campaign_uuid)
        if run is None or run.deleted:
            self.campaigns[spec.campaign_uuid] = CampaignRun(spec)
        else:
            run.spec = spec

    def campaign(self, campaign_uuid: str) -> CampaignRun:
        run = self.campaigns.get(campaign_uuid)
        if run is None or run.deleted:
            raise UnknownCampaign(campaign_uuid)
        return run

    def set_status(self, campaign_uuid: str, status: CampaignStatus) -> None:
        """start / pause / stop. Pause and stop keep the queue; live calls finish."""
        run = self.campaign(campaign_uuid)
        run.spec = replace(run.spec, status=status)

    def set_active(self, campaign_uuid: str, active: bool) -> None:
        run = self.campaign(campaign_uuid)
        run.spec = replace(run.spec, active=active)

    def delete_campaign(self, campaign_uuid: str, now: float) -> None:
        """Only an inactive campaign may be deleted; its waiting leads are removed."""
        run = self.campaign(campaign_uuid)
        if run.spec.active:
            raise CampaignConflict("campaign must be deactive")
        run.deleted = True
        for lead_uuid in run.queue.drain():
            lead = self.leads.get(lead_uuid)
            if lead is not None and lead.state in (LeadState.QUEUED, LeadState.RECALL):
                self._move(lead, LeadState.REMOVED, "campaign deleted", now)
        if not run.live:
            del self.campaigns[campaign_uuid]

    # ---- leads ---------------------------------------------------------------------
    def add_lead(self, lead_in: LeadInput, now: float) -> Lead:
        """Queue a lead. Re-importing a known lead_uuid is a no-op (redelivery safe)."""
        known = self.leads.get(lead_in.lead_uuid)
        if known is not None:
            return known
        run = self.campaign(lead_in.campaign_uuid)
        self._seq += 1
        checked = [normalize(raw) for raw in lead_in.phones]
        phones = tuple(p for p in checked if isinstance(p, PhoneNumber))
        lead = Lead(input=lead_in, phones=phones, seq=self._seq, ready_at=now)
        self.leads[lead.uuid] = lead
        script_error = self._script_error(run.spec, lead_in)
        if script_error:
            self._move(lead, LeadState.INVALID, script_error, now)
        elif not phones:
            why = ", ".join(sorted({str(p.reason) for p in checked if isinstance(p, InvalidPhone)}))
            self._move(lead, LeadState.INVALID, f"invalid phone: {why}", now)
        elif lead_in.customer_id and lead_in.customer_id in run.dnc_customers:
            self._move(lead, LeadState.SKIPPED, "dnc: customer", now)
        else:
            self._move(lead, LeadState.QUEUED, "imported", now)
            run.never_dialed += 1
            run.queue.push(self._lane_key(lead), WorkClass.NEW, now, lead.seq, lead.uuid)
        return lead

    def add_dnc_customers(self, campaign_uuid: str, customer_ids: list[str], now: float) -> None:
        """Seed 002: customers not dialed yet are skipped; dialed or live ones are left."""
        run = self.campaign(campaign_uuid)
        run.dnc_customers.update(customer_ids)
        wanted = set(customer_ids)
        for lead in self.leads.values():
            if (
                lead.campaign_uuid == campaign_uuid
                and lead.state is LeadState.QUEUED
                and lead.input.customer_id in wanted
            ):
                self._leave_queue(run, lead)
                self._move(lead, LeadState.SKIPPED, "dnc: customer", now)

    def remove_dnc_customers(self, campaign_uuid: str, customer_ids: list[str]) -> None:
        self.campaign(campaign_uuid).dnc_customers.difference_update(customer_ids)

    def add_dnc_phones(self, phones: list[str]) -> None:
        """Global DNC by number: checked at dial time, so it binds every queued lead."""
        for raw in phones:
            p = normalize(raw)
            if isinstance(p, PhoneNumber):
                self.dnc_phones.add(p.national)

    def remove_dnc_phones(self, phones: list[str]) -> None:
        for raw in phones:
            p = normalize(raw)
            if isinstance(p, PhoneNumber):
                self.dnc_phones.discard(p.national)

    # ---- call events ---------------------------------------------------------------
    def call_answered(self, call_uuid: str, now: float) -> None:
        leg = self.legs.get(call_uuid)
        if leg is None or leg.answered:
            return
        leg.answered = True
        lead = self.leads[leg.lead_uuid]
        if not lead.answered_leg:
            lead.answered_leg = call_uuid
            # mode_call parallel: the first answer wins, the other legs are cancelled.
            for other in sorted(lead.live - {call_uuid}):
                self.legs[other].cancelled = True
                self._outbox.append(Hangup(other, "LOSE_RACE"))

    def call_dtmf(self, call_uuid: str, digit: str) -> None:
        leg = self.legs.get(call_uuid)
        if leg is not None and len(leg.digits) < 64:
            leg.digits.append(digit[:1])

    def call_ended(self, result: CallResult, now: float) -> None:
        leg = self.legs.pop(result.call_uuid, None)
        if leg is None:
            return  # unknown or already ended: exactly one CDR per leg
        self.pool.release(leg.node)
        run = self.campaigns.get(leg.campaign_uuid)
        lead = self.leads[leg.lead_uuid]
        lead.live.discard(leg.call_uuid)
        status = CallStatus.CANCEL if leg.cancelled else status_of(result)
        if run is not None:
            run.live.pop(leg.call_uuid, None)
            run.live_by_key[leg.phone.network_key] -= 1
            self._outbox.append(self._cdr(run.spec, lead, leg, result, status))
        lead.last_status = status
        lead.round_statuses.append(status)
        if run is None or lead.live:
            return
        if run.deleted:
            if not run.live:
                del self.campaigns[run.spec.campaign_uuid]
            self._finish_round(run, lead, result, now, may_recall=False)
            return
        serial_next = (
            run.spec.mode_call is ModeCall.SERIAL
            and status not in ANSWERED_STATUSES
            and lead.phone_index + 1 < len(lead.phones)
        )
        if serial_next:
            lead.phone_index += 1
            self._move(lead, LeadState.RECALL, "serial: next number", now)
            run.queue.push(self._lane_key(lead), WorkClass.CONTINUATION, now, lead.seq, lead.uuid)
        else:
            self._finish_round(run, lead, result, now, may_recall=True)

    def _finish_round(
        self, run: CampaignRun, lead: Lead, result: CallResult, now: float, *, may_recall: bool
    ) -> None:
        spec = run.spec
        statuses = lead.round_statuses
        answered = any(s in ANSWERED_STATUSES for s in statuses)
        outcome = next((s for s in statuses if s in ANSWERED_STATUSES), None) or next(
            (s for s in statuses if s is not CallStatus.CANCEL), statuses[-1]
        )
        lead.round_statuses = []
        lead.answered_leg = ""
        lead.phone_index = 0
        too_short = (
            answered and spec.min_recall_duration > 0 and result.billsec < spec.min_recall_duration
        )
        wants_recall = outcome in spec.recall_status or too_short
        if not wants_recall or not may_recall:
            reason = f"done: {outcome}"
            self._move(lead, LeadState.COMPLETED, reason, now)
            return
        if lead.attempts >= spec.recall_times + 1:
            self._move(lead, LeadState.EXHAUSTED, f"recall_times reached after {outcome}", now)
            return
        if spec.limit_recall_duration > 0 and now - lead.first_attempt_at >= (
            spec.limit_recall_duration
        ):
            self._move(lead, LeadState.EXHAUSTED, "limit_recall_duration passed", now)
            return
        key = self._lane_key(lead)
        if spec.schedule_recall is ScheduleRecall.AFTER:
            lead.ready_at = now
            self._move(lead, LeadState.RECALL, f"recall after first pass: {outcome}", now)
            run.queue.push(key, WorkClass.AFTER_PASS, now, lead.seq, lead.uuid)
        else:
            lead.ready_at = now + 60.0 * spec.schedule_recall_duration
            self._move(lead, LeadState.RECALL, f"recall: {outcome}", now)
            run.queue.push(key, WorkClass.RECALL, lead.ready_at, lead.seq, lead.uuid)

    # ---- the pump ------------------------------------------------------------------
    def pump(self, now: float) -> None:
        """Originate into every free slot the rules allow; compute the next wake-up."""
        wake: list[float] = []
        for run in list(self.campaigns.values()):
            if not run.dialable():
                continue
            if not windows.is_open(run.spec, now):
                opening = windows.next_open(run.spec, now)
                if opening is not None and len(run.queue):
                    wake.append(opening)
                continue
            self._fill(run, now, wake)
            due = run.queue.next_due(now)
            if due is not None:
                wake.append(due)
        self._wake = min(wake) if wake else None

    def _fill(self, run: CampaignRun, now: float, wake: list[float]) -> None:
        spec = run.spec
        while len(run.live) < spec.concurrent_call:
            node = self.pool.pick(now)
            if node is None:
                token_at = self.pool.next_token_at(now)
                if token_at is not None:
                    wake.append(token_at)
                return
            lead_uuid = run.queue.pop(
                now,
                recall_first=spec.priority_recall is PriorityRecall.RECALL,
                first_pass_done=run.never_dialed == 0,
                key_open=run.key_open,
            )
            if lead_uuid is None:
                return
            lead = self.leads.get(lead_uuid)
            if lead is None or lead.state not in (LeadState.QUEUED, LeadState.RECALL):
                continue  # stale entry (skipped by DNC, removed)
            self._dial(run, lead, node, now)

    def _dial(self, run: CampaignRun, lead: Lead, node: SwitchNode, now: float) -> None:
        spec = run.spec
        continuing = lead.state is LeadState.RECALL and lead.phone_index > 0
        if spec.mode_call is ModeCall.PARALLEL:
            indexes = list(range(len(lead.phones)))
        elif spec.mode_call is ModeCall.SERIAL:
            indexes = [lead.phone_index]
        else:
            indexes = [0]
        indexes = [i for i in indexes if lead.phones[i].national not in self.dnc_phones]
        if not indexes:
            self._leave_queue(run, lead)
            self._move(lead, LeadState.SKIPPED, "dnc: phone", now)
            return
        day = windows.local_day(spec.time_zone, now)
        cap = spec.policy.max_calls_per_number_per_day
        if cap > 0:
            indexes = [i for i in indexes if self._daily[(lead.phones[i].national, day)] < cap]
            if not indexes:
                self._defer_to_tomorrow(run, lead, now)
                return
        free = spec.concurrent_call - len(run.live)
        indexes = indexes[:free]
        if not continuing:
            lead.attempts += 1
            if lead.attempts == 1:
                lead.first_attempt_at = now
        if lead.state is LeadState.QUEUED:
            run.never_dialed -= 1
        self._move(lead, LeadState.DIALING, f"attempt {lead.attempts}", now)
        for n, index in enumerate(indexes):
            if n > 0:
                picked = self.pool.pick(now)
                if picked is None:
                    break
                node = picked
            self._originate(run, lead, index, node, now, day)

    def _originate(
        self, run: CampaignRun, lead: Lead, index: int, node: SwitchNode, now: float, day: str
    ) -> None:
        spec = run.spec
        phone = lead.phones[index]
        call_uuid = call_uuid_for(lead.uuid, lead.attempts, index)
        leg = Leg(call_uuid, lead.uuid, spec.campaign_uuid, phone, node.name, lead.attempts, now)
        self.pool.take(node)
        self.legs[call_uuid] = leg
        run.live[call_uuid] = leg
        run.live_by_key[phone.network_key] += 1
        lead.live.add(call_uuid)
        lead.calls += 1
        lead.last_call_time = now
        self._daily[(phone.national, day)] += 1
        self._outbox.append(
            Originate(
                call_uuid=call_uuid,
                node=node.name,
                campaign_uuid=spec.campaign_uuid,
                lead_uuid=lead.uuid,
                destination=phone.national,
                caller_id=spec.caller_id,
                timeout_s=spec.call_timeout,
                variables=MappingProxyType(self._script(spec, lead, leg)),
            )
        )

    def _script(self, spec: Campaign, lead: Lead, leg: Leg) -> dict[str, str]:
        """What is said on the call, as channel variables (the adapter escapes them)."""
        out = {
            "autocall_engine": self.instance,
            "autocall_campaign": spec.campaign_uuid,
            "autocall_lead": lead.uuid,
            "autocall_attempt": str(leg.attempt),
            "autocall_type": str(spec.type_autocall),
        }
        params = lead.input.params
        if spec.type_autocall is TypeAutocall.AUDIO:
            out["autocall_audio_file"] = spec.audio_file
        elif spec.type_autocall is TypeAutocall.VOICE_OTP:
            code = params.get("otp") or params.get("code") or ""
            out["autocall_tts_text"] = vnread.read_otp(str(code))
        else:
            out["autocall_tts_text"] = vnread.render_template(spec.template_text, params)
        return out

    @staticmethod
    def _script_error(spec: Campaign, lead_in: LeadInput) -> str:
        """A lead the script cannot be said for is refused at import, not at dial time."""
        if spec.type_autocall is TypeAutocall.VOICE_OTP:
            code = str(lead_in.params.get("otp") or lead_in.params.get("code") or "")
            if not code.isascii() or not code.isdigit() or len(code) > 12:
                return "invalid otp: param otp (or code) must be 1-12 digits"
        return ""

    def _defer_to_tomorrow(self, run: CampaignRun, lead: Lead, now: float) -> None:
        opening = windows.next_open(run.spec, windows.next_midnight(run.spec.time_zone, now))
        lead.ready_at = opening if opening is not None else now + 86_400.0
        if lead.state is LeadState.QUEUED:
            run.never_dialed -= 1
            self._move(lead, LeadState.RECALL, "daily cap per number reached", now)
        else:
            lead.reason = "daily cap per number reached"
        run.queue.push(self._lane_key(lead), WorkClass.RECALL, lead.ready_at, lead.seq, lead.uuid)

    # ---- helpers -------------------------------------------------------------------
    def _leave_queue(self, run: CampaignRun, lead: Lead) -> None:
        if lead.state is LeadState.QUEUED:
            run.never_dialed -= 1

    @staticmethod
    def _lane_key(lead: Lead) -> str:
        return lead.phones[lead.phone_index].network_key if lead.phones else "offnet"

    def _move(self, lead: Lead, new: LeadState, reason: str, now: float) -> None:
        """Every lead state change passes here: one place to persist and to publish."""
        old = transition(lead, new, reason)
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
                ready_at=lead.ready_at if new is LeadState.RECALL else 0.0,
            )
        )

    def _cdr(
        self, spec: Campaign, lead: Lead, leg: Leg, result: CallResult, status: CallStatus
    ) -> Cdr:
        tz = windows.zone(spec.time_zone)

        def stamp(epoch: float) -> str:
            if epoch <= 0:
                return ""
            return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S")

        li = lead.input
        return Cdr(
            cdr_uuid=leg.call_uuid,
            campaign_uuid=spec.campaign_uuid,
            campaign_name=spec.campaign_name,
            lead_uuid=lead.uuid,
            call_id=li.call_id,
            phone_number=leg.phone.national,
            status=str(status),
            hangup_cause=result.hangup_cause,
            hangup_cause_q850=result.q850,
            billsec=result.billsec,
            duration=result.duration,
            waitsec=result.waitsec,
            called_count=lead.calls,
            attempt=leg.attempt,
            press_key=json.dumps({"keys": "".join(leg.digits)} if leg.digits else {}),
            record_name=result.record_name,
            recording_url=result.recording_url,
            start_stamp=stamp(result.start_epoch or leg.originated_at),
            answer_stamp=stamp(result.answer_epoch),
            end_stamp=stamp(result.end_epoch),
            created_at=li.created_at,
            last_call_time=datetime.fromtimestamp(leg.originated_at, tz).isoformat(
                timespec="seconds"
            ),
            customer_id=li.customer_id,
            list_uuid=li.list_uuid,
            list_name=li.list_name,
            lead_name=li.lead_name,
            lead_code=li.lead_code,
            contract_number=li.contract_number,
            amd_result=result.amd_result,
            sip_term_status=result.sip_term_status,
            additional=li.params,
        )

    # ---- introspection -------------------------------------------------------------
    def live_calls(self, campaign_uuid: str) -> int:
        run = self.campaigns.get(campaign_uuid)
        return len(run.live) if run else 0

    def explain(self, lead_uuid: str, now: float) -> Explanation | None:
        """Why is this lead not being dialed? Its state and the rule that holds it."""
        lead = self.leads.get(lead_uuid)
        if lead is None:
            return None
        run = self.campaigns.get(lead.campaign_uuid)
        rule, detail, next_try = self._hold(run, lead, now)
        return Explanation(
            lead_uuid=lead.uuid,
            campaign_uuid=lead.campaign_uuid,
            state=str(lead.state),
            rule=rule,
            detail=detail,
            attempts=lead.attempts,
            next_try_at=next_try,
        )

    def _hold(
        self, run: CampaignRun | None, lead: Lead, now: float
    ) -> tuple[str, str, float | None]:
        if lead.state in TERMINAL:
            return str(lead.state), lead.reason, None
        if lead.state is LeadState.DIALING:
            return "in_call", f"{len(lead.live)} live leg(s)", None
        if run is None or run.deleted:
            return "campaign_deleted", "", None
        spec = run.spec
        if not spec.active:
            return "campaign_inactive", "active is false", None
        if spec.status is not CampaignStatus.START:
            return f"campaign_{spec.status}", f"campaign status is {spec.status}", None
        if not windows.is_open(spec, now):
            return "window_closed", "outside the calling window", windows.next_open(spec, now)
        if lead.state is LeadState.RECALL and lead.ready_at > now:
            return "recall_not_due", lead.reason, lead.ready_at
        after_pass = lead.reason.startswith("recall after first pass")
        if lead.state is LeadState.RECALL and after_pass and run.never_dialed > 0:
            return "recall_after_first_pass", f"{run.never_dialed} new lead(s) first", None
        if len(run.live) >= spec.concurrent_call:
            return "concurrency_full", f"{len(run.live)}/{spec.concurrent_call} live", None
        key = self._lane_key(lead)
        if not run.key_open(key):
            return "carrier_cap", f"{key} at its cap {spec.network.get(key, 0)}", None
        if self.pool.pick(now) is None:
            return "switch_capacity", "no switch node can take a call now", None
        return "", "next in line", None
