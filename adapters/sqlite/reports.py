"""The report view: CDRs, lead imports and lead events materialised in SQLite.

Tables and their invariants:
- ``cdrs``: one row per cdr_uuid. ``INSERT OR IGNORE`` is the dedupe (guarantee 4: the
  engine may publish a CDR twice, the view counts it once).
- ``rollup`` (per campaign, hour bucket, list, status) and ``totals`` (per campaign, list,
  status): sums that change only in the trigger on ``cdrs`` insert, so they are always
  exactly the sums over ``cdrs``, and a duplicate CDR (an ignored insert) changes nothing.
- ``leads`` (what the import says), ``lead_calls`` (counters and the latest CDR) and
  ``lead_states`` (the latest lead event): one row per lead each, merged from three topics
  whose messages come in any interleaving. Every merge is order-independent, so a
  restarted view ends identical to one that never stopped: import fields are
  first-import-wins and override what a CDR or an event said about a lead; the latest CDR
  is the one with the greatest (start second, cdr_uuid); ``called_count`` is the greatest
  seen; the state is the event with the greatest ``at`` (ties: the later in its partition,
  the same on every run). The hot per-call updates touch only the two narrow tables.
- ``offsets``: the next offset per (topic, partition), written in the same transaction.

Query cost: a status count without dates reads ``totals``; with dates it sums whole hour
buckets from ``rollup`` and reads raw CDRs only for the partial hours at the two edges,
so it does not grow with the number of CDRs in the range.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from adapters.sqlite import offsets
from adapters.sqlite.stamps import cdr_epoch
from engine.ports import BusMessage, Topics
from proto import messages as m

BUCKET_S = 3600
MAX_EPOCH = 1 << 53
IN_CHUNK = 500  # campaigns per IN (...) list, well under SQLite's variable limit

SCHEMA = (
    offsets.SCHEMA
    + """
CREATE TABLE IF NOT EXISTS cdrs (
    cdr_uuid TEXT NOT NULL UNIQUE,
    campaign_uuid TEXT NOT NULL,
    campaign_name TEXT NOT NULL,
    lead_uuid TEXT NOT NULL,
    list_uuid TEXT NOT NULL,
    status TEXT NOT NULL,
    start_epoch INTEGER NOT NULL,
    billsec INTEGER NOT NULL,
    duration INTEGER NOT NULL,
    waitsec INTEGER NOT NULL,
    called_count INTEGER NOT NULL,
    phone_number TEXT NOT NULL,
    press_key TEXT NOT NULL,
    record_name TEXT NOT NULL,
    recording_url TEXT NOT NULL,
    start_stamp TEXT NOT NULL,
    answer_stamp TEXT NOT NULL,
    end_stamp TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_call_time TEXT NOT NULL,
    list_name TEXT NOT NULL,
    lead_name TEXT NOT NULL,
    lead_code TEXT NOT NULL,
    contract_number TEXT NOT NULL,
    additional TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cdrs_by_campaign_time ON cdrs (campaign_uuid, start_epoch);

CREATE TABLE IF NOT EXISTS rollup (
    campaign_uuid TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    list_uuid TEXT NOT NULL,
    status TEXT NOT NULL,
    calls INTEGER NOT NULL,
    duration INTEGER NOT NULL,
    billsec INTEGER NOT NULL,
    waitsec INTEGER NOT NULL,
    PRIMARY KEY (campaign_uuid, bucket, list_uuid, status)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS totals (
    campaign_uuid TEXT NOT NULL,
    list_uuid TEXT NOT NULL,
    status TEXT NOT NULL,
    calls INTEGER NOT NULL,
    duration INTEGER NOT NULL,
    billsec INTEGER NOT NULL,
    waitsec INTEGER NOT NULL,
    PRIMARY KEY (campaign_uuid, list_uuid, status)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS leads (
    lead_uuid TEXT PRIMARY KEY,
    campaign_uuid TEXT NOT NULL,
    list_uuid TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT '',
    imported INTEGER NOT NULL DEFAULT 0,
    phone_number TEXT NOT NULL DEFAULT '',
    list_name TEXT NOT NULL DEFAULT '',
    lead_name TEXT NOT NULL DEFAULT '',
    lead_code TEXT NOT NULL DEFAULT '',
    contract_number TEXT NOT NULL DEFAULT '',
    customer_id TEXT NOT NULL DEFAULT '',
    additional TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS leads_by_campaign ON leads (campaign_uuid, created_at, lead_uuid);

CREATE TABLE IF NOT EXISTS lead_calls (
    lead_uuid TEXT PRIMARY KEY,
    called_count INTEGER NOT NULL,
    last_cdr_uuid TEXT NOT NULL,
    last_start_epoch INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS lead_states (
    lead_uuid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    previous TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    ready_at REAL NOT NULL,
    state_at REAL NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS cdr_added AFTER INSERT ON cdrs BEGIN
    INSERT INTO rollup (campaign_uuid, bucket, list_uuid, status,
                        calls, duration, billsec, waitsec)
    VALUES (NEW.campaign_uuid, NEW.start_epoch / 3600, NEW.list_uuid, NEW.status,
            1, NEW.duration, NEW.billsec, NEW.waitsec)
    ON CONFLICT (campaign_uuid, bucket, list_uuid, status) DO UPDATE SET
        calls = calls + 1,
        duration = duration + excluded.duration,
        billsec = billsec + excluded.billsec,
        waitsec = waitsec + excluded.waitsec;
    INSERT INTO totals (campaign_uuid, list_uuid, status, calls, duration, billsec, waitsec)
    VALUES (NEW.campaign_uuid, NEW.list_uuid, NEW.status,
            1, NEW.duration, NEW.billsec, NEW.waitsec)
    ON CONFLICT (campaign_uuid, list_uuid, status) DO UPDATE SET
        calls = calls + 1,
        duration = duration + excluded.duration,
        billsec = billsec + excluded.billsec,
        waitsec = waitsec + excluded.waitsec;
    -- A lead first seen through its CDR: campaign, list and created_at are the lead's
    -- (the same on each of its CDRs); an import overrides them.
    INSERT INTO leads (lead_uuid, campaign_uuid, list_uuid, created_at)
    VALUES (NEW.lead_uuid, NEW.campaign_uuid, NEW.list_uuid, NEW.created_at)
    ON CONFLICT (lead_uuid) DO UPDATE SET
        campaign_uuid = excluded.campaign_uuid, list_uuid = excluded.list_uuid,
        created_at = excluded.created_at
    WHERE leads.imported = 0 AND (leads.list_uuid != excluded.list_uuid
                                  OR leads.created_at != excluded.created_at);
    INSERT INTO lead_calls (lead_uuid, called_count, last_cdr_uuid, last_start_epoch)
    VALUES (NEW.lead_uuid, NEW.called_count, NEW.cdr_uuid, NEW.start_epoch)
    ON CONFLICT (lead_uuid) DO UPDATE SET
        called_count = max(called_count, excluded.called_count),
        last_cdr_uuid = CASE
            WHEN (excluded.last_start_epoch, excluded.last_cdr_uuid)
                 > (last_start_epoch, last_cdr_uuid)
            THEN excluded.last_cdr_uuid ELSE last_cdr_uuid END,
        last_start_epoch = max(last_start_epoch, excluded.last_start_epoch);
END;
"""
)

_CDR_COLUMNS = (
    "cdr_uuid", "campaign_uuid", "campaign_name", "lead_uuid", "list_uuid", "status",
    "start_epoch", "billsec", "duration", "waitsec", "called_count", "phone_number",
    "press_key", "record_name", "recording_url", "start_stamp", "answer_stamp", "end_stamp",
    "created_at", "last_call_time", "list_name", "lead_name", "lead_code", "contract_number",
    "additional",
)
_INSERT_CDR = (
    f"INSERT OR IGNORE INTO cdrs ({', '.join(_CDR_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _CDR_COLUMNS)})"
)
_UPSERT_IMPORT = """
INSERT INTO leads (lead_uuid, campaign_uuid, list_uuid, created_at, imported, phone_number,
                   list_name, lead_name, lead_code, contract_number, customer_id, additional)
VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (lead_uuid) DO UPDATE SET
    campaign_uuid = excluded.campaign_uuid, list_uuid = excluded.list_uuid,
    created_at = excluded.created_at, imported = 1, phone_number = excluded.phone_number,
    list_name = excluded.list_name, lead_name = excluded.lead_name,
    lead_code = excluded.lead_code, contract_number = excluded.contract_number,
    customer_id = excluded.customer_id, additional = excluded.additional
WHERE leads.imported = 0
"""
_EVENT_LEAD = """
INSERT INTO leads (lead_uuid, campaign_uuid) VALUES (?, ?) ON CONFLICT (lead_uuid) DO NOTHING
"""
_UPSERT_EVENT = """
INSERT INTO lead_states (lead_uuid, state, previous, reason, attempts, calls, ready_at,
                         state_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (lead_uuid) DO UPDATE SET
    state = excluded.state, previous = excluded.previous, reason = excluded.reason,
    attempts = excluded.attempts, calls = excluded.calls, ready_at = excluded.ready_at,
    state_at = excluded.state_at
WHERE excluded.state_at >= lead_states.state_at
"""
_LEAD_COLUMNS = (
    "l.lead_uuid, l.campaign_uuid, l.list_uuid, l.created_at, l.imported, l.phone_number, "
    "l.list_name, l.lead_name, l.lead_code, l.contract_number, l.customer_id, l.additional, "
    "coalesce(lc.called_count, 0) AS called_count, "
    "coalesce(lc.last_cdr_uuid, '') AS last_cdr_uuid, lc.last_start_epoch"
)
_STATE_COLUMNS = (
    "coalesce(s.state, '') AS state, coalesce(s.previous, '') AS previous, "
    "coalesce(s.reason, '') AS reason, coalesce(s.attempts, 0) AS attempts, "
    "coalesce(s.calls, 0) AS calls, coalesce(s.ready_at, 0) AS ready_at, s.state_at"
)


@dataclass(frozen=True, slots=True)
class Totals:
    calls: int = 0
    duration: int = 0
    billsec: int = 0
    waitsec: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.calls + other.calls, self.duration + other.duration,
                      self.billsec + other.billsec, self.waitsec + other.waitsec)


# campaign_uuid → status → totals
Counts = dict[str, dict[str, Totals]]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Inclusive epoch-second bounds; None = open."""

    lo: int | None = None
    hi: int | None = None

    @property
    def open(self) -> bool:
        return self.lo is None and self.hi is None


def _cdr_row(c: m.CdrRecord) -> tuple[Any, ...]:
    return (
        c.cdr_uuid, c.campaign_uuid, c.campaign_name, c.lead_uuid, c.list_uuid, c.status,
        cdr_epoch(c.start_stamp, c.last_call_time), c.billsec, c.duration, c.waitsec,
        c.called_count, c.phone_number, c.press_key, c.record_name, c.recording_url,
        c.start_stamp, c.answer_stamp, c.end_stamp, c.created_at, c.last_call_time,
        c.list_name, c.lead_name, c.lead_code, c.contract_number,
        orjson.dumps(c.additional).decode(),
    )


def _import_row(li: m.LeadImport) -> tuple[Any, ...]:
    return (
        li.lead_uuid, li.campaign_uuid, li.list_uuid, li.created_at, li.phone_number,
        li.list_name, li.lead_name, li.lead_code, li.contract_number, li.customer_id,
        orjson.dumps(li.param).decode(),
    )


def _event_row(e: m.LeadEventRecord) -> tuple[Any, ...]:
    return (e.lead_uuid, e.state, e.previous, e.reason, e.attempts, e.calls, e.ready_at,
            e.at)


class ReportStore:
    """Synchronous SQL; ``consumers.reports.ReportAggregator`` runs it in database threads."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.rejected = 0

    @property
    def sources(self) -> tuple[str, str, str]:
        return (self.topics.leads, self.topics.cdr, self.topics.lead_events)

    def load_offsets(self, conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
        return offsets.load(conn)

    def apply_batch(self, conn: sqlite3.Connection, batch: Sequence[BusMessage]) -> None:
        imports: list[tuple[Any, ...]] = []
        cdrs: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        event_leads: list[tuple[str, str]] = []
        t = self.topics
        for msg in batch:
            if msg.value is None:
                continue  # a tombstone: these topics are append-only logs, nothing to undo
            try:
                if msg.topic == t.cdr:
                    cdrs.append(_cdr_row(m.CdrRecord.model_validate_json(msg.value)))
                elif msg.topic == t.leads:
                    imports.append(_import_row(m.LeadImport.model_validate_json(msg.value)))
                elif msg.topic == t.lead_events:
                    event = m.LeadEventRecord.model_validate_json(msg.value)
                    events.append(_event_row(event))
                    event_leads.append((event.lead_uuid, event.campaign_uuid))
            except ValidationError:
                # Bad input was dead-lettered by the engine (leads) or is a producer bug;
                # either way it holds nothing to report. Counted, never retried.
                self.rejected += 1
        # Each statement's merge is order-independent (module docstring), so the kinds may
        # be applied in any order.
        conn.executemany(_UPSERT_IMPORT, imports)
        conn.executemany(_INSERT_CDR, cdrs)
        conn.executemany(_EVENT_LEAD, event_leads)
        conn.executemany(_UPSERT_EVENT, events)
        offsets.store(conn, batch)

    # ---- status counts -----------------------------------------------------------------
    def counts(
        self,
        conn: sqlite3.Connection,
        campaigns: Sequence[str],
        window: TimeRange,
        list_uuid: str | None = None,
    ) -> Counts:
        out: Counts = {}
        for i in range(0, len(campaigns), IN_CHUNK):
            for query, params in _count_queries(campaigns[i : i + IN_CHUNK], window, list_uuid):
                for uuid, status, calls, duration, billsec, waitsec in conn.execute(
                    query, params
                ):
                    per = out.setdefault(uuid, {})
                    per[status] = per.get(status, Totals()) + Totals(
                        calls, duration, billsec, waitsec
                    )
        return out

    # ---- leads -------------------------------------------------------------------------
    def lead_page(
        self,
        conn: sqlite3.Connection,
        campaign_uuid: str | None,
        window: TimeRange,
        list_uuid: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if campaign_uuid is not None:
            where.append("l.campaign_uuid = ?")
            params.append(campaign_uuid)
        if list_uuid is not None:
            where.append("l.list_uuid = ?")
            params.append(list_uuid)
        if not window.open:
            where.append("lc.last_start_epoch BETWEEN ? AND ?")
            params += [window.lo if window.lo is not None else 0,
                       window.hi if window.hi is not None else MAX_EPOCH]
        clause = " AND ".join(where)
        joined = "leads l LEFT JOIN lead_calls lc ON lc.lead_uuid = l.lead_uuid"
        # Without dates the count needs no join (it then reads one index only).
        counted = joined if not window.open else "leads l"
        total = conn.execute(f"SELECT count(*) FROM {counted} WHERE {clause}",
                             params).fetchone()
        cur = conn.execute(
            f"SELECT {_LEAD_COLUMNS}, c.cdr_uuid AS c_marker, c.* FROM {joined} "
            f"LEFT JOIN cdrs c ON c.cdr_uuid = lc.last_cdr_uuid "
            f"WHERE {clause} ORDER BY l.created_at DESC, l.lead_uuid DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        names = [d[0] for d in cur.description]
        split = names.index("c_marker")
        rows = []
        for raw in cur:
            lead = dict(zip(names[:split], raw[:split], strict=True))
            cdr = dict(zip(names[split + 1 :], raw[split + 1 :], strict=True))
            rows.append({"lead": lead, "cdr": cdr if raw[split] is not None else None})
        return rows, int(total[0])

    @staticmethod
    def lead(conn: sqlite3.Connection, lead_uuid: str) -> dict[str, Any] | None:
        cur = conn.execute(
            f"SELECT {_LEAD_COLUMNS}, {_STATE_COLUMNS} FROM leads l "
            "LEFT JOIN lead_calls lc ON lc.lead_uuid = l.lead_uuid "
            "LEFT JOIN lead_states s ON s.lead_uuid = l.lead_uuid WHERE l.lead_uuid = ?",
            (lead_uuid,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))


def _count_queries(
    campaigns: Sequence[str], window: TimeRange, list_uuid: str | None
) -> Iterator[tuple[str, list[Any]]]:
    """No dates: ``totals``. Else whole hour buckets from ``rollup`` and the partial hours
    at the edges from ``cdrs``."""
    marks = ", ".join("?" for _ in campaigns)
    by_list = "" if list_uuid is None else " AND list_uuid = ?"
    extra = [] if list_uuid is None else [list_uuid]
    rollup = (
        "SELECT campaign_uuid, status, sum(calls), sum(duration), sum(billsec), sum(waitsec) "
        f"FROM rollup WHERE campaign_uuid IN ({marks}){by_list}"
    )
    raw = (
        "SELECT campaign_uuid, status, count(*), sum(duration), sum(billsec), sum(waitsec) "
        f"FROM cdrs WHERE campaign_uuid IN ({marks}) AND start_epoch BETWEEN ? AND ?{by_list} "
        "GROUP BY campaign_uuid, status"
    )
    if window.open:
        yield (
            "SELECT campaign_uuid, status, sum(calls), sum(duration), sum(billsec), "
            f"sum(waitsec) FROM totals WHERE campaign_uuid IN ({marks}){by_list} "
            "GROUP BY campaign_uuid, status",
            [*campaigns, *extra],
        )
        return
    lo = window.lo if window.lo is not None else 0
    hi = window.hi if window.hi is not None else MAX_EPOCH
    if lo > hi:
        return
    first = -(-lo // BUCKET_S)  # first bucket wholly inside [lo, hi]
    last = (hi + 1) // BUCKET_S - 1  # last bucket wholly inside
    if first > last:
        yield raw, [*campaigns, lo, hi, *extra]
        return
    yield (rollup + " AND bucket BETWEEN ? AND ? GROUP BY campaign_uuid, status",
           [*campaigns, *extra, first, last])
    if lo < first * BUCKET_S:
        yield raw, [*campaigns, lo, first * BUCKET_S - 1, *extra]
    if (last + 1) * BUCKET_S <= hi:
        yield raw, [*campaigns, (last + 1) * BUCKET_S, hi, *extra]
