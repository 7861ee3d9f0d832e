"""The async shell around the pure ``Dialer``: applies commands and call events, executes
the actions the core returns, and keeps exactly one timer armed for ``next_wakeup``.

There is no polling loop: every input schedules one coalesced ``step`` (pump + drain) on
the event loop, and time-driven work (a window opening, a recall falling due, a CPS token)
is driven by the single timer. Time comes from the injected ``Clock``.

Durability (``engine.ports.Durability``): every lead snapshot, campaign-scoped do-not-call
entry and record goes to it as it is made; an Originate goes out only when ``dial`` says
its attempt's "dialing" snapshot is durable. Partitions move between engines with
``take_over`` (restore, then reconcile with the switches) and ``hand_over``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from engine.clock import Clock, TimerHandle
from engine.commands import (
    AddLead,
    Command,
    DeleteCampaign,
    Dnc,
    SetActive,
    SetStatus,
    UpsertCampaign,
)
from engine.core import Dialer
from engine.disposition import UNKNOWN_OUTCOME
from engine.errors import DialerError, UnknownCampaign
from engine.hooks import NO_HOOKS, EngineHooks, RefillTracker
from engine.lead import LeadSnapshot
from engine.model import CallResult, LeadInput
from engine.ports import (
    CallAnswered,
    CallControl,
    CallDtmf,
    CallEnded,
    CallEvent,
    CallOwnership,
    Durability,
)
from engine.records import Cdr, Hangup, LeadEvent, Originate
from engine.tasks import TaskSet

log = logging.getLogger(__name__)

RecordSink = Callable[[Cdr | LeadEvent], None]


class Immediate:
    """Durability for the embedded mode: records go to ``sink`` at once, nothing is
    journalled, and an originate goes out at once (one process; nothing to hand over)."""

    def __init__(self, sink: RecordSink) -> None:
        self._sink = sink

    def record(self, item: Cdr | LeadEvent) -> None:
        self._sink(item)

    def journal(self, lead: LeadInput, snap: LeadSnapshot) -> None:
        return None

    def customer_dnc(self, campaign_uuid: str, customer_ids: Sequence[str], add: bool) -> None:
        return None

    def dial(self, request: Originate, go: Callable[[Originate], None]) -> None:
        go(request)


@dataclass(frozen=True, slots=True)
class Restored:
    """A partition's state as read back from its changelog."""

    leads: Sequence[tuple[LeadInput, LeadSnapshot]]
    dnc_customers: Sequence[tuple[str, str]]  # (campaign_uuid, customer_id)


class DialerService:
    def __init__(
        self,
        dialer: Dialer,
        calls: CallControl,
        durability: Durability | RecordSink,
        clock: Clock,
        ownership: CallOwnership | None = None,
        hooks: EngineHooks = NO_HOOKS,
    ) -> None:
        """``durability``: a plain record sink means the embedded mode (``Immediate``)."""
        self.dialer = dialer
        self._calls = calls
        self._durable: Durability = (
            durability if not callable(durability)
            else Immediate(self._guarded(durability)))
        self._ownership = ownership
        self._clock = clock
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self._step_scheduled = False
        self._tasks = TaskSet("dialer")
        self._originating = True
        self._held = False
        self._hooks = hooks
        self._refills = RefillTracker()
        calls.set_listener(self.on_call_event)
        self._snapshots: list[tuple[LeadInput, LeadSnapshot]] = []
        # The embedded mode journals nothing: no snapshot (nor the lead's input it reads)
        # is built for it (about 4 % of the process's CPU per call when it was).
        dialer.set_journal(None if isinstance(self._durable, Immediate) else self._journal)

    def _journal(self, snap: LeadSnapshot) -> None:
        # Held until the step hands the core's outputs over: a state change and the records
        # it produced (the CDR of the call that ended, the lead event) then reach the
        # durability layer together, so no transaction can hold one without the other.
        lead = self.dialer.leads.get(snap.lead_uuid)
        if lead is not None:
            self._snapshots.append((lead.input, snap))

    # ---- inputs --------------------------------------------------------------------
    def apply(self, command: Command) -> None:
        """Apply one command; raises DialerError subclasses for the caller to report."""
        d, now = self.dialer, self._clock.now()
        match command:
            case UpsertCampaign(campaign):
                d.upsert_campaign(campaign)
            case SetStatus(campaign_uuid, status):
                d.set_status(campaign_uuid, status)
            case SetActive(campaign_uuid, active):
                d.set_active(campaign_uuid, active)
            case DeleteCampaign(campaign_uuid):
                d.delete_campaign(campaign_uuid, now)
            case AddLead(lead):
                d.add_lead(lead, now)
            case Dnc(add, campaign_uuid, customer_ids, phones):
                self._dnc(add, campaign_uuid, list(customer_ids), list(phones))
        self.kick()

    def _dnc(self, add: bool, campaign_uuid: str, customers: list[str], phones: list[str]) -> None:
        d, now = self.dialer, self._clock.now()
        if customers:
            if add:
                d.add_dnc_customers(campaign_uuid, customers, now)
            else:
                d.remove_dnc_customers(campaign_uuid, customers)
            self._durable.customer_dnc(campaign_uuid, customers, add)
        if phones:
            if add:
                d.add_dnc_phones(phones)
            else:
                d.remove_dnc_phones(phones)

    def on_call_event(self, event: CallEvent) -> None:
        now = self._clock.now()
        match event:
            case CallAnswered(call_uuid):
                self._observe_answer(call_uuid, now)
                self.dialer.call_answered(call_uuid, now)
            case CallDtmf(call_uuid, digit):
                self.dialer.call_dtmf(call_uuid, digit)
            case CallEnded(result):
                self._observe_end(result.call_uuid, now)
                self.dialer.call_ended(result, now)
        self.kick()

    # ---- the step ------------------------------------------------------------------
    def kick(self) -> None:
        """Schedule one step soon; many inputs in one loop turn coalesce into one step."""
        if not self._step_scheduled:
            self._step_scheduled = True
            asyncio.get_running_loop().call_soon(self.step)

    def step(self) -> None:
        self._step_scheduled = False
        now = self._clock.now()
        dialing = self._originating and not self._held
        if dialing:
            self.dialer.pump(now)
        snapshots, self._snapshots = self._snapshots, []
        for lead_in, snap in snapshots:  # before the originates they precede
            self._durable.journal(lead_in, snap)
        for action in self.dialer.drain():
            if isinstance(action, Originate):
                self._durable.dial(action, self._go)
            elif isinstance(action, Hangup):
                self._tasks.spawn(self._hangup(action), name="hangup")
            else:
                self._hooks.recorded(action)
                self._durable.record(action)
        self._forget_idle_refills()
        self._arm(self.dialer.next_wakeup() if dialing else None)

    def _go(self, request: Originate) -> None:
        """The attempt is durable: place the call (unless the leg ended meanwhile)."""
        if request.call_uuid not in self.dialer.legs:
            return
        self._observe_originate(request, self._clock.now())
        try:
            placed = self._calls.originate(request)
        except Exception as err:  # noqa: BLE001 - the call's boundary, as in _originate
            # Settled on the next loop turn, as an awaited failure would be: never inside
            # the step that is handing this originate over.
            asyncio.get_running_loop().call_soon(self._originate_failed, request, err)
            return
        if isinstance(placed, asyncio.Future):
            placed.add_done_callback(functools.partial(self._originate_done, request))
        else:
            self._tasks.spawn(self._originate(request, placed), name="originate")

    # ---- hooks (observability only: nothing here changes what the engine does) -------
    def _observe_answer(self, call_uuid: str, now: float) -> None:
        leg = self.dialer.legs.get(call_uuid)
        if leg is not None and not leg.answered:
            self._hooks.answered(leg.campaign_uuid, leg.node, now - leg.originated_at)

    def _observe_end(self, call_uuid: str, now: float) -> None:
        leg = self.dialer.legs.get(call_uuid)
        run = self.dialer.campaigns.get(leg.campaign_uuid) if leg is not None else None
        if leg is not None and run is not None and run.queue:
            self._refills.freed(leg.campaign_uuid, now)

    def _observe_originate(self, action: Originate, now: float) -> None:
        self._hooks.originated(action.campaign_uuid, action.node)
        waited = self._refills.refill(action.campaign_uuid, now)
        if waited is not None:
            self._hooks.refilled(action.campaign_uuid, waited)

    def _forget_idle_refills(self) -> None:
        for campaign_uuid in self._refills.campaigns():
            run = self.dialer.campaigns.get(campaign_uuid)
            if run is None or not run.queue:
                self._refills.forget(campaign_uuid)

    def _arm(self, at: float | None) -> None:
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None:
            self._timer = self._clock.call_later(max(0.0, at - self._clock.now()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.kick()

    @staticmethod
    def _guarded(sink: RecordSink) -> RecordSink:
        """A record the sink cannot take is logged and counted, never raised into the step
        (which would lose the originations drained with it)."""

        def put(record: Cdr | LeadEvent) -> None:
            try:
                sink(record)
            except Exception:  # a port boundary: the engine goes on
                log.exception("record sink failed for a %s", type(record).__name__)

        return put

    async def _originate(self, request: Originate, placed: Awaitable[None]) -> None:
        try:
            await placed
        except Exception as err:  # noqa: BLE001 - the call task's boundary: no wedged slot
            self._originate_failed(request, err)

    def _originate_done(self, request: Originate, placed: asyncio.Future[None]) -> None:
        if placed.cancelled():
            return  # shutting down: the adapter is closing, the leg ends with it
        err = placed.exception()
        if err is not None:
            self._originate_failed(request, err)

    def _originate_failed(self, request: Originate, err: BaseException) -> None:
        # The switch never took the call (or the adapter failed in a way it did not
        # plan for): end the leg here so its slot is freed and it yields its one CDR,
        # a failed attempt with a cause. Counted as an attempt made (conservative); a
        # late CallEnded from the switch for it is ignored (one CDR per leg).
        fields = {"campaign": request.campaign_uuid, "lead": request.lead_uuid,
                  "call": request.call_uuid}
        if isinstance(err, DialerError):
            log.warning("originate failed: %s", type(err).__name__, extra=fields)
        else:
            log.error("originate crashed: %s", type(err).__name__, exc_info=err,
                      extra=fields)
        self.on_call_event(
            CallEnded(
                CallResult(
                    call_uuid=request.call_uuid,
                    hangup_cause="NORMAL_TEMPORARY_FAILURE",
                    refused=True,
                    end_epoch=self._clock.now(),
                )
            )
        )

    async def _hangup(self, action: Hangup) -> None:
        try:
            await self._calls.hangup(action.call_uuid, action.cause)
        except DialerError as err:
            log.warning("hangup failed: %s", type(err).__name__,
                        extra={"call": action.call_uuid})
        except Exception as err:  # the call task's boundary; the leg still ends by itself
            log.error("hangup crashed: %s", type(err).__name__, exc_info=err,
                      extra={"call": action.call_uuid})

    # ---- partitions moving between engines -------------------------------------------
    async def take_over(self, tag: str, restored: Restored) -> tuple[int, int, int]:
        """Restore a partition's leads and campaign-scoped do-not-call entries, then adopt
        its calls still up on the switches (they count against concurrent_call and end
        with their normal CDR); a call the switches no longer have ended while nobody
        owned it: it gets an unknown-outcome CDR and the recall rules decide.

        Returns (leads restored, calls adopted, calls ended unobserved)."""
        d = self.dialer
        for campaign_uuid, customer_id in restored.dnc_customers:
            run = d.campaigns.get(campaign_uuid)
            if run is not None and not run.deleted:
                run.dnc_customers.add(customer_id)
        count = 0
        for lead_in, snap in sorted(restored.leads, key=lambda r: r[1].seq):
            try:
                d.restore_lead(lead_in, snap)
                count += 1
            except UnknownCampaign:
                continue  # its campaign was deleted: nothing left to dial
        live = {leg.call_uuid: leg.node for lead_in, snap in restored.leads
                for leg in (d.legs.get(c[0]) for c in snap.live) if leg is not None}
        gone: set[str] = set()
        if self._ownership is not None:
            gone = await self._ownership.follow(tag, live)
        now = self._clock.now()
        for call_uuid in sorted(gone):
            d.call_ended(CallResult(call_uuid=call_uuid, hangup_cause=UNKNOWN_OUTCOME,
                                    end_epoch=now), now)
        self.kick()
        return count, len(live) - len(gone), len(gone)

    def hand_over(self, tag: str, campaigns: Iterable[str]) -> int:
        """The partition is another engine's now: forget its leads and calls (the calls go
        on; their next owner adopts them). Returns the number of calls handed over."""
        gone = set(campaigns)
        calls = self.dialer.unload(gone)
        self._snapshots = [(i, snap) for i, snap in self._snapshots
                           if snap.campaign_uuid not in gone]
        if self._ownership is not None:
            self._ownership.unfollow(tag, calls)
        self.kick()
        return len(calls)

    # ---- shutdown ------------------------------------------------------------------
    def stop_originating(self) -> None:
        """Shutdown order: stop dialing new calls; live calls finish on their own."""
        self._originating = False
        self._arm(None)

    def hold(self) -> None:
        """No new originations until ``release_hold`` (partitions are moving)."""
        self._held = True
        self._arm(None)

    def release_hold(self) -> None:
        self._held = False
        self.kick()

    def live_calls(self) -> int:
        return len(self.dialer.legs)
