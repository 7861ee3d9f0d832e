"""Issue 10, "Must show": engine processes killed, rolled and paused mid-campaign on the
session's broker. 3 `dialer engine` + 1 `dialer fssim` processes, 10 campaigns at
concurrent_call 20, CHAOS_LEADS leads (``full`` = 20,000) with DNC entries mixed in. Each
test prints its figures (measured from the simulator's call log and the output topics) and
asserts the guarantees the issue names for its fault."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.chaos.analysis import busiest_engine, wait_progress
from tests.chaos.harness import Size
from tests.chaos.scenario import ChaosRun, problems


async def test_kill9_one_engine_mid_campaign(
    kafka_bootstrap: str, kafka_topic_prefix: str, chaos_dir: Path, size: Size,
) -> None:
    """SIGKILL at 30 % dialled, restarted at once: 0 lost, every call its CDR, 0 double,
    0 DNC calls, no campaign above concurrent_call, its campaigns dial again within 10 s."""
    async with ChaosRun(kafka_bootstrap, kafka_topic_prefix, chaos_dir, size) as run:
        await run.publish()
        await wait_progress(run.reader, run.work, 0.3, 60 + 2 * size.expected_seconds)
        victim = next(e for e in run.cluster.engines
                      if e.name == busiest_engine(run.reader, run.work))
        run.faults.kill_at = await run.cluster.kill9(victim)
        run.faults.killed = victim.name
        run.cluster.note(f"SIGKILL {victim.name}")
        await run.cluster.restart(victim, wait_ready=False)
        ready = asyncio.ensure_future(victim.wait_ready())
        fig = await run.settle()
        run.report("kill -9 one engine mid-campaign", fig)
        print(f"  restarted {victim.name} ready {await ready - run.faults.kill_at:.1f} s "
              "after the kill (process start, tables, restore)")
        for cid, seconds in sorted(fig.recovery_per_campaign.items()):
            print(f"  recovery {cid}: {seconds:.2f} s")
    bad = problems(fig, recovery=10.0)
    assert not bad, "\n".join(bad)


async def test_rolling_restart_drops_no_call(
    kafka_bootstrap: str, kafka_topic_prefix: str, chaos_dir: Path, size: Size,
) -> None:
    """SIGTERM one engine at a time, each back and ready before the next: additionally 0
    calls dropped (every call ends by the far end or its own timeout)."""
    async with ChaosRun(kafka_bootstrap, kafka_topic_prefix, chaos_dir, size) as run:
        await run.publish()
        await wait_progress(run.reader, run.work, 0.1, 60 + 2 * size.expected_seconds)
        run.faults.rolling = await run.cluster.rolling_restart()
        fig = await run.settle()
        run.report("rolling restart (SIGTERM one at a time)", fig)
        for name, term, ready in run.faults.rolling:
            print(f"  {name}: SIGTERM → ready {ready - term:.1f} s")
    bad = problems(fig, dropped=True)
    assert not bad, "\n".join(bad)


async def test_zombie_engine_originates_nothing_for_lost_partitions(
    kafka_bootstrap: str, kafka_topic_prefix: str, chaos_dir: Path, size: Size,
) -> None:
    """SIGSTOP past the session timeout (the group drops it and hands its partitions on),
    then SIGCONT: not one origination for a partition it no longer owns."""
    async with ChaosRun(kafka_bootstrap, kafka_topic_prefix, chaos_dir, size) as run:
        await run.publish()
        await wait_progress(run.reader, run.work, 0.2, 60 + 2 * size.expected_seconds)
        victim = next(e for e in run.cluster.engines
                      if e.name == busiest_engine(run.reader, run.work))
        run.faults.zombie = victim.name
        run.faults.zombie_stop_at = victim.signal(signal.SIGSTOP)
        run.cluster.note(f"SIGSTOP {victim.name}")
        gone = await run.watcher.wait_for(
            lambda s: victim.name not in s.members and len(s.owners) == size.partitions,
            120, f"handed {victim.name}'s partitions on")  # past any session timeout
        run.cluster.note(f"group dropped {victim.name} "
                         f"({gone.t - run.faults.zombie_stop_at:.1f} s after SIGSTOP)")
        run.faults.zombie_cont_at = victim.signal(signal.SIGCONT)
        run.cluster.note(f"SIGCONT {victim.name}")
        fig = await run.settle()
        run.report("zombie (SIGSTOP past session timeout, SIGCONT)", fig)
    bad = problems(fig, zombie=True, cdr=False)
    assert not bad, "\n".join(bad)



async def test_no_fault_control_run(
    kafka_bootstrap: str, kafka_topic_prefix: str, chaos_dir: Path, size: Size,
) -> None:
    """The control: the same run without a fault accounts for every lead with every figure
    at zero, so a figure that moves under a fault is the fault's doing, not the rig's."""
    async with ChaosRun(kafka_bootstrap, kafka_topic_prefix, chaos_dir, size) as run:
        await run.publish()
        fig = await run.settle()
        run.report("no fault (control)", fig)
    bad = problems(fig, dropped=True, durable=False)
    assert not bad, "\n".join(bad)
