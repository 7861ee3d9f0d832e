"""Durable engine state on the real broker (issue 10): an engine process killed with
SIGKILL mid-campaign loses nothing. Another engine takes its partition, restores the leads
from the lead-state changelog, adopts the calls still up on the switch (counted against
concurrent_call, ended with their normal CDR) and settles the ones that ended while nobody
owned the partition with an unknown-outcome CDR. No attempt is originated twice.

The dead engine is a real ``dialer engine`` process; the switch is the simulator in this
test process, on loopback, so it can count what really reached it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from adapters.fssim import FsSimulator, Scenario
from adapters.kafka import KafkaBus
from dialer.app import EngineApp
from dialer.settings import Settings
from engine.ports import Topics
from proto import messages as m
from tests.e2e.harness import campaign, phone, wait_until

CAP = 5
LEADS = 12
# Talk 8-9 s of real time: longer than the group's session timeout (6 s), so the calls up
# at the kill are still up when the survivor takes the partition over.
LONG_TALK = Scenario(speed=10.0, ring_time=(1.0, 2.0), talk_time=(80.0, 90.0), amd=False,
                     seed=3)


class _Recorder(dict[str, Any]):
    """The simulator's channel table, remembering every channel ever created in it (uuid
    → how many times, and each channel with the loop time it was created at)."""

    def __init__(self) -> None:
        super().__init__()
        self.created: Counter[str] = Counter()
        self.log: list[tuple[float, Any]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.created[key] += 1
        self.log.append((asyncio.get_running_loop().time(), value))
        super().__setitem__(key, value)

    def by(self, instance: str, since: float = 0.0) -> int:
        return sum(1 for at, chan in self.log
                   if at >= since and chan.variables.get("autocall_engine") == instance)


@pytest.fixture
async def switch() -> AsyncIterator[tuple[FsSimulator, _Recorder]]:
    """The simulator on loopback, its channel table spied on."""
    sim = FsSimulator(scenario=LONG_TALK, host="127.0.0.1", port=0, sps=1000)
    await sim.start()
    recorder = _Recorder()
    sim.engine.channels = recorder
    yield sim, recorder
    await sim.stop()


async def _read_committed(bootstrap: str, topic: str, want: int, seconds: float,
                          until: Callable[[dict[str, Any]], bool] | None = None,
                          ) -> list[dict[str, Any]]:
    """Records of ``topic`` as a read_committed consumer sees them: ``want`` of them, or
    until one satisfies ``until``; fails when neither happened within ``seconds``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        while len(out) < want and not (until and any(until(r) for r in out)):
            if loop.time() > deadline:
                raise AssertionError(f"{topic}: {len(out)}/{want} records in {seconds} s")
            for records in (await consumer.getmany(timeout_ms=300)).values():
                out.extend(orjson.loads(r.value) for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return out


async def _spawn_engine(bootstrap: str, prefix: str, sim_port: int,
                        instance: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from dialer.cli import main; raise SystemExit(main(['engine']))",
        env=_engine_env(bootstrap, prefix, sim_port, instance),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _survivor(bootstrap: str, prefix: str, sim_port: int, instance: str) -> EngineApp:
    return EngineApp(Settings(
        bus="kafka", kafka_bootstrap=bootstrap, topic_prefix=prefix, kafka_partitions=3,
        instance=instance, simulator=False, kafka_session_timeout_ms=6000,
        fs_nodes=[{"name": "fs1", "host": "127.0.0.1", "port": sim_port, "cps": 200}],
    ))


async def _campaign_with_leads(bus: KafkaBus, topics: Topics, cid: str, n: int) -> None:
    spec = campaign(cid, concurrent_call=CAP, recall_times=0)
    await bus.publish(topics.control, m.dumps(m.UpsertCampaign(campaign=spec)),
                      key=cid.encode())
    for i in range(n):
        lead = m.LeadImport(campaign_uuid=cid, lead_uuid=f"{cid}-{i}",
                            phone_number=phone(i), param={"ten": f"K {i}"})
        await bus.publish(topics.leads, m.dumps(lead), key=cid.encode())


def _engine_env(bootstrap: str, prefix: str, sim_port: int, instance: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DIALER_BUS": "kafka", "DIALER_KAFKA_BOOTSTRAP": bootstrap,
        "DIALER_TOPIC_PREFIX": prefix, "DIALER_KAFKA_PARTITIONS": "3",
        "DIALER_SIMULATOR": "false", "DIALER_INSTANCE": instance,
        "DIALER_FS_NODES": orjson.dumps([{"name": "fs1", "host": "127.0.0.1",
                                          "port": sim_port, "cps": 200}]).decode(),
        "DIALER_KAFKA_SESSION_TIMEOUT_MS": "6000", "DIALER_HEALTH_PORT": "0",
        "DIALER_API_TOKENS": '["test-token-0123456789"]',
        "DIALER_WEBHOOK_SECRET": "test-secret-0123456789",
        "DIALER_LOG_LEVEL": "WARNING",
    })
    return env


@pytest.mark.timeout(180)
async def test_sigkill_mid_campaign_loses_nothing_and_dials_nothing_twice(
    kafka_bootstrap: str, kafka_topic_prefix: str, kafka: tuple[KafkaBus, Topics],
    switch: tuple[FsSimulator, _Recorder],
) -> None:
    sim, recorder = switch
    bus, topics = kafka
    victim = await _spawn_engine(kafka_bootstrap, kafka_topic_prefix, sim.port, "victim")
    survivor: EngineApp | None = None
    try:
        await _campaign_with_leads(bus, topics, "durable-c1", LEADS)
        await wait_until(lambda: sim.live_channels == CAP, 60)
        # A campaign-scoped do-not-call entry taken by the victim before it dies: its
        # input offset is committed, so only the partition's restored state still has it.
        await bus.publish(topics.dnc, m.dumps(m.DncEntry(campaign_uuid="durable-c1",
                                                         customer_ids=["vip"])),
                          key=b"durable-c1")
        await _read_committed(kafka_bootstrap, topics.lead_state, 10**9, 60,
                              until=lambda r: r.get("customer_id") == "vip")
        victim.send_signal(signal.SIGKILL)
        await asyncio.wait_for(victim.wait(), 10)
        up_at_kill = sim.live_channels

        survivor = _survivor(kafka_bootstrap, kafka_topic_prefix, sim.port, "survivor")
        await survivor.start()
        vip = m.LeadImport(campaign_uuid="durable-c1", lead_uuid="dl-vip", customer_id="vip",
                           phone_number=phone(500), param={"ten": "VIP"})
        await bus.publish(topics.leads, m.dumps(vip), key=b"durable-c1")
        cdrs = await _read_committed(kafka_bootstrap, topics.cdr, LEADS, 120)
        events = await _read_committed(kafka_bootstrap, topics.lead_events, 10_000, 5,
                                       until=lambda e: e.get("lead_uuid") == "dl-vip"
                                       and e.get("state") == "skipped")
        dnc_calls = sum(1 for _, chan in recorder.log if chan.destination == phone(500))
        by_lead = Counter(c["lead_uuid"] for c in {c["cdr_uuid"]: c for c in cdrs}.values())
        statuses = Counter(c["status"] for c in {c["cdr_uuid"]: c for c in cdrs}.values())
        lost = LEADS - len(by_lead)
        twice = sum(1 for n in recorder.created.values() if n > 1)
        no_cdr = set(recorder.created) - {c["cdr_uuid"] for c in cdrs}
        print(f"\nsigkill: up at kill {up_at_kill}, leads {LEADS}, lost {lost}, "
              f"attempts per lead {dict(Counter(by_lead.values()))}, originated twice {twice}, "
              f"calls without CDR {len(no_cdr)}, peak live {sim.max_live_channels}/{CAP}, "
              f"statuses {dict(statuses)}, calls to the DNC customer {dnc_calls}")
        assert dnc_calls == 0
        assert any(e.get("lead_uuid") == "dl-vip" and e.get("state") == "skipped"
                   for e in events), "the restored campaign DNC entry skips the lead"
        assert lost == 0
        assert set(by_lead.values()) == {1}, "recall_times 0: exactly one attempt per lead"
        assert twice == 0
        assert not no_cdr
        assert sim.max_live_channels <= CAP, "inherited calls count against concurrent_call"
        assert statuses["answered"] >= LEADS - up_at_kill, "adopted calls end normally"
    finally:
        if victim.returncode is None:
            victim.kill()
            await victim.wait()
        if survivor is not None:
            await survivor.stop()


@pytest.mark.timeout(180)
async def test_a_zombie_resumed_after_losing_its_partition_originates_nothing(
    kafka_bootstrap: str, kafka_topic_prefix: str, kafka: tuple[KafkaBus, Topics],
    switch: tuple[FsSimulator, _Recorder],
) -> None:
    """SIGSTOP past the session timeout: another engine fences the partition, restores it
    and dials on. SIGCONT: the paused engine's held originates and whatever its buffered
    hangup events make it pump can no longer reach the switch (its producer is fenced, its
    intents expired); the campaign stays within concurrent_call and nothing is dialed
    twice."""
    sim, recorder = switch
    bus, topics = kafka
    zombie = await _spawn_engine(kafka_bootstrap, kafka_topic_prefix, sim.port, "zombie")
    survivor: EngineApp | None = None
    loop = asyncio.get_running_loop()
    try:
        await _campaign_with_leads(bus, topics, "zombie-c1", 20)
        await wait_until(lambda: sim.live_channels == CAP, 60)
        zombie.send_signal(signal.SIGSTOP)
        survivor = _survivor(kafka_bootstrap, kafka_topic_prefix, sim.port, "survivor")
        await survivor.start()
        # The survivor owns the campaign once it has restored and adopted the calls.
        await wait_until(lambda: survivor is not None
                         and survivor.parts.dialer.live_calls("zombie-c1") > 0, 60)
        await wait_until(lambda: recorder.by("survivor") >= 2, 60)
        resumed_at = loop.time()
        zombie.send_signal(signal.SIGCONT)
        # The resumed engine runs what it held: its buffered events, its flusher, then its
        # rejoin. Until the group has given it partitions again (a rejoin takes at least a
        # heartbeat, 3 s) only a fenced producer stands between it and the switch.
        cdrs = await _read_committed(kafka_bootstrap, topics.cdr, 20, 150)
        stale = sum(1 for at, chan in recorder.log if resumed_at <= at < resumed_at + 2.0
                    and chan.variables.get("autocall_engine") == "zombie")
        later = recorder.by("zombie", since=resumed_at + 2.0)
        by_lead = Counter(c["lead_uuid"] for c in {c["cdr_uuid"]: c for c in cdrs}.values())
        twice = sum(1 for n in recorder.created.values() if n > 1)
        print(f"\nzombie: originations in the 2 s after SIGCONT {stale} (after its rejoin "
              f"{later}), leads with a CDR {len(by_lead)}/20, originated twice {twice}, "
              f"peak live {sim.max_live_channels}/{CAP}, by survivor {recorder.by('survivor')}")
        assert stale == 0
        assert len(by_lead) == 20 and set(by_lead.values()) == {1}
        assert twice == 0
        assert sim.max_live_channels <= CAP
    finally:
        if zombie.returncode is None:
            zombie.send_signal(signal.SIGCONT)
            zombie.kill()
            await zombie.wait()
        if survivor is not None:
            await survivor.stop()


@pytest.mark.timeout(180)
async def test_a_graceful_stop_hands_live_calls_over_without_dropping_one(
    kafka_bootstrap: str, kafka_topic_prefix: str, switch: tuple[FsSimulator, _Recorder],
) -> None:
    """A rolling restart's SIGTERM path (EngineApp.stop): the engine stops dialing, makes
    its state durable and leaves; the other engine adopts the calls still up, which end
    with their normal CDR: none is hung up, none has an unknown outcome."""
    sim, recorder = switch
    topics = Topics(kafka_topic_prefix)
    first = _survivor(kafka_bootstrap, kafka_topic_prefix, sim.port, "first")
    second: EngineApp | None = None
    await first.start()
    try:
        p = first.parts
        assert isinstance(p.bus, KafkaBus)
        await _campaign_with_leads(p.bus, topics, "roll-c1", LEADS)
        await wait_until(lambda: sim.live_channels == CAP, 60)
        second = _survivor(kafka_bootstrap, kafka_topic_prefix, sim.port, "second")
        await second.start()
        await wait_until(lambda: second is not None and len(second.parts.inputs.assignment()) > 0,
                         60)
        owner, other = ((first, second) if first.parts.dialer.live_calls("roll-c1")
                        else (second, first))
        up = sim.live_channels
        await owner.stop()
        if owner is second:
            second = None
        cdrs = await _read_committed(kafka_bootstrap, topics.cdr, LEADS, 120)
        unique = {c["cdr_uuid"]: c for c in cdrs}.values()
        statuses = Counter(c["status"] for c in unique)
        dropped = sum(1 for c in unique if c["hangup_cause"] != "NORMAL_CLEARING")
        twice = sum(1 for n in recorder.created.values() if n > 1)
        print(f"\ngraceful: calls up at stop {up}, CDRs {len(unique)}/{LEADS}, "
              f"statuses {dict(statuses)}, dropped {dropped}, originated twice {twice}, "
              f"peak live {sim.max_live_channels}/{CAP}")
        assert len(unique) == LEADS
        assert statuses == Counter({"answered": LEADS})
        assert dropped == 0
        assert twice == 0
        assert sim.max_live_channels <= CAP
        assert other.parts.dialer.live_calls("roll-c1") == 0
    finally:
        for app in (first, second):
            if app is not None and app.started:
                await app.stop()
