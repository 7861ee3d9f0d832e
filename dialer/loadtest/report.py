"""The report folder of a load run, and its summary table.

Files (columns are the contract the report test checks):
- ``series.csv``: one row per second: originations, cdrs, answered, live_engine (peak of the
  engine's live legs), live_switch (peak of the simulators' channels), queue_depth,
  refills, refill_p50_ms, refill_p99_ms;
- ``campaigns.csv``: per second and campaign: originations, calls_done, live_peak, cap;
- ``nodes.csv``: per second and node: originations, live_peak, max_sessions, cps;
- ``calls.csv``: one row per call leg read back from the cdr topic (no phone number);
- ``refill_latency.csv``: every refill (seconds since start, campaign, latency in ms);
- ``calls_per_second.png``, ``live_channels.png``, ``refill_latency.png``, ``outcomes.png``;
- ``report.html``: one self-contained page (the plots embedded as base64);
- ``summary.json``: the summary table's numbers and the simulators' own counts.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import resource
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt
import orjson

from dialer.loadtest.runner import LoadResult

SERIES_COLUMNS = ("second", "originations", "cdrs", "answered", "live_engine", "live_switch",
                  "queue_depth", "refills", "refill_p50_ms", "refill_p99_ms")
CAMPAIGN_COLUMNS = ("second", "campaign", "originations", "calls_done", "live_peak", "cap")
NODE_COLUMNS = ("second", "node", "originations", "live_peak", "max_sessions", "cps")
CALL_COLUMNS = ("call_uuid", "campaign", "status", "hangup_cause", "answered", "billsec",
                "duration", "waitsec", "attempt", "read_at_s")
REFILL_COLUMNS = ("at_s", "campaign", "latency_ms")
PLOTS = ("calls_per_second.png", "live_channels.png", "refill_latency.png", "outcomes.png")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(result: LoadResult) -> dict[str, Any]:
    r, c = result.recorder, result.config
    refills = [x for _, _, x in r.refills]
    dialing = max(result.dialing_seconds, 1e-9)
    per_second = [s.originations for k, s in sorted(r.seconds.items())
                  if k < int(result.dialing_seconds)]
    peaks: dict[str, int] = {k: 0 for k in result.campaigns}
    for s in r.seconds.values():
        for k, v in s.live_by_campaign.items():
            if k in peaks:
                peaks[k] = max(peaks[k], v)
    statuses = Counter(call.status for call in r.calls)
    refused = sum(n.refused for n in result.nodes)
    temp_fail = sum(1 for call in r.calls if call.hangup_cause == "NORMAL_TEMPORARY_FAILURE")
    return {
        "command": {"nodes": [{"name": n.name, "cps": n.cps, "max_sessions": n.max_sessions}
                              for n in c.nodes],
                    "campaigns": c.campaigns, "concurrency": c.concurrency, "leads": c.leads,
                    "duration": c.duration, "speed": c.speed, "bus": c.bus},
        "elapsed_s": round(result.elapsed, 3),
        "dialing_s": round(result.dialing_seconds, 3),
        "leads_fed": result.leads_fed,
        "originations": r.originations,
        "originations_per_s": round(r.originations / dialing, 2),
        "originations_per_s_peak": max(per_second, default=0),
        "cdrs": len(r.calls),
        "answered": sum(1 for call in r.calls if call.answered),
        "statuses": dict(statuses.most_common()),
        "refill_latency_ms": {"n": len(refills),
                              "p50": round(1000 * percentile(refills, 50), 3),
                              "p99": round(1000 * percentile(refills, 99), 3),
                              "max": round(1000 * max(refills, default=math.nan), 3)},
        "answer_latency_s": {"n": len(r.answer_latency),
                             "p50": round(percentile(r.answer_latency, 50), 3),
                             "p99": round(percentile(r.answer_latency, 99), 3)},
        "peak_live_by_campaign": peaks,
        "cap_by_campaign": dict(result.caps),
        "peak_live_total": max((s.live_total for s in r.seconds.values()), default=0),
        "errors": {"refused_by_switch": refused, "originate_failures": temp_fail,
                   "dlq_records": result.dlq_records,
                   "cdrs_missing": max(0, r.originations - len(r.calls))},
        "simulators": [{"name": n.name, "originated": n.originated, "refused": n.refused,
                        "peak_live": n.peak_live} for n in result.nodes],
        "engine_originated_by_node": dict(r.originated_by_node),
        "metrics_url": result.metrics_url,
        # The whole process (engine, simulators, in-memory bus, this recorder): the memory
        # bus keeps every message, as a log does.
        "peak_rss_mb": round(_usage().ru_maxrss / 1024, 1),
        # CPU the process got over the run: well below the wall time with idle seconds in
        # the series means the machine starved the run, not that the dialer stalled.
        "cpu_s": round(_usage().ru_utime + _usage().ru_stime, 1),
    }


def _usage() -> resource.struct_rusage:
    return resource.getrusage(resource.RUSAGE_SELF)


def table(s: dict[str, Any]) -> str:
    """The terminal summary."""
    rl, al, err = s["refill_latency_ms"], s["answer_latency_s"], s["errors"]
    lines = [
        "",
        "Load test summary",
        f"  dialing time          {s['dialing_s']:.1f} s (whole run {s['elapsed_s']:.1f} s)",
        f"  originations          {s['originations']}  ({s['originations_per_s']:.1f}/s, "
        f"peak {s['originations_per_s_peak']}/s)",
        f"  CDRs read back        {s['cdrs']}  (answered {s['answered']})",
        f"  refill latency        p50 {rl['p50']:.2f} ms  p99 {rl['p99']:.2f} ms  "
        f"(n={rl['n']})",
        f"  originate→answer      p50 {al['p50']:.2f} s  p99 {al['p99']:.2f} s",
        f"  peak live channels    {s['peak_live_total']} over all nodes",
        "  campaign                     peak live / cap",
    ]
    for k, peak in s["peak_live_by_campaign"].items():
        lines.append(f"    {k:<26} {peak:>6} / {s['cap_by_campaign'].get(k, 0)}")
    lines.append("  node        originated (switch count)  refused  peak live")
    for n in s["simulators"]:
        lines.append(f"    {n['name']:<10} {n['originated']:>10}  {n['refused']:>20}  "
                     f"{n['peak_live']:>9}")
    lines.append(f"  errors                refused by switch {err['refused_by_switch']}, "
                 f"originate failures {err['originate_failures']}, DLQ {err['dlq_records']}, "
                 f"CDRs missing {err['cdrs_missing']}")
    lines.append(f"  process               peak RSS {s['peak_rss_mb']:.0f} MiB, "
                 f"CPU {s['cpu_s']:.0f} s")
    lines.append("  outcomes              " + ", ".join(
        f"{k} {v}" for k, v in s["statuses"].items()))
    return "\n".join(lines)


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows(rows)


def write(result: LoadResult, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    r = result.recorder
    last = max(r.seconds, default=-1)
    secs = range(last + 1)
    series: list[tuple[Any, ...]] = []
    for k in secs:
        s = r.seconds.get(k)
        if s is None:
            series.append((k, 0, 0, 0, 0, 0, 0, 0, "", ""))
            continue
        p50 = percentile(s.refill, 50)
        p99 = percentile(s.refill, 99)
        series.append((k, s.originations, s.cdrs, s.answered, sum(s.live_by_campaign.values()),
                       sum(s.live_by_node.values()), s.queue_depth, len(s.refill),
                       "" if math.isnan(p50) else f"{1000 * p50:.3f}",
                       "" if math.isnan(p99) else f"{1000 * p99:.3f}"))
    _write_csv(out / "series.csv", SERIES_COLUMNS, series)
    _write_csv(out / "campaigns.csv", CAMPAIGN_COLUMNS, [
        (k, c, s.by_campaign[c], s.done_by_campaign[c], s.live_by_campaign.get(c, 0),
         result.caps.get(c, 0))
        for k in secs if (s := r.seconds.get(k)) is not None for c in result.campaigns])
    _write_csv(out / "nodes.csv", NODE_COLUMNS, [
        (k, n.name, s.by_node[n.name], s.live_by_node.get(n.name, 0), n.max_sessions, n.cps)
        for k in secs if (s := r.seconds.get(k)) is not None for n in result.nodes])
    _write_csv(out / "calls.csv", CALL_COLUMNS, [
        (c.call_uuid, c.campaign, c.status, c.hangup_cause, int(c.answered), c.billsec,
         c.duration, c.waitsec, c.attempt, f"{c.read_at:.3f}") for c in r.calls])
    _write_csv(out / "refill_latency.csv", REFILL_COLUMNS, [
        (f"{at:.3f}", k, f"{1000 * x:.3f}") for at, k, x in r.refills])
    _plots(result, out, series)
    numbers = summary(result)
    (out / "summary.json").write_bytes(orjson.dumps(numbers, option=orjson.OPT_INDENT_2))
    _html(numbers, out)
    return numbers


def _plots(result: LoadResult, out: Path, series: list[tuple[Any, ...]]) -> None:
    r = result.recorder
    x = [row[0] for row in series]

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(x, [row[1] for row in series], label="originations/s")
    ax.plot(x, [row[2] for row in series], label="CDRs/s", alpha=0.7)
    ax.axhline(result.config.total_cps, color="grey", linestyle="--", label="nodes' cps")
    ax.set(xlabel="second", ylabel="calls per second", title="Calls per second")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "calls_per_second.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for k in result.campaigns:
        ax.plot(x, [r.seconds[s].live_by_campaign.get(k, 0) if s in r.seconds else 0
                    for s in x], label=k[-2:], linewidth=1)
    for cap in sorted(set(result.caps.values())):
        ax.axhline(cap, color="red", linestyle="--", linewidth=1, label=f"cap {cap}")
    ax.set(xlabel="second", ylabel="live channels (peak in the second)",
           title="Live channels per campaign against its concurrent_call cap")
    ax.legend(ncol=6, fontsize="small")
    fig.tight_layout()
    fig.savefig(out / "live_channels.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    refills_ms = [1000 * v for _, _, v in r.refills]
    if refills_ms:
        ax.hist(refills_ms, bins=60)
        ax.set_yscale("log")
    ax.set(xlabel="refill latency (ms)", ylabel="refills",
           title="Refill latency: a slot freed with work queued → its next origination")
    fig.tight_layout()
    fig.savefig(out / "refill_latency.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    statuses = Counter(c.status for c in r.calls).most_common()
    ax.bar([k for k, _ in statuses], [v for _, v in statuses])
    ax.set(ylabel="calls", title="Outcome mix (CDR status)")
    fig.tight_layout()
    fig.savefig(out / "outcomes.png", dpi=90)
    plt.close(fig)


def _html(s: dict[str, Any], out: Path) -> None:
    images = "\n".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode((out / name).read_bytes()).decode()}"></figure>'
        for name in PLOTS)
    rows = "\n".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td>"
                     f"<td>{s['cap_by_campaign'].get(k, 0)}</td></tr>"
                     for k, v in s["peak_live_by_campaign"].items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dialer loadtest report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
img{{max-width:100%}}td,th{{padding:2px 10px;text-align:left}}</style></head>
<body><h1>dialer loadtest</h1>
<pre>{html.escape(table(s))}</pre>
<h2>Peak live channels per campaign</h2>
<table><tr><th>campaign</th><th>peak live</th><th>cap</th></tr>{rows}</table>
<h2>Plots</h2>
{images}
<h2>Summary (summary.json)</h2>
<pre>{html.escape(orjson.dumps(s, option=orjson.OPT_INDENT_2).decode())}</pre>
</body></html>
"""
    (out / "report.html").write_text(page, encoding="utf-8")
