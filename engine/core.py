"""The dialing core: pure, event-driven, driven by an injected ``now``.

The ``Dialer`` owns every campaign given to it and enforces its rules alone. Inputs are
method calls (a command, a lead, a call event); outputs are actions appended to an outbox
that the caller drains (originate, hang up, publish a CDR or a lead event). ``pump(now)``
fills free slots at once, so a hangup is followed by the next origination in the same
step: there is no polling loop. ``next_wakeup()`` says when time alone will change
something (a window opens, a recall falls due, a CPS token refills).

Invariants (tests/engine/rig.py checks them after every step):
- live legs of a campaign ≤ concurrent_call; live legs of a network key ≤ its cap (0 = none);
- a lead's attempts ≤ recall_times + 1; no leg of a terminal lead is ever originated;
- nothing is originated while the campaign is not start+active, its script is missing or
  its window (schedules ∩ local times ∩ policy hours) is closed;
- no leg goes to a number on the do-not-call list (unless the campaign's policy ignores the
  national list) or of a customer on the campaign's list; no number gets more legs in 24 h
  than a capping policy allows;
- every originated leg yields exactly one CDR (a second end event for a leg is ignored);
- no two live legs ring the same number (engine.scheduler: leads wait, parked, for it);
- every lead state change passes through ``_move``, which publishes it (and journals a
  full snapshot) before any Originate of that attempt is in the outbox.
"""

from __future__ import annotations

from dataclasses import replace

from engine import cdr, recall, script, windows
from engine.disposition import status_of
from engine.errors import CampaignConflict, UnknownCampaign
from engine.explain import hold
from engine.lead import Lead, LeadSnapshot, LeadState, Leg
from engine.model import CallResult, CallStatus, Campaign, CampaignStatus, LeadInput, ModeCall
from engine.phone import InvalidPhone, PhoneNumber, normalize
from engine.queue import WorkClass
from engine.records import Explanation, Hangup
from engine.scheduler import (
    REASON_AFTER_PASS,
    REASON_DNC_CUSTOMER,
    REASON_DNC_PHONE,
    WAITING,
    CampaignRun,
    Journal,
    Scheduler,
    call_uuid_for,
    customer_key,
)

__all__ = ["CampaignRun", "Dialer", "Journal", "call_uuid_for"]

DTMF_DIGITS = frozenset("0123456789*#ABCD")
MAX_DIGITS = 64


class Dialer(Scheduler):
    """The engine's public face: commands, leads, do-not-call, call events, introspection.

    engine/service.py drives it; every method is synchronous and takes ``now`` from the
    caller. The dialing itself happens in ``pump`` (engine.scheduler).
    """

    # ---- campaigns and queues (seed 001, 002) --------------------------------------
    def upsert_campaign(self, spec: Campaign) -> None:
        """Create or update. An update takes effect at the next pump: a lower
        concurrent_call lets live calls finish and dials nothing until below it."""
        run = self.campaigns.get(spec.campaign_uuid)
        if run is None or run.deleted:
            fresh = CampaignRun(spec)
            if run is not None:  # re-created while its deleted self still has calls up
                fresh.live, fresh.live_by_key = run.live, run.live_by_key
            self.campaigns[spec.campaign_uuid] = fresh
            run = fresh
        else:
            if run.spec.queue_code and self._queues.get(run.spec.queue_code) == spec.campaign_uuid:
                del self._queues[run.spec.queue_code]
            run.spec = spec
            run.fault = ""  # a new spec gets a new chance
        try:
            windows.zone(spec.time_zone)
        except Exception as err:  # noqa: BLE001 - held, never raised into the caller's loop
            self.hold_campaign(run, err)
        if spec.queue_code:
            self._queues[spec.queue_code] = spec.campaign_uuid

    def campaign(self, campaign_uuid: str) -> CampaignRun:
        run = self.campaigns.get(campaign_uuid)
        if run is None or run.deleted:
            raise UnknownCampaign(campaign_uuid)
        return run

    def campaign_for_queue(self, queue_code: str) -> str:
        """Seed 002 names a queue by ``queue_code``; unknown → UnknownCampaign (404)."""
        campaign_uuid = self._queues.get(queue_code)
        if campaign_uuid is None:
            raise UnknownCampaign(f"queue {queue_code}")
        self.campaign(campaign_uuid)
        return campaign_uuid

    def set_status(self, campaign_uuid: str, status: CampaignStatus) -> None:
        """start / pause / stop. Pause and stop keep the queue (recalls keep their time);
        live calls finish and their recalls are scheduled as usual."""
        run = self.campaign(campaign_uuid)
        run.spec = replace(run.spec, status=status)

    def set_active(self, campaign_uuid: str, active: bool) -> None:
        run = self.campaign(campaign_uuid)
        run.spec = replace(run.spec, active=active)

    def delete_campaign(self, campaign_uuid: str, now: float) -> None:
        """Only an inactive campaign may be deleted; its waiting leads are removed and its
        live calls finish without recalls."""
        run = self.campaign(campaign_uuid)
        if run.spec.active:
            raise CampaignConflict("campaign must be deactive")
        run.deleted = True
        if self._queues.get(run.spec.queue_code) == campaign_uuid:
            del self._queues[run.spec.queue_code]
        for leg in run.live.values():
            leg.orphaned = True
        for lead_uuid in [*run.queue.drain(), *self.unpark_campaign(campaign_uuid)]:
            lead = self.leads.get(lead_uuid)
            if lead is not None and lead.state in WAITING:
                lead.round_open = False
                self._move(lead, LeadState.REMOVED, "campaign deleted", now)
        if not run.live:
            del self.campaigns[campaign_uuid]

    def stop_queue(self, queue_code: str) -> None:
        """Seed 002 /queue/stop: pause a running queue."""
        self.set_status(self.campaign_for_queue(queue_code), CampaignStatus.PAUSE)

    def start_queue(self, queue_code: str) -> None:
        """Seed 002 /queue/start: resume a paused queue."""
        self.set_status(self.campaign_for_queue(queue_code), CampaignStatus.START)

    def delete_queue(self, queue_code: str, now: float) -> None:
        """Seed 002 /queue/delete: revoke a queue after it was stopped."""
        campaign_uuid = self.campaign_for_queue(queue_code)
        if self.campaigns[campaign_uuid].spec.status is CampaignStatus.START:
            raise CampaignConflict("queue must be stopped before it is deleted")
        self.set_active(campaign_uuid, False)
        self.delete_campaign(campaign_uuid, now)

    # ---- leads ---------------------------------------------------------------------
    def add_lead(self, lead_in: LeadInput, now: float) -> Lead:
        """Queue a lead. Re-importing a known lead_uuid is a no-op (redelivery safe)."""
        known = self.leads.get(lead_in.lead_uuid)
        if known is not None:
            return known
        run = self.campaign(lead_in.campaign_uuid)
        checked = [normalize(raw) for raw in lead_in.phones]
        lead = self._new_lead(run, lead_in, checked, now)
        dropped = sum(isinstance(p, InvalidPhone) for p in checked)
        script_error = script.lead_error(run.spec, lead_in.params)
        if script_error:
            self._move(lead, LeadState.INVALID, script_error, now)
        elif not lead.phones:
            why = ", ".join(sorted({str(p.reason) for p in checked if isinstance(p, InvalidPhone)}))
            self._move(lead, LeadState.INVALID, f"invalid phone: {why or 'none given'}", now)
        elif lead_in.customer_id and lead_in.customer_id in run.dnc_customers:
            self._move(lead, LeadState.SKIPPED, REASON_DNC_CUSTOMER, now)
        elif all(self.dnc_phone(run.spec, lead.phones[i]) for i in self.candidates(run.spec, lead)):
            self._move(lead, LeadState.SKIPPED, REASON_DNC_PHONE, now)
        else:
            self._push(run, lead, WorkClass.NEW, now)
            note = f"; {dropped} invalid number(s) left out" if dropped else ""
            self._move(lead, LeadState.QUEUED, "imported" + note, now)
        return lead

    def _new_lead(
        self,
        run: CampaignRun,
        lead_in: LeadInput,
        checked: list[PhoneNumber | InvalidPhone],
        now: float,
    ) -> Lead:
        phones: dict[str, PhoneNumber] = {}  # one leg per number, even if listed twice
        for p in checked:
            if isinstance(p, PhoneNumber):
                phones.setdefault(p.national, p)
        self._seq += 1
        lead = Lead(input=lead_in, phones=tuple(phones.values()), seq=self._seq, ready_at=now,
                    campaign_uuid=run.spec.campaign_uuid)
        self.leads[lead.uuid] = lead
        if lead_in.customer_id:
            # one lead per customer is the rule: its uuid alone, a list only from the second
            key = customer_key(lead_in.customer_id)
            known = run.by_customer.get(key)
            if known is None:
                run.by_customer[key] = lead.uuid
            elif isinstance(known, str):
                run.by_customer[key] = [known, lead.uuid]
            else:
                known.append(lead.uuid)
        return lead

    # ---- do-not-call (seed 002; vietnam.md national list) --------------------------
    def add_dnc_customers(self, campaign_uuid: str, customer_ids: list[str], now: float) -> None:
        """Seed 002: a customer not dialed yet is skipped at once (and reported); a live
        call is left alone. A customer waiting for a recall is not called again either:
        the calls already made stay as they are, and no new one starts. The round of a
        live call ends without a recall."""
        run = self.campaign(campaign_uuid)
        for customer_id in customer_ids:
            run.dnc_customers.add(customer_id)
            found = run.by_customer.get(customer_key(customer_id), ())
            for lead_uuid in (found,) if isinstance(found, str) else found:
                lead = self.leads.get(lead_uuid)
                # the key is a hash: another customer's lead may share it
                if (lead is not None and lead.state in WAITING
                        and lead.input.customer_id == customer_id):
                    lead.round_open = False
                    self._move(lead, LeadState.SKIPPED, REASON_DNC_CUSTOMER, now)

    def remove_dnc_customers(self, campaign_uuid: str, customer_ids: list[str]) -> None:
        """Future imports are callable again; leads already skipped stay skipped."""
        self.campaign(campaign_uuid).dnc_customers.difference_update(customer_ids)

    def add_dnc_phones(self, phones: list[str]) -> None:
        """Global DNC by number: checked when a lead is reached, so it binds every lead
        waiting in any campaign (without scanning them); live calls are left alone."""
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
        if leg is None or leg.answered or leg.cancelled:
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
        if leg is not None and digit in DTMF_DIGITS and len(leg.digits) < MAX_DIGITS:
            leg.digits.append(digit)

    def call_ended(self, result: CallResult, now: float) -> None:
        leg = self.legs.pop(result.call_uuid, None)
        if leg is None:
            return  # unknown or already ended: exactly one CDR per leg
        self.pool.release(leg.node)
        self.number_ended(leg.phone.national)
        lead = self.leads[leg.lead_uuid]
        lead.live.discard(leg.call_uuid)
        status = CallStatus.CANCEL if leg.cancelled else status_of(result)
        if status in recall.ANSWERED_STATUSES:
            lead.round_billsec = max(lead.round_billsec, result.billsec)
        lead.last_status = status
        lead.round_statuses.append(status)
        run = self.campaigns[leg.campaign_uuid]  # a run outlives its live legs
        run.live.pop(leg.call_uuid, None)
        run.live_by_key[leg.phone.network_key] -= 1
        self._outbox.append(cdr.build(run.spec, lead, leg, result, status))
        if run.deleted and not run.live:
            del self.campaigns[run.spec.campaign_uuid]
        if lead.live:
            return  # parallel: the round ends with its last leg
        if leg.orphaned:
            self._finish_round(run, lead, now, may_recall=False)
            return
        serial_next = (
            run.spec.mode_call is ModeCall.SERIAL
            and status not in recall.ANSWERED_STATUSES
            and lead.phone_index + 1 < len(lead.phones)
            and lead.input.customer_id not in run.dnc_customers
        )
        if serial_next:
            lead.phone_index += 1
            self._push(run, lead, WorkClass.CONTINUATION, now)
            self._move(lead, LeadState.RECALL, "serial: next number", now)
        else:
            self._finish_round(run, lead, now, may_recall=True)

    # ---- durability ----------------------------------------------------------------
    def restore_lead(self, lead_in: LeadInput, snap: LeadSnapshot) -> Lead:
        """Rebuild a lead from its last journalled snapshot (after a restart).

        Waiting leads return to the queue where their snapshot says. A lead that was
        dialing gets its legs back as live legs: they hold their slots and nodes, and
        the caller must reconcile them with the switch (a call the switch no longer has
        is ended with a synthetic CallEnded), so every one of them yields its CDR and the
        attempt counts as made. The per-number call log is not in the snapshot; a caller
        that needs the cap exact across restarts replays its CDRs into ``call_log``.
        """
        known = self.leads.get(lead_in.lead_uuid)
        if known is not None:
            return known
        run = self.campaign(lead_in.campaign_uuid)
        lead = self._new_lead(run, lead_in, [normalize(raw) for raw in lead_in.phones], snap.at)
        lead.state, lead.reason = snap.state, snap.reason
        lead.attempts, lead.calls, lead.phone_index = snap.attempts, snap.calls, snap.phone_index
        lead.first_attempt_at, lead.last_call_time = snap.first_attempt_at, snap.last_call_time
        lead.round_open, lead.round_statuses = snap.round_open, list(snap.round_statuses)
        lead.round_billsec = snap.round_billsec
        if snap.state is LeadState.QUEUED:
            run.never_dialed += 1
            self._push(run, lead, WorkClass.NEW, snap.ready_at)
        elif snap.state is LeadState.RECALL:
            if snap.round_open:
                work = WorkClass.CONTINUATION
            elif snap.reason.startswith(REASON_AFTER_PASS):
                work = WorkClass.AFTER_PASS
            else:
                work = WorkClass.RECALL
            self._push(run, lead, work, snap.ready_at)
        elif snap.state is LeadState.DIALING:
            for call_uuid, index, node_name, originated_at in snap.live:
                phone = lead.phones[index]
                node = self.pool.nodes.get(node_name)
                leg = Leg(call_uuid, lead.uuid, run.spec.campaign_uuid, phone, index,
                          node_name, lead.attempts, originated_at)
                if node is not None:
                    node.live += 1
                self.legs[call_uuid] = leg
                self.live_numbers[phone.national] += 1
                run.live[call_uuid] = leg
                run.live_by_key[phone.network_key] += 1
                lead.live.add(call_uuid)
        return lead

    def unload(self, campaign_uuids: set[str]) -> list[str]:
        """Forget the leads and live legs of these campaigns: their partition is another
        engine's now, which restores them from the changelog and adopts the calls. The
        campaigns' specs stay (campaigns are a global table). Nothing is published and
        nothing is originated for them any more, not even what the outbox still held.
        Returns the call uuids of the legs forgotten (still up on the switch)."""
        calls: list[str] = []
        for campaign_uuid in campaign_uuids:
            run = self.campaigns.get(campaign_uuid)
            if run is None:
                continue
            for leg in run.live.values():
                self.legs.pop(leg.call_uuid, None)
                self.pool.release(leg.node)
                calls.append(leg.call_uuid)
            self.unpark_campaign(campaign_uuid)
            for leg in run.live.values():
                # The call is the next owner's now: this engine's other campaigns may ring
                # the number (one live call per number is per engine).
                self.number_ended(leg.phone.national)
            if run.deleted:
                del self.campaigns[campaign_uuid]
            else:
                self.campaigns[campaign_uuid] = CampaignRun(run.spec)
        gone = [uuid for uuid, lead in self.leads.items() if lead.campaign_uuid in campaign_uuids]
        for lead_uuid in gone:
            del self.leads[lead_uuid]
        self._outbox = [a for a in self._outbox
                        if getattr(a, "campaign_uuid", None) not in campaign_uuids]
        return calls

    # ---- introspection -------------------------------------------------------------
    def live_calls(self, campaign_uuid: str) -> int:
        run = self.campaigns.get(campaign_uuid)
        return len(run.live) if run else 0

    def explain(self, lead_uuid: str, now: float) -> Explanation | None:
        """Why is this lead not being dialed? Its state and the rule that holds it."""
        lead = self.leads.get(lead_uuid)
        if lead is None:
            return None
        try:
            rule, detail, next_try = hold(self, lead, now)
        except Exception as err:  # noqa: BLE001 - an answer, never a 500, for a bad campaign
            rule, detail, next_try = "campaign_error", f"{type(err).__name__}: {err}", None
        return Explanation(
            lead_uuid=lead.uuid,
            campaign_uuid=lead.campaign_uuid,
            state=str(lead.state),
            rule=rule,
            detail=detail,
            attempts=lead.attempts,
            next_try_at=next_try,
        )

