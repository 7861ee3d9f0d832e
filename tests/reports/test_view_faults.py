"""Issue 11: an exception while a view applies a batch is logged with its traceback, the
view reports not ready while it waits, starts over from its stored offsets, and goes on:
nothing is lost or applied twice. The API role's readiness reflects it."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.http.stack import ApiStack
from adapters.memory_bus import MemoryBus
from adapters.sqlite import offsets
from adapters.sqlite.db import SqliteDb
from consumers.reports.view import ViewRunner
from engine.ports import BusMessage, Subscription, Topics
from tests.e2e.harness import wait_until

SCHEMA = offsets.SCHEMA + "CREATE TABLE IF NOT EXISTS seen (value BLOB);"


class FlakyStore:
    """A real store (rows + offsets in one transaction) whose apply fails ``failures``
    times with a bug-like error."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def load_offsets(self, conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
        return offsets.load(conn)

    def apply_batch(self, conn: sqlite3.Connection, batch: Sequence[BusMessage]) -> None:
        conn.executemany("INSERT INTO seen VALUES (?)", [(m.value,) for m in batch])
        if self.failures:
            self.failures -= 1
            raise RuntimeError("view apply bug")
        offsets.store(conn, batch)


async def test_a_view_apply_that_raises_is_retried_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MemoryBus()
    await bus.start()
    db = SqliteDb(tmp_path / "v.db", SCHEMA)
    await db.open()
    store = FlakyStore(failures=2)
    runner = ViewRunner("flaky", bus, ["t.x"], db, store, poll_s=0.05, retry_s=0.2)
    for i in range(5):
        await bus.publish("t.x", f"m{i}".encode(), key=b"k")
    readiness: list[bool] = []
    try:
        with caplog.at_level(logging.ERROR, logger="consumers.reports.view"):
            runner.start()
            await wait_until(lambda: (readiness.append(runner.healthy) or True)
                             and runner.applied == 5, 20)
        rows = await db.read(lambda c: c.execute("SELECT value FROM seen").fetchall())
        assert sorted(r[0] for r in rows) == [f"m{i}".encode() for i in range(5)]
        assert False in readiness and runner.healthy
        failed = [r for r in caplog.records if "failed; restarting" in r.getMessage()]
        assert len(failed) == 2 and all(r.exc_info is not None for r in failed)
    finally:
        await runner.stop()
        await db.close()
        await bus.close()


class FlakyBus(MemoryBus):
    """The in-memory bus, whose first subscription for webhooks fails."""

    failed = False

    async def subscribe(self, topics: Sequence[str], group: str) -> Subscription:
        if "webhooks" in group and not self.failed:
            self.failed = True
            raise RuntimeError("subscribe bug")
        return await super().subscribe(topics, group)


async def test_the_api_roles_readiness_follows_its_tasks(tmp_path: Path) -> None:
    bus = FlakyBus()
    await bus.start()
    api = ApiStack(bus, Topics("t."), data_dir=tmp_path, tokens=["t"], webhook_secret="s",
                   port=0)
    try:
        await api.start()
        await wait_until(lambda: not api.healthy, 10)  # the webhook reader crashed
        await wait_until(lambda: api.healthy, 10)  # and was restarted
        assert bus.failed
    finally:
        await api.stop()
        await bus.close()
    assert not api.healthy  # stopped: not serving
