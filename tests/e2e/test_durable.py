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
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from adapters.app import EngineApp
from adapters.fssim import FsSimulator, Scenario
from adapters.kafka import KafkaBus
from adapters.settings import Settings
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
    """The simulator's channel table, remembering every uuid ever created in it."""

    def __init__(self) -> None:
        super().__init__()
        self.created: Counter[str] = Counter()

    def __setitem__(self, key: str, value: Any) -> None:
        self.created[key] += 1
        super().__setitem__(key, value)


async def _read_committed(bootstrap: str, topic: str, want: int,
                          seconds: float) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        while len(out) < want and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                out.extend(orjson.loads(r.value) for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return out


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
    kafka_bootstrap: str, kafka_topic_prefix: str,
) -> None:
    sim = FsSimulator(scenario=LONG_TALK, host="127.0.0.1", port=0, sps=1000)
    await sim.start()
    recorder = _Recorder()
    sim.engine.channels = recorder
    topics = Topics(kafka_topic_prefix)
    bus = KafkaBus(kafka_bootstrap, topics=topics.all, partitions=3,
                   compacted=(topics.control, topics.dnc, topics.lead_state))
    await bus.start()
    victim = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from adapters.cli import main; raise SystemExit(main(['engine']))",
        env=_engine_env(kafka_bootstrap, kafka_topic_prefix, sim.port, "victim"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    survivor: EngineApp | None = None
    try:
        spec = campaign("durable-c1", concurrent_call=CAP, recall_times=0)
        await bus.publish(topics.control, m.dumps(m.UpsertCampaign(campaign=spec)),
                          key=b"durable-c1")
        for i in range(LEADS):
            lead = m.LeadImport(campaign_uuid="durable-c1", lead_uuid=f"dl-{i}",
                                phone_number=phone(i), param={"ten": f"K {i}"})
            await bus.publish(topics.leads, m.dumps(lead), key=b"durable-c1")
        await wait_until(lambda: sim.live_channels == CAP, 60)
        victim.send_signal(signal.SIGKILL)
        await asyncio.wait_for(victim.wait(), 10)
        up_at_kill = sim.live_channels

        survivor = EngineApp(Settings(
            bus="kafka", kafka_bootstrap=kafka_bootstrap, topic_prefix=kafka_topic_prefix,
            kafka_partitions=3, instance="survivor", simulator=False,
            fs_nodes=[{"name": "fs1", "host": "127.0.0.1", "port": sim.port, "cps": 200}],
            kafka_session_timeout_ms=6000,
        ))
        await survivor.start()
        cdrs = await _read_committed(kafka_bootstrap, topics.cdr, LEADS, 120)
        by_lead = Counter(c["lead_uuid"] for c in {c["cdr_uuid"]: c for c in cdrs}.values())
        statuses = Counter(c["status"] for c in {c["cdr_uuid"]: c for c in cdrs}.values())
        lost = LEADS - len(by_lead)
        twice = sum(1 for n in recorder.created.values() if n > 1)
        no_cdr = set(recorder.created) - {c["cdr_uuid"] for c in cdrs}
        print(f"\nsigkill: up at kill {up_at_kill}, leads {LEADS}, lost {lost}, "
              f"attempts per lead {dict(Counter(by_lead.values()))}, originated twice {twice}, "
              f"calls without CDR {len(no_cdr)}, peak live {sim.max_live_channels}/{CAP}, "
              f"statuses {dict(statuses)}")
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
        await bus.close()
        await sim.stop()
