"""One chaos run: start the processes, publish the workload, let the test inject its fault,
settle, compute and print the figures, check them against the issue's guarantees."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from adapters.fssim.calllog import CallLogReader
from tests.chaos.analysis import Faults, Figures, Outputs, compute, settle
from tests.chaos.harness import (
    Cluster,
    GroupWatcher,
    Size,
    Workload,
    make_workload,
    publish_leads,
    publish_setup,
)


@dataclass
class ChaosRun:
    bootstrap: str
    prefix: str
    workdir: Path
    size: Size
    engines: int | None = None
    faults: Faults = field(default_factory=Faults)
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self.cluster = Cluster(self.bootstrap, self.prefix, self.workdir, self.size,
                               engines=self.engines)
        self.work: Workload = make_workload(self.size, self.prefix)
        self.reader = CallLogReader(self.cluster.call_log)
        self.outputs = Outputs(self.bootstrap, self.prefix)
        self.faults.partitions = self.size.partitions
        self.watcher = GroupWatcher(self.bootstrap, self.cluster.group, f"{self.prefix}leads")
        self.faults.group = self.watcher.snapshots  # filled while the run goes on

    async def __aenter__(self) -> Self:
        self.started_at = time.monotonic()
        try:
            await self.cluster.start()
            await self.watcher.__aenter__()
            # Faults start from a settled group: every engine a member, every partition
            # owned, no rebalance under way (readiness alone does not say that).
            count = len(self.cluster.engines)
            stable = await self.watcher.wait_for(
                lambda s: s.state == "Stable" and len(s.members) == count
                and len(s.owners) == self.size.partitions, 90, "stable with every engine")
            self.cluster.note(f"group stable: {len(stable.members)} members, "
                              f"{len(stable.owners)} partitions owned")
            await self.outputs.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.watcher.__aexit__(None, None, None)
        await self.outputs.close()
        await self.cluster.close()

    async def publish(self) -> None:
        await publish_setup(self.bootstrap, self.prefix, self.work, self.size)
        await publish_leads(self.bootstrap, self.prefix, self.work)
        self.cluster.note(f"published {len(self.work.campaigns)} campaigns, "
                          f"{len(self.work.leads)} leads ({self.work.dialable} dialable)")

    async def settle(self, quiet: float = 15.0) -> Figures:
        await settle(self.work, self.reader, self.outputs, quiet=quiet,
                     deadline=3 * self.size.expected_seconds + 90)
        await self.outputs.drain()
        self.cluster.note("settled")
        return compute(self.work, self.reader.records, self.outputs, self.faults)

    def report(self, title: str, fig: Figures) -> None:
        wall = time.monotonic() - self.started_at
        print(fig.table(f"{title} ({len(self.work.leads)} leads, {wall:.0f} s wall)"),
              flush=True)


def problems(fig: Figures, *, lost: bool = True, double: bool = True, dnc: bool = True,
             overshoot: bool = True, cdr: bool = True, dropped: bool = False,
             recovery: float | None = None, zombie: bool = False,
             durable: bool = True) -> list[str]:
    """The guarantees a scenario asserts, each as a line naming the figure that broke it."""
    out = []
    if lost and fig.leads_lost:
        out.append(f"{fig.leads_lost} leads lost (e.g. {', '.join(fig.lost_examples)})")
    if double and fig.dialled_after_settled_unknown:
        out.append(f"{fig.dialled_after_settled_unknown} calls originated after their attempt "
                   "was recorded as unknown outcome (no channel)")
    if double and fig.numbers_with_two_live_calls:
        out.append(f"{fig.numbers_with_two_live_calls} numbers had two live calls at once")
    if double and fig.double:
        out.append(f"{fig.double} attempts originated twice "
                   f"(uuid twice {fig.uuids_created_twice}, live uuid re-originated "
                   f"{fig.duplicate_uuid_refusals}, lead+attempt twice "
                   f"{fig.attempts_dialled_twice})")
    if dnc and fig.dnc_calls:
        out.append(f"{fig.dnc_calls} calls to do-not-call numbers/customers")
    if overshoot and fig.overshoot:
        worst = max(fig.peak_live.values())
        out.append(f"live calls above concurrent_call: peak {worst} vs {fig.concurrent_call}")
    if cdr and fig.calls_without_cdr:
        out.append(f"{fig.calls_without_cdr} calls without a CDR")
    if durable and fig.missing_topics:
        out.append(f"output topics missing: {', '.join(fig.missing_topics)}")
    if dropped and fig.calls_dropped:
        out.append(f"{fig.calls_dropped} calls dropped")
    if recovery is not None and (fig.recovery_s is None or fig.recovery_s > recovery):
        out.append(f"dialling resumed {fig.recovery_s} s after the kill (limit {recovery} s)")
    if zombie and fig.zombie_originations != 0:
        out.append(f"the resumed engine originated {fig.zombie_originations} calls "
                   "for partitions it had lost")
    return out
