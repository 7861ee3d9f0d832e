"""Issue 12 item 1: `dialer loadtest` run briefly; the report folder is complete and its
numbers agree with what the simulators themselves counted."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

from dialer.cli import _parser
from dialer.loadtest import from_args, report, runner
from dialer.loadtest.config import NodeSpec

ARGS = ["loadtest", "--node", "cps=40,max_sessions=30", "--node", "cps=25,max_sessions=200",
        "--campaigns", "3", "--concurrency", "12", "--leads", "240", "--speed", "60",
        "--ring-time", "1,4", "--talk-time", "2,10",
        "--outcomes", "answered=0.6,busy=0.2,no_answer=0.1,unreachable=0.1"]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def header(path: Path) -> tuple[str, ...]:
    with path.open(encoding="utf-8") as f:
        return tuple(next(csv.reader(f)))


def test_arguments_give_each_node_its_own_limits() -> None:
    config = from_args(_parser().parse_args(ARGS))
    assert config.nodes == (NodeSpec("fs1", cps=40.0, max_sessions=30),
                            NodeSpec("fs2", cps=25.0, max_sessions=200))
    assert config.total_cps == 65.0
    uniform = from_args(_parser().parse_args(
        ["loadtest", "--nodes", "4", "--node-cps", "50", "--node-max-sessions", "250"]))
    assert [(n.cps, n.max_sessions) for n in uniform.nodes] == [(50.0, 250)] * 4


async def test_a_brief_run_writes_a_report_that_agrees_with_the_simulators(
        tmp_path: Path) -> None:
    out = tmp_path / "report"
    config = from_args(_parser().parse_args([*ARGS, "--out", str(out)]))
    result = await runner.run(config, interactive=False)
    summary = report.write(result, out)

    # The folder: CSV columns, the four plots (real PNGs), one self-contained page.
    assert header(out / "series.csv") == report.SERIES_COLUMNS
    assert header(out / "campaigns.csv") == report.CAMPAIGN_COLUMNS
    assert header(out / "nodes.csv") == report.NODE_COLUMNS
    assert header(out / "calls.csv") == report.CALL_COLUMNS
    assert header(out / "refill_latency.csv") == report.REFILL_COLUMNS
    for name in report.PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(report.PLOTS)
    assert "http" not in page.split("<body>")[1].replace("http://127.0.0.1", ""), \
        "self-contained: nothing fetched from elsewhere"
    assert orjson.loads((out / "summary.json").read_bytes()) == orjson.loads(
        orjson.dumps(summary))

    # The books: the switches' own counts against the report's.
    sims = {n.name: n for n in result.nodes}
    calls = rows(out / "calls.csv")
    series = rows(out / "series.csv")
    nodes = rows(out / "nodes.csv")
    campaigns = rows(out / "campaigns.csv")
    originated = sum(n.originated for n in result.nodes)
    assert originated == 240 == len(calls) == sum(int(r["originations"]) for r in series)
    assert len({r["call_uuid"] for r in calls}) == 240
    for name, sim in sims.items():
        assert sum(int(r["originations"]) for r in nodes if r["node"] == name) \
            == sim.originated > 0
        peak = max(int(r["live_peak"]) for r in nodes if r["node"] == name)
        assert peak <= sim.peak_live <= sim.max_sessions
    assert sims["fs1"].peak_live <= 30, "the node's max_sessions held"
    assert sum(n.refused for n in result.nodes) == summary["errors"]["refused_by_switch"]
    per_campaign = Counter(r["campaign"] for r in calls)
    assert sorted(per_campaign.values()) == [80, 80, 80]
    for r in campaigns:
        assert int(r["live_peak"]) <= int(r["cap"]) == 12
    assert max(int(r["live_peak"]) for r in campaigns) == 12, "the caps were reached"
    assert summary["cdrs"] == summary["originations"] == 240
    assert summary["errors"]["cdrs_missing"] == 0
    statuses = Counter(r["status"] for r in calls)
    assert summary["statuses"] == dict(statuses)
    assert int(summary["answered"]) == sum(int(r["answered"]) for r in calls) > 0
    refills = rows(out / "refill_latency.csv")
    assert len(refills) == summary["refill_latency_ms"]["n"] >= 240 - 36
    table = report.table(summary)
    assert "refill latency" in table and "p99" in table and "originations" in table


def test_the_command_runs_and_prints_the_summary(tmp_path: Path) -> None:
    dialer = Path(sys.executable).with_name("dialer")
    out = subprocess.run(
        [str(dialer), "loadtest", "--campaigns", "2", "--concurrency", "5", "--leads", "30",
         "--speed", "100", "--talk-time", "1,3", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "DIALER_HEALTH_PORT": "0"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Load test summary" in out.stdout
    assert "calls=30/30 (100.0%)" in out.stdout, "plain progress lines off a terminal"
    assert (tmp_path / "r" / "report.html").is_file()


async def test_a_brief_run_over_kafka(kafka_bootstrap: str, tmp_path: Path) -> None:
    config = from_args(_parser().parse_args(
        ["loadtest", "--campaigns", "2", "--concurrency", "4", "--leads", "40", "--speed", "80",
         "--talk-time", "1,3", "--kafka", kafka_bootstrap, "--out", str(tmp_path)]))
    assert config.bus == "kafka"
    result = await runner.run(config, interactive=False)
    summary = report.write(result, tmp_path)
    assert sum(n.originated for n in result.nodes) == summary["cdrs"] == 40
    assert summary["errors"]["cdrs_missing"] == 0
    assert len(rows(tmp_path / "calls.csv")) == 40
