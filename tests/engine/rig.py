"""A test rig for the pure engine: a virtual clock and a virtual switch, no sockets.

The switch answers each ``Originate`` by scheduling its outcome on the virtual clock
(answer after ring seconds, DTMF during the talk, end after talk seconds, or fail after
ring seconds), so a day of a campaign runs in seconds. ``Invariants`` checks, after every
step, every rule that step could have broken: each origination is inside an open window
of a dialable campaign, within concurrent_call, carrier caps, the node's sessions and CPS
bucket, the per-number cap and recall_times + 1, and never to a DNC number or customer;
each leg yields exactly one CDR; no two live legs ring one number. The checks are written
independently of the engine's own bookkeeping where they can be (windows via
``windows.state_at``, not the cache; CPS and per-number counts from the rig's own records).
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from engine import windows
from engine.clock import VirtualClock
from engine.core import Dialer
from engine.lead import LeadState
from engine.model import CallResult, Campaign, CampaignStatus, LeadInput
from engine.pacing import SwitchNode
from engine.records import Action, Cdr, Hangup, LeadEvent, Originate

VN = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = 86_400.0


def epoch(tz: str, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(tz)).timestamp()


def vn_epoch(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=VN).timestamp()


def local(t: float, tz: str = "Asia/Ho_Chi_Minh") -> datetime:
    return datetime.fromtimestamp(t, ZoneInfo(tz)).replace(tzinfo=None)


# 2026-11-23 is a Monday.
MONDAY_9AM = vn_epoch(2026, 11, 23, 9)


@dataclass(frozen=True)
class Outcome:
    cause: str = "NORMAL_CLEARING"
    ring: float = 5.0
    talk: float = 20.0  # > 0 with NORMAL_CLEARING means answered
    amd: str = ""
    dtmf: tuple[tuple[float, str], ...] = ()  # (seconds after answer, digit)
    q850: int = 16
    record_name: str = ""
    recording_url: str = ""
    refused: bool = False  # the switch never took the call

    @property
    def answered(self) -> bool:
        return self.talk > 0 and self.cause == "NORMAL_CLEARING" and not self.refused


ANSWER = Outcome()
BUSY = Outcome("USER_BUSY", ring=3, talk=0, q850=17)
NO_ANSWER = Outcome("NO_ANSWER", ring=30, talk=0, q850=19)
NOT_AVAILABLE = Outcome("SUBSCRIBER_ABSENT", ring=2, talk=0, q850=20)
INVALID = Outcome("UNALLOCATED_NUMBER", ring=1, talk=0, q850=1)
REJECTED = Outcome("CALL_REJECTED", ring=1, talk=0, q850=21)
CONGESTION = Outcome("NORMAL_CIRCUIT_CONGESTION", ring=1, talk=0, q850=34)
MACHINE = Outcome(talk=15, amd="MACHINE")

OutcomeFn = Callable[[Originate], Outcome]


def by_number(table: Mapping[str, Outcome | list[Outcome]], default: Outcome = ANSWER) -> OutcomeFn:
    """Per-number outcomes; a list gives the outcome of each successive call to it."""
    seen: Counter[str] = Counter()

    def pick(o: Originate) -> Outcome:
        got = table.get(o.destination, default)
        n = seen[o.destination]
        seen[o.destination] += 1
        if isinstance(got, list):
            return got[min(n, len(got) - 1)]
        return got

    return pick


@dataclass
class Rig:
    outcome: OutcomeFn = lambda _o: ANSWER
    start: float = MONDAY_9AM
    nodes: list[SwitchNode] = field(default_factory=lambda: [SwitchNode("fs1", cps=1000)])
    check: bool = True

    def __post_init__(self) -> None:
        self.clock = VirtualClock(self.start)
        self.dialer = Dialer(self.nodes)
        self.cdrs: list[Cdr] = []
        self.events: list[LeadEvent] = []
        self.originated: list[tuple[float, Originate]] = []
        self.hangups: list[Hangup] = []
        self.max_live: dict[str, int] = {}
        self.live_after: list[tuple[float, str, int]] = []  # live calls after each origination
        self.steps = 0
        self.inputs: dict[str, LeadInput] = {}  # every lead as given, for final()
        self._wake: object | None = None
        self._live: dict[str, list[object]] = {}
        self.invariants = Invariants()
        self.checks: list[Callable[[Rig, list[Action]], None]] = (
            [self.invariants] if self.check else []
        )

    # ---- driving -----------------------------------------------------------------
    def campaign(self, spec: Campaign) -> Campaign:
        self.dialer.upsert_campaign(spec)
        self.step()
        return spec

    def lead(self, lead_uuid: str, campaign_uuid: str, *phones: str, **kw: object) -> None:
        lead_in = LeadInput(lead_uuid=lead_uuid, campaign_uuid=campaign_uuid, phones=phones,
                            **kw)  # type: ignore[arg-type]
        self.dialer.add_lead(lead_in, self.clock.now())
        self.inputs.setdefault(lead_uuid, lead_in)
        self.step()

    def step(self) -> None:
        now = self.clock.now()
        self.steps += 1
        self.dialer.pump(now)
        actions = self.dialer.drain()
        for action in actions:
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
        for action in actions:
            if isinstance(action, Originate):
                live = len(self.dialer.campaigns[action.campaign_uuid].live)
                self.live_after.append((now, action.campaign_uuid, live))
        for check in self.checks:
            check(self, actions)
        wake = self.dialer.next_wakeup()
        if self._wake is not None:
            self._wake.cancel()  # type: ignore[attr-defined]
            self._wake = None
        if wake is not None:
            self._wake = self.clock.call_later(max(0.0, wake - now), self.step)

    def run(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def run_to(self, at: float) -> None:
        self.clock.set(at)

    def run_until_idle(self, limit: float = 7 * DAY) -> None:
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
        later = self.clock.call_later
        if out.refused:
            timers.append(later(0.0, lambda: self._end(o, out, now, None)))
            return
        ring = min(out.ring, float(o.timeout_s))
        if out.answered:
            timers.append(later(ring, lambda: self._answer(o.call_uuid)))
            for delay, digit in out.dtmf:
                timers.append(later(ring + delay, partial(self._dtmf, o.call_uuid, digit)))
            timers.append(later(ring + out.talk, lambda: self._end(o, out, now, ring)))
        else:
            cause = out.cause if out.ring <= o.timeout_s else "NO_ANSWER"
            timers.append(later(ring, lambda: self._end(o, Outcome(cause, talk=0), now, None)))

    def _answer(self, call_uuid: str) -> None:
        self.dialer.call_answered(call_uuid, self.clock.now())
        self.step()

    def _dtmf(self, call_uuid: str, digit: str) -> None:
        self.dialer.call_dtmf(call_uuid, digit)
        self.step()

    def _end(self, o: Originate, out: Outcome, started: float, ring: float | None) -> None:
        self._live.pop(o.call_uuid, None)
        now = self.clock.now()
        answered = ring is not None
        self.dialer.call_ended(
            CallResult(
                call_uuid=o.call_uuid,
                hangup_cause="NORMAL_TEMPORARY_FAILURE" if out.refused else out.cause,
                q850=out.q850,
                answered=answered,
                duration=round(now - started),
                billsec=round(now - started - ring) if ring is not None else 0,
                waitsec=round(ring) if ring is not None else 0,
                start_epoch=0.0 if out.refused else started,
                answer_epoch=started + ring if ring is not None else 0.0,
                end_epoch=now,
                amd_result=out.amd,
                record_name=out.record_name if answered else "",
                recording_url=out.recording_url if answered else "",
                refused=out.refused,
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

        def killed() -> None:
            result = CallResult(call_uuid=h.call_uuid, hangup_cause=h.cause, end_epoch=now)
            self.dialer.call_ended(result, self.clock.now())
            self.step()

        self.clock.call_later(0.0, killed)

    # ---- views ---------------------------------------------------------------------
    def state(self, lead_uuid: str) -> LeadState:
        return self.dialer.leads[lead_uuid].state

    def cdrs_of(self, lead_uuid: str) -> list[Cdr]:
        return [c for c in self.cdrs if c.lead_uuid == lead_uuid]

    def calls_of(self, lead_uuid: str) -> list[tuple[float, Originate]]:
        return [(t, o) for t, o in self.originated if o.lead_uuid == lead_uuid]

    def events_of(self, lead_uuid: str) -> list[LeadEvent]:
        return [e for e in self.events if e.lead_uuid == lead_uuid]

    def finish(self) -> None:
        """End-of-test checks over everything: one CDR per leg, nothing left live."""
        self.invariants.final(self)


class Invariants:
    """Engine rules, checked after every step against what that step did."""

    def __init__(self) -> None:
        self.call_uuids: set[str] = set()
        self.cdr_uuids: set[str] = set()
        self.number_calls: dict[str, list[float]] = defaultdict(list)
        self.node_starts: dict[str, deque[float]] = defaultdict(deque)  # within a window
        self.max_recall_times: dict[str, int] = {}
        self.live_numbers: set[str] = set()  # numbers with a live leg (from the actions)

    def __call__(self, rig: Rig, actions: list[Action]) -> None:
        d = rig.dialer
        now = rig.clock.now()
        originated: Counter[str] = Counter()
        for run in d.campaigns.values():
            cid = run.spec.campaign_uuid
            self.max_recall_times[cid] = max(self.max_recall_times.get(cid, 0),
                                             run.spec.recall_times)
        # CDRs first: a leg that ended in this step frees its number for this step's calls.
        for a in actions:
            if isinstance(a, Cdr):
                self.live_numbers.discard(a.phone_number)
        for a in actions:
            if isinstance(a, Originate):
                # One live call per number, across every campaign of the engine (issue 11).
                assert a.destination not in self.live_numbers, "two live calls to one number"
                self.live_numbers.add(a.destination)
                originated[a.campaign_uuid] += 1
                self.originate(rig, a, now)
            elif isinstance(a, Cdr):
                assert a.cdr_uuid in self.call_uuids, "CDR for a leg never originated"
                assert a.cdr_uuid not in self.cdr_uuids, "two CDRs for one leg"
                self.cdr_uuids.add(a.cdr_uuid)
            elif isinstance(a, LeadEvent) and a.state == "dialing":
                assert d.leads[a.lead_uuid].live or a.lead_uuid not in d.leads
        for cid in originated:
            run = d.campaigns[cid]
            spec = run.spec
            assert len(run.live) <= spec.concurrent_call, "concurrent_call exceeded"
            for key, cap in spec.network.items():
                if cap > 0:
                    assert run.live_by_key[key] <= cap, f"carrier cap {key} exceeded"
        for node in d.pool.nodes.values():
            assert node.live <= node.max_sessions, "node max_sessions exceeded"

    def originate(self, rig: Rig, o: Originate, now: float) -> None:
        d = rig.dialer
        run = d.campaigns[o.campaign_uuid]
        spec = run.spec
        lead = d.leads[o.lead_uuid]
        assert o.call_uuid not in self.call_uuids, "a call_uuid originated twice"
        self.call_uuids.add(o.call_uuid)
        assert spec.active and spec.status is CampaignStatus.START, "dialed a stopped campaign"
        assert not run.deleted
        assert windows.state_at(spec, now).open, f"dialed outside the window at {local(now)}"
        assert lead.state is LeadState.DIALING
        assert lead.attempts <= spec.recall_times + 1, "attempts > recall_times + 1"
        assert o.variables["autocall_attempt"] == str(lead.attempts)
        if spec.policy.respect_national_dnc:
            assert o.destination not in d.dnc_phones, "dialed a DNC number"
        assert lead.input.customer_id not in run.dnc_customers or not lead.input.customer_id
        cap = spec.policy.max_calls_per_number_per_day
        times = self.number_calls[o.destination]
        times.append(now)
        if cap > 0:
            recent = sum(1 for t in times if t > now - DAY)
            assert recent <= cap, f"per-number cap {cap} exceeded: {recent} in 24 h"
        node = d.pool.nodes[o.node]
        assert node.healthy, "dialed through an unhealthy node"
        # What FreeSWITCH enforces: at most burst starts in any window (1 s).
        starts = self.node_starts[o.node]
        starts.append(now)
        while starts and starts[0] <= now - node.window + 1e-9:
            starts.popleft()
        assert len(starts) <= node.burst, f"node {o.node} CPS exceeded"

    def final(self, rig: Rig) -> None:
        d = rig.dialer
        assert not d.legs, "legs still live"
        assert not d.live_numbers and not self.live_numbers
        for lead_uuid in d.parked_on:
            assert d.leads[lead_uuid].state not in (LeadState.QUEUED, LeadState.RECALL), \
                "a lead left parked on a number with no live call"
        assert self.cdr_uuids == self.call_uuids, "a leg without its CDR"
        assert len(rig.cdrs) == len(rig.originated)
        for lead_uuid, lead_in in rig.inputs.items():
            # the compact lead storage gives back every field of the lead as imported
            assert d.leads[lead_uuid].input == lead_in, "a lead lost a field"
        for lead in d.leads.values():
            limit = self.max_recall_times.get(lead.campaign_uuid, 0) + 1
            assert lead.attempts <= limit, "attempts > recall_times + 1"
            assert not lead.live


def invariants(rig: Rig, actions: list[Action]) -> None:
    rig.invariants(rig, actions)


def basic_campaign(cid: str = "c1", **kw: object) -> Campaign:
    fields: dict[str, object] = {"campaign_uuid": cid, "campaign_name": cid.upper(),
                                 "concurrent_call": 5, "template_text": "Chào bạn {{name}}"}
    fields.update(kw)
    return Campaign(**fields)  # type: ignore[arg-type]


def phone(i: int, prefix: str = "09") -> str:
    """A valid mobile number: prefix "09" is MobiFone 090…, use e.g. "098" for Viettel."""
    return f"{prefix}{i:0{10 - len(prefix)}d}"


def drive(rig: Rig, leads: Iterable[tuple[str, tuple[str, ...]]], cid: str = "c1") -> None:
    for lead_uuid, phones in leads:
        rig.lead(lead_uuid, cid, *phones)
