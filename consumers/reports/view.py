"""A materialised view over topics: read from stored offsets, apply, store offsets, repeat.

Exactly-once: the view reads with ``Bus.read`` (no consumer group) from the offsets kept
in its own database, and applies each fetched batch together with the new offsets in one
SQLite transaction. A crash before the commit re-reads the batch; a crash after it
resumes behind it; no message is applied twice or skipped.

A failure inside the loop (the broker went away, the disk is full) is logged and the loop
starts over from the stored offsets after ``retry_s``, doubling (up to ``MAX_RETRY_S``)
while it makes no progress; ``healthy`` is false until it reads again. Nothing
half-applied survives, because the transaction rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Sequence
from typing import Protocol

from adapters.sqlite.db import SqliteDb
from engine.errors import DialerError
from engine.ports import Bus, BusMessage

log = logging.getLogger(__name__)

MAX_RETRY_S = 30.0


class PublishFailed(DialerError):
    """A message could not be written to the bus (the caller may retry)."""

    retriable = True


async def publish(bus: Bus, topic: str, value: bytes | None, key: bytes | None,
                  partition: int | None = None) -> None:
    """``bus.publish`` with its adapter-specific errors folded into ``PublishFailed``."""
    try:
        await bus.publish(topic, value, key=key, partition=partition)
    except DialerError:
        raise
    except Exception as err:
        raise PublishFailed(f"publish to {topic} failed: {type(err).__name__}") from err


class ViewStore(Protocol):
    def load_offsets(self, conn: sqlite3.Connection) -> dict[tuple[str, int], int]: ...

    def apply_batch(self, conn: sqlite3.Connection, batch: Sequence[BusMessage]) -> None: ...


class ViewRunner:
    def __init__(
        self,
        name: str,
        bus: Bus,
        topics: Sequence[str],
        db: SqliteDb,
        store: ViewStore,
        *,
        poll_s: float = 0.5,
        retry_s: float = 1.0,
        max_batch: int = 5000,
    ) -> None:
        self.name = name
        self._bus = bus
        self._topics = tuple(topics)
        self._db = db
        self._store = store
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._max_batch = max_batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._progress = asyncio.Condition()
        self._fetches_started = 0
        self._last_empty_fetch = -1  # number of the last fetch that found nothing new
        self.ready = asyncio.Event()  # set once the view has read up to the topics' ends
        self.applied = 0
        self.failures = 0
        self.failing = False  # the last run failed and the next has not read yet

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"view-{self.name}"
            )

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def healthy(self) -> bool:
        """Running and not failing (readiness of the process that serves from it)."""
        return self._task is not None and not self._task.done() and not self.failing

    async def settled(self) -> None:
        """Wait until a fetch that started after this call found nothing new: every message
        published (and acknowledged) before the call has been applied."""
        mark = self._fetches_started
        async with self._progress:
            await self._progress.wait_for(lambda: self._last_empty_fetch > mark)

    async def _supervise(self) -> None:
        delay = self._retry_s / 2  # the first failure waits retry_s
        while not self._stopping.is_set():
            applied = self.applied
            try:
                await self._run()
            except asyncio.CancelledError:
                raise
            except Exception:  # task boundary: log, then restart from the stored offsets
                self.failures += 1
                self.failing = True
                # A failure that repeats without progress (a batch it cannot apply) backs
                # off exponentially, capped; readiness stays false meanwhile.
                delay = self._retry_s if self.applied > applied else min(MAX_RETRY_S, delay * 2)
                log.exception("view %s failed; restarting from its stored offsets in %.1f s",
                              self.name, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)

    def _apply(self, batch: Sequence[BusMessage], conn: sqlite3.Connection) -> None:
        self._store.apply_batch(conn, batch)

    async def _run(self) -> None:
        start = await self._db.write(self._store.load_offsets)
        sub = await self._bus.read(self._topics, start)
        try:
            while not self._stopping.is_set():
                self._fetches_started += 1
                number = self._fetches_started
                batch = await sub.fetch(max_wait=self._poll_s)
                # Catching up: take what is already there, up to max_batch, into one
                # transaction (random-key index pages are then written once per batch,
                # not once per 500 messages: twice the ingest rate in the benchmark).
                while batch and len(batch) < self._max_batch:
                    more = await sub.fetch(max_wait=0)
                    if not more:
                        break
                    batch.extend(more)
                if batch:
                    await self._db.write(functools.partial(self._apply, batch))
                    self.applied += len(batch)
                else:
                    self.ready.set()
                self.failing = False  # read and applied: healthy again
                async with self._progress:
                    if not batch:
                        self._last_empty_fetch = number
                    self._progress.notify_all()
        finally:
            await sub.close()
