"""Originations per second through the FreeSWITCH adapter, against the simulator.

Both measurements run in this one invocation against the same simulator process (its own
process; its CPU is reported, so a baseline bound by the simulator is visible), as
order-balanced pairs (A B, B A, ...; medians over the pairs): A, a bare greenswitch loop
(one InboundESL, greenlets gated by a window, `bgapi originate` per call, completion on
CHANNEL_HANGUP_COMPLETE); B, the production adapter (FreeSwitchPool: greenswitch in its
own gevent thread bridged to uvloop, the codec parsing the headers it reads, Job-UUID
matching, call tracking, one CallEnded per call). Every call carries the realistic event
set (CREATE, STATE/CALLSTATE, PROGRESS, ANSWER, BACKGROUND_JOB, EXECUTE, HANGUP,
HANGUP_COMPLETE, DESTROY: the simulator's default). The result is the ratio adapter / bare.

    .venv/bin/python -m benchmarks.bench_esl --calls 4000 --window 200 --pairs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

from benchmarks.common import Pairs, loadavg
from benchmarks.sim import Simulator, bare_greenswitch


async def adapter(port: int, calls: int, window: int) -> tuple[float, float]:
    from adapters.freeswitch import DialPlan, FreeSwitchPool, NodeConfig
    from engine.ports import CallEnded, CallEvent
    from engine.records import Originate

    pool = FreeSwitchPool([NodeConfig("fs1", "127.0.0.1", port, "ClueCon")],
                          plan=DialPlan(gateway="gw", park=True), instance="bench")
    await pool.start()
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[None]] = {}

    def listener(event: CallEvent) -> None:
        if isinstance(event, CallEnded):
            fut = waiting.pop(event.result.call_uuid, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    pool.set_listener(listener)
    gate = asyncio.Semaphore(window)

    async def one(n: int) -> None:
        async with gate:
            call_uuid = str(uuid.uuid4())
            fut = loop.create_future()
            waiting[call_uuid] = fut
            await pool.originate(Originate(
                call_uuid=call_uuid, node="fs1", campaign_uuid="bench", lead_uuid=str(n),
                destination=f"090{1_000_000 + n % 8_000_000}", caller_id="", timeout_s=30,
                variables={"autocall_engine": "bench"}))
            await asyncio.wait_for(fut, 60)

    started, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(calls)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    await pool.close()
    return seconds, cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    import uvloop

    from benchmarks.bench_engine import _measure

    sim = Simulator()
    try:
        load = loadavg()
        result = Pairs().run(
            lambda: _measure(sim, args.calls,
                             lambda: bare_greenswitch(sim.port, args.calls, args.window)),
            lambda: _measure(sim, args.calls,
                             lambda: uvloop.run(adapter(sim.port, args.calls, args.window))),
            args.pairs)
    finally:
        sim.stop()
    print(json.dumps({
        "calls": args.calls, "window": args.window, "pairs": args.pairs,
        "loadavg_before": load, "loadavg_after": loadavg(),
        "bare_calls_per_s": round(result.median("a", "calls_per_s"), 1),
        "adapter_calls_per_s": round(result.median("b", "calls_per_s"), 1),
        "ratio_adapter_to_bare": round(result.ratio("calls_per_s"), 3),
        "bare_cpu_ms_per_call": round(result.median("a", "cpu_ms_per_call"), 3),
        "adapter_cpu_ms_per_call": round(result.median("b", "cpu_ms_per_call"), 3),
        "sim_cpu_share_of_wall_bare": round(result.median("a", "sim_cpu_share"), 3),
        "sim_cpu_share_of_wall_adapter": round(result.median("b", "sim_cpu_share"), 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
