"""The real Kafka test broker works: produce, group consume, manual commits.

Every wait here is on a condition with a deadline (``getmany`` long-polls and
``asyncio.timeout``); nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.kafka_broker import create_topics

pytestmark = pytest.mark.kafka

N_MESSAGES = 1_000
PARTITIONS = 3
DEADLINE_S = 30.0

Records = list[ConsumerRecord[bytes, bytes]]


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )


def _consumer(bootstrap: str, group: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=250,
    )


async def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = _producer(bootstrap)
    await producer.start()
    try:
        sends = [
            await producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
            for i in range(n)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def _consume_until(
    consumer: AIOKafkaConsumer,
    done: Callable[[Records], bool],
    timeout_s: float = DEADLINE_S,
) -> Records:
    records: Records = []
    async with asyncio.timeout(timeout_s):
        while not done(records):
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
    return records


def _by_partition(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[int, list[int]]:
    offsets: dict[int, list[int]] = defaultdict(list)
    for r in records:
        offsets[r.partition].append(r.offset)
    return dict(offsets)


async def test_1000_messages_group_consume_manual_commit_no_redelivery(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}calls"
    group = f"{kafka_topic_prefix}dialer"
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    await create_topics(kafka_bootstrap, [topic], partitions=PARTITIONS)
    await _produce(kafka_bootstrap, topic, N_MESSAGES)

    first = _consumer(kafka_bootstrap, group, topic)
    await first.start()
    try:
        records = await _consume_until(first, lambda rs: len(rs) >= N_MESSAGES)
        await first.commit()
        end = await first.end_offsets(tps)
        committed = {tp: await first.committed(tp) for tp in tps}
    finally:
        await first.stop()

    assert len(records) == N_MESSAGES
    assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(N_MESSAGES))
    assert len({r.partition for r in records}) == PARTITIONS  # keys spread over partitions
    for offsets in _by_partition(records).values():
        assert offsets == list(range(len(offsets)))  # in order, no gaps, no duplicates
    assert committed == end
    assert sum(end.values()) == N_MESSAGES

    # A sentinel per partition, produced after the commit: a second member of the
    # same group must start at the committed offsets, so the first record it sees
    # in each partition is that partition's sentinel (any re-delivered record
    # would precede it).
    producer = _producer(kafka_bootstrap)
    await producer.start()
    try:
        for tp in tps:
            await (await producer.send(topic, value=b"sentinel", partition=tp.partition))
    finally:
        await producer.stop()

    second = _consumer(kafka_bootstrap, group, topic)
    await second.start()
    try:
        again = await _consume_until(
            second, lambda rs: len({r.partition for r in rs}) == PARTITIONS
        )
    finally:
        await second.stop()
    assert [r.value for r in again] == [b"sentinel"] * PARTITIONS
    assert {r.partition: r.offset for r in again} == {tp.partition: end[tp] for tp in tps}


async def test_uncommitted_records_are_redelivered_to_the_next_member(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}leads"
    group = f"{kafka_topic_prefix}dialer"
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    await create_topics(kafka_bootstrap, [topic], partitions=PARTITIONS)
    await _produce(kafka_bootstrap, topic, N_MESSAGES)

    first = _consumer(kafka_bootstrap, group, topic)
    await first.start()
    try:
        records = await _consume_until(first, lambda rs: len(rs) >= N_MESSAGES)
        end = await first.end_offsets(tps)
        # Commit only the first half of every partition, as if the rest were in flight.
        halfway = {tp: end[tp] // 2 for tp in tps}
        await first.commit(halfway)
    finally:
        await first.stop()
    assert len(records) == N_MESSAGES

    second = _consumer(kafka_bootstrap, group, topic)
    await second.start()
    try:
        again = await _consume_until(
            second,
            lambda rs: len(rs) >= sum(end[tp] - halfway[tp] for tp in tps),
        )
    finally:
        await second.stop()

    assert _by_partition(again) == {
        tp.partition: list(range(halfway[tp], end[tp])) for tp in tps if end[tp] > halfway[tp]
    }


async def test_topics_are_auto_created(kafka_bootstrap: str, kafka_topic_prefix: str) -> None:
    topic = f"{kafka_topic_prefix}auto"
    producer = _producer(kafka_bootstrap)
    await producer.start()
    try:
        meta = await (await producer.send(topic, key=b"k", value=b"hello"))
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, meta.partition)])
        got = await _consume_until(consumer, lambda rs: len(rs) >= 1)
    finally:
        await consumer.stop()
    assert [(r.key, r.value) for r in got] == [(b"k", b"hello")]


async def test_create_topics_helper_sets_partition_count(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    names = [f"{kafka_topic_prefix}a", f"{kafka_topic_prefix}b"]
    await create_topics(kafka_bootstrap, names, partitions=4)
    await create_topics(kafka_bootstrap, names, partitions=4, exist_ok=True)  # idempotent

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    assert {t["topic"]: sorted(p["partition"] for p in t["partitions"]) for t in described} == {
        name: [0, 1, 2, 3] for name in names
    }


def test_cluster_ids_never_start_with_a_dash() -> None:
    """StorageTool reads `-t -abc` as a missing value; Kafka's own ids avoid a leading '-'."""
    from tests.kafka_broker import random_cluster_id

    ids = [random_cluster_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)
