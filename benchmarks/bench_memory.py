"""Memory per queued lead: the engine holding N leads vs N decoded dicts vs N raw messages.

Each variant runs in a fresh process: RSS is read after start-up (an empty engine with one
paused campaign, so nothing dials), then N lead imports are taken one by one through the
engine's input path (``consumers.inputs.decode`` → ``Dialer.add_lead``, the same calls the
input consumer makes), then RSS is read again. The figure is (RSS after − RSS before) / N.
Baselines, in the same run: the same N messages kept as decoded dicts (``orjson.loads``),
and kept as their raw bytes. Memory is deterministic to about 1 %, so each variant runs once.

    .venv/bin/python -m benchmarks.bench_memory --leads 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time

from benchmarks.common import CAMPAIGN, ROOT, lead_message, loadavg, rss_bytes

VARIANTS = ("raw", "dicts", "engine")


def _engine(n: int) -> dict[str, float]:
    import orjson

    from consumers.inputs import decode
    from dialer import gctune
    from engine.core import Dialer
    from engine.model import Campaign, CampaignStatus
    from engine.ports import BusMessage, Topics

    gctune.tune()  # as EngineApp.start does
    topics = Topics()
    dialer = Dialer()
    dialer.upsert_campaign(Campaign(CAMPAIGN, "bench", status=CampaignStatus.PAUSE,
                                    template_text="Chào {{ten}}", recall_times=2))
    # warm every code path once (imports, caches), then measure
    dialer.add_lead(decode(topics, BusMessage(topics.leads, 0, 0, None,
                                              lead_message(n + 1))).lead, 0.0)  # type: ignore[union-attr]
    orjson.dumps({})
    dialer.drain()
    gc.collect()
    before = rss_bytes()
    gc_time = [0.0, 0.0]

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]

    gc.callbacks.append(on_gc)
    started = time.perf_counter()
    for i in range(n):
        msg = BusMessage(topics.leads, 0, i, None, lead_message(i))
        command = decode(topics, msg)
        dialer.add_lead(command.lead, float(i))  # type: ignore[union-attr]
        if i % 500 == 0:
            dialer.drain()  # the service drains the outbox (lead events) every step
    load_s = time.perf_counter() - started
    gc.callbacks.remove(on_gc)
    dialer.drain()
    gc.collect()
    after = rss_bytes()
    assert len(dialer.leads) == n + 1
    assert len(dialer.campaigns[CAMPAIGN].queue) == n + 1
    return {"bytes_per_lead": (after - before) / n, "rss_mib": (after - before) / 2**20,
            "load_s": load_s, "gc_share": gc_time[0] / load_s}


def _kept(n: int, decoded: bool) -> dict[str, float]:
    import orjson

    gc.collect()
    before = rss_bytes()
    kept: list[object] = []
    for i in range(n):
        raw = lead_message(i)
        # raw: at its exact size, as a Kafka client hands it over (orjson.dumps keeps
        # its ~4 KB write buffer, which is not what a consumer holds)
        kept.append(orjson.loads(raw) if decoded else bytes(memoryview(raw)))
    gc.collect()
    after = rss_bytes()
    assert len(kept) == n
    return {"bytes_per_lead": (after - before) / n, "rss_mib": (after - before) / 2**20}


def child(variant: str, n: int) -> None:
    out = _engine(n) if variant == "engine" else _kept(n, decoded=variant == "dicts")
    print(json.dumps(out))


def measure(variant: str, n: int) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", "--child", variant, "--leads", str(n)],
        cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(n: int) -> dict[str, object]:
    load = loadavg()
    results = {v: measure(v, n) for v in VARIANTS}
    message = len(lead_message(n // 2))
    return {
        "leads": n, "loadavg_before": load, "loadavg_after": loadavg(),
        "message_bytes": message,
        **{f"{v}_bytes_per_lead": round(r["bytes_per_lead"], 1) for v, r in results.items()},
        "engine_rss_mib": round(results["engine"]["rss_mib"], 1),
        "engine_load_s": round(results["engine"]["load_s"], 2),
        "engine_gc_share_of_load": round(results["engine"]["gc_share"], 3),
        "ratio_engine_to_dicts": round(results["engine"]["bytes_per_lead"]
                                       / results["dicts"]["bytes_per_lead"], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--child", choices=VARIANTS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.leads)
        return 0
    print(json.dumps(run(args.leads), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
