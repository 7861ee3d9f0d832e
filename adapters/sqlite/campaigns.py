"""The campaign registry as SQLite tables: committed state from the control topic, plus the
commands this process published and has not read back yet.

Why two layers. The control topic is the only truth: every process that needs campaigns
(the gateway, the webhook sender) materialises it, with its offsets stored in the same
transaction as the rows (``committed``). A client that creates a campaign and reads it
back at once must see it (read-your-writes), so the gateway records each command it
publishes in ``pending`` first and every read folds the pending commands over the
committed rows. When the consumer reads a command back from the topic it deletes the
matching pending row (same campaign, same bytes) in the transaction that applies it to
``committed``. Hence:

- a read never goes back in time: a pending command is visible from before its publish
  until the same transaction that makes it committed (re-applying an older command of
  ours, as a naive "apply locally, then apply again when consumed" does, would briefly
  resurrect a campaign we had deleted);
- commands from other producers (another gateway replica, an upstream system writing the
  control topic) are applied to ``committed`` as they come, and our pending ones fold on
  top, which is the order the topic will have (they are behind on the same partition);
- a pending row is written before the publish and removed if the publish fails; one that
  never comes back (the process died between a failed publish and the clean-up) is
  ignored after ``PENDING_TTL_S`` and pruned.

``apply`` mirrors the engine's rules (engine/core.py), so the view and the engine agree on
what a command did: status/active on an unknown campaign change nothing, a delete of an
active campaign is refused, an upsert replaces the whole spec.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from adapters.sqlite import offsets
from consumers.keys import control_tombstone
from engine.ports import BusMessage
from proto import messages as m

PENDING_TTL_S = 600.0

SCHEMA = (
    offsets.SCHEMA
    + """
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_uuid TEXT PRIMARY KEY,
    spec TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_uuid TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_campaign ON pending (campaign_uuid, seq);
"""
)

Spec = dict[str, Any]


def command_campaign(cmd: m.ControlCommand) -> str:
    if isinstance(cmd, m.UpsertCampaign):
        return cmd.campaign.campaign_uuid
    return cmd.campaign_uuid


def apply(spec: Spec | None, cmd: m.ControlCommand) -> Spec | None:
    """One control command on one campaign's spec (JSON form); ``None`` = no campaign."""
    match cmd:
        case m.UpsertCampaign():
            return cmd.campaign.model_dump(mode="json")
        case m.SetCampaignStatus():
            return None if spec is None else {**spec, "status": cmd.status}
        case m.SetCampaignActive():
            return None if spec is None else {**spec, "active": cmd.active}
        case m.DeleteCampaign():
            if spec is None or spec.get("active", True):
                return spec
            return None
    raise AssertionError(f"unhandled control command {type(cmd).__name__}")


class CampaignStore:
    """Synchronous SQL over one connection; ``consumers.reports.CampaignView`` runs it in
    the database threads."""

    def __init__(
        self, control_topic: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.control_topic = control_topic
        self._clock = clock
        self.rejected = 0

    # ---- consumer side ---------------------------------------------------------------
    def load_offsets(self, conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
        conn.execute("DELETE FROM pending WHERE created < ?",
                     (self._clock() - PENDING_TTL_S,))
        return offsets.load(conn)

    def apply_batch(self, conn: sqlite3.Connection, batch: Sequence[BusMessage]) -> None:
        for msg in batch:
            if msg.topic != self.control_topic:
                continue
            if msg.value is None:
                # A tombstone of the campaign key reads as its delete (same rule as the
                # engine: refused while active); of a sub-key, it carries nothing.
                deleted = control_tombstone((msg.key or b"").decode("utf-8", "replace"))
                if deleted is None:
                    continue
                cmd: m.ControlCommand = m.DeleteCampaign(campaign_uuid=deleted.campaign_uuid)
            else:
                try:
                    cmd = m.CONTROL.validate_python(orjson.loads(msg.value))
                except (orjson.JSONDecodeError, ValidationError):
                    # The engine dead-letters it; the view has nothing to apply either.
                    self.rejected += 1
                    continue
            uuid = command_campaign(cmd)
            conn.execute(
                "DELETE FROM pending WHERE seq = (SELECT seq FROM pending "
                "WHERE campaign_uuid = ? AND payload = ? ORDER BY seq LIMIT 1)",
                (uuid, msg.value),
            )
            row = conn.execute(
                "SELECT spec FROM campaigns WHERE campaign_uuid = ?", (uuid,)
            ).fetchone()
            before = orjson.loads(row[0]) if row else None
            after = apply(before, cmd)
            if after is None:
                conn.execute("DELETE FROM campaigns WHERE campaign_uuid = ?", (uuid,))
            elif after != before:
                conn.execute(
                    "INSERT INTO campaigns (campaign_uuid, spec) VALUES (?, ?) "
                    "ON CONFLICT (campaign_uuid) DO UPDATE SET spec = excluded.spec",
                    (uuid, orjson.dumps(after).decode()),
                )
        offsets.store(conn, batch)

    # ---- publisher side --------------------------------------------------------------
    def add_pending(self, conn: sqlite3.Connection, uuid: str, payload: bytes) -> int:
        cur = conn.execute(
            "INSERT INTO pending (campaign_uuid, payload, created) VALUES (?, ?, ?)",
            (uuid, payload, self._clock()),
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    def drop_pending(conn: sqlite3.Connection, seq: int) -> None:
        conn.execute("DELETE FROM pending WHERE seq = ?", (seq,))

    # ---- reads (committed ⊕ pending) -------------------------------------------------
    def get(self, conn: sqlite3.Connection, uuid: str) -> Spec | None:
        row = conn.execute(
            "SELECT spec FROM campaigns WHERE campaign_uuid = ?", (uuid,)
        ).fetchone()
        spec: Spec | None = orjson.loads(row[0]) if row else None
        for payload in self._pending(conn, uuid):
            spec = apply(spec, m.CONTROL.validate_json(payload))
        return spec

    def all(self, conn: sqlite3.Connection) -> dict[str, Spec]:
        specs: dict[str, Spec] = {
            str(uuid): orjson.loads(text)
            for uuid, text in conn.execute("SELECT campaign_uuid, spec FROM campaigns")
        }
        for uuid, payload in conn.execute(
            "SELECT campaign_uuid, payload FROM pending WHERE created >= ? ORDER BY seq",
            (self._clock() - PENDING_TTL_S,),
        ):
            after = apply(specs.get(uuid), m.CONTROL.validate_json(payload))
            if after is None:
                specs.pop(uuid, None)
            else:
                specs[uuid] = after
        return specs

    def _pending(self, conn: sqlite3.Connection, uuid: str) -> list[bytes]:
        return [
            bytes(p)
            for (p,) in conn.execute(
                "SELECT payload FROM pending WHERE campaign_uuid = ? AND created >= ? "
                "ORDER BY seq",
                (uuid, self._clock() - PENDING_TTL_S),
            )
        ]


def sort_newest_first(specs: Mapping[str, Spec]) -> list[Spec]:
    """Campaign lists are newest first (seed 001's example), ties broken by uuid."""
    return sorted(
        specs.values(),
        key=lambda s: (str(s.get("created_at", "")), str(s.get("campaign_uuid", ""))),
        reverse=True,
    )
