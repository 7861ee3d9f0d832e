"""KafkaState's transactions on the real broker: records leave as batches per topic in the
order they were staged, and input offsets ride in at most one transaction per
``offsets_every`` (after the state they cover), at once when someone waits in ``flush``."""

from __future__ import annotations

from types import MappingProxyType

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from adapters.kafka import KafkaBus
from adapters.kafka.state import KafkaState
from engine.lead import LeadSnapshot, LeadState
from engine.model import LeadInput
from engine.ports import Topics
from engine.records import LeadEvent
from tests.e2e.harness import wait_until


async def _committed(admin: AIOKafkaAdminClient, group: str, tp: TopicPartition) -> int:
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:  # the group's coordinator is still loading
        return -1
    found = offsets.get(tp)
    return -1 if found is None else int(found.offset)


async def _read(bootstrap: str, topic: str, want: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    out: list[bytes] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        for _ in range(100):
            batch = await consumer.getmany(tp, timeout_ms=200)
            out.extend(r.value or b"" for r in batch.get(tp, ()))
            if len(out) >= want:
                break
    finally:
        await consumer.stop()
    return out


def _event(i: int) -> LeadEvent:
    return LeadEvent(f"lead-{i:04d}", "c1", "queued", "new", "imported", 1.0, 0, 0, 1.0)


async def test_records_keep_their_order_and_offsets_wait_for_their_interval_or_a_flush(
    kafka_bootstrap: str, kafka_topic_prefix: str,
) -> None:
    topics = Topics(kafka_topic_prefix)
    bus = KafkaBus(kafka_bootstrap, topics=topics.all, partitions=1,
                   compacted=(topics.control, topics.dnc, topics.lead_state))
    await bus.start()
    await bus.close()
    group = f"{kafka_topic_prefix}engine"
    leads_tp = TopicPartition(topics.leads, 0)
    state = KafkaState(kafka_bootstrap, topics, group, lambda _c: 0, offsets_every=60.0)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    await state.open(0)
    try:
        # The first offsets of a partition are due at once.
        state.stage_offsets(0, {(topics.leads, 0): 5})
        await wait_until(lambda: state._parts[0].transactions >= 1, 30)
        assert await state.flush(0)
        assert await _committed(admin, group, leads_tp) == 5

        # State keeps going out; the offsets staged with it wait (60 s interval).
        snap = LeadSnapshot("lead-0000", "c1", LeadState.QUEUED, "imported", 1.0, 0, 0, 0,
                            1.0, 0.0, 0.0, False, (), 0)
        lead = LeadInput("lead-0000", "c1", ("0901234567",), MappingProxyType({}))
        for i in range(300):
            state.record(_event(i))
        state.journal(lead, snap)
        state.stage_offsets(0, {(topics.leads, 0): 9})
        events = await _read(kafka_bootstrap, topics.lead_events, 300)
        assert [e.split(b'"')[3] for e in events] == [
            f"lead-{i:04d}".encode() for i in range(300)]
        assert len(await _read(kafka_bootstrap, topics.lead_state, 1)) == 1
        assert await _committed(admin, group, leads_tp) == 5
        assert state._parts[0].offsets  # still staged, not lost

        # Someone waits for everything to be durable: the offsets go in now.
        assert await state.flush(0, deadline=30)
        assert await _committed(admin, group, leads_tp) == 9
    finally:
        await state.close_all()
        await admin.close()
