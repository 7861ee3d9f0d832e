"""Publishes the engine's records (CDRs, lead events) to the bus, in order, off the
engine's path: the engine hands a record over synchronously and never waits for Kafka."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from engine.ports import Bus, Topics
from engine.records import Cdr, LeadEvent
from proto import messages as m

log = logging.getLogger(__name__)


def encode(record: Cdr | LeadEvent) -> bytes:
    # Shallow on purpose: dataclasses.asdict deep-copies, and a MappingProxyType (the
    # lead's params) cannot be deep-copied.
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if isinstance(record, Cdr):
        fields["additional"] = dict(record.additional)
        return m.dumps(m.CdrRecord.model_validate(fields))
    return m.dumps(m.LeadEventRecord.model_validate(fields))


class RecordPublisher:
    def __init__(self, bus: Bus, topics: Topics) -> None:
        self._bus = bus
        self._topics = topics
        self._queue: asyncio.Queue[Cdr | LeadEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.failed = 0

    def __call__(self, record: Cdr | LeadEvent) -> None:
        self._queue.put_nowait(record)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="records")

    async def _run(self) -> None:
        while True:
            record = await self._queue.get()
            topic = self._topics.cdr if isinstance(record, Cdr) else self._topics.lead_events
            try:
                payload = encode(record)
            except ValueError:
                # A record the contract refuses is a bug in this project, not in the input:
                # say so loudly, and keep publishing the others.
                log.exception("record refused by its wire contract: %s", type(record).__name__)
                self.failed += 1
                self._queue.task_done()
                continue
            await self._publish_until_done(topic, payload, record.campaign_uuid.encode())
            self.published += 1
            self._queue.task_done()

    async def _publish_until_done(self, topic: str, payload: bytes, key: bytes) -> None:
        """A CDR is never dropped: a failed publish is retried with capped backoff (the
        records behind it wait, so order per campaign holds)."""
        delay = 0.05
        while True:
            try:
                await self._bus.publish(topic, payload, key=key)
                return
            except Exception:  # task boundary: any bus failure is retried, never lost
                log.exception("publish to %s failed; retrying in %.2fs", topic, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
