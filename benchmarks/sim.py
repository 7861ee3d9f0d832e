"""The simulator in its own process, and the bare greenswitch loop used as a baseline."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.common import ROOT, proc_cpu

# What both clients subscribe to (the adapter's own set, switch.EVENTS, minus avmd).
EVENTS = "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB DTMF"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Simulator:
    """``python -m adapters.fssim`` on a free loopback port; ``cpu()`` is its CPU so far."""

    def __init__(self, speed: float = 1000.0, ring: str = "0.2,0.5",
                 talk: str = "0.5,1.0", extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adapters.fssim", "--port", str(self.port), "--speed",
             str(speed), "--sps", "1000000", "--max-sessions", "1000000",
             "--outcomes", "answered=1", "--ring-time", ring, "--talk-time", talk, *extra],
            cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("simulator did not start")

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def originate_arg(call_uuid: str, n: int) -> str:
    return (f"originate {{origination_uuid={call_uuid},originate_timeout=30,"
            f"autocall_engine=bench}}sofia/gateway/gw/090{1_000_000 + n % 8_000_000} &park()")


def bare_greenswitch(port: int, calls: int, window: int,
                     on_hangup_read: Callable[[float], None] | None = None,
                     on_originate_sent: Callable[[float], None] | None = None,
                     ) -> tuple[float, float]:
    """(wall, process CPU) seconds for ``calls`` calls, ``window`` at a time, with
    greenswitch alone: one InboundESL, one greenlet per call, done on HANGUP_COMPLETE."""
    result: dict[str, float] = {}

    def run() -> None:
        import gevent
        import gevent.event
        import gevent.lock
        import greenswitch

        class Inbound(greenswitch.InboundESL):  # type: ignore[misc]
            def handle_event(self, event: Any) -> None:
                super().handle_event(event)
                if (on_hangup_read is not None
                        and event.headers.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"):
                    on_hangup_read(time.perf_counter())

            def send(self, data: str) -> Any:
                if on_originate_sent is not None and data.startswith("bgapi originate"):
                    on_originate_sent(time.perf_counter())
                return super().send(data)

        esl = Inbound("127.0.0.1", port, "ClueCon")
        esl.connect()
        esl.send(f"event plain {EVENTS}")
        waiting: dict[str, gevent.event.Event] = {}

        def on_hangup(event: Any) -> None:
            done = waiting.pop(event.headers.get("Unique-ID", ""), None)
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

        started, cpu0 = time.perf_counter(), time.process_time()
        gevent.joinall([gevent.spawn(one, n) for n in range(calls)])
        result["seconds"] = time.perf_counter() - started
        result["cpu"] = time.process_time() - cpu0
        esl.stop()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return result["seconds"], result["cpu"]
