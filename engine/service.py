"""The async shell around the pure ``Dialer``: applies commands and call events, executes
the actions the core returns, and keeps exactly one timer armed for ``next_wakeup``.

There is no polling loop: every input schedules one coalesced ``step`` (pump + drain) on
the event loop, and time-driven work (a window opening, a recall falling due, a CPS token)
is driven by the single timer. Time comes from the injected ``Clock``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

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
from engine.errors import DialerError
from engine.model import CallResult
from engine.ports import CallAnswered, CallControl, CallDtmf, CallEnded, CallEvent
from engine.records import Cdr, Hangup, LeadEvent, Originate
from engine.tasks import TaskSet

log = logging.getLogger(__name__)

RecordSink = Callable[[Cdr | LeadEvent], None]


class DialerService:
    def __init__(
        self, dialer: Dialer, calls: CallControl, sink: RecordSink, clock: Clock
    ) -> None:
        self.dialer = dialer
        self._calls = calls
        self._sink = sink
        self._clock = clock
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self._step_scheduled = False
        self._tasks = TaskSet()
        self._originating = True
        calls.set_listener(self.on_call_event)

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
        if phones:
            if add:
                d.add_dnc_phones(phones)
            else:
                d.remove_dnc_phones(phones)

    def on_call_event(self, event: CallEvent) -> None:
        now = self._clock.now()
        match event:
            case CallAnswered(call_uuid):
                self.dialer.call_answered(call_uuid, now)
            case CallDtmf(call_uuid, digit):
                self.dialer.call_dtmf(call_uuid, digit)
            case CallEnded(result):
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
        if self._originating:
            self.dialer.pump(now)
        for action in self.dialer.drain():
            if isinstance(action, Originate):
                self._tasks.spawn(self._originate(action))
            elif isinstance(action, Hangup):
                self._tasks.spawn(self._hangup(action))
            else:
                self._sink(action)
        self._arm(self.dialer.next_wakeup() if self._originating else None)

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

    async def _originate(self, request: Originate) -> None:
        try:
            await self._calls.originate(request)
        except DialerError as err:
            # The switch never took the call: end the leg here so its slot is freed and it
            # yields its one CDR. Counted as an attempt made (conservative).
            log.warning("originate failed: %s", type(err).__name__)
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
            log.warning("hangup failed: %s", type(err).__name__)

    # ---- shutdown ------------------------------------------------------------------
    def stop_originating(self) -> None:
        """Shutdown order: stop dialing new calls; live calls finish on their own."""
        self._originating = False
        self._arm(None)

    def live_calls(self) -> int:
        return len(self.dialer.legs)
