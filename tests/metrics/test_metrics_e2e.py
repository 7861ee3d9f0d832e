"""Issue 12 item 3: /metrics scraped from a running embedded app while it dials, and
readiness following the switches."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import aiohttp

from dialer.app import EngineApp
from dialer.health import HealthServer
from tests.e2e.harness import campaign, collect, create_campaign, publish_leads, wait_until
from tests.metrics.scrape import names, scrape, total


async def readyz(health: HealthServer) -> tuple[int, dict[str, bool]]:
    async with (aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{health.port}/readyz") as resp):
        body = await resp.json()
        return resp.status, body["checks"]


async def test_metrics_follow_a_running_campaign(
        running: tuple[EngineApp, HealthServer]) -> None:
    app, health = running
    p = app.parts
    sim = p.simulator
    assert sim is not None
    url = f"http://127.0.0.1:{health.port}/metrics"
    await create_campaign(app, campaign("m1", concurrent_call=6, recall_times=0))
    await publish_leads(p.bus, p.topics, "m1", 40)

    # During the run: live calls at the cap's level, work queued, the node connected.
    run = p.dialer.campaigns["m1"]
    await wait_until(lambda: len(run.live) >= 3 and len(run.queue) > 0, 30)
    during = await scrape(url)
    assert total(during, "dialer_live_calls", campaign="m1") >= 1
    assert total(during, "dialer_campaign_concurrency", campaign="m1") == 6
    assert total(during, "dialer_queue_depth", campaign="m1") > 0
    assert total(during, "dialer_node_live_calls", node="fs1") >= 1
    assert total(during, "dialer_esl_connected", node="fs1") == 1
    assert total(during, "dialer_bus_reachable") == 1
    assert total(during, "dialer_originations_total", campaign="m1") >= 3

    cdrs = await collect(p.bus, p.topics.cdr, 40, seconds=60)
    await wait_until(lambda: not run.live, 30)
    await p.bus.publish(p.topics.leads, b"{not json", key=b"m1")
    await wait_until(lambda: p.inputs.rejected == 1, 30)
    after = await scrape(url)

    by_status = Counter(c["status"] for c in cdrs)
    for status, n in by_status.items():
        assert total(after, "dialer_cdrs_total", campaign="m1", status=status) == n
    assert total(after, "dialer_cdrs_total") == 40
    # Every origination the engine counted reached the simulator, and nothing else did.
    assert total(after, "dialer_originations_total", node="fs1") == sim.originate_count == 40
    answered = sum(1 for c in cdrs if c["billsec"] > 0 or c["answer_stamp"])
    assert total(after, "dialer_originate_to_answer_seconds_count") == answered > 0
    # 40 leads through 6 slots: at least 34 slots were freed while work waited, and refilled.
    assert total(after, "dialer_refill_latency_seconds_count") >= 34
    assert total(after, "dialer_dlq_records_total", reason="malformed_json") == 1  # its error_code
    assert total(after, "dialer_live_calls", campaign="m1") == 0
    assert total(after, "dialer_leads", campaign="m1", state="completed") + total(
        after, "dialer_leads", campaign="m1", state="exhausted") == 40
    # The engine's input group has read everything (lag 0 is a sample, not an absence).
    lag = [(ls, v) for (n, ls), v in after.items() if n == "dialer_consumer_lag"
           and ("group", "autocall.engine") in ls]
    assert lag and all(v == 0 for _, v in lag)
    assert {"dialer_webhook_deliveries_total", "dialer_webhook_retries_total",
            "dialer_webhook_dead_letters_total"} <= names(after)


async def test_readiness_is_false_while_every_switch_is_unreachable(
        running: tuple[EngineApp, HealthServer]) -> None:
    app, health = running
    sim = app.parts.simulator
    assert sim is not None
    status, checks = await readyz(health)
    assert status == 200, checks
    await sim.stop()
    await wait_until(lambda: not app.parts.switch.connected("fs1"), 30)
    status, checks = await readyz(health)
    assert status == 503
    assert checks["switch node connected"] is False
    samples = await scrape(f"http://127.0.0.1:{health.port}/metrics")
    assert total(samples, "dialer_esl_connected", node="fs1") == 0
    await sim.start()
    await wait_until(lambda: app.parts.switch.connected("fs1"), 30)
    assert (await readyz(health))[0] == 200


async def test_dialer_status_shows_live_campaign_progress(
        running: tuple[EngineApp, HealthServer]) -> None:
    """Issue 12 item 7: `dialer status` reads a running engine's /metrics."""
    app, health = running
    p = app.parts
    await create_campaign(app, campaign("s1", concurrent_call=3, recall_times=0))
    await publish_leads(p.bus, p.topics, "s1", 9)
    await collect(p.bus, p.topics.cdr, 9, seconds=60)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("dialer")), "status",
        "--url", f"http://127.0.0.1:{health.port}/metrics",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    text = out.decode()
    (row,) = [line for line in text.splitlines() if line.startswith("s1 ")]
    assert row.split()[1:4] == ["0/3", "0", "9/9"], row
    assert "node fs1: 0/1000 live, ESL connected" in text
    assert "bus: reachable" in text
