"""Originations per second through the FreeSWITCH adapter, against the simulator.

Both measurements run in this one invocation against the same simulator process (its own
process, so it does not share the client's core): first a bare greenswitch loop (one
InboundESL, greenlets gated by a window, `bgapi originate` per call, completion on
CHANNEL_HANGUP_COMPLETE), then the production adapter (FreeSwitchPool: greenswitch in its
own gevent thread bridged to uvloop, the codec parsing events, Job-UUID matching, call
tracking, one CallEnded per call). Every call carries the realistic event set (CREATE,
STATE/CALLSTATE, PROGRESS, ANSWER, BACKGROUND_JOB, EXECUTE, HANGUP, HANGUP_COMPLETE,
DESTROY: the simulator's default). The result is the ratio adapter / bare.

    .venv/bin/python benchmarks/bench_esl.py --calls 4000 --window 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVENTS = "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB DTMF"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapters.fssim", "--port", str(port), "--speed", "1000",
         "--sps", "1000000", "--max-sessions", "1000000", "--ring-time", "0.2,0.5",
         "--talk-time", "0.5,1.0"],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("simulator did not start")


def originate_arg(call_uuid: str, n: int) -> str:
    return (f"originate {{origination_uuid={call_uuid},originate_timeout=30,"
            f"autocall_engine=bench}}sofia/gateway/gw/090{1_000_000 + n % 8_000_000} &park()")


def bare_greenswitch(port: int, calls: int, window: int) -> float:
    """Calls per second with greenswitch alone (its own parsing, no bridge)."""
    result: dict[str, float] = {}

    def run() -> None:
        import gevent
        import gevent.event
        import gevent.lock
        import greenswitch

        esl = greenswitch.InboundESL("127.0.0.1", port, "ClueCon")
        esl.connect()
        esl.send(f"event plain {EVENTS}")
        waiting: dict[str, gevent.event.Event] = {}

        def on_hangup(event: object) -> None:
            done = waiting.pop(event.headers.get("Unique-ID", ""), None)  # type: ignore[attr-defined]
            if done is not None:
                done.set()

        esl.register_handle("CHANNEL_HANGUP_COMPLETE", on_hangup)
        gate = gevent.lock.BoundedSemaphore(window)

        def one(n: int) -> None:
            with gate:
                call_uuid = str(uuid.uuid4())
                done = gevent.event.Event()
                waiting[call_uuid] = done
                esl.send(f"bgapi {originate_arg(call_uuid, n)}")
                done.wait(60)

        started = time.perf_counter()
        gevent.joinall([gevent.spawn(one, n) for n in range(calls)])
        result["seconds"] = time.perf_counter() - started
        esl.stop()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return calls / result["seconds"]


async def adapter(port: int, calls: int, window: int) -> float:
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

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(calls)))
    seconds = time.perf_counter() - started
    await pool.close()
    return calls / seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    import uvloop

    port = free_port()
    sim = start_simulator(port)
    try:
        bare = bare_greenswitch(port, args.calls, args.window)
        ours = uvloop.run(adapter(port, args.calls, args.window))
    finally:
        sim.terminate()
        sim.wait(10)
    print(json.dumps({
        "calls": args.calls, "window": args.window,
        "bare_greenswitch_calls_per_s": round(bare, 1),
        "adapter_calls_per_s": round(ours, 1),
        "ratio_adapter_to_bare": round(ours / bare, 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
