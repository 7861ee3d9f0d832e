"""Report aggregator benchmark: ingest rate and query latency over N CDRs (default 1M).

    .venv/bin/python benchmarks/bench_reports.py            # 1,000,000 CDRs
    .venv/bin/python benchmarks/bench_reports.py --cdrs 50000   # a quick run

What it does, all in one process on the in-memory bus (no broker: the numbers are the
aggregator's own cost, decode + SQLite):
1. builds N CDR messages (20 campaigns, 2 lists, 30 days, one lead per 4 CDRs), two lead
   events per CDR (dialing, then completed/recall) and one lead import per lead — the mix
   the engine produces — and loads them into the bus;
2. baseline ingest: one row per message (the CDR, event and import fields) inserted into
   bare SQLite tables (executemany, 5000 rows per transaction, same pragmas): the floor
   for writing these rows at all;
3. aggregator ingest: a ReportAggregator reads the topics from offset 0 to the end;
4. query latency (p50/p95/p99 over --queries runs each) of the aggregator's queries, with
   two baselines run the same way: ``SELECT 1`` through the same reader thread (the fixed
   cost of a query) and the naive status count over the raw CDR rows of one campaign
   (what the hourly rollup saves).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.memory_bus import MemoryBus
from adapters.sqlite.db import SqliteDb
from adapters.sqlite.reports import TimeRange
from adapters.sqlite.stamps import REPORT_ZONE, STAMP_FORMAT, parse_filter
from consumers.reports import ReportAggregator
from engine.ports import Topics

START = 1_672_506_000  # 2023-01-01 00:00:00 +07:00
DAYS = 30
STATUSES = (["answered"] * 40 + ["busy"] * 20 + ["no_answer"] * 20 + ["not_available"] * 8
            + ["cancel"] * 4 + ["failed"] * 4 + ["congestion"] * 2 + ["voicemail"] * 2)


Row = tuple[Any, ...]


def build(n: int, campaigns: int, rng: random.Random
          ) -> tuple[list[bytes], list[bytes], list[bytes], dict[str, list[Row]]]:
    cdrs: list[bytes] = []
    events: list[bytes] = []
    rows: dict[str, list[Row]] = {"cdrs": [], "events": [], "imports": []}
    leads = max(1, n // 4)
    imports = []
    for i in range(leads):
        created = datetime.fromtimestamp(START + i % (DAYS * 86_400), REPORT_ZONE).isoformat()
        imports.append(orjson.dumps({
            "type": "lead", "campaign_uuid": f"campaign-{i % campaigns}",
            "lead_uuid": f"lead-{i}", "phone_number": "0901234567",
            "phones": ["0901234567"], "param": {"ten": "Nguyễn Văn A", "so_tien": "10410000"},
            "list_uuid": f"list-{i % 2}", "list_name": f"List {i % 2}", "created_at": created,
        }))
        rows["imports"].append((f"lead-{i}", f"campaign-{i % campaigns}", f"list-{i % 2}",
                                created, "0901234567", '{"ten": "Nguyễn Văn A"}'))
    calls = [0] * leads
    for i in range(n):
        lead = rng.randrange(leads)
        calls[lead] += 1
        campaign = f"campaign-{lead % campaigns}"
        epoch = START + rng.randrange(DAYS * 86_400)
        when = datetime.fromtimestamp(epoch, REPORT_ZONE)
        status = rng.choice(STATUSES)
        billsec = rng.randrange(1, 90) if status in ("answered", "voicemail") else 0
        duration = billsec + rng.randrange(5, 40)
        record = {
            "cdr_uuid": f"cdr-{i}", "campaign_uuid": campaign,
            "campaign_name": f"Campaign {lead % campaigns}", "lead_uuid": f"lead-{lead}",
            "call_id": "", "phone_number": "0901234567", "status": status,
            "hangup_cause": "NORMAL_CLEARING", "hangup_cause_q850": 16, "billsec": billsec,
            "duration": duration, "waitsec": duration - billsec, "called_count": calls[lead],
            "attempt": 1, "press_key": "{}", "record_name": f"cdr-{i}.mp3",
            "recording_url": "/recordings/2023", "start_stamp": when.strftime(STAMP_FORMAT),
            "answer_stamp": "", "end_stamp": "", "created_at": "",
            "last_call_time": when.isoformat(), "list_uuid": f"list-{lead % 2}",
            "additional": {"ten": "Nguyễn Văn A"},
        }
        cdrs.append(orjson.dumps(record))
        rows["cdrs"].append((record["cdr_uuid"], campaign, record["lead_uuid"], status, epoch,
                             billsec, duration, record["start_stamp"]))
        for k, state in enumerate(("dialing", "completed" if billsec else "recall")):
            event = {"lead_uuid": f"lead-{lead}", "campaign_uuid": campaign, "state": state,
                     "previous": "queued", "reason": status, "at": float(epoch + k),
                     "attempts": calls[lead], "calls": calls[lead], "ready_at": 0.0}
            events.append(orjson.dumps(event))
            rows["events"].append((f"lead-{lead}", campaign, state, float(epoch + k)))
    return cdrs, events, imports, rows


def baseline_ingest(path: Path, rows: dict[str, list[Row]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE cdrs (cdr_uuid TEXT, campaign_uuid TEXT, lead_uuid TEXT, "
                 "status TEXT, start_epoch INTEGER, billsec INTEGER, duration INTEGER, "
                 "start_stamp TEXT)")
    conn.execute("CREATE TABLE events (lead_uuid TEXT, campaign_uuid TEXT, state TEXT, "
                 "at REAL)")
    conn.execute("CREATE TABLE imports (lead_uuid TEXT, campaign_uuid TEXT, list_uuid TEXT, "
                 "created_at TEXT, phone TEXT, params TEXT)")
    began = time.perf_counter()
    for table, table_rows in rows.items():
        marks = ", ".join("?" for _ in table_rows[0])
        for i in range(0, len(table_rows), 5000):
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows[i : i + 5000])
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed


async def latencies(fn: Callable[[int], Awaitable[Any]], runs: int) -> list[float]:
    out = []
    for i in range(runs):
        began = time.perf_counter()
        await fn(i)
        out.append((time.perf_counter() - began) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    topics = Topics("bench.")
    campaigns = [f"campaign-{i}" for i in range(args.campaigns)]
    t0 = time.perf_counter()
    cdrs, events, imports, rows = build(args.cdrs, args.campaigns, rng)
    total = len(cdrs) + len(events) + len(imports)
    print(f"built {len(cdrs):,} CDRs + {len(events):,} lead events + {len(imports):,} lead "
          f"imports in {time.perf_counter() - t0:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        base_s = baseline_ingest(Path(tmp) / "baseline.db", rows)
        bus = MemoryBus()
        for i, raw in enumerate(imports):
            await bus.publish(topics.leads, raw, key=campaigns[i % args.campaigns].encode())
        for raw in cdrs:
            await bus.publish(topics.cdr, raw, key=b"k")
        for raw in events:
            await bus.publish(topics.lead_events, raw, key=b"k")
        del cdrs, events, imports, rows

        agg = ReportAggregator(bus, topics, Path(tmp) / "reports.db", poll_s=0.05)
        began = time.perf_counter()
        await agg.start()
        async with asyncio.timeout(3600):
            await agg.settled()
        ingest_s = time.perf_counter() - began
        assert agg.applied == total, (agg.applied, total)

        print(f"\ningest of {total:,} messages")
        print(f"  baseline, bare SQLite inserts of the same rows: "
              f"{total / base_s:>10,.0f} rows/s  ({base_s:.1f} s)")
        rate = total / ingest_s
        print(f"  aggregator (decode, validate, dedupe, rollups, lead merges, offsets): "
              f"{rate:>10,.0f} msg/s  ({ingest_s:.1f} s; {args.cdrs / ingest_s:,.0f} CDR/s "
              f"with their events and imports)")
        print(f"  ratio aggregator / baseline: {rate / (total / base_s):.3f}")

        day = parse_filter("2023-01-15 08:30:00"), parse_filter("2023-01-16 17:45:10")
        window = TimeRange(day[0], day[1])
        raw_db = SqliteDb(Path(tmp) / "reports.db")
        await raw_db.open()
        pick = rng.choice
        queries: dict[str, Callable[[int], Awaitable[Any]]] = {
            "baseline: SELECT 1 (reader thread round trip)":
                lambda _: raw_db.read(lambda c: c.execute("SELECT 1").fetchone()),
            "baseline: naive status count, one campaign (raw rows)":
                lambda _: raw_db.read(lambda c: c.execute(
                    "SELECT status, count(*), sum(duration), sum(billsec), sum(waitsec) "
                    "FROM cdrs WHERE campaign_uuid = ? GROUP BY status",
                    (pick(campaigns),)).fetchall()),
            "v1 report, one campaign, no dates": lambda _: agg.counts([pick(campaigns)]),
            "v1 report, one campaign, 33 h window": lambda _: agg.counts([pick(campaigns)],
                                                                         window),
            "v3 campaign report, all campaigns": lambda _: agg.counts(campaigns),
            "v3 campaign report, all, window + list": lambda _: agg.counts(campaigns, window,
                                                                           "list-1"),
            "v3 lead report, page of 10 (random offset)": lambda i: agg.lead_page(
                pick(campaigns), limit=10, offset=(i * 97) % 5000),
            "v3 lead report, page of 10, 33 h window": lambda _: agg.lead_page(
                pick(campaigns), window, limit=10),
            "lead state": lambda i: agg.lead(f"lead-{(i * 7919) % (args.cdrs // 4)}"),
        }
        print(f"\nquery latency over {args.cdrs:,} CDRs ({args.queries} runs each, ms)")
        print(f"  {'query':<56} {'p50':>8} {'p95':>8} {'p99':>8}")
        results: dict[str, list[float]] = {}
        for name, fn in queries.items():
            await fn(0)  # warm the page cache
            results[name] = await latencies(fn, args.queries)
            values = results[name]
            print(f"  {name:<56} {pct(values, .5):>8.2f} {pct(values, .95):>8.2f} "
                  f"{pct(values, .99):>8.2f}")
        naive = statistics.median(results["baseline: naive status count, one campaign "
                                          "(raw rows)"])
        rolled = statistics.median(results["v1 report, one campaign, no dates"])
        floor = statistics.median(results["baseline: SELECT 1 (reader thread round trip)"])
        print(f"\n  v1 report p50 / naive count p50 = {rolled / naive:.3f}"
              f"   v1 report p50 / SELECT 1 p50 = {rolled / floor:.1f}")
        await raw_db.close()
        await agg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
