"""Run every benchmark of the issue 13 table and rewrite its section of RESULTS.md.

    .venv/bin/python -m benchmarks.run_all            # full sizes (about 20 minutes)
    .venv/bin/python -m benchmarks.run_all --quick    # small sizes, same shape (minutes)

Each benchmark runs in its own process (``python -m benchmarks.<name> …``, the command is
written next to its figures) and prints one JSON object; this script turns them into the
table between the ``bench:begin``/``bench:end`` markers of benchmarks/RESULTS.md and leaves
everything outside the markers (other sections, by hand or by other tools) as it is.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

FULL = {
    "kafka": ["--leads", "200000", "--records", "3000", "--pairs", "5"],
    "engine": ["--calls", "4000", "--window", "200", "--pairs", "5"],
    "refill": ["--refill", "--calls", "1000", "--window", "4", "--pairs", "5"],
    "esl": ["--calls", "4000", "--window", "200", "--pairs", "5"],
    "memory": ["--leads", "1000000"],
}
QUICK = {
    "kafka": ["--leads", "20000", "--records", "300", "--pairs", "2"],
    "engine": ["--calls", "1000", "--window", "100", "--pairs", "2"],
    "refill": ["--refill", "--calls", "300", "--window", "4", "--pairs", "2"],
    "esl": ["--calls", "1000", "--window", "100", "--pairs", "2"],
    "memory": ["--leads", "100000"],
}
MODULE = {"kafka": "bench_kafka", "engine": "bench_engine", "refill": "bench_engine",
          "esl": "bench_esl", "memory": "bench_memory"}


def command(name: str, args: list[str]) -> str:
    return " ".join([".venv/bin/python", "-m", f"benchmarks.{MODULE[name]}", *args])


def run_one(name: str, args: list[str]) -> dict[str, Any]:
    print(f"== {command(name, args)}", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{MODULE[name]}", *args],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    text = proc.stdout
    result: dict[str, Any] = json.loads(text[text.index("{"):])
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({model or platform.machine()}), Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def _yes(ok: bool) -> str:
    return "met" if ok else "**not met**"


def render(r: dict[str, dict[str, Any]], sizes: dict[str, list[str]], quick: bool) -> str:
    k, e, f, s, m = r["kafka"], r["engine"], r["refill"], r["esl"], r["memory"]
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        ("lead ingest from Kafka to taken, "
         f"{k['leads']:,} leads", f"{k['ingest_engine_per_s']:,} leads/s "
         f"({k['ingest_engine_cpu_us_per_lead']} µs CPU/lead)",
         f"raw aiokafka consumer {k['ingest_raw_per_s']:,}/s "
         f"({k['ingest_raw_cpu_us_per_lead']} µs)", f"{k['ingest_ratio']}×",
         "≥ 0.5× and ≥ 50,000/s",
         _yes(k["ingest_ratio"] >= 0.5 and k["ingest_engine_per_s"] >= 50_000)),
        (f"records published to Kafka, {k['records']:,} lead events",
         f"{k['publish_engine_per_s']:,}/s ({k['publish_engine_cpu_us_per_record']} µs "
         "CPU/record)", f"raw aiokafka producer, all in flight {k['publish_raw_per_s']:,}/s "
         f"({k['publish_raw_cpu_us_per_record']} µs)", f"{k['publish_ratio']}×",
         "≥ 20,000/s", _yes(k["publish_engine_per_s"] >= 20_000)),
        (f"full engine end to end on the simulator, {e['calls']:,} calls, "
         f"{e['window']} at a time", f"{e['engine_calls_per_s']:,} calls/s; "
         f"{e['engine_cpu_ms_per_call']} ms CPU/call",
         f"bare greenswitch loop {e['bare_calls_per_s']:,} calls/s; "
         f"{e['bare_cpu_ms_per_call']} ms CPU/call",
         f"{e['ratio_calls_per_s']}× calls/s, {e['ratio_cpu_per_call']}× CPU/call",
         "≥ 0.8× calls/s, ≤ 1.5× CPU/call",
         _yes(e["ratio_calls_per_s"] >= 0.8 and e["ratio_cpu_per_call"] <= 1.5)),
        (f"memory, {m['leads']:,} queued leads ({m['message_bytes']} B messages)",
         f"{m['engine_bytes_per_lead']:,} B/lead ({m['engine_rss_mib']} MiB)",
         f"decoded dicts {m['dicts_bytes_per_lead']:,} B; raw bytes "
         f"{m['raw_bytes_per_lead']:,} B", f"{m['ratio_engine_to_dicts']}× dicts",
         "≤ 400 B/lead", _yes(m["engine_bytes_per_lead"] <= 400)),
        (f"slot refill, hangup read → next originate written, window {f['window']}",
         f"p50 {f['engine_p50_ms']} ms, p99 {f['engine_p99_ms']} ms",
         f"bare loop p50 {f['bare_p50_ms']} ms, p99 {f['bare_p99_ms']} ms",
         f"{round(f['engine_p99_ms'] / max(f['bare_p99_ms'], 1e-9), 2)}× p99",
         "p99 ≤ 5 ms", _yes(f["engine_p99_ms"] <= 5.0)),
    ]
    table = ["| what | project | baseline in the same run | ratio | aim | |",
             "|---|---|---|---|---|---|"]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    cmds = "\n".join(f"    {command(n, sizes[n])}" for n in ("kafka", "engine", "refill",
                                                              "esl", "memory"))
    raw = "\n".join(f"- `{n}`: `{json.dumps(v)}`" for n, v in r.items())
    return f"""{BEGIN}
## Issue 13 table: throughput, CPU per call, memory, refill (`benchmarks/run_all.py`)

Generated {when} by `.venv/bin/python -m benchmarks.run_all{' --quick' if quick else ''}`
on {_machine()}. Load average before the first / after the last benchmark:
{k['loadavg_before']} / {m.get('loadavg_after', '')} (1, 5, 15 min; the machine is shared,
so ratios measured in one run are the figures to read, not absolute rates).
{'**Quick run: small sizes, two pairs; not the figures the aims are judged on.**' if quick else ''}

{chr(10).join(table)}

Throughput rows are medians over order-balanced pairs (A B, B A, …) of baseline A and
project B run back to back in one process; a ratio is the median of the per-pair ratios.
CPU is the client process's own (every thread), measured over the same interval.
Simulator CPU, to see whether a baseline is bound by the simulator (share of wall time;
1.0 would be one core busy): bare loop {e['sim_cpu_share_of_wall_bare']}, engine
{e['sim_cpu_share_of_wall_engine']} ({e['sim_cpu_ms_per_call_bare']} /
{e['sim_cpu_ms_per_call_engine']} ms per call).

The ESL adapter alone (FreeSwitchPool vs the same bare loop, no engine):
{s['adapter_calls_per_s']:,} vs {s['bare_calls_per_s']:,} calls/s
({s['ratio_adapter_to_bare']}×), {s['adapter_cpu_ms_per_call']} vs
{s['bare_cpu_ms_per_call']} ms CPU per call (the adapter decodes only the ~20 headers it
reads; greenswitch URL-decodes every event whole). Simulator share of wall:
{s['sim_cpu_share_of_wall_bare']} / {s['sim_cpu_share_of_wall_adapter']}.

Memory: engine import path cyclic-GC share of the load time
{m.get('engine_gc_share_of_load', '')} (one GC-tracked object per queued lead).

Commands (each prints the JSON below):

{cmds}

Raw results:

{raw}
{END}"""


def write(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        lines = text.split("\n", 2)
        text = "\n".join(lines[:2]) + "\n" + section + "\n" + (lines[2] if len(lines) > 2 else "")
    RESULTS.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=list(FULL), default=list(FULL))
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    results = {name: run_one(name, sizes[name]) for name in FULL if name in args.only}
    if set(results) != set(FULL):
        print(json.dumps(results, indent=2))
        return 0
    write(render(results, sizes, args.quick))
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
