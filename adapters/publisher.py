"""Publishes the engine's records (CDRs, lead events) to the bus, in order, off the
engine's path: the engine hands a record over synchronously and never waits for Kafka."""

from __future__ import annotations

import asyncio
import logging

from engine.ports import Bus, Topics
from engine.records import Cdr, LeadEvent
from proto import fastencode

log = logging.getLogger(__name__)


def encode(record: Cdr | LeadEvent) -> bytes:
    """The record's wire JSON, written straight from the engine's dataclass: the same bytes
    as its pydantic model would write (tests/test_fastencode.py holds them equal and valid
    against the models), without a validation round trip per record."""
    return fastencode.encode(record)


class RecordPublisher:
    """Records in order, many per round trip: each turn takes up to ``batch`` queued
    records and hands them all to the bus at once (Kafka batches and pipelines them), then
    waits for all of them. A failed round is retried whole with capped backoff (records are
    never dropped; a record published twice is deduped downstream by its key fields).

    Used where no transaction carries the records (the embedded mode, and the engine with
    ``durable_state`` off); the durable engine writes them in its partition transactions.
    """

    def __init__(self, bus: Bus, topics: Topics, *, batch: int = 1000) -> None:
        self._bus = bus
        self._topics = topics
        self._batch = batch
        self._queue: asyncio.Queue[Cdr | LeadEvent] = asyncio.Queue()
        self._in_flight = 0
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.failed = 0

    @property
    def pending(self) -> int:
        """Records handed over and not yet acknowledged by the bus."""
        return self._queue.qsize() + self._in_flight

    def __call__(self, record: Cdr | LeadEvent) -> None:
        self._queue.put_nowait(record)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="records")

    async def _run(self) -> None:
        while True:
            records = [await self._queue.get()]
            while len(records) < self._batch and not self._queue.empty():
                records.append(self._queue.get_nowait())
            self._in_flight = len(records)
            batch: list[tuple[str, bytes, bytes]] = []
            for record in records:
                topic = self._topics.cdr if isinstance(record, Cdr) else self._topics.lead_events
                try:
                    batch.append((topic, encode(record), record.campaign_uuid.encode()))
                except (TypeError, ValueError):
                    # A record the contract refuses is a bug in this project, not in the
                    # input: say so loudly, and keep publishing the others.
                    log.exception("record refused by its wire contract: %s",
                                  type(record).__name__)
                    self.failed += 1
            await self._publish_until_done(batch)
            self.published += len(batch)
            self._in_flight = 0
            for _ in records:
                self._queue.task_done()

    async def _publish_until_done(self, batch: list[tuple[str, bytes, bytes]]) -> None:
        delay = 0.05
        # A bus that can send record batches (KafkaBus) gets the round whole.
        publish_batch = getattr(self._bus, "publish_batch", None)
        while True:
            try:
                if publish_batch is not None:
                    await publish_batch(batch)
                else:
                    await asyncio.gather(*(self._bus.publish(topic, payload, key=key)
                                           for topic, payload, key in batch))
                return
            except Exception as err:  # task boundary: any bus failure is retried, never lost
                log.warning("publishing %d records failed (%s); retrying in %.2fs",
                            len(batch), type(err).__name__, delay, exc_info=True)
                await asyncio.sleep(delay)  # backoff while the bus is unreachable
                delay = min(delay * 2, 5.0)

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self, deadline: float = 10.0) -> int:
        """Flush for at most ``deadline`` seconds; returns how many records were left
        unpublished (the caller says so in its last log line)."""
        try:
            await asyncio.wait_for(self.flush(), deadline)
        except TimeoutError:
            log.error("shutdown: %d records not published within %.0f s",
                      self.pending, deadline)
        left = self.pending
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return left
