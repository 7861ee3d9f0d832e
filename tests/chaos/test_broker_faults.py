"""Issue 10, "Must show": the broker stopped and restarted mid-run on the same data
(KafkaBroker.halt()/resume(): same port, same log dirs), and an engine restart after the
topics' retention would have expired. Both run on a broker of their own
(tests/chaos/conftest.py `own_broker`): the first stops it, the second needs retention
enforced every second."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from proto import messages as m
from tests.chaos.analysis import Outputs, wait_progress
from tests.chaos.harness import (
    Cluster,
    Size,
    make_workload,
    publish_setup,
)
from tests.chaos.scenario import ChaosRun, problems
from tests.chaos.topics import create_topic, log_extent, set_topic_configs
from tests.kafka_broker import KafkaBroker

# How long the broker stays down: the fault itself, not a wait for a condition.
OUTAGE_S = 5.0
RETENTION_MS = 1000
ROUNDS = {"probe": 10, "after": 20, "canary": 30, "dnc": 40}  # number block per round


async def test_broker_stopped_and_restarted_mid_run(
    own_broker: KafkaBroker, kafka_topic_prefix: str, chaos_dir: Path, size: Size,
) -> None:
    """SIGTERM to the broker at 30 % dialled, back OUTAGE_S later on the same data:
    0 leads lost, 0 attempts originated twice."""
    bootstrap = own_broker.bootstrap
    async with ChaosRun(bootstrap, kafka_topic_prefix, chaos_dir, size) as run:
        await run.publish()
        await wait_progress(run.reader, run.work, 0.3, 60 + 2 * size.expected_seconds)
        run.cluster.note("stopping the broker")
        port = own_broker.port
        await asyncio.to_thread(own_broker.halt)
        assert not own_broker.running
        down = run.cluster.note("broker down")
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(own_broker.resume)
        assert own_broker.running and own_broker.port == port, "not the same broker"
        run.cluster.note(f"broker back ({time.time() - down:.1f} s down)")
        fig = await run.settle()
        run.report("broker stopped and restarted on the same data", fig)
    bad = problems(fig, overshoot=False, cdr=False, durable=False)
    assert not bad, "\n".join(bad)


async def test_campaigns_and_global_dnc_survive_retention(
    own_broker: KafkaBroker, kafka_topic_prefix: str, chaos_dir: Path,
) -> None:
    """control and dnc get retention.ms of one second; once the broker has provably applied
    that retention (a delete-policy canary topic lost its records) a restarted engine still
    knows every campaign (their new leads are dialled) and the global DNC list (listed
    numbers are not)."""
    bootstrap, prefix = own_broker.bootstrap, kafka_topic_prefix
    size = Size(leads=20, engines=1)
    work = make_workload(size, prefix)
    cluster = Cluster(bootstrap, prefix, chaos_dir, size, engines=1)
    outputs = Outputs(bootstrap, prefix)
    await cluster.start()
    await outputs.start()
    try:
        await publish_setup(bootstrap, prefix, work, size)
        # The engine has taken the campaigns once a probe lead per campaign has its CDR.
        await publish_round(bootstrap, prefix, work.campaigns, "probe")
        await wait_cdrs(outputs, {f"{c}-probe" for c in work.campaigns}, 60)
        tables = [f"{prefix}control", f"{prefix}dnc"]
        configs = await set_topic_configs(bootstrap, tables, {
            "retention.ms": str(RETENTION_MS), "segment.ms": "100"})
        canary = f"{prefix}canary"
        await create_topic(bootstrap, canary, {"cleanup.policy": "delete",
                                               "retention.ms": str(RETENTION_MS),
                                               "segment.ms": "100"})
        await publish_round(bootstrap, prefix, ["x"], "canary", topic=canary)
        engine = cluster.engines[0]
        engine.signal(signal.SIGTERM)
        assert await engine.wait_exit(60) == 0
        cluster.note("engine stopped; waiting for the broker to apply retention")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while (await log_extent(bootstrap, [canary]))[canary][0] == 0:
            assert loop.time() < deadline, "the broker never applied retention to the canary"
            await asyncio.sleep(0.2)
        extent = await log_extent(bootstrap, tables)
        cluster.note("retention applied: " + ", ".join(
            f"{t.removeprefix(prefix)} {configs[t].get('cleanup.policy', 'delete')}: "
            f"{gone} deleted, {kept} kept" for t, (gone, kept) in extent.items()))
        await cluster.restart(engine)
        await publish_round(bootstrap, prefix, work.campaigns, "after")
        listed = sorted(work.global_numbers)
        await publish_round(bootstrap, prefix, work.campaigns, "dnc", numbers=listed)
        wanted = {f"{c}-after" for c in work.campaigns}
        blocked = {f"{c}-dnc" for c in work.campaigns}
        await wait_cdrs(outputs, wanted, 30, blocked=blocked, quiet=True)
        with_cdr = {str(c.get("lead_uuid")) for c in outputs.cdrs}
        skipped = {str(e.get("lead_uuid")) for e in outputs.lead_events
                   if e.get("state") == "skipped"}
        known = len(wanted & with_cdr)
        dnc_called = len(blocked & with_cdr)
        dnc_skipped = len(blocked & skipped)
        print(f"== chaos: restart after retention ({RETENTION_MS} ms) ==\n"
              f"  campaigns known after restart (new lead dialled)  {known}/{len(wanted)}\n"
              f"  global DNC numbers called / skipped               "
              f"{dnc_called} / {dnc_skipped} of {len(blocked)}\n"
              f"  control/dnc records deleted by retention          "
              f"{extent[tables[0]][0]} / {extent[tables[1]][0]}", flush=True)
    finally:
        await outputs.close()
        await cluster.close()
    assert known == len(wanted), f"only {known}/{len(wanted)} campaigns survived retention"
    assert dnc_called == 0, f"{dnc_called} calls to globally listed numbers after retention"
    assert dnc_skipped == len(blocked), "the global DNC list did not survive retention"


async def publish_round(bootstrap: str, prefix: str, campaigns: tuple[str, ...] | list[str],
                        tag: str, *, numbers: list[str] | None = None,
                        topic: str | None = None) -> None:
    """One lead per campaign, ``<campaign>-<tag>``, on a fresh number (or a listed one)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, cid in enumerate(campaigns):
            fresh = f"0931{ROUNDS[tag]:02d}{i:04d}"
            number = numbers[i % len(numbers)] if numbers else fresh
            lead = m.LeadImport(campaign_uuid=cid, lead_uuid=f"{cid}-{tag}", phone_number=number)
            await producer.send_and_wait(topic or f"{prefix}leads", m.dumps(lead),
                                         key=cid.encode())
    finally:
        await producer.stop()


async def wait_cdrs(outputs: Outputs, leads: set[str], seconds: float, *,
                    blocked: set[str] | None = None, quiet: bool = False) -> None:
    """Until every lead in `leads` has a CDR (and every `blocked` lead a lead event);
    with `quiet`, a timeout returns (the caller's figures say what is missing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await outputs.poll(0.2)
        have = {str(c.get("lead_uuid")) for c in outputs.cdrs}
        settled = {str(e.get("lead_uuid")) for e in outputs.lead_events
                   if e.get("state") in ("skipped", "completed", "exhausted")}
        if leads <= have and (blocked or set()) <= settled:
            return
        if loop.time() > deadline:
            if quiet:
                return
            raise AssertionError(f"{len(leads - have)} of {len(leads)} leads without a CDR")
