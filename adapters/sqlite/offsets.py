"""Consumer positions stored beside the rows they produced.

A view commits its rows and ``next_offset`` per (topic, partition) in one transaction, and
reads from those offsets at start, so every message is applied exactly once to the view
whatever the moment the process stopped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from engine.ports import BusMessage

SCHEMA = """
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
"""


def load(conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
    rows = conn.execute("SELECT topic, partition, next_offset FROM offsets").fetchall()
    return {(str(t), int(p)): int(o) for t, p, o in rows}


def store(conn: sqlite3.Connection, batch: Sequence[BusMessage]) -> None:
    """Advance the stored positions past ``batch``; never moves a position backwards."""
    latest: dict[tuple[str, int], int] = {}
    for msg in batch:
        key = (msg.topic, msg.partition)
        latest[key] = max(latest.get(key, 0), msg.offset + 1)
    conn.executemany(
        "INSERT INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
        "ON CONFLICT (topic, partition) DO UPDATE "
        "SET next_offset = max(next_offset, excluded.next_offset)",
        [(t, p, o) for (t, p), o in latest.items()],
    )
