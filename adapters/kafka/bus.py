"""Kafka bus over aiokafka.

Producer: idempotent, acks=all, so a publish that returned is durable on the broker.
Consumer: a consumer group with auto-commit off; ``commit`` stores, per partition, the
offset after the last message the engine has taken, so a crash redelivers what was not
taken and nothing that was (at-least-once; the engine dedupes by lead_uuid).
Reader (``read``): no group; every partition of the topics is assigned and positioned at
the offsets the caller stored itself (materialised views keep them with their rows).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
)
from aiokafka.partitioner import murmur2

from adapters.kafka.security import connect_failure
from adapters.kafka.topics import TopicLayout, check_tables, ensure_topics
from engine.errors import DialerError
from engine.ports import BusMessage, Rebalance

log = logging.getLogger(__name__)

METADATA_WAIT_S = 15.0
INPUT_FETCH_WAIT_MS = 50  # a group member's long poll (see KafkaBus._consumer)


class MissingTopic(DialerError):
    """``read`` was asked for a topic the broker does not know (after waiting for it)."""

    retriable = True


class KafkaBus:
    def __init__(
        self,
        bootstrap: str,
        *,
        topics: Sequence[str] = (),
        partitions: int = 3,
        client_id: str = "dialer",
        compacted: Sequence[str] = (),
        group_instance_id: str | None = None,
        session_timeout_ms: int = 10_000,
        options: Mapping[str, Any] = {},  # read only: adapters.kafka.security.client_options
        layout: TopicLayout | None = None,
    ) -> None:
        """``compacted``: topics created with cleanup.policy=compact (tables and the
        changelog: they must never expire); ``layout`` says that and more (replication,
        min.insync.replicas, the start-up check of the tables), and wins when given.
        ``group_instance_id``: static membership (a restarted member gets its partitions
        back without a rebalance). ``options``: security (TLS, SASL) for every client."""
        self._bootstrap = bootstrap
        self._topics = tuple(topics)
        self._client_id = client_id
        self._group_instance_id = group_instance_id or None
        self._session_timeout_ms = session_timeout_ms
        self._options = dict(options)
        self._layout = layout if layout is not None else TopicLayout(
            partitions=partitions, tables=frozenset(compacted))
        self._producer: AIOKafkaProducer | None = None
        self._partition_cache: dict[tuple[str, bytes], int] = {}  # (topic, key) → partition
        # Observability (dialer/metrics.py): every acknowledged publish, every reader.
        self.on_publish: Callable[[str, bytes], None] = lambda _t, _v: None
        self.subscriptions: weakref.WeakSet[KafkaSubscription] = weakref.WeakSet()

    def _client_kwargs(self) -> dict[str, Any]:
        """Arguments every client this bus creates shares: where the brokers are, who we
        are, and how we authenticate (TLS/SASL options from adapters.kafka.security)."""
        return {"bootstrap_servers": self._bootstrap, "client_id": self._client_id,
                **self._options}

    async def start(self) -> None:
        try:
            await self._start()
        except KafkaConnectionError as err:
            raise await connect_failure(self._bootstrap, self._options) from err

    async def _start(self) -> None:
        if self._topics or self._layout.tables:
            admin = AIOKafkaAdminClient(**self._client_kwargs())
            await admin.start()
            try:
                await ensure_topics(admin, self._topics, self._layout)
                await check_tables(admin, self._layout)
            finally:
                await admin.close()
        producer = AIOKafkaProducer(
            **self._client_kwargs(),
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            # Records leave in batches (publish_batch): large, compressed ones.
            compression_type="lz4",
            max_batch_size=256 * 1024,
        )
        await producer.start()
        self._producer = producer

    async def ensure_topics(self, names: Sequence[str]) -> None:
        admin = AIOKafkaAdminClient(**self._client_kwargs())
        await admin.start()
        try:
            await ensure_topics(admin, names, self._layout)
        finally:
            await admin.close()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(
        self, topic: str, value: bytes | None, key: bytes | None = None,
        partition: int | None = None, headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaBus.start() was not awaited")
        await self._producer.send_and_wait(topic, value, key=key, partition=partition,
                                           headers=list(headers) or None)
        self.on_publish(topic, value or b"")  # a tombstone observed as empty

    async def publish_batch(
        self, records: Sequence[tuple[str, bytes | None, bytes | None]],
    ) -> None:
        """Publish ``(topic, value, key)`` records and wait until all are acknowledged.

        The same partition as ``publish`` gives (the default partitioner: murmur2 of the
        key over the topic's partitions; a keyless record goes through ``send``), and the
        same order per partition; but one record batch per topic-partition instead of
        one ``send`` per record (~20 µs of aiokafka bookkeeping and a future each)."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("KafkaBus.start() was not awaited")
        groups: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
        futures: list[asyncio.Future[Any]] = []
        for topic, value, key in records:
            if key is None:
                futures.append(await producer.send(topic, value))
                continue
            partition = self._partition_cache.get((topic, key))
            if partition is None:
                partition = await self._partition_of(topic, key)
            rows = groups.get((topic, partition))
            if rows is None:
                rows = groups[(topic, partition)] = []
            rows.append((key, value))
        for (topic, partition), rows in groups.items():
            batch = producer.create_batch()
            for key, value in rows:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
        for topic, value, _key in records:
            self.on_publish(topic, value or b"")

    async def _partition_of(self, topic: str, key: bytes) -> int:
        assert self._producer is not None
        partitions = sorted(await self._producer.partitions_for(topic))
        partition = int(partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)])
        if len(self._partition_cache) >= 65_536:  # keys are campaign ids: few
            self._partition_cache.clear()
        self._partition_cache[(topic, key)] = partition
        return partition

    async def reachable(self, within: float = 5.0) -> bool:
        """Can the cluster's metadata be fetched now (any broker answers)? For readiness."""
        if self._producer is None:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), within)
        except (KafkaError, OSError, TimeoutError):
            return False
        return True

    async def partitions_of(self, topic: str) -> list[int]:
        return [tp.partition for tp in await _all_partitions(self._client_kwargs(), [topic])]

    def _consumer(self, *topics: str, group: str | None) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *topics,
            **self._client_kwargs(),
            group_id=group,
            group_instance_id=self._group_instance_id if group else None,
            session_timeout_ms=self._session_timeout_ms,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # The engine writes its outputs in transactions: what an aborted or fenced
            # transaction wrote never happened, so no reader may see it.
            isolation_level="read_committed",
            max_poll_records=500,
            # A group member reads control, dnc and leads partitions from one broker with
            # one fetch in flight per broker: while a long poll for the quiet partitions
            # waits (fetch_max_wait_ms, 500 ms by default), a drained leads partition
            # cannot be fetched again. 50 ms bounds that stall (lead ingest wall time was
            # ~40 % such waits); 4 MiB per partition is ~10,000 leads a fetch.
            **({"fetch_max_wait_ms": INPUT_FETCH_WAIT_MS,
                "max_partition_fetch_bytes": 4 * 1024 * 1024} if group else {}),
            # Co-partitioning: every input topic is keyed by campaign id, so partition i
            # of control, dnc and leads must go to the same member (the range assignor
            # does that for topics with equal partition counts; round robin does not).
            partition_assignment_strategy=(RangePartitionAssignor,),
        )

    async def subscribe(
        self, topics: Sequence[str], group: str, listener: Rebalance | None = None
    ) -> KafkaSubscription:
        consumer = self._consumer(group=group)
        consumer.subscribe(list(topics),
                           listener=_Listener(listener, consumer) if listener else None)
        # Ends are asked before every input batch that carries leads (consumers/order.py):
        # on a client of their own, as for ``read``.
        lookup = self._consumer(group=None)
        await lookup.start()
        try:
            await consumer.start()
        except BaseException:
            await lookup.stop()
            raise
        sub = KafkaSubscription(consumer, group, lookup=lookup)
        self.subscriptions.add(sub)
        return sub

    async def read(
        self, topics: Sequence[str], start: Mapping[tuple[str, int], int]
    ) -> KafkaReader:
        consumer = self._consumer(group=None)
        await consumer.start()
        # End offsets are looked up on a client of their own: the reader's connection is
        # busy with its long-poll fetch (up to fetch_max_wait_ms, 500 ms, on a quiet
        # topic), and a ListOffsets request queued behind it waited that long. The
        # input consumer asks for them before every batch (GlobalTables.sync): that wait
        # was most of the wall time of lead ingest (benchmarks/bench_durable.py row 2).
        lookup = self._consumer(group=None)
        try:
            await lookup.start()
        except BaseException:
            await consumer.stop()
            raise
        try:
            assigned = await _all_partitions(self._client_kwargs(), topics)
            consumer.assign(assigned)
            fresh = []
            for tp in assigned:
                offset = start.get((tp.topic, tp.partition))
                if offset is None:
                    fresh.append(tp)
                else:
                    consumer.seek(tp, offset)
            if fresh:  # one call: each call waits for its own offset lookup
                await consumer.seek_to_beginning(*fresh)
        except BaseException:
            await consumer.stop()
            await lookup.stop()
            raise
        reader = KafkaReader(consumer, "", lookup=lookup)
        self.subscriptions.add(reader)
        return reader


async def _all_partitions(
    client_kwargs: Mapping[str, Any], topics: Sequence[str]
) -> list[TopicPartition]:
    """Every partition of ``topics``; waits for metadata (a topic created a moment ago)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + METADATA_WAIT_S
    admin = AIOKafkaAdminClient(**client_kwargs)
    await admin.start()
    try:
        while True:
            found: dict[str, list[int]] = {
                str(t["topic"]): sorted(int(p["partition"]) for p in t["partitions"])
                for t in await admin.describe_topics(list(topics))
                if t["error_code"] == 0
            }
            missing = [t for t in topics if not found.get(t)]
            if not missing:
                return [TopicPartition(t, p) for t in topics for p in found[t]]
            if loop.time() > deadline:
                raise MissingTopic(f"unknown topics: {', '.join(missing)}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka assigns partitions before it calls the listener, and its fetcher does not
    wait for the listener: the new partitions are paused until ``assigned`` returns, so
    no message of a partition is taken before its state is restored (records fetched
    meanwhile are discarded by aiokafka and fetched again from the same position)."""

    def __init__(self, listener: Rebalance, consumer: AIOKafkaConsumer) -> None:
        self._listener = listener
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._listener.revoked(frozenset((tp.topic, tp.partition) for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._consumer.pause(*assigned)
        try:
            await self._listener.assigned(
                frozenset((tp.topic, tp.partition) for tp in assigned))
        finally:
            owned = self._consumer.assignment()
            self._consumer.resume(*(tp for tp in assigned if tp in owned))


class KafkaSubscription:
    def __init__(self, consumer: AIOKafkaConsumer, group: str = "",
                 lookup: AIOKafkaConsumer | None = None) -> None:
        """``lookup``: an idle client (nothing assigned) that answers ``ends`` (see
        ``KafkaBus.read``: a lookup on ``consumer`` waits behind its long-poll fetch)."""
        self._consumer = consumer
        self._lookup = lookup
        self.group = group
        self._next: dict[TopicPartition, int] = {}  # offset after the last fetched
        self._closed = False

    def lag_by_topic(self) -> dict[str, int]:
        """Messages per topic behind the partition's high watermark, over the partitions
        this member owns and has fetched from (the watermark comes with each fetch)."""
        if self._closed:
            return {}
        out: dict[str, int] = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            pos = self._next.get(tp)
            if high is not None and pos is not None:
                out[tp.topic] = out.get(tp.topic, 0) + max(0, high - pos)
        return out

    def assignment(self) -> frozenset[tuple[str, int]]:
        return frozenset((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def rejoin(self) -> None:
        """Ask the group for a new rebalance (aiokafka has no public call for it; its
        coordinator's ``request_rejoin`` is what a metadata change uses)."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is not None:
            coordinator.request_rejoin()

    async def ends(self) -> dict[tuple[str, int], int]:
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        found = await (self._lookup or self._consumer).end_offsets(assigned)
        return {(tp.topic, tp.partition): int(end) for tp, end in found.items()}

    async def behind(self, ends: Mapping[tuple[str, int], int]) -> int:
        owned = self._consumer.assignment()
        behind = 0
        for (topic, partition), end in ends.items():
            tp = TopicPartition(topic, partition)
            if tp in owned:
                behind += max(0, end - await self._consumer.position(tp))
        return behind

    async def lag(self) -> int:
        """Messages between this member's positions and its partitions' end offsets (read
        now), transaction markers included: 0 means caught up with the end read now."""
        assigned = list(self._consumer.assignment())
        if not assigned:
            return 0
        ends = await self._consumer.end_offsets(assigned)
        behind = 0
        for tp in assigned:
            behind += max(0, ends[tp] - await self._consumer.position(tp))
        return behind

    async def fetch(self, max_wait: float) -> list[BusMessage]:
        batches = await self._consumer.getmany(timeout_ms=int(max_wait * 1000), max_records=500)
        out: list[BusMessage] = []
        for tp, records in batches.items():
            if records:
                self._next[tp] = records[-1].offset + 1
            out.extend(
                BusMessage(tp.topic, tp.partition, r.offset, r.key, r.value,
                           tuple((k, bytes(v or b"")) for k, v in r.headers or ()))
                for r in records
            )
        return out

    async def commit(self, messages: Sequence[BusMessage]) -> None:
        """Commit for the partitions this member still owns. After a rebalance the others
        belong to another member, which resumes from their last committed offset: the
        messages taken here since are delivered again (at-least-once; every command is
        idempotent)."""
        owned = self._consumer.assignment()
        offsets: dict[TopicPartition, int] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            if tp in owned:
                offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as err:
            log.warning("commit skipped, the group is rebalancing: %s", type(err).__name__)

    async def close(self) -> None:
        self._closed = True
        try:
            await self._consumer.stop()
        finally:
            if self._lookup is not None:
                await self._lookup.stop()


class KafkaReader(KafkaSubscription):
    """A group-less reader: ``commit`` is a no-op, the caller stores its own offsets."""

    async def commit(self, messages: Sequence[BusMessage]) -> None:
        return None
