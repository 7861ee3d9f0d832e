"""In-memory bus for the embedded mode and the contract tests: one partition per topic,
committed offsets per consumer group, the same at-least-once semantics as Kafka."""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from engine.ports import BusMessage, Rebalance


class MemoryBus:
    def __init__(self) -> None:
        self._logs: dict[str, list[BusMessage]] = defaultdict(list)
        self._committed: dict[tuple[str, str], int] = {}
        self._changed = asyncio.Event()
        # Observability (dialer/metrics.py): every acknowledged publish, every reader.
        self.on_publish: Callable[[str, bytes], None] = lambda _t, _v: None
        self.subscriptions: weakref.WeakSet[MemorySubscription] = weakref.WeakSet()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(
        self, topic: str, value: bytes | None, key: bytes | None = None,
        partition: int | None = None, headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Every topic has one partition here: ``partition`` (Kafka's placement of a
        campaign's records) changes nothing, the order is the publish order."""
        log = self._logs[topic]
        # Kept at its exact size: a bytes from orjson.dumps holds its whole write buffer
        # (~4 KB whatever the length), and this log keeps every message for the process's
        # life. The copy is one memcpy of the message.
        log.append(BusMessage(topic, 0, len(log), key and bytes(memoryview(key)),
                              None if value is None else bytes(memoryview(value)),
                              tuple(headers)))
        self._changed.set()
        self.on_publish(topic, value or b"")  # a tombstone observed as empty

    async def subscribe(
        self, topics: Sequence[str], group: str, listener: Rebalance | None = None
    ) -> MemorySubscription:
        if listener is not None:  # one member, one partition per topic: all of it
            await listener.assigned(frozenset((t, 0) for t in topics))
        sub = MemorySubscription(self, tuple(topics), group)
        self.subscriptions.add(sub)
        return sub

    async def read(
        self, topics: Sequence[str], start: Mapping[tuple[str, int], int]
    ) -> MemoryReader:
        # A stored offset past the end of the log is from an earlier process (this bus
        # starts empty each time): read from the beginning, as Kafka does for an offset
        # out of range with auto_offset_reset="earliest".
        positions = {}
        for t in topics:
            offset = start.get((t, 0), 0)
            positions[t] = offset if offset <= len(self._logs[t]) else 0
        reader = MemoryReader(self, positions)
        self.subscriptions.add(reader)
        return reader

    def messages(self, topic: str) -> list[BusMessage]:
        return list(self._logs[topic])


class MemorySubscription:
    def __init__(self, bus: MemoryBus, topics: tuple[str, ...], group: str) -> None:
        self._bus = bus
        self._group = group
        self._positions = {t: bus._committed.get((group, t), 0) for t in topics}
        self._closed = False

    def _take(self, limit: int = 500) -> list[BusMessage]:
        out: list[BusMessage] = []
        for topic, pos in self._positions.items():
            chunk = self._bus._logs[topic][pos : pos + limit - len(out)]
            self._positions[topic] = pos + len(chunk)
            out.extend(chunk)
            if len(out) >= limit:
                break
        return out

    async def fetch(self, max_wait: float) -> list[BusMessage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while not self._closed:
            batch = self._take()
            if batch:
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            self._bus._changed.clear()
            try:
                await asyncio.wait_for(self._bus._changed.wait(), remaining)
            except TimeoutError:
                return []
        return []

    def assignment(self) -> frozenset[tuple[str, int]]:
        return frozenset((topic, 0) for topic in self._positions)

    async def ends(self) -> dict[tuple[str, int], int]:
        return {(t, 0): len(self._bus._logs[t]) for t in self._positions}

    async def behind(self, ends: Mapping[tuple[str, int], int]) -> int:
        return sum(max(0, end - self._positions.get(t, end)) for (t, _p), end in ends.items())

    async def lag(self) -> int:
        """Messages between this reader's positions and the ends of its partitions."""
        return sum(len(self._bus._logs[t]) - pos for t, pos in self._positions.items())

    @property
    def group(self) -> str:
        return self._group

    def lag_by_topic(self) -> dict[str, int]:
        """Messages per topic not yet fetched (0 once closed)."""
        if self._closed:
            return {}
        return {t: len(self._bus._logs[t]) - pos for t, pos in self._positions.items()}

    async def commit(self, messages: Sequence[BusMessage]) -> None:
        for m in messages:
            key = (self._group, m.topic)
            self._bus._committed[key] = max(self._bus._committed.get(key, 0), m.offset + 1)

    async def close(self) -> None:
        self._closed = True
        self._bus._changed.set()


class MemoryReader(MemorySubscription):
    """``MemoryBus.read``: no group; positions start where the caller says (partition 0)."""

    def __init__(self, bus: MemoryBus, positions: dict[str, int]) -> None:
        super().__init__(bus, (), "")
        self._positions = dict(positions)

    async def commit(self, messages: Sequence[BusMessage]) -> None:
        return None
