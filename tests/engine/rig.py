"""A test rig for the pure engine: a virtual clock and a virtual switch, no sockets.

The switch answers each ``Originate`` by scheduling its outcome on the virtual clock
(answer after ring seconds, end after talk seconds, or fail after ring seconds), so a
day of a campaign runs in milliseconds. ``check`` asserts the engine's invariants and is
called after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.clock import VirtualClock
from engine.core import Dialer
from engine.lead import LeadState
from engine.model import Campaign, CallResult, LeadInput
from engine.pacing import SwitchNode
from engine.records import Cdr, Hangup, LeadEvent, Originate

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def vn_epoch(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=VN).timestamp()


# 2026-11-23 is a Monday.
MONDAY_9AM = vn_epoch(2026, 11, 23, 9)


@dataclass(frozen=True)
class Outcome:
    cause: str = "NORMAL_CLEARING"
    ring: float = 5.0
    talk: float = 20.0  # > 0 means answered
    amd: str = ""

    @property
    def answered(self) -> bool:
        return self.talk > 0 and self.cause == "NORMAL_CLEARING"


ANSWER = Outcome()
BUSY = Outcome("USER_BUSY", ring=3, talk=0)
NO_ANSWER = Outcome("NO_ANSWER", ring=30, talk=0)


@dataclass
class Rig:
    outcome: Callable[[Originate], Outcome] = lambda _o: ANSWER
    start: float = MONDAY_9AM
    nodes: list[SwitchNode] = field(default_factory=lambda: [SwitchNode("fs1", cps=1000)])

    def __post_init__(self) -> None:
        self.clock = VirtualClock(self.start)
        self.dialer = Dialer(self.nodes)
        self.cdrs: list[Cdr] = []
        self.events: list[LeadEvent] = []
        self.originated: list[tuple[float, Originate]] = []
        self.hangups: list[Hangup] = []
        self.max_live: dict[str, int] = {}
        self._wake: object | None = None
        self._live: dict[str, list[object]] = {}
        self.checks: list[Callable[[Rig], None]] = []

    # ---- driving -----------------------------------------------------------------
    def campaign(self, spec: Campaign) -> Campaign:
        self.dialer.upsert_campaign(spec)
        self.step()
        return spec

    def lead(self, lead_uuid: str, campaign_uuid: str, *phones: str, **kw: object) -> None:
        self.dialer.add_lead(
            LeadInput(lead_uuid=lead_uuid, campaign_uuid=campaign_uuid, phones=phones, **kw),  # type: ignore[arg-type]
            self.clock.now(),
        )
        self.step()

    def step(self) -> None:
        now = self.clock.now()
        self.dialer.pump(now)
        for action in self.dialer.drain():
            if isinstance(action, Originate):
                self._place(action)
            elif isinstance(action, Hangup):
                self.hangups.append(action)
                self._kill(action)
            elif isinstance(action, Cdr):
                self.cdrs.append(action)
            else:
                self.events.append(action)
        for cid, run in self.dialer.campaigns.items():
            self.max_live[cid] = max(self.max_live.get(cid, 0), len(run.live))
        for check in self.checks:
            check(self)
        wake = self.dialer.next_wakeup()
        if self._wake is not None:
            self._wake.cancel()  # type: ignore[attr-defined]
            self._wake = None
        if wake is not None:
            self._wake = self.clock.call_later(max(0.0, wake - now), self.step)

    def run(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def run_until_idle(self, limit: float = 7 * 86_400.0) -> None:
        """Advance until no timer is left (no live call, nothing due), within ``limit``."""
        end = self.clock.now() + limit
        while (deadline := self.clock.next_deadline()) is not None and deadline <= end:
            self.clock.advance(deadline - self.clock.now())

    # ---- the virtual switch --------------------------------------------------------
    def _place(self, o: Originate) -> None:
        now = self.clock.now()
        self.originated.append((now, o))
        out = self.outcome(o)
        timers: list[object] = []
        self._live[o.call_uuid] = timers
        if out.answered:
            ring = min(out.ring, float(o.timeout_s))
            timers.append(self.clock.call_later(ring, lambda: self._answer(o.call_uuid)))
            timers.append(
                self.clock.call_later(ring + out.talk, lambda: self._end(o, out, now, ring))
            )
        else:
            ring = min(out.ring, float(o.timeout_s))
            timers.append(self.clock.call_later(ring, lambda: self._end(o, out, now, None)))

    def _answer(self, call_uuid: str) -> None:
        self.dialer.call_answered(call_uuid, self.clock.now())
        self.step()

    def _end(self, o: Originate, out: Outcome, started: float, ring: float | None) -> None:
        self._live.pop(o.call_uuid, None)
        now = self.clock.now()
        answered = ring is not None
        self.dialer.call_ended(
            CallResult(
                call_uuid=o.call_uuid,
                hangup_cause=out.cause,
                answered=answered,
                duration=round(now - started),
                billsec=round(now - started - ring) if ring is not None else 0,
                start_epoch=started,
                answer_epoch=started + ring if ring is not None else 0.0,
                end_epoch=now,
                amd_result=out.amd,
            ),
            now,
        )
        self.step()

    def _kill(self, h: Hangup) -> None:
        timers = self._live.pop(h.call_uuid, None)
        if timers is None:
            return
        for t in timers:
            t.cancel()  # type: ignore[attr-defined]
        now = self.clock.now()
        self.clock.call_later(
            0.0,
            lambda: (
                self.dialer.call_ended(
                    CallResult(call_uuid=h.call_uuid, hangup_cause="LOSE_RACE", end_epoch=now),
                    self.clock.now(),
                ),
                self.step(),
            ),
        )

    # ---- views ---------------------------------------------------------------------
    def state(self, lead_uuid: str) -> LeadState:
        return self.dialer.leads[lead_uuid].state

    def cdrs_of(self, lead_uuid: str) -> list[Cdr]:
        return [c for c in self.cdrs if c.lead_uuid == lead_uuid]


def invariants(rig: Rig) -> None:
    """Engine invariants, checked after every step."""
    d = rig.dialer
    for run in d.campaigns.values():
        spec = run.spec
        assert len(run.live) <= spec.concurrent_call, "concurrent_call exceeded"
        for key, cap in spec.network.items():
            if cap > 0:
                assert run.live_by_key[key] <= cap, f"carrier cap {key} exceeded"
    for lead in d.leads.values():
        spec = d.campaigns[lead.campaign_uuid].spec if lead.campaign_uuid in d.campaigns else None
        if spec is not None:
            assert lead.attempts <= spec.recall_times + 1, "attempts > recall_times + 1"
        if lead.state is LeadState.DIALING:
            assert lead.live, "dialing lead without a live leg"


def basic_campaign(cid: str = "c1", **kw: object) -> Campaign:
    fields: dict[str, object] = {"campaign_uuid": cid, "campaign_name": cid.upper(),
                                 "concurrent_call": 5}
    fields.update(kw)
    return Campaign(**fields)  # type: ignore[arg-type]
