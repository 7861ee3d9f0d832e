"""What a chaos run did, measured from outside the engines.

Sources: the simulator's call log (what the switch was asked to do and when) and the output
topics read ``read_committed`` (``<prefix>cdr``, ``<prefix>lead-events``, and the lead-state
changelog ``<prefix>lead-state`` when it exists). Nothing is asked of an engine.

A missing topic or field is reported as such (and fails the figure that needs it); it never
crashes the analysis: the suite must give clear numbers before the durable engine lands.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from adapters.fssim.calllog import CallLogReader, CallRecord, live_peaks
from tests.chaos.harness import GroupSnapshot, Workload, partition_of

TERMINAL = frozenset({"completed", "exhausted", "skipped", "invalid", "removed"})
SCENARIO_ENDS = frozenset({"far_end", "timeout", "race"})


class Outputs:
    """Tails the output topics (read_committed) from the beginning, from outside."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.topics = {name: f"{prefix}{name}" for name in ("cdr", "lead-events", "lead-state")}
        self.cdrs: list[dict[str, Any]] = []
        self.lead_events: list[dict[str, Any]] = []
        self.lead_state: list[dict[str, Any]] = []
        self.undecodable = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned: set[str] = set()
        self._next_describe = 0.0

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                          isolation_level="read_committed",
                                          enable_auto_commit=False, auto_offset_reset="earliest",
                                          max_poll_records=5000)
        await self._consumer.start()

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    @property
    def missing(self) -> list[str]:
        return sorted(name for name, topic in self.topics.items() if topic not in self._assigned)

    async def _describe(self) -> dict[str, list[int]]:
        """Partitions of the output topics that exist now (none while the broker is away)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        found: dict[str, list[int]] = {}
        try:
            await admin.start()
            # Only topics that exist: a Metadata request naming a missing topic would
            # auto-create it (with the broker's default partition count) before the engine.
            existing = set(await admin.list_topics())
            wanted = [t for t in self.topics.values() if t in existing]
            for topic in await admin.describe_topics(wanted) if wanted else []:
                if topic["error_code"] == 0 and topic["partitions"]:
                    found[str(topic["topic"])] = sorted(
                        int(p["partition"]) for p in topic["partitions"])
        except Exception:  # noqa: BLE001 - broker away: the next poll tries again
            return {}
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        return found

    async def _assign_new(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_describe:
            return
        self._next_describe = loop.time() + 2.0
        found = await self._describe()
        fresh = [TopicPartition(t, p) for t, parts in found.items() if t not in self._assigned
                 for p in parts]
        if not fresh:
            return
        self._assigned.update(found)
        kept = list(consumer.assignment())
        positions = {tp: await consumer.position(tp) for tp in kept}
        consumer.assign(kept + fresh)
        for tp, pos in positions.items():
            consumer.seek(tp, pos)
        await consumer.seek_to_beginning(*fresh)

    async def drain(self, seconds: float = 30.0) -> None:
        """Read every partition up to its end now (the last stable offset: read_committed).
        Records of one transaction sit on several topics; a reader that stopped when one
        of them showed a lead done could miss the CDR committed with it."""
        consumer = self._consumer
        assert consumer is not None
        await self._assign_new()
        tps = list(consumer.assignment())
        if not tps:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            ends = await consumer.end_offsets(tps)
        except Exception:  # noqa: BLE001 - broker away: the figures use what was read
            return
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not behind or loop.time() > deadline:
                return
            await self.poll(0.2)

    async def poll(self, wait: float = 0.2) -> int:
        """Read what is there now; returns the number of records read."""
        consumer = self._consumer
        assert consumer is not None
        if len(self._assigned) < len(self.topics):
            await self._assign_new()
        if not self._assigned:
            await asyncio.sleep(wait)
            return 0
        got = 0
        try:
            batches = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=20_000)
        except Exception:  # noqa: BLE001 - broker away (the broker test): try again later
            await asyncio.sleep(wait)
            return 0
        sinks = {self.topics["cdr"]: self.cdrs, self.topics["lead-events"]: self.lead_events,
                 self.topics["lead-state"]: self.lead_state}
        for tp, records in batches.items():
            for record in records:
                if record.value is None:
                    continue
                try:
                    value = orjson.loads(record.value)
                except orjson.JSONDecodeError:
                    self.undecodable += 1
                    continue
                if isinstance(value, dict):
                    value["_kafka_ts"] = record.timestamp / 1000  # producer's CreateTime, s
                    sinks[tp.topic].append(value)
                    got += 1
        return got


@dataclass
class Faults:
    """When the faults happened (wall clock), for the figures that depend on them."""

    kill_at: float | None = None
    killed: str = ""
    rolling: list[tuple[str, float, float]] = field(default_factory=list)
    zombie: str = ""
    zombie_stop_at: float | None = None
    zombie_cont_at: float | None = None
    group: list[GroupSnapshot] = field(default_factory=list)
    partitions: int = 12


@dataclass
class Figures:
    leads: int = 0
    dialable: int = 0
    leads_lost: int = 0
    lost_examples: list[str] = field(default_factory=list)
    calls: int = 0
    calls_without_cdr: int = 0
    cdrs_without_call: int = 0
    unknown_outcome_cdrs: int = 0
    uuids_created_twice: int = 0
    duplicate_uuid_refusals: int = 0
    attempts_dialled_twice: int = 0
    leads_dialled_more_than_once: int = 0
    numbers_with_two_live_calls: int = 0
    dialled_after_settled_unknown: int = 0
    dnc_calls_global: int = 0
    dnc_calls_campaign: int = 0
    peak_live: dict[str, int] = field(default_factory=dict)
    concurrent_call: int = 0
    overshoot: int = 0
    calls_dropped: int = 0
    calls_never_ended: int = 0
    recovery_s: float | None = None
    recovery_per_campaign: dict[str, float] = field(default_factory=dict)
    zombie_originations: int | None = None
    zombie_detail: str = ""
    missing_topics: list[str] = field(default_factory=list)
    no_cdr_examples: list[str] = field(default_factory=list)
    cdr_without_call_kinds: dict[str, int] = field(default_factory=dict)
    partition_tagged_calls: int = 0

    @property
    def double(self) -> int:
        return self.uuids_created_twice + self.duplicate_uuid_refusals + self.attempts_dialled_twice

    @property
    def dnc_calls(self) -> int:
        return self.dnc_calls_global + self.dnc_calls_campaign

    def table(self, title: str) -> str:
        peaks = sorted(self.peak_live.values())
        rows = [
            ("leads (dialable)", f"{self.leads} ({self.dialable})"),
            ("leads lost (no CDR, no terminal state)", f"{self.leads_lost}"
             + (f"  e.g. {', '.join(self.lost_examples)}" if self.lost_examples else "")),
            ("calls made (simulator creates)", self.calls),
            ("calls without CDR", f"{self.calls_without_cdr}"
             + (f"  e.g. {', '.join(self.no_cdr_examples)}" if self.no_cdr_examples else "")),
            ("CDRs without a call at the switch", f"{self.cdrs_without_call}"
             + (f"  {self.cdr_without_call_kinds}" if self.cdr_without_call_kinds else "")),
            ("unknown-outcome CDRs", self.unknown_outcome_cdrs),
            ("origination uuids created twice", self.uuids_created_twice),
            ("re-originations of a live uuid (refused)", self.duplicate_uuid_refusals),
            ("(lead, attempt) dialled twice", self.attempts_dialled_twice),
            ("leads dialled more than once (recall_times 0)", self.leads_dialled_more_than_once),
            ("numbers with 2+ live calls at once", self.numbers_with_two_live_calls),
            ("calls created after their attempt was settled as unknown outcome",
             self.dialled_after_settled_unknown),
            ("calls to DNC numbers / DNC customers",
             f"{self.dnc_calls_global} / {self.dnc_calls_campaign}"),
            ("peak live per campaign (min..max) vs concurrent_call",
             f"{peaks[0] if peaks else 0}..{peaks[-1] if peaks else 0} vs {self.concurrent_call}"),
            ("overshoot (sum over campaigns of peak - concurrent_call)", self.overshoot),
            ("calls dropped (ended by neither far end nor timeout)", self.calls_dropped),
            ("calls never ended at the switch", self.calls_never_ended),
            ("recovery: kill → dialling again, slowest campaign",
             "n/a" if self.recovery_s is None else f"{self.recovery_s:.2f} s"),
            ("zombie originations after SIGCONT (partitions it lost)",
             "n/a" if self.zombie_originations is None
             else f"{self.zombie_originations} {self.zombie_detail}".rstrip()),
            ("calls tagged autocall_partition", self.partition_tagged_calls),
            ("output topics missing", ", ".join(self.missing_topics) or "none"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"== chaos: {title} =="]
        lines += [f"  {name:<{width}}  {value}" for name, value in rows]
        return "\n".join(lines)


def accounted(work: Workload, outputs: Outputs) -> set[str]:
    """Leads with ≥ 1 CDR or a terminal state (lead-events or the lead-state changelog)."""
    done = {str(c.get("lead_uuid", "")) for c in outputs.cdrs}
    for rec in _lead_states(outputs):
        if rec.get("state") in TERMINAL:
            done.add(str(rec.get("lead_uuid", "")))
    return done & work.leads.keys()


def _lead_states(outputs: Outputs) -> Iterable[dict[str, Any]]:
    yield from outputs.lead_events
    yield from outputs.lead_state


def compute(work: Workload, calls: list[CallRecord], outputs: Outputs,
            faults: Faults | None = None) -> Figures:
    faults = faults or Faults()
    fig = Figures(leads=len(work.leads), dialable=work.dialable,
                  concurrent_call=work.concurrent_call, missing_topics=outputs.missing)
    mine = [c for c in calls if c.campaign in work.campaigns]
    creates = [c for c in mine if c.ev == "create"]
    fig.calls = len(creates)
    fig.partition_tagged_calls = sum(1 for c in creates if c.partition)

    done = accounted(work, outputs)
    lost = sorted(work.leads.keys() - done)
    fig.leads_lost = len(lost)
    fig.lost_examples = lost[:3]

    cdr_uuids = Counter(str(c.get("cdr_uuid", "")) for c in outputs.cdrs
                        if c.get("campaign_uuid") in work.campaigns)
    created = Counter(c.uuid for c in creates)
    no_cdr = [c for c in creates if c.uuid not in cdr_uuids]
    fig.calls_without_cdr = len(no_cdr)
    t0 = creates[0].t if creates else 0.0
    fig.no_cdr_examples = [f"{c.lead}#{c.attempt} by {c.engine} at +{c.t - t0:.1f}s"
                           for c in no_cdr[:3]]
    kinds = Counter(f"{c.get('status')}/{c.get('hangup_cause')}" for c in outputs.cdrs
                    if c.get("campaign_uuid") in work.campaigns
                    and str(c.get("cdr_uuid", "")) not in created)
    fig.cdrs_without_call = sum(kinds.values())
    fig.cdr_without_call_kinds = dict(kinds.most_common(4))
    unknown = {str(c.get("cdr_uuid", "")): float(c.get("_kafka_ts", 0.0)) for c in outputs.cdrs
               if c.get("campaign_uuid") in work.campaigns
               and (c.get("status") == "unknown" or c.get("hangup_cause") == "UNKNOWN_OUTCOME")}
    fig.unknown_outcome_cdrs = len(unknown)
    # An unknown outcome says "no channel on any switch": a channel created after that
    # record was written is an originate for an attempt already closed (a zombie's).
    fig.dialled_after_settled_unknown = sum(
        1 for c in creates if c.uuid in unknown and c.t > unknown[c.uuid])
    fig.uuids_created_twice = sum(n - 1 for n in created.values() if n > 1)
    fig.duplicate_uuid_refusals = sum(
        1 for c in mine if c.ev == "refuse" and c.reason == "duplicate_uuid")
    per_attempt = Counter((c.lead, c.attempt) for c in creates)
    fig.attempts_dialled_twice = sum(
        n - 1 for (_, _), n in per_attempt.items() if n > 1
    ) - fig.uuids_created_twice
    fig.attempts_dialled_twice = max(fig.attempts_dialled_twice, 0)
    per_lead = Counter(c.lead for c in creates)
    fig.leads_dialled_more_than_once = sum(1 for n in per_lead.values() if n > 1)

    for c in creates:
        lead = work.leads.get(c.lead)
        if c.number in work.global_numbers:
            fig.dnc_calls_global += 1
        elif lead is not None and lead.dnc == "campaign":
            fig.dnc_calls_campaign += 1

    fig.peak_live = {k: v for k, v in live_peaks(mine).items() if k in work.campaigns}
    fig.numbers_with_two_live_calls = sum(
        1 for n in live_peaks(mine, by="number").values() if n > 1)
    fig.overshoot = sum(max(p - work.concurrent_call, 0) for p in fig.peak_live.values())
    ended = {c.uuid for c in mine if c.ev == "hangup"}
    fig.calls_dropped = sum(1 for c in mine if c.ev == "hangup" and c.by not in SCENARIO_ENDS)
    fig.calls_never_ended = sum(1 for u in created if u not in ended)

    if faults.kill_at is not None:
        fig.recovery_s, fig.recovery_per_campaign = _recovery(work, creates, faults)
    if faults.zombie_cont_at is not None:
        fig.zombie_originations, fig.zombie_detail = _zombie(creates, faults)
    return fig


def _recovery(work: Workload, creates: list[CallRecord],
              faults: Faults) -> tuple[float, dict[str, float]]:
    """Per campaign the killed engine was dialling (with leads still to dial at the kill):
    seconds from the kill to its next origination by anyone; the slowest is the figure."""
    assert faults.kill_at is not None
    kill = faults.kill_at
    last_before: dict[str, CallRecord] = {}
    dialled_before: set[str] = set()
    for c in creates:
        if c.t <= kill:
            last_before[c.campaign] = c
            dialled_before.add(c.lead)
    todo = Counter(lead.campaign for lead in work.leads.values()
                   if not lead.dnc and lead.lead_uuid not in dialled_before)
    victims = [cid for cid, c in last_before.items()
               if c.engine == faults.killed and todo[cid] > 0]
    per: dict[str, float] = {}
    for cid in victims:
        after = [c.t for c in creates if c.campaign == cid and c.t > kill]
        per[cid] = (min(after) - kill) if after else math.inf
    return (max(per.values()) if per else 0.0), per


def _owned(snapshots: list[GroupSnapshot], client: str, partition: int,
           start: float, end: float) -> bool:
    return any(start <= s.t <= end and s.owners.get(partition) == client for s in snapshots)


def _zombie(creates: list[CallRecord], faults: Faults, slack: float = 1.0) -> tuple[int, str]:
    """Originations by the resumed engine for a partition it did not own: none of the group
    snapshots from SIGCONT to `slack` after the call shows it as that partition's owner."""
    cont = faults.zombie_cont_at
    assert cont is not None
    rejoined = next((s.t for s in faults.group if s.t >= cont and faults.zombie in s.members
                     and faults.zombie in s.owners.values()), None)
    bad: list[float] = []
    after = unjudged = 0
    times = [s.t for s in faults.group]
    for c in creates:
        if c.engine != faults.zombie or c.t < cont:
            continue
        after += 1
        part = int(c.partition) if c.partition.isdigit() else partition_of(
            c.campaign, faults.partitions)
        if _owned(faults.group, faults.zombie, part, cont, c.t + slack):
            continue
        # No snapshot close to the call (the watcher's describe failed or lagged): the
        # group's view at that moment is not known, so the call is not judged.
        i = bisect.bisect_left(times, c.t - slack)
        if i == len(times) or times[i] > c.t + slack:
            unjudged += 1
            continue
        bad.append(c.t - cont)
    seen = "never" if rejoined is None else f"{rejoined - cont:.1f} s"
    window = f"{bad[0]:.1f}..{bad[-1]:.1f} s after SIGCONT; " if bad else ""
    return len(bad), (f"({window}{after} in all after SIGCONT, {unjudged} unjudged; "
                      f"owner again after {seen})")


async def settle(work: Workload, reader: CallLogReader, outputs: Outputs, *,
                 quiet: float, deadline: float) -> None:
    """Read until every lead is accounted for and no call is up, or nothing has moved for
    `quiet` seconds, or `deadline` seconds passed; the figures then tell what is missing."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    last_change = loop.time()
    live: dict[str, int] = defaultdict(int)
    seen_calls = 0
    while True:
        got = await outputs.poll(0.2)
        fresh = reader.poll()
        for c in fresh:
            if c.ev == "create":
                live[c.uuid] = 1
            elif c.ev == "hangup":
                live.pop(c.uuid, None)
            elif c.ev == "reset":
                live.clear()
        if got or fresh:
            last_change = loop.time()
        seen_calls += len(fresh)
        if not live and len(accounted(work, outputs)) == len(work.leads):
            return
        now = loop.time()
        if now - last_change > quiet or now > end:
            return


def creates_so_far(reader: CallLogReader, work: Workload) -> int:
    reader.poll()
    return sum(1 for c in reader.records if c.ev == "create" and c.campaign in work.campaigns)


async def wait_progress(reader: CallLogReader, work: Workload, fraction: float,
                        seconds: float) -> None:
    """Until `fraction` of the dialable leads has been originated at the switch."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    target = int(work.dialable * fraction)
    while creates_so_far(reader, work) < target:
        if loop.time() > deadline:
            raise AssertionError(f"only {creates_so_far(reader, work)}/{target} calls "
                                 f"originated in {seconds}s")
        await asyncio.sleep(0.1)


def busiest_engine(reader: CallLogReader, work: Workload, window: float = 3.0) -> str:
    """The instance that originated calls for the most campaigns in the last `window` s."""
    reader.poll()
    creates = [c for c in reader.records if c.ev == "create" and c.campaign in work.campaigns]
    if not creates:
        return ""
    horizon = creates[-1].t - window
    campaigns: dict[str, set[str]] = defaultdict(set)
    for c in creates:
        if c.t >= horizon:
            campaigns[c.engine].add(c.campaign)
    return max(campaigns, key=lambda e: (len(campaigns[e]), e))
