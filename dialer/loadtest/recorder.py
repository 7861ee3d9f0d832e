"""What a load run measures, second by second: the engine's hooks (originations, refill
and answer latency), periodic samples of live channels (engine and switch side), and the
CDRs read back from the cdr topic (one row per call)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from engine.records import Cdr, LeadEvent


@dataclass(frozen=True, slots=True)
class CallRow:
    """One finished call leg as the cdr topic carried it (no phone number)."""

    call_uuid: str
    campaign: str
    status: str
    hangup_cause: str
    billsec: int
    duration: int
    waitsec: int
    attempt: int
    answered: bool
    read_at: float  # seconds since the run started, when the CDR was read back


@dataclass(slots=True)
class Second:
    """Counts and peaks within one second of the run."""

    originations: int = 0
    cdrs: int = 0
    answered: int = 0
    by_node: Counter[str] = field(default_factory=Counter)
    by_campaign: Counter[str] = field(default_factory=Counter)
    done_by_campaign: Counter[str] = field(default_factory=Counter)
    live_by_campaign: dict[str, int] = field(default_factory=dict)  # peak
    live_by_node: dict[str, int] = field(default_factory=dict)  # peak, the switch's count
    live_total: int = 0  # peak of the nodes' sum, taken at one sample (not a sum of peaks)
    queue_depth: int = 0  # peak over the campaigns' sum
    refill: list[float] = field(default_factory=list)


class Recorder:
    """Implements engine/hooks.py's EngineHooks; everything keyed by whole seconds since
    ``t0`` (a monotonic clock: the report's time axis)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.seconds: defaultdict[int, Second] = defaultdict(Second)
        self.calls: list[CallRow] = []
        self.refills: list[tuple[float, str, float]] = []  # (at, campaign, seconds)
        self.answer_latency: list[float] = []
        self.originated_by_node: Counter[str] = Counter()
        self.originated_by_campaign: Counter[str] = Counter()
        self.done_by_campaign: Counter[str] = Counter()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _now(self) -> Second:
        return self.seconds[int(self.elapsed())]

    # ---- EngineHooks ----------------------------------------------------------------
    def originated(self, campaign_uuid: str, node: str) -> None:
        s = self._now()
        s.originations += 1
        s.by_node[node] += 1
        s.by_campaign[campaign_uuid] += 1
        self.originated_by_node[node] += 1
        self.originated_by_campaign[campaign_uuid] += 1

    def answered(self, campaign_uuid: str, node: str, seconds: float) -> None:
        self.answer_latency.append(seconds)

    def refilled(self, campaign_uuid: str, seconds: float) -> None:
        self._now().refill.append(seconds)
        self.refills.append((self.elapsed(), campaign_uuid, seconds))

    def recorded(self, record: Cdr | LeadEvent) -> None:
        return None  # CDRs are read back from the bus (the real path), not taken here

    # ---- the cdr topic and samples --------------------------------------------------
    def cdr(self, record: dict[str, object]) -> None:
        at = self.elapsed()
        answered = bool(record.get("answer_stamp")) or int(str(record.get("billsec", 0))) > 0
        campaign = str(record.get("campaign_uuid", ""))
        row = CallRow(
            call_uuid=str(record.get("cdr_uuid", "")), campaign=campaign,
            status=str(record.get("status", "")),
            hangup_cause=str(record.get("hangup_cause", "")),
            billsec=int(str(record.get("billsec", 0))),
            duration=int(str(record.get("duration", 0))),
            waitsec=int(str(record.get("waitsec", 0))),
            attempt=int(str(record.get("attempt", 0))), answered=answered, read_at=at)
        self.calls.append(row)
        s = self.seconds[int(at)]
        s.cdrs += 1
        s.answered += answered
        s.done_by_campaign[campaign] += 1
        self.done_by_campaign[campaign] += 1

    def sample(self, live_by_campaign: dict[str, int], live_by_node: dict[str, int],
               queue_depth: int) -> None:
        s = self._now()
        for k, v in live_by_campaign.items():
            s.live_by_campaign[k] = max(s.live_by_campaign.get(k, 0), v)
        for k, v in live_by_node.items():
            s.live_by_node[k] = max(s.live_by_node.get(k, 0), v)
        s.live_total = max(s.live_total, sum(live_by_node.values()))
        s.queue_depth = max(s.queue_depth, queue_depth)

    @property
    def originations(self) -> int:
        return sum(self.originated_by_node.values())
