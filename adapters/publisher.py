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
    fields = dataclasses.asdict(record)
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

    def __call__(self, record: Cdr | LeadEvent) -> None:
        self._queue.put_nowait(record)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="records")

    async def _run(self) -> None:
        while True:
            record = await self._queue.get()
            topic = self._topics.cdr if isinstance(record, Cdr) else self._topics.lead_events
            try:
                await self._bus.publish(topic, encode(record), key=record.campaign_uuid.encode())
                self.published += 1
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
