"""The full engine end to end on the simulator vs a bare greenswitch loop; slot refill.

One simulator process (its own core; its CPU is read from /proc and reported, so a
simulator-bound baseline shows as simulator CPU ≈ wall time). Per pair, in A B / B A order:

- A, bare greenswitch: one InboundESL, ``window`` greenlets, ``bgapi originate`` per call,
  done on CHANNEL_HANGUP_COMPLETE (what any ESL client must at least do);
- B, the engine: ``EngineApp`` on the in-memory bus with the simulator as its node; one
  campaign (concurrent_call = window, no recall) and ``calls`` leads published to the leads
  topic, then timed until every lead's CDR is on the cdr topic: input decoding, the
  scheduler, rendering, the greenswitch bridge, event parsing, CDRs and lead events
  encoded and published.

Figures: calls/s (wall), client CPU per call (this process, every thread), simulator CPU
per call. Slot refill (``--refill``): at light load (window 4, each call ~3 ms), the time
from a CHANNEL_HANGUP_COMPLETE read off the socket to the next ``bgapi originate`` written,
measured by the same two hooks in both clients.

    .venv/bin/python -m benchmarks.bench_engine --calls 4000 --window 200 --pairs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from benchmarks.common import Pairs, lead_message, loadavg
from benchmarks.sim import Simulator, bare_greenswitch

CAMPAIGN = "7b2e0d1c-0000-4000-8000-00000000be9c"


def _campaign_message(window: int) -> bytes:
    from proto import messages as m

    return m.dumps(m.UpsertCampaign(campaign=m.CampaignSpec(
        campaign_uuid=CAMPAIGN, campaign_name="bench", status="start",
        concurrent_call=window, template_text="Chào bạn {{ten}}, khoản nợ {{due_amount}}",
        recall_times=0, call_timeout=30)))


async def engine_run(port: int, calls: int, window: int) -> tuple[float, float]:
    """(wall, process CPU) seconds from the leads being published to the last CDR on the
    cdr topic (start-up and shutdown are not counted)."""
    from adapters.memory_bus import MemoryBus
    from dialer.app import EngineApp
    from dialer.settings import FsNode, Settings

    settings = Settings(bus="memory", simulator=False, instance="bench",
                        fs_nodes=[FsNode(name="fs1", host="127.0.0.1", port=port,
                                         max_sessions=1_000_000, cps=1_000_000.0)])
    bus = MemoryBus()
    app = EngineApp(settings, bus=bus)
    topics = app.topics
    await bus.publish(topics.control, _campaign_message(window), CAMPAIGN.encode())
    await app.start()
    started, cpu0 = time.perf_counter(), time.process_time()
    for i in range(calls):
        await bus.publish(topics.leads, lead_message(i, CAMPAIGN), CAMPAIGN.encode())
    ok = await app.wait_for(lambda: len(bus._logs[topics.cdr]) >= calls, 600)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    await app.stop()
    if not ok:
        raise RuntimeError(f"only {len(bus._logs[topics.cdr])} CDRs of {calls}")
    return seconds, cpu


def _measure(sim: Simulator, calls: int,
             fn: Callable[[], tuple[float, float]]) -> dict[str, float]:
    sim0 = sim.cpu()
    seconds, cpu = fn()
    sim_cpu = sim.cpu() - sim0  # its idle ticks between runs are ~0
    return {"calls_per_s": calls / seconds,
            "cpu_ms_per_call": cpu * 1000 / calls,
            "sim_cpu_ms_per_call": sim_cpu * 1000 / calls,
            "sim_cpu_share": sim_cpu / seconds}


def throughput(calls: int, window: int, pairs: int) -> dict[str, Any]:
    import uvloop

    sim = Simulator()
    try:
        load = loadavg()
        result = Pairs().run(
            lambda: _measure(sim, calls, lambda: bare_greenswitch(sim.port, calls, window)),
            lambda: _measure(sim, calls,
                             lambda: uvloop.run(engine_run(sim.port, calls, window))),
            pairs)
    finally:
        sim.stop()
    return {
        "calls": calls, "window": window, "pairs": pairs,
        "loadavg_before": load, "loadavg_after": loadavg(),
        "bare_calls_per_s": round(result.median("a", "calls_per_s"), 1),
        "engine_calls_per_s": round(result.median("b", "calls_per_s"), 1),
        "ratio_calls_per_s": round(result.ratio("calls_per_s"), 3),
        "bare_cpu_ms_per_call": round(result.median("a", "cpu_ms_per_call"), 3),
        "engine_cpu_ms_per_call": round(result.median("b", "cpu_ms_per_call"), 3),
        "ratio_cpu_per_call": round(result.ratio("cpu_ms_per_call"), 3),
        "sim_cpu_ms_per_call_bare": round(result.median("a", "sim_cpu_ms_per_call"), 3),
        "sim_cpu_ms_per_call_engine": round(result.median("b", "sim_cpu_ms_per_call"), 3),
        "sim_cpu_share_of_wall_bare": round(result.median("a", "sim_cpu_share"), 3),
        "sim_cpu_share_of_wall_engine": round(result.median("b", "sim_cpu_share"), 3),
    }


class Refill:
    """Pairs each originate written with the oldest hangup read not yet answered."""

    def __init__(self, window: int) -> None:
        self.pending: deque[float] = deque()
        self.latencies: list[float] = []
        self.first = window  # the first ``window`` originates answer no hangup

    def hangup_read(self, at: float) -> None:
        self.pending.append(at)

    def originate_sent(self, at: float) -> None:
        if self.first > 0:
            self.first -= 1
        elif self.pending:
            self.latencies.append(at - self.pending.popleft())


def _hooked_engine(port: int, calls: int, window: int, refill: Refill) -> None:
    import uvloop

    from adapters.freeswitch import bridge

    parse, write = bridge.parse_plain_event, bridge._Inbound.write

    def parse_hooked(payload: bytes, keep: Any = None) -> Any:
        event = parse(payload, keep)
        if event.name == "CHANNEL_HANGUP_COMPLETE":
            refill.hangup_read(time.perf_counter())
        return event

    def write_hooked(self: Any, data: bytes, reply_slot: Any) -> Any:
        # every command, from either thread, is written here (bridge._Inbound)
        if data.startswith(b"bgapi originate"):
            refill.originate_sent(time.perf_counter())
        return write(self, data, reply_slot)

    bridge.parse_plain_event = parse_hooked  # type: ignore[assignment]
    bridge._Inbound.write = write_hooked  # type: ignore[method-assign]
    try:
        uvloop.run(engine_run(port, calls, window))
    finally:
        bridge.parse_plain_event = parse  # type: ignore[assignment]
        bridge._Inbound.write = write  # type: ignore[method-assign]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def refill_latency(calls: int, window: int, pairs: int) -> dict[str, Any]:
    # Light load: calls of ~3 ms of simulated ring + talk at speed 1000, a few at a time.
    sim = Simulator(ring="1,2", talk="1,2")
    try:
        load = loadavg()

        def bare() -> dict[str, float]:
            r = Refill(window)
            bare_greenswitch(sim.port, calls, window, r.hangup_read, r.originate_sent)
            return {"p50_ms": _pct(r.latencies, 0.5), "p99_ms": _pct(r.latencies, 0.99),
                    "n": len(r.latencies)}

        def engine() -> dict[str, float]:
            r = Refill(window)
            _hooked_engine(sim.port, calls, window, r)
            return {"p50_ms": _pct(r.latencies, 0.5), "p99_ms": _pct(r.latencies, 0.99),
                    "n": len(r.latencies)}

        result = Pairs().run(bare, engine, pairs)
    finally:
        sim.stop()
    return {
        "calls": calls, "window": window, "pairs": pairs,
        "loadavg_before": load, "loadavg_after": loadavg(),
        "bare_p50_ms": round(result.median("a", "p50_ms"), 3),
        "bare_p99_ms": round(result.median("a", "p99_ms"), 3),
        "engine_p50_ms": round(result.median("b", "p50_ms"), 3),
        "engine_p99_ms": round(result.median("b", "p99_ms"), 3),
        "engine_p99_ms_worst_run": round(max(r["p99_ms"] for r in result.b), 3),
        "samples_per_run": int(statistics.median(r["n"] for r in result.b)),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--refill", action="store_true", help="slot refill latency instead")
    args = parser.parse_args()
    if args.refill:
        out = refill_latency(args.calls, args.window, args.pairs)
    else:
        out = throughput(args.calls, args.window, args.pairs)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
