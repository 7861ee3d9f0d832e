"""Helpers shared by the benchmarks: order-balanced pairs, CPU time, load, test data.

Every throughput row runs its baseline (A) and the project (B) in the same invocation as
A B B A quads, so a machine that gets busier or quieter during the run favours neither
side; the figure is the median over the pairs. CPU time is the process's own
(``time.process_time``: user + system of every thread) unless a row says otherwise.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CAMPAIGN = "6a1f6c1e-3b0a-4b8e-9a55-0c1d2e3f4a5b"
LIST = "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b"


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_count() -> int:
    return os.cpu_count() or 1


def rss_bytes() -> int:
    """Resident set size now (Linux /proc), in bytes."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize()


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# Mobile prefixes of the four big carriers and a few smaller ones (all in the engine's table).
PREFIXES = ("090", "091", "098", "097", "096", "093", "094", "088", "086", "032", "033",
            "070", "079", "081", "083", "056", "058", "092", "089")


def lead_message(i: int, campaign: str = CAMPAIGN) -> bytes:
    """One lead import as upstream systems send it (seed 000 fields, Vietnamese params)."""
    return orjson.dumps({
        "type": "lead",
        "campaign_uuid": campaign,
        "lead_uuid": str(uuid.UUID(int=(0x5EED << 96) | i)),
        "phone_number": f"{PREFIXES[i % len(PREFIXES)]}{(i * 7919) % 10_000_000:07d}",
        "param": {"ten": "Nguyễn Văn An", "due_amount": str(1_000_000 + i % 50_000_000),
                  "due_date": "30/01/2027"},
        "call_id": f"CALL-{i:010d}",
        "customer_id": f"KH{i:08d}",
        "list_uuid": LIST,
        "list_name": "Nhắc nợ tháng 1",
        "created_at": "2026-11-30 08:00:00",
    })


@dataclass
class Pairs:
    """Order-balanced A/B measurements: ``run(a, b, pairs)`` runs A B B A ... pairs."""

    a: list[dict[str, float]] = field(default_factory=list)
    b: list[dict[str, float]] = field(default_factory=list)

    def run(self, a: Callable[[], dict[str, float]], b: Callable[[], dict[str, float]],
            pairs: int) -> Pairs:
        for i in range(pairs):
            order = (a, b) if i % 2 == 0 else (b, a)
            for fn in order:
                gc.collect()
                result = fn()
                (self.a if fn is a else self.b).append(result)
                print(f"  {'A' if fn is a else 'B'} {fmt(result)}", file=sys.stderr, flush=True)
        return self

    def median(self, side: str, key: str) -> float:
        return statistics.median(r[key] for r in (self.a if side == "a" else self.b))

    def ratio(self, key: str) -> float:
        """Median over pairs of B/A (each pair measured back to back)."""
        return statistics.median(b[key] / a[key] for a, b in zip(self.a, self.b, strict=True))


def fmt(result: dict[str, float]) -> str:
    return " ".join(f"{k}={v:,.4g}" for k, v in result.items())


class Stopwatch:
    """Wall and own-process CPU time over a block."""

    def __enter__(self) -> Stopwatch:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
