"""The engine's durable state on Kafka: a compacted changelog per input partition, written
in transactions that also commit the input offsets (Kafka Streams' state stores, and
Faust's one transactional producer per input partition).

Per owned partition p (of the co-partitioned input topics) one ``_Partition`` holds:
- a transactional producer, ``transactional.id = <group>.<p>``: whoever owns p now has
  initialised it last, which fenced the previous owner's producer (a zombie, a paused or
  partitioned engine can no longer commit anything for p, so it can no longer dial for
  p: see below) and aborted its open transaction;
- what the engine handed over since the last transaction: lead snapshots (key
  ``lead/<lead_uuid>``), campaign-scoped do-not-call entries (``dnc/<campaign>/<customer>``,
  a tombstone when removed) for the ``lead-state`` topic, CDRs and lead events, and the
  input offsets taken;
- the originates waiting for their "dialing" snapshot to be durable.

One flusher task per partition turns all of it into one transaction (records as one
batch per topic, then the offsets with ``send_offsets_to_transaction``, then commit), then
releases the originates: the write-ahead intent. While one transaction is in flight the
next one accumulates, so the batch grows with the load (group commit) and nothing waits
on a timer.

Input offsets commit in the same transaction as the state they produced, or in a later
one (at most one transaction every ``offsets_every``, 200 ms, carries them: they are two
more coordinator round trips), so a lead whose offset is committed has its snapshot in the
changelog (guarantee 1), and everything an engine did for p is either in the changelog or
was never visible to anyone.

Releasing an originate after its commit is fenced only at commit time: an engine paused
right after a commit could dial late. So an originate goes out only if its transaction
was started less than ``intent_ttl`` ago (a monotonic clock, which runs on while a process
is stopped); otherwise the intent is renewed by one more transaction (a lease record)
and the originate goes out after that one, if it was quick: a zombie's renewal is fenced.

A failed transaction (broker down, a timeout) is retried as a whole in a new transaction
from a new producer with the same transactional id, until it commits or the partition is
lost; the engine's originates wait meanwhile, so nothing is dialed that is not durable. A
transaction whose commit was acknowledged but looked failed is written again: records may
be duplicated (consumers dedupe: cdr_uuid, lead state is idempotent), attempts never.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced

from adapters.kafka.changelog import DNC_KEY as DNC_KEY
from adapters.kafka.changelog import LEAD_KEY as LEAD_KEY
from adapters.kafka.changelog import LEASE_KEY as LEASE_KEY
from adapters.kafka.changelog import decode_changelog as decode_changelog
from adapters.kafka.changelog import decode_lead as decode_lead
from adapters.kafka.changelog import encode_lead as encode_lead
from adapters.publisher import encode
from engine.lead import LeadSnapshot
from engine.model import LeadInput
from engine.ports import Topics
from engine.records import Cdr, LeadEvent, Originate
from engine.service import Restored

log = logging.getLogger(__name__)

# ---- one partition ----------------------------------------------------------------------
@dataclass(eq=False)
class _Partition:
    number: int
    tag: str
    producer: AIOKafkaProducer
    # (topic, key, value, CreateTime in ms): the timestamp is taken when the record is
    # staged (right after the event that produced it), not when its transaction sends it,
    # so a reader sees how long the record waited for durability.
    staged: list[tuple[str, bytes, bytes | None, int]] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    waiting: list[tuple[Originate, Callable[[Originate], None]]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    lost: bool = False
    in_flight: bool = False  # a transaction is being written
    transactions: int = 0
    # Originates whose intent is durable but that wait while ownership is re-verified
    # (the process was paused); not pending: no transaction is needed until then.
    held: list[tuple[Originate, Callable[[Originate], None]]] = field(default_factory=list)
    offsets_at: float = 0.0  # monotonic start of the last transaction that carried offsets
    urgent: bool = False  # someone waits in flush(): offsets go in the next transaction

    def pending(self) -> bool:
        return self.in_flight or bool(self.staged or self.offsets or self.waiting)


class KafkaState:
    """``engine.ports.Durability`` on Kafka, partition by partition (see the module doc).

    ``partition_of`` maps a campaign to its input partition (the default partitioner's
    choice for its key). The owner (``adapters.kafka.ownership``) opens and closes
    partitions as the group assigns and revokes them.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        group: str,
        partition_of: Callable[[str], int],
        *,
        options: Mapping[str, Any] | None = None,
        intent_ttl: float = 3.0,
        txn_timeout: float = 30.0,
        may_own: Callable[[int], bool] = lambda _p: True,
        on_fenced: Callable[[int], None] = lambda _p: None,
        client_id: str = "dialer",
        offsets_every: float = 0.2,
    ) -> None:
        """``offsets_every``: input offsets ride in at most one transaction per this many
        seconds (and in any transaction a ``flush`` waits for); see ``_flush_forever``."""
        self._bootstrap = bootstrap
        self._offsets_every = offsets_every
        self._topics = topics
        self._group = group
        self.partition_of = partition_of
        self._options = dict(options or {})
        self.may_own = may_own
        # Fenced while the group may still give us the partition: the owner asks the
        # group to rebalance, and the assignment takes the partition afresh if it is ours.
        self.on_fenced = on_fenced
        self.suspended = False  # ownership in doubt: originates are held (PartitionOwner)
        self._intent_ttl = intent_ttl
        self._txn_timeout = txn_timeout
        self._parts: dict[int, _Partition] = {}
        self.dropped = 0  # records for partitions not owned (lost meanwhile)
        self.renewals = 0  # intents that aged in a slow transaction and were renewed
        self._client_id = client_id
        self._encode: Callable[[Cdr | LeadEvent], bytes] = encode
        self._outage_logged = 0.0

    def tag(self, partition: int) -> str:
        return f"{self._group}.p{partition}"

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(p for p, part in self._parts.items() if not part.lost)

    @property
    def known(self) -> frozenset[int]:
        """Partitions opened and not closed yet, lost ones included."""
        return frozenset(self._parts)

    def pending(self) -> int:
        """Records and originates not yet durable (the shutdown counts them)."""
        return sum(len(p.staged) + len(p.waiting) for p in self._parts.values())

    # ---- Durability ---------------------------------------------------------------
    def _part(self, campaign_uuid: str) -> _Partition | None:
        part = self._parts.get(self.partition_of(campaign_uuid))
        if part is None or part.lost:
            self.dropped += 1
            return None
        return part

    def _stage(self, part: _Partition, topic: str, key: bytes, value: bytes | None) -> None:
        part.staged.append((topic, key, value, time.time_ns() // 1_000_000))
        part.wake.set()

    def _stage_lease(self, part: _Partition) -> None:
        """One record that only a producer nobody fenced can commit (a lease renewal)."""
        self._stage(part, self._topics.lead_state, f"{LEASE_KEY}{part.tag}".encode(),
                    orjson.dumps({"owner": self._client_id, "at": time.time()}))

    def record(self, item: Cdr | LeadEvent) -> None:
        part = self._part(item.campaign_uuid)
        if part is not None:
            topic = self._topics.cdr if isinstance(item, Cdr) else self._topics.lead_events
            self._stage(part, topic, item.campaign_uuid.encode(), self._encode(item))

    def journal(self, lead: LeadInput, snap: LeadSnapshot) -> None:
        part = self._part(lead.campaign_uuid)
        if part is not None:
            self._stage(part, self._topics.lead_state, (LEAD_KEY + lead.lead_uuid).encode(),
                        encode_lead(lead, snap))

    def customer_dnc(self, campaign_uuid: str, customer_ids: Sequence[str], add: bool) -> None:
        part = self._part(campaign_uuid)
        if part is None:
            return
        for customer_id in customer_ids:
            key = f"{DNC_KEY}{campaign_uuid}/{customer_id}".encode()
            value = orjson.dumps({"campaign_uuid": campaign_uuid, "customer_id": customer_id})
            self._stage(part, self._topics.lead_state, key, value if add else None)

    def dial(self, request: Originate, go: Callable[[Originate], None]) -> None:
        part = self._part(request.campaign_uuid)
        if part is None:
            return  # the partition is being handed over: its new owner settles the leg
        variables = dict(request.variables)
        variables["autocall_partition"] = part.tag
        part.waiting.append((_with_variables(request, variables), go))
        part.wake.set()

    def stage_offsets(self, partition: int, offsets: Mapping[tuple[str, int], int]) -> None:
        """Input offsets (next offset to read) to commit with partition's next transaction."""
        part = self._parts.get(partition)
        if part is None or part.lost:
            return
        for (topic, p), offset in offsets.items():
            part.offsets[TopicPartition(topic, p)] = offset
        part.wake.set()

    # ---- partitions coming and going ----------------------------------------------
    def _producer(self, partition: int) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=f"{self._group}-p{partition}",
            transactional_id=f"{self._group}.{partition}",
            enable_idempotence=True,
            acks="all",
            linger_ms=1,
            compression_type="lz4",
            max_batch_size=256 * 1024,
            # A transaction begun right after the previous commit often meets
            # CONCURRENT_TRANSACTIONS (the coordinator still writes the markers: KAFKA-5477);
            # aiokafka then waits retry_backoff_ms before AddOffsetsToTxn again. Its default,
            # 100 ms, was most of a transaction's time (benchmarks/bench_durable.py).
            **{"retry_backoff_ms": 20, **self._options},
        )

    async def open(self, partition: int) -> Restored:
        """Take partition ``partition``: fence its previous owner, then read its changelog
        to the end (read_committed: what the previous owner committed, nothing else)."""
        producer = self._producer(partition)
        await producer.start()  # InitProducerId: fences the old owner, aborts its txn
        part = _Partition(partition, self.tag(partition), producer)
        try:
            restored = await self._read_changelog(partition)
        except BaseException:
            await producer.stop()
            raise
        self._parts[partition] = part
        part.task = asyncio.get_running_loop().create_task(
            self._flush_forever(part), name=f"txn-p{partition}")
        return restored

    async def _read_changelog(self, partition: int) -> Restored:
        tp = TopicPartition(self._topics.lead_state, partition)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False,
            isolation_level="read_committed", client_id=f"{self._group}-restore",
            max_partition_fetch_bytes=8 * 1024 * 1024, **self._options)
        await consumer.start()
        records: list[tuple[bytes, bytes | None]] = []
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
                records.extend((r.key or b"", r.value) for r in batch.get(tp, ()))
        finally:
            await consumer.stop()
        return decode_changelog(records)

    async def flush(self, partition: int, deadline: float = 10.0) -> bool:
        """Wait until what is staged for ``partition`` is durable (or the deadline)."""
        part = self._parts.get(partition)
        if part is None:
            return True
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while part.pending() and not part.lost:
            part.idle.clear()
            part.urgent = True
            part.wake.set()
            try:
                await asyncio.wait_for(part.idle.wait(), max(0.0, end - loop.time()))
            except TimeoutError:
                return False
        return not part.lost

    async def close(self, partition: int, *, deadline: float = 10.0) -> None:
        """Hand the partition back: commit what is staged (while still its owner), then
        stop its producer. Originates still waiting are dropped (their legs are being
        handed over; the next owner finds them dialing with no channel)."""
        if partition in self._parts:
            await self.flush(partition, deadline)
        part = self._parts.pop(partition, None)
        if part is None:
            return
        part.lost = True
        if part.task is not None:
            part.task.cancel()
            await asyncio.gather(part.task, return_exceptions=True)
        unflushed = len(part.staged) + len(part.waiting) + len(part.held)
        if unflushed:
            log.warning("partition %d closed with %d records not durable", partition, unflushed)
        await _stop_quietly(part.producer)

    async def probe(self, partition: int, deadline: float = 10.0) -> bool:
        """Is this engine's producer still the partition's? One lease transaction: False
        when it was fenced (another engine opened the partition meanwhile, e.g. during a
        generation this member missed) or could not commit in time."""
        part = self._parts.get(partition)
        if part is None or part.lost:
            return False
        self._stage_lease(part)
        return await self.flush(partition, deadline)

    def resume(self) -> None:
        """Ownership was verified again (a rebalance completed): held originates go out
        after one more lease transaction each partition must still be able to commit."""
        self.suspended = False
        for part in self._parts.values():
            if part.held and not part.lost:
                part.waiting[:0] = part.held
                self._stage_lease(part)
            part.held = []

    def lost(self, partition: int) -> bool:
        part = self._parts.get(partition)
        return part is None or part.lost

    async def close_all(self, deadline: float = 10.0) -> None:
        await asyncio.gather(*(self.close(p, deadline=deadline) for p in list(self._parts)))

    # ---- the flusher --------------------------------------------------------------
    async def _flush_forever(self, part: _Partition) -> None:
        while not part.lost:
            if not part.pending():
                part.urgent = False
                part.idle.set()
                part.wake.clear()
                await part.wake.wait()
                continue
            # Input offsets go in at most one transaction every ``offsets_every`` s:
            # AddOffsetsToTxn + TxnOffsetCommit are two more coordinator round trips, the
            # largest part of a transaction (benchmarks/RESULTS.md), and a CDR waits for
            # the transactions ahead of it. Deferring them keeps guarantee 1: offsets still
            # commit only in a transaction after (or with) the state they cover, which
            # began earlier on this same producer; after a crash the leads re-read since
            # the last committed offset are in the restored state and ``add_lead``
            # ignores a known lead_uuid.
            started = time.monotonic()
            due = part.offsets_at + self._offsets_every
            with_offsets = bool(part.offsets) and (part.urgent or started >= due)
            if not (with_offsets or part.staged or part.waiting):
                part.wake.clear()  # only offsets, not due: wait for them or for more work
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(part.wake.wait(), due - started)
                continue
            staged, part.staged = part.staged, []
            offsets: dict[TopicPartition, int] = {}
            if with_offsets:
                offsets, part.offsets = part.offsets, {}
                part.offsets_at = started
                part.urgent = False
            waiting, part.waiting = part.waiting, []
            part.in_flight = True
            try:
                if not await self._commit_until_done(part, staged, offsets):
                    return  # fenced: the partition is another engine's now
            finally:
                part.in_flight = False
            part.transactions += 1
            if self.suspended:
                part.held.extend(waiting)
            elif time.monotonic() - started <= self._intent_ttl:
                # The socket write itself is checked against the same deadline (bridge).
                deadline = started + self._intent_ttl
                for request, go in waiting:
                    go(replace(request, not_after=deadline))
            elif waiting:
                # Too long since this transaction started: this engine may have been
                # paused and its partition taken meanwhile. Renew the lease: a fresh
                # transaction (one lease record) commits only if no one fenced us; the
                # originates go out after it, if it is quick enough.
                part.waiting[:0] = waiting
                self._stage_lease(part)
                self.renewals += 1

    async def _commit_until_done(
        self, part: _Partition, staged: list[tuple[str, bytes, bytes | None, int]],
        offsets: dict[TopicPartition, int],
    ) -> bool:
        delay = 0.1
        while not part.lost:
            try:
                await asyncio.wait_for(self._transaction(part, staged, offsets),
                                       self._txn_timeout)
                return True
            except ProducerFenced:
                log.warning("partition %d: fenced by another owner", part.number)
                part.lost = True
                self.on_fenced(part.number)
                return False
            except (KafkaError, TimeoutError, OSError) as err:
                self._log_outage(part.number, err)
            # A new producer with the same transactional id aborts whatever the failed
            # transaction left open; the whole batch goes again. Only while the group still
            # gives us the partition: initialising the id would fence its new owner.
            await _stop_quietly(part.producer)
            if not self.may_own(part.number):
                part.lost = True
                return False
            await asyncio.sleep(delay)  # backoff before reconnecting to the broker
            delay = min(delay * 2, 5.0)
            part.producer = self._producer(part.number)
            try:
                await asyncio.wait_for(part.producer.start(), self._txn_timeout)
            except ProducerFenced:
                part.lost = True
                return False
            except (KafkaError, TimeoutError, OSError) as err:
                self._log_outage(part.number, err)
        return False

    async def _transaction(
        self, part: _Partition, staged: list[tuple[str, bytes, bytes | None, int]],
        offsets: dict[TopicPartition, int],
    ) -> None:
        producer = part.producer
        await producer.begin_transaction()
        await _send_batched(producer, part.number, staged)
        if offsets:
            await producer.send_offsets_to_transaction(offsets, self._group)
        await producer.commit_transaction()

    def _log_outage(self, partition: int, err: BaseException) -> None:
        """At most one line every 10 s, however many partitions retry."""
        now = time.monotonic()
        if now - self._outage_logged >= 10.0:
            self._outage_logged = now
            log.warning("Kafka unreachable, state not durable yet (partition %d, %s); "
                        "dialing waits", partition, type(err).__name__)


async def _send_batched(producer: AIOKafkaProducer, partition: int,
                        staged: Sequence[tuple[str, bytes, bytes | None, int]]) -> None:
    """Queue ``staged`` into the open transaction as whole record batches, one topic at a
    time, each topic's records in the order they were staged (the changelog's order per
    key is what a restore relies on; records of different topics have no order to keep).

    One ``send()`` per record cost ~20 µs of aiokafka bookkeeping each (metadata lookup,
    partition check, a future per record); a batch is one of each per ~256 KiB. A batch
    joins the transaction like a record does (``add_batch`` adds its partition), and
    ``commit_transaction`` waits for every batch. ``send_batch`` waits while the previous
    batch of the same topic-partition is not yet drained: the backpressure."""
    by_topic: dict[str, list[tuple[bytes, bytes | None, int]]] = {}
    for topic, key, value, timestamp_ms in staged:
        rows = by_topic.get(topic)
        if rows is None:
            rows = by_topic[topic] = []
        rows.append((key, value, timestamp_ms))
    for topic, rows in by_topic.items():
        batch = producer.create_batch()
        for key, value, timestamp_ms in rows:
            if batch.append(key=key, value=value, timestamp=timestamp_ms) is None:
                # Full (the first record of a batch always fits, however large).
                await producer.send_batch(batch, topic, partition=partition)
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=timestamp_ms)
        await producer.send_batch(batch, topic, partition=partition)


def _with_variables(request: Originate, variables: dict[str, str]) -> Originate:
    return replace(request, variables=MappingProxyType(variables))


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 10.0)
    except (KafkaError, TimeoutError, OSError) as err:
        log.debug("producer stop: %s", type(err).__name__)


