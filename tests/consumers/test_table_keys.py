"""The table topics' keys (consumers/keys.py): what compaction keeps is exactly the state.

Compaction keeps the latest record per key and, after delete.retention.ms, drops
tombstones. ``compact`` below does that to an in-memory log; an engine that starts on the
compacted log must end up with the same campaigns and DNC lists as one that read every
record. The real broker's cleaner is exercised in tests/e2e/test_tables.py."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from adapters.fssim import Scenario
from adapters.memory_bus import MemoryBus
from consumers import keys
from consumers.inputs import decode
from dialer.app import EngineApp
from dialer.settings import Settings
from engine.commands import DeleteCampaign, Dnc
from engine.ports import BusMessage, Topics
from proto import messages as m
from tests.e2e.harness import campaign, publish_control, publish_dnc, wait_until

T = Topics("t.")
FAST = Scenario(speed=400.0, seed=3)


def test_partition_for_is_the_default_partitioners_choice() -> None:
    partitioner = DefaultPartitioner()
    for n in (1, 3, 4, 12):
        for i in range(200):
            uuid = f"5f0c-{i}-campaign"
            assert keys.partition_for(uuid, n) == partitioner(uuid.encode(), list(range(n)),
                                                              list(range(n)))


def test_control_keys_give_each_fact_its_own_key() -> None:
    spec = campaign("c1")
    assert keys.control_key(m.UpsertCampaign(campaign=spec)) == "c1"
    assert keys.control_key(m.SetCampaignStatus(campaign_uuid="c1", status="start")) == \
        "c1/status"
    assert keys.control_key(m.SetCampaignActive(campaign_uuid="c1", active=False)) == \
        "c1/active"
    assert keys.control_key(m.DeleteCampaign(campaign_uuid="c1")) == "c1/delete"
    assert keys.deletion_tombstones("c1") == ["c1/status", "c1/active", "c1/delete", "c1"]


def test_dnc_entries_are_split_one_record_per_entry() -> None:
    scoped = keys.split_dnc(m.DncEntry(campaign_uuid="c1", customer_ids=["a", "b", "a"]))
    assert [(r.key, r.entry.customer_ids, r.campaign_uuid) for r in scoped] == [
        ("dnc/c1/a", ["a"], "c1"), ("dnc/c1/b", ["b"], "c1")]
    numbers = keys.split_dnc(m.DncEntry(op="remove",
                                        phone_numbers=["+84 912 345 678", "0912345678", "12"]))
    # One key per number in national form (two spellings, one key); invalid ones dropped.
    assert [(r.key, r.entry.op, r.entry.phone_numbers) for r in numbers] == [
        ("dnc-phone/0912345678", "remove", ["0912345678"])]


def tombstone(topic: str, key: str) -> BusMessage:
    return BusMessage(topic, 0, 0, key.encode(), None)


def test_tombstones_mean_deletes_where_there_is_something_to_delete() -> None:
    assert decode(T, tombstone(T.control, "c1")) == DeleteCampaign("c1")
    for sub in ("status", "active", "delete"):
        assert decode(T, tombstone(T.control, f"c1/{sub}")) is None
    assert decode(T, tombstone(T.dnc, "dnc-phone/0912345678")) == Dnc(
        add=False, campaign_uuid="", phone_numbers=("0912345678",))
    assert decode(T, tombstone(T.dnc, "dnc/c1/cust/with/slash")) == Dnc(
        add=False, campaign_uuid="c1", customer_ids=("cust/with/slash",))
    assert decode(T, tombstone(T.dnc, "c1")) is None  # not a key this contract writes
    assert decode(T, tombstone(T.leads, "c1")) is None


def compact(bus: MemoryBus, topics: Topics) -> MemoryBus:
    """What Kafka's log cleaner leaves of the table topics once tombstones have expired:
    the latest record of each key, in log order, tombstones gone. Other topics are copied."""
    out = MemoryBus()
    for topic in (topics.leads, topics.control, topics.dnc):
        log = bus.messages(topic)
        if topic in topics.tables:
            latest = {msg.key: msg.offset for msg in log}
            log = [msg for msg in log if latest[msg.key] == msg.offset and msg.value is not None]
        out._logs[topic] = [BusMessage(topic, 0, i, x.key, x.value) for i, x in enumerate(log)]
    return out


async def test_what_compaction_keeps_rebuilds_the_same_state() -> None:
    topics = Topics(Settings().topic_prefix)
    bus = MemoryBus()
    app = EngineApp(Settings(bus="memory"), bus=bus, scenario=FAST)
    await app.start()
    # kept: an upsert, then status and active commands after it (other keys)
    await publish_control(bus, topics, m.UpsertCampaign(campaign=campaign("keep", status="stop")))
    for status in ("start", "pause", "start"):
        await publish_control(bus, topics, m.SetCampaignStatus(campaign_uuid="keep",
                                                               status=status))  # type: ignore[arg-type]
    await publish_control(bus, topics, m.SetCampaignActive(campaign_uuid="keep", active=True))
    # a later upsert overrides the status given before it
    await publish_control(bus, topics, m.UpsertCampaign(campaign=campaign("later", status="stop")))
    await publish_control(bus, topics, m.SetCampaignStatus(campaign_uuid="later", status="start"))
    await publish_control(bus, topics, m.UpsertCampaign(campaign=campaign("later", status="pause")))
    # deleted: deactivated, deleted, tombstoned
    await publish_control(bus, topics, m.UpsertCampaign(campaign=campaign("gone", status="stop")))
    await publish_control(bus, topics, m.SetCampaignActive(campaign_uuid="gone", active=False))
    await publish_control(bus, topics, m.DeleteCampaign(campaign_uuid="gone"))
    # global DNC: two numbers on, one taken off by a tombstone; customers likewise
    await publish_dnc(bus, topics, m.DncEntry(phone_numbers=["0912345678", "0987654321"]))
    await bus.publish(topics.dnc, None, key=keys.phone_key("0987654321").encode())
    await publish_dnc(bus, topics, m.DncEntry(campaign_uuid="keep", customer_ids=["k1", "k2"]))
    await bus.publish(topics.dnc, None, key=keys.customer_key("keep", "k2").encode(),
                      partition=keys.partition_for("keep", topics.partitions))

    def state(app: EngineApp) -> tuple[object, ...]:
        d = app.parts.dialer
        return (
            {c: (r.spec.status.value, r.spec.active) for c, r in d.campaigns.items()},
            set(d.dnc_phones),
            {c: set(r.dnc_customers) for c, r in d.campaigns.items()},
        )

    expected = ({"keep": ("start", True), "later": ("pause", True)}, {"0912345678"},
                {"keep": {"k1"}, "later": set()})
    try:
        await wait_until(lambda: state(app) == expected, 10)
    finally:
        print(state(app))
        await app.stop()

    again = EngineApp(Settings(bus="memory"), bus=compact(bus, topics), scenario=FAST)
    await again.start()
    try:
        await wait_until(lambda: state(again) == expected, 10)
    finally:
        print(state(again))
        await again.stop()
