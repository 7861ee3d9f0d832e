"""Cyclic garbage collector settings for the engine process.

Why: an engine holds up to millions of queued leads, and its input path makes many
short-lived containers per message (decoded JSON, pydantic models, commands) that
reference counting frees at once, so young collections find nothing to collect, while
every full collection walks every lead held. Measured on 400k lead imports through the
engine's input path (``benchmarks/bench_memory.py`` reports the GC share of the load):
default thresholds (700, 10, 10) spent ~25 % of the import's CPU in the collector with 6
full collections; ``gc.freeze()`` every 50k leads halved that; (10_000, 50, 100) brought it
to ~4 % with no full collection, and 20 % less CPU for the whole import.

The cost: cyclic garbage (rare here: tracebacks, asyncio internals) lives until 10,000
net allocations instead of 700, i.e. a few hundred kilobytes at most. ``gc.freeze()`` is
not used: frozen objects are never examined again, so a cycle made during a bulk load
would be kept for the life of the process.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 50, 100)


def tune() -> None:
    """Apply the engine's collector thresholds (idempotent)."""
    gc.set_threshold(*THRESHOLDS)
