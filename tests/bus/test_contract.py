"""One contract for the bus port, run against the in-memory bus and the real Kafka broker.

The engine relies on: every published message is delivered to a group; a message is
redelivered to the group until it is committed; once committed it is never redelivered; and
per-key order holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.kafka import KafkaBus
from adapters.memory_bus import MemoryBus
from engine.ports import Bus, BusMessage


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus_and_topic(
    request: pytest.FixtureRequest, kafka_topic_prefix: str
) -> AsyncIterator[tuple[Bus, str]]:
    topic = f"{kafka_topic_prefix}contract"
    bus: Bus
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        bus = KafkaBus(bootstrap, topics=[topic], partitions=3)
    else:
        bus = MemoryBus()
    await bus.start()
    yield bus, topic
    await bus.close()


async def fetch_n(bus_sub: object, n: int, seconds: float = 30.0) -> list[BusMessage]:
    sub = bus_sub
    out: list[BusMessage] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while len(out) < n:
        if loop.time() > deadline:
            raise AssertionError(f"got {len(out)}/{n}")
        out.extend(await sub.fetch(max_wait=0.5))  # type: ignore[attr-defined]
    return out


async def test_every_message_is_delivered_once_to_a_group(bus_and_topic: tuple[Bus, str]) -> None:
    bus, topic = bus_and_topic
    for i in range(200):
        await bus.publish(topic, f"m{i}".encode(), key=f"k{i % 7}".encode())
    sub = await bus.subscribe([topic], "g1")
    got = await fetch_n(sub, 200)
    assert sorted(m.value for m in got) == sorted(f"m{i}".encode() for i in range(200))
    await sub.commit(got)
    await sub.close()


async def test_headers_arrive_in_order_with_repeats(bus_and_topic: tuple[Bus, str]) -> None:
    bus, topic = bus_and_topic
    headers = [("trace", b"t-1"), ("x", b"\xff\x00"), ("trace", b"t-2")]
    await bus.publish(topic, b"with", key=b"k", headers=headers)
    await bus.publish(topic, b"without", key=b"k")
    sub = await bus.subscribe([topic], "g-headers")
    got = {m.value: m.headers for m in await fetch_n(sub, 2)}
    await sub.close()
    assert got == {b"with": tuple(headers), b"without": ()}


async def test_per_key_order_holds(bus_and_topic: tuple[Bus, str]) -> None:
    bus, topic = bus_and_topic
    for i in range(100):
        await bus.publish(topic, f"{i}".encode(), key=f"k{i % 3}".encode())
    sub = await bus.subscribe([topic], "g-order")
    got = await fetch_n(sub, 100)
    await sub.close()
    for k in range(3):
        seq = [int(m.value) for m in got if m.key == f"k{k}".encode()]
        assert seq == sorted(seq)


async def test_uncommitted_messages_are_redelivered_committed_ones_are_not(
    bus_and_topic: tuple[Bus, str],
) -> None:
    bus, topic = bus_and_topic
    for i in range(10):
        await bus.publish(topic, f"a{i}".encode(), key=b"same")
    sub = await bus.subscribe([topic], "g2")
    first = await fetch_n(sub, 10)
    await sub.commit(first[:4])  # the engine took only the first four
    await sub.close()
    again = await bus.subscribe([topic], "g2")
    redelivered = await fetch_n(again, 6)
    assert [m.value for m in redelivered] == [f"a{i}".encode() for i in range(4, 10)]
    await again.commit(redelivered)
    await again.close()
    await bus.publish(topic, b"after", key=b"same")
    last = await bus.subscribe([topic], "g2")
    (only,) = await fetch_n(last, 1)
    assert only.value == b"after"
    assert await last.fetch(max_wait=0.3) == []
    await last.close()


async def test_groups_are_independent(bus_and_topic: tuple[Bus, str]) -> None:
    bus, topic = bus_and_topic
    await bus.publish(topic, b"x", key=b"k")
    a = await bus.subscribe([topic], "ga")
    b = await bus.subscribe([topic], "gb")
    (ma,) = await fetch_n(a, 1)
    (mb,) = await fetch_n(b, 1)
    assert ma.value == mb.value == b"x"
    await a.close()
    await b.close()


async def test_memory_bus_keeps_messages_at_their_exact_size() -> None:
    """orjson.dumps results hold ~4 KB each; the embedded bus must not keep that buffer."""
    import tracemalloc

    import orjson

    from adapters.memory_bus import MemoryBus

    bus = MemoryBus()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            await bus.publish("t", orjson.dumps({"i": i, "text": "x" * 100}), b"key")
        per_message = (tracemalloc.get_traced_memory()[0] - before) / 2000
    finally:
        tracemalloc.stop()
    assert [orjson.loads(m.value)["i"] for m in bus.messages("t")] == list(range(2000))
    assert per_message < 600, per_message  # ~120 B of payload + the message record


@pytest.mark.kafka
async def test_a_published_batch_lands_where_single_publishes_do_in_order(
    kafka_bootstrap: str, kafka_topic_prefix: str,
) -> None:
    """``KafkaBus.publish_batch`` (the publisher's path): the partition ``publish`` picks
    for a key, every record once, per-key order kept, batches split when full (values
    large enough that one batch cannot hold them all), keyless records too."""
    topic = f"{kafka_topic_prefix}batch"
    bus = KafkaBus(kafka_bootstrap, topics=[topic], partitions=3)
    await bus.start()
    try:
        keys = [f"campaign-{k}".encode() for k in range(5)]
        for key in keys:  # one single publish per key: where its partition is
            await bus.publish(topic, b"single", key=key)
        big = b"x" * 100_000  # a batch (256 KiB) holds two of these at most
        records: list[tuple[str, bytes | None, bytes | None]] = [
            (topic, f"{i}:".encode() + (big if i % 10 == 0 else b""), keys[i % 5])
            for i in range(300)]
        records.append((topic, b"keyless", None))
        await bus.publish_batch(records)
        sub = await bus.subscribe([topic], "g-batch")
        got = await fetch_n(sub, 306)
        await sub.close()
    finally:
        await bus.close()
    home = {m.key: m.partition for m in got if m.value == b"single"}
    assert len(home) == 5
    batched = [m for m in got if m.value not in (b"single", b"keyless")]
    assert sorted(int(m.value.split(b":")[0]) for m in batched) == list(range(300))
    for m in batched:
        assert m.partition == home[m.key]
    for key in keys:
        seq = [int(m.value.split(b":")[0]) for m in batched if m.key == key]
        assert seq == sorted(seq)
    assert [m.value for m in got if m.key is None] == [b"keyless"]
