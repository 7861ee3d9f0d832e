"""Issue 11, supervision of the async shell: an exception at a port (originate, hangup,
the record sink) frees what the call held, is logged once with its traceback, and the
engine goes on dialing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from adapters.clock import SystemClock
from engine.commands import AddLead
from engine.core import Dialer
from engine.model import CallResult, LeadInput, ModeCall
from engine.pacing import SwitchNode
from engine.ports import CallAnswered, CallEnded, CallEvent
from engine.records import Cdr, LeadEvent, Originate
from engine.service import DialerService
from tests.e2e.harness import wait_until
from tests.engine.rig import basic_campaign, phone


class LoopbackSwitch:
    """A CallControl on the event loop: every call answers at once and ends after
    ``talk_s``; ``fail_originate``/``fail_hangup`` raise a bug-like error that many times."""

    def __init__(self, talk_s: float = 0.02) -> None:
        self.listener: Callable[[CallEvent], None] = lambda _e: None
        self.talk_s = talk_s
        self.fail_originate = 0
        self.fail_hangup = 0
        self.originated: list[Originate] = []
        self.answer_only: set[str] = set()  # destinations that answer (the rest ring)

    def set_listener(self, listener: Callable[[CallEvent], None]) -> None:
        self.listener = listener

    async def originate(self, request: Originate) -> None:
        if self.fail_originate:
            self.fail_originate -= 1
            raise RuntimeError("adapter bug")
        self.originated.append(request)
        loop = asyncio.get_running_loop()
        if not self.answer_only or request.destination in self.answer_only:
            loop.call_soon(self.listener, CallAnswered(request.call_uuid))
        loop.call_later(self.talk_s, self._end, request.call_uuid)

    def _end(self, call_uuid: str) -> None:
        self.listener(CallEnded(CallResult(call_uuid=call_uuid, hangup_cause="NORMAL_CLEARING",
                                           answered=True, billsec=1)))

    async def hangup(self, call_uuid: str, cause: str) -> None:
        if self.fail_hangup:
            self.fail_hangup -= 1
            raise RuntimeError("hangup bug")


def service(switch: LoopbackSwitch, sink: Callable[[Cdr | LeadEvent], None],
            **campaign: object) -> DialerService:
    dialer = Dialer([SwitchNode("fs1", cps=1000)])
    dialer.upsert_campaign(basic_campaign("c1", **campaign))
    return DialerService(dialer, switch, sink, SystemClock())


def add_leads(svc: DialerService, n: int, per_lead: int = 1) -> None:
    for i in range(n):
        phones = tuple(phone(10 * i + k) for k in range(per_lead))
        svc.apply(AddLead(LeadInput(f"l{i}", "c1", phones)))


async def test_an_originate_that_raises_frees_its_slot_and_is_a_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    switch = LoopbackSwitch()
    switch.fail_originate = 1
    cdrs: list[Cdr] = []
    svc = service(switch, lambda r: cdrs.append(r) if isinstance(r, Cdr) else None,
                  concurrent_call=1)
    with caplog.at_level(logging.WARNING, logger="engine.service"):
        add_leads(svc, 3)
        await wait_until(lambda: len(cdrs) == 3, 10)
    first = next(c for c in cdrs if c.lead_uuid == "l0")
    assert first.status == "failed" and first.hangup_cause == "NORMAL_TEMPORARY_FAILURE"
    assert sorted(o.lead_uuid for o in switch.originated) == ["l1", "l2"]
    assert svc.live_calls() == 0
    crashed = [r for r in caplog.records if "originate crashed" in r.getMessage()]
    assert len(crashed) == 1 and crashed[0].exc_info is not None


async def test_a_hangup_that_raises_is_logged_and_the_engine_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    switch = LoopbackSwitch(talk_s=0.05)
    switch.fail_hangup = 10
    switch.answer_only = {phone(0), phone(10)}  # the first number of each lead answers
    cdrs: list[Cdr] = []
    svc = service(switch, lambda r: cdrs.append(r) if isinstance(r, Cdr) else None,
                  concurrent_call=2, mode_call=ModeCall.PARALLEL)
    with caplog.at_level(logging.WARNING, logger="engine.service"):
        add_leads(svc, 2, per_lead=2)  # the losing leg of each lead is hung up
        await wait_until(lambda: len(cdrs) == 4, 10)
    assert {c.lead_uuid for c in cdrs} == {"l0", "l1"}
    assert svc.live_calls() == 0
    crashed = [r for r in caplog.records if "hangup crashed" in r.getMessage()]
    assert len(crashed) == 2 and all(r.exc_info is not None for r in crashed)


async def test_a_sink_that_raises_loses_no_origination(
    caplog: pytest.LogCaptureFixture,
) -> None:
    switch = LoopbackSwitch()
    seen: list[Cdr | LeadEvent] = []
    broken = [True]

    def sink(record: Cdr | LeadEvent) -> None:
        if broken[0]:
            broken[0] = False
            raise RuntimeError("publish bug")
        seen.append(record)

    svc = service(switch, sink, concurrent_call=5)
    with caplog.at_level(logging.ERROR, logger="engine.service"):
        add_leads(svc, 5)
        await wait_until(lambda: sum(isinstance(r, Cdr) for r in seen) == 5, 10)
    assert len(switch.originated) == 5
    failed = [r for r in caplog.records if "record sink failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None
