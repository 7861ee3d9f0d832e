"""Global tables that cannot expire, on the real broker: control, dnc and lead-state are
created compacted with the deployment's replication settings; an engine refuses topics
that would expire; and after the broker's log cleaner has compacted the tables, past a
retention that would have deleted them, a restarted engine has every campaign (spec and
later status both kept) and the global DNC list."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from adapters.fssim import Scenario
from adapters.kafka.topics import TopicCreationFailed, UnsafeTopic, describe_topic_configs
from consumers import keys
from dialer.app import EngineApp
from dialer.settings import Settings
from engine.ports import BusMessage, Topics
from proto import messages as m
from tests.e2e.harness import campaign, publish_control, publish_dnc, wait_until
from tests.kafka_broker import create_topics

ROOT = Path(__file__).resolve().parents[2]
DIALER = str(Path(sys.executable).with_name("dialer"))
FAST = Scenario(speed=400.0, seed=5)


def kafka_settings(bootstrap: str, prefix: str, **kw: object) -> Settings:
    return Settings(bus="kafka", kafka_bootstrap=bootstrap, topic_prefix=prefix,
                    instance="tables", **kw)  # type: ignore[arg-type]


async def configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await describe_topic_configs(admin, names)
    finally:
        await admin.close()


async def test_tables_are_created_compacted_with_the_configured_durability(
    kafka_bootstrap: str, kafka_topic_prefix: str,
) -> None:
    app = EngineApp(kafka_settings(kafka_bootstrap, kafka_topic_prefix,
                                   kafka_min_insync_replicas=2))
    await app.make_bus().ensure_topics(app.topics.all)  # type: ignore[attr-defined]
    got = await configs(kafka_bootstrap, list(app.topics.all))
    for name in app.topics.all:
        policy = "compact" if name in app.topics.tables else "delete"
        assert got[name]["cleanup.policy"] == policy, name
        assert got[name]["min.insync.replicas"] == "2", name
    # A replication factor the cluster cannot give is a clear error, not a silent 1.
    other = EngineApp(kafka_settings(kafka_bootstrap, kafka_topic_prefix + "rf.",
                                     kafka_replication_factor=3))
    with pytest.raises(TopicCreationFailed, match="InvalidReplicationFactor"):
        await other.start()


async def test_an_engine_refuses_tables_that_would_expire(
    kafka_bootstrap: str, kafka_topic_prefix: str,
) -> None:
    t = Topics(kafka_topic_prefix)
    await create_topics(kafka_bootstrap, [t.control], partitions=3,
                        configs={"cleanup.policy": "delete", "retention.ms": "5000"})
    await create_topics(kafka_bootstrap, [t.dnc], partitions=3,
                        configs={"cleanup.policy": "compact,delete", "retention.ms": "60000"})
    await create_topics(kafka_bootstrap, [t.lead_state], partitions=1,
                        configs={"cleanup.policy": "compact"})
    app = EngineApp(kafka_settings(kafka_bootstrap, kafka_topic_prefix), scenario=FAST)
    with pytest.raises(UnsafeTopic) as caught:
        await app.start()
    message = str(caught.value)
    print(f"\n{message}")
    assert f"{t.control}: cleanup.policy=delete (not compacted)" in message
    assert f"{t.dnc}: cleanup.policy=compact,delete with retention.ms=60000" in message
    assert f"{t.lead_state}: 1 partitions, DIALER_KAFKA_PARTITIONS=3" in message
    assert not app.started

    # The engine role: exit code 2 and one line saying why, no traceback.
    env = {**os.environ, "DIALER_BUS": "kafka", "DIALER_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "DIALER_TOPIC_PREFIX": kafka_topic_prefix, "DIALER_HEALTH_HOST": "127.0.0.1",
           "DIALER_HEALTH_PORT": "0", "DIALER_LOG_LEVEL": "WARNING"}
    done = await asyncio.to_thread(subprocess.run, [DIALER, "engine"], cwd=ROOT, env=env,
                                   capture_output=True, timeout=60, check=False)
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    (line,) = [x for x in stderr.splitlines() if "UnsafeTopic" in x]
    assert t.control in line and "Traceback" not in stderr


# Compacted tables whose closed segments the cleaner takes at once, with a retention that
# would delete everything after a second under cleanup.policy=delete (compact ignores it).
CLEAN_SOON = {
    "cleanup.policy": "compact",
    "retention.ms": "1000",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "100",
}


async def test_tables_survive_compaction_and_expired_retention(
    kafka_bootstrap: str, kafka_topic_prefix: str,
) -> None:
    settings = kafka_settings(kafka_bootstrap, kafka_topic_prefix)
    t = Topics(kafka_topic_prefix, settings.kafka_partitions)
    await create_topics(kafka_bootstrap, list(t.tables), partitions=3, configs=CLEAN_SOON)
    app = EngineApp(settings, scenario=FAST)
    await app.start()
    bus = app.parts.bus
    produced_at = asyncio.get_running_loop().time()
    await publish_control(bus, t, m.UpsertCampaign(campaign=campaign("keep", status="stop")))
    for status in ("pause", "start"):  # the first is superseded: compaction removes it
        await publish_control(bus, t, m.SetCampaignStatus(
            campaign_uuid="keep", status=status))  # type: ignore[arg-type]
    await publish_control(bus, t, m.UpsertCampaign(campaign=campaign("gone", status="stop")))
    await publish_control(bus, t, m.SetCampaignActive(campaign_uuid="gone", active=False))
    await publish_control(bus, t, m.DeleteCampaign(campaign_uuid="gone"))
    await publish_dnc(bus, t, m.DncEntry(phone_numbers=["0912345678", "0987654321"]))
    await bus.publish(t.dnc, None, key=keys.phone_key("0987654321").encode())

    def state(app: EngineApp) -> tuple[object, ...]:
        d = app.parts.dialer
        return ({c: r.spec.status.value for c, r in d.campaigns.items()}, set(d.dnc_phones))

    expected = ({"keep": "start"}, {"0912345678"})
    try:
        await wait_until(lambda: state(app) == expected, 30)
    finally:
        await app.stop()

    # Wait for the broker's log cleaner: the superseded status and the deleted campaign's
    # spec are gone from the log (a filler record in each partition rolls its active
    # segment, which the cleaner never touches; a tombstone of a sub-key means nothing).
    filler = keys.control_key(m.SetCampaignStatus(campaign_uuid="filler", status="stop"))
    reader_app = EngineApp(settings)
    reader_bus = reader_app.make_bus()
    await reader_bus.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    try:
        while True:
            for partition in range(t.partitions):  # segments roll per partition
                await reader_bus.publish(t.control, None, key=filler.encode(),
                                         partition=partition)
                await reader_bus.publish(t.dnc, None, key=b"dnc-phone/", partition=partition)
            log = await read_all(reader_bus, [t.control, t.dnc])
            live = [x.key for x in log if x.value is not None]
            compacted = (live.count(b"keep/status") == 1 and b"gone" not in live
                         and b"dnc-phone/0987654321" not in live)
            if compacted and loop.time() - produced_at > 1.0:
                break
            assert loop.time() < deadline, f"the log cleaner did not run: {live}"
            await asyncio.sleep(0.5)
    finally:
        await reader_bus.close()
    print(f"\ncompacted after {loop.time() - produced_at:.1f}s; live records: "
          f"{sorted(k.decode() for k in live if k)}")
    assert set(live) >= {b"keep", b"keep/status", b"dnc-phone/0912345678"}

    again = EngineApp(settings, scenario=FAST)
    await again.start()
    try:
        await wait_until(lambda: state(again) == expected, 10)
    finally:
        await again.stop()


async def read_all(bus: object, topics: list[str]) -> list[BusMessage]:
    """Every record now in ``topics`` (all partitions), read from the beginning."""
    reader = await bus.read(topics, {})  # type: ignore[attr-defined]
    out: list[BusMessage] = []
    try:
        while batch := await reader.fetch(max_wait=0.5):
            out.extend(batch)
    finally:
        await reader.close()
    return out
