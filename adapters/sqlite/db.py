"""SQLite off the event loop: one writer connection and one reader connection, each owned
by its own single thread.

Invariants:
- every statement runs in the thread that owns its connection (sqlite3 objects are not
  shared between threads), so calls on one connection are serialised without a lock;
- writes run inside ``BEGIN IMMEDIATE … COMMIT``: a function passed to ``write`` either
  takes effect whole or not at all (an exception rolls it back and is re-raised);
- reads run inside one deferred transaction, so a read function sees one snapshot (WAL lets
  it run while the writer commits);
- the journal is WAL with ``synchronous=NORMAL``: a committed transaction survives a process
  crash; a power cut may lose the last few, together with the offsets stored beside them,
  so a view re-reads those messages and stays exactly-once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 65_536  # page cache per connection; views update random-key indexes


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class SqliteDb:
    """An SQLite file used from asyncio; ``schema`` runs once, in the writer, at open."""

    def __init__(self, path: str | Path, schema: str = "") -> None:
        self.path = str(path)
        self._schema = schema
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-w")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-r")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = await loop.run_in_executor(self._writer_pool, self._open_writer)
        self._reader = await loop.run_in_executor(self._reader_pool, _connect, self.path)

    def _open_writer(self) -> sqlite3.Connection:
        conn = _connect(self.path)
        if self._schema:
            conn.executescript(self._schema)
        return conn

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for pool, conn in ((self._writer_pool, self._writer), (self._reader_pool, self._reader)):
            if conn is not None:
                await loop.run_in_executor(pool, conn.close)
            pool.shutdown(wait=True)
        self._writer = self._reader = None

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._writer
        if conn is None:
            raise RuntimeError("SqliteDb.open() was not awaited")
        return await asyncio.get_running_loop().run_in_executor(
            self._writer_pool, _in_transaction, conn, fn, "BEGIN IMMEDIATE"
        )

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._reader
        if conn is None:
            raise RuntimeError("SqliteDb.open() was not awaited")
        return await asyncio.get_running_loop().run_in_executor(
            self._reader_pool, _in_transaction, conn, fn, "BEGIN"
        )


def _in_transaction(
    conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], begin: str
) -> T:
    conn.execute(begin)
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
