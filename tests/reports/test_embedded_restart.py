"""Embedded mode: the in-memory bus starts empty in every process while the view's SQLite
file persists. The stored offsets are then past the end of the new logs; the view reads
the new messages from the beginning and keeps its earlier rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.memory_bus import MemoryBus
from consumers.reports import ReportAggregator
from engine.ports import Topics
from proto import messages as m
from tests.reports.test_store import BASE, cdr


async def run_once(db: Path, first: int, n: int) -> dict[str, int]:
    bus, topics = MemoryBus(), Topics("e.")
    agg = ReportAggregator(bus, topics, db, poll_s=0.02)
    await agg.start()
    for i in range(first, first + n):
        await bus.publish(topics.cdr, m.dumps(cdr(i, "c", "", "answered", BASE + i, 10)),
                          key=b"c")
    async with asyncio.timeout(10):
        await agg.settled()
    counts = await agg.counts(["c"])
    await agg.stop()
    return {status: t.calls for status, t in counts["c"].items()}


async def test_a_new_process_keeps_the_rows_and_reads_the_new_log(tmp_path: Path) -> None:
    db = tmp_path / "reports.db"
    assert await run_once(db, 0, 30) == {"answered": 30}
    assert await run_once(db, 100, 5) == {"answered": 35}
