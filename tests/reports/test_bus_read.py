"""``Bus.read``: group-less reading of every partition from caller-stored offsets, on the
in-memory bus and on the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.kafka import KafkaBus
from adapters.memory_bus import MemoryBus
from engine.ports import Bus, BusMessage


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus_and_topics(
    request: pytest.FixtureRequest, kafka_topic_prefix: str
) -> AsyncIterator[tuple[Bus, list[str]]]:
    topics = [f"{kafka_topic_prefix}a", f"{kafka_topic_prefix}b"]
    bus: Bus
    if request.param == "kafka":
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), topics=topics, partitions=3)
    else:
        bus = MemoryBus()
    await bus.start()
    yield bus, topics
    await bus.close()


async def read_all(bus: Bus, topics: list[str], start: dict[tuple[str, int], int],
                   n: int) -> list[BusMessage]:
    reader = await bus.read(topics, start)
    out: list[BusMessage] = []
    try:
        async with asyncio.timeout(20):
            while len(out) < n:
                out.extend(await reader.fetch(0.2))
        assert await reader.fetch(0.2) == []  # nothing beyond
        await reader.commit(out)  # a no-op: nothing is stored on the bus
    finally:
        await reader.close()
    return out


async def test_reads_every_partition_from_the_beginning_then_from_offsets(
    bus_and_topics: tuple[Bus, list[str]],
) -> None:
    bus, (a, b) = bus_and_topics
    for i in range(60):
        await bus.publish(a if i % 2 else b, f"m{i}".encode(), key=f"k{i % 5}".encode())
    first = await read_all(bus, [a, b], {}, 60)
    assert sorted(x.value for x in first) == sorted(f"m{i}".encode() for i in range(60))

    # Store positions after the first 10 messages of each partition (or all it has).
    start: dict[tuple[str, int], int] = {}
    per_tp: dict[tuple[str, int], list[BusMessage]] = {}
    for msg in first:
        per_tp.setdefault((msg.topic, msg.partition), []).append(msg)
    for tp, msgs in per_tp.items():
        msgs.sort(key=lambda x: x.offset)
        start[tp] = msgs[min(10, len(msgs)) - 1].offset + 1
    rest = [x for msgs in per_tp.values() for x in msgs
            if x.offset >= start[(x.topic, x.partition)]]
    again = await read_all(bus, [a, b], start, len(rest))
    assert sorted(x.value for x in again) == sorted(x.value for x in rest)
    # Reading does not consume: a fresh read from {} sees everything again.
    assert len(await read_all(bus, [a, b], {}, 60)) == 60
