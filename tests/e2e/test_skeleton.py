"""Issue 2, the walking skeleton on real components: leads on the bus become calls
through greenswitch on the simulator (real loopback sockets) and CDRs on the bus."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.fssim import Scenario
from adapters.memory_bus import MemoryBus
from dialer.app import EngineApp
from dialer.settings import Settings
from proto import messages as m
from tests.e2e.harness import (
    campaign,
    collect,
    create_campaign,
    publish_leads,
    wait_until,
)

FAST = Scenario(speed=500.0, ring_time=(1.0, 6.0), talk_time=(5.0, 30.0), seed=3)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def embedded() -> AsyncIterator[EngineApp]:
    app = EngineApp(Settings(bus="memory", park_seconds=0.5), bus=MemoryBus(), scenario=FAST)
    await app.start()
    yield app
    await app.stop()


@pytest.fixture
async def on_kafka(kafka_bootstrap: str, kafka_topic_prefix: str) -> AsyncIterator[EngineApp]:
    settings = Settings(bus="kafka", kafka_bootstrap=kafka_bootstrap,
                        topic_prefix=kafka_topic_prefix, instance="e2e")
    app = EngineApp(settings, scenario=FAST)
    await app.start()
    yield app
    await app.stop()


async def _three_hundred_leads(app: EngineApp) -> None:
    p = app.parts
    # Loaded while paused, then started: the 300 are all waiting when dialing begins, so
    # the campaign runs at its concurrency (leads trickling in would hide the limit).
    await create_campaign(app, campaign("c300", concurrent_call=20, status="pause"))
    leads = await publish_leads(p.bus, p.topics, "c300", 300)
    await wait_until(lambda: len(p.dialer.leads) == 300, 60)
    assert sum(len(r.live) for r in p.dialer.campaigns.values()) == 0, "paused: no calls"
    await p.bus.publish(p.topics.control, m.dumps(m.SetCampaignStatus(
        campaign_uuid="c300", status="start")), key=b"c300")
    cdrs = await collect(p.bus, p.topics.cdr, 300, seconds=120)
    assert sorted(c["lead_uuid"] for c in cdrs) == sorted(leads), "each lead exactly once"
    assert len({c["cdr_uuid"] for c in cdrs}) == 300
    assert all(c["status"] == "answered" and c["billsec"] > 0 for c in cdrs)
    sim = p.simulator
    assert sim is not None
    assert sim.max_live_channels <= 20
    assert sim.max_live_channels == 20, "the campaign used its concurrency"
    assert sim.live_channels == 0


async def test_300_leads_on_kafka_give_300_cdrs(on_kafka: EngineApp) -> None:
    await _three_hundred_leads(on_kafka)


async def test_300_leads_embedded_give_300_cdrs(embedded: EngineApp) -> None:
    await _three_hundred_leads(embedded)


async def _bad_input_goes_to_dlq(app: EngineApp) -> None:
    p = app.parts
    await create_campaign(app, campaign("cdlq", concurrent_call=5))
    await p.bus.publish(p.topics.leads, b'{"campaign_uuid": "cdlq", "lead_uuid": ', b"cdlq")
    await p.bus.publish(p.topics.leads, b'{"campaign_uuid": "cdlq", "lead_uuid": "x"}', b"cdlq",
                        headers=[("traceparent", b"00-4bf92f-01"), ("raw", b"\x00\xff")])
    await p.bus.publish(p.topics.leads, b"\xff\xfe not utf-8", b"cdlq")
    leads = await publish_leads(p.bus, p.topics, "cdlq", 5)
    dlq = await collect(p.bus, p.topics.dlq, 3, seconds=60)
    reasons = [d["reason"] for d in dlq]
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1].startswith("schema:") and "phone_number" in reasons[1]
    assert reasons[2].startswith("malformed JSON")
    assert dlq[1]["value"] == '{"campaign_uuid": "cdlq", "lead_uuid": "x"}'
    assert dlq[1]["headers"] == [
        {"key": "traceparent", "value": "00-4bf92f-01", "value_encoding": "utf-8"},
        {"key": "raw", "value": "AP8=", "value_encoding": "base64"}]
    assert [d["error_code"] for d in dlq] == ["malformed_json", "schema", "malformed_json"]
    assert all(d["timestamp"].endswith("Z") for d in dlq)
    assert dlq[2]["value_encoding"] == "base64"
    cdrs = await collect(p.bus, p.topics.cdr, 5, seconds=60)
    assert sorted(c["lead_uuid"] for c in cdrs) == sorted(leads)


async def test_bad_leads_become_dlq_records_and_the_rest_is_dialed_kafka(
    on_kafka: EngineApp,
) -> None:
    await _bad_input_goes_to_dlq(on_kafka)


async def test_bad_leads_become_dlq_records_and_the_rest_is_dialed_embedded(
    embedded: EngineApp,
) -> None:
    await _bad_input_goes_to_dlq(embedded)


async def test_lead_for_an_unknown_campaign_is_dead_lettered(embedded: EngineApp) -> None:
    p = embedded.parts
    await publish_leads(p.bus, p.topics, "no-such-campaign", 1)
    (dlq,) = await collect(p.bus, p.topics.dlq, 1, seconds=30)
    assert dlq["reason"].startswith("UnknownCampaign")


def test_readme_run_command_shows_calls_and_a_summary() -> None:
    """The README's run command (after install): `dialer up --demo N` prints calls and a
    summary, and exits 0."""
    dialer = Path(sys.executable).with_name("dialer")
    out = subprocess.run(
        [str(dialer), "up", "--demo", "12", "--speed", "400", "--concurrency", "4"],
        capture_output=True, text=True, timeout=90, cwd=ROOT,
        env={**os.environ, "DIALER_HTTP_PORT": "0", "DIALER_HEALTH_PORT": "0"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Summary" in out.stdout
    assert "calls: 12" in out.stdout
    assert "peak live channels on the switch:" in out.stdout
    assert '"total_calls": 12' in out.stdout, "the v1 report counted every call"
    assert "0901" not in out.stdout.replace("090****", ""), "numbers are masked"


async def test_dropping_the_esl_connection_mid_campaign_leaves_every_call_accounted() -> None:
    """Issue 3: kill the switch connection while calls are up. After the reconnect every
    lead has exactly one CDR, no leg stays live in the engine and no slot stays taken."""
    slow = Scenario(speed=40.0, ring_time=(1.0, 4.0), talk_time=(5.0, 20.0), seed=9)
    embedded = EngineApp(Settings(bus="memory"), bus=MemoryBus(), scenario=slow)
    await embedded.start()
    p = embedded.parts
    sim = p.simulator
    assert sim is not None
    await create_campaign(embedded, campaign("cdrop", concurrent_call=10, status="pause",
                                             recall_times=0))
    leads = await publish_leads(p.bus, p.topics, "cdrop", 120)
    await wait_until(lambda: len(p.dialer.leads) == 120)
    await p.bus.publish(p.topics.control, m.dumps(m.SetCampaignStatus(
        campaign_uuid="cdrop", status="start")), key=b"cdrop")
    await wait_until(lambda: sim.originate_count >= 30 and sim.live_channels >= 5)
    await sim.drop_connections()
    cdrs = await collect(p.bus, p.topics.cdr, 120, seconds=120)
    assert sorted(c["lead_uuid"] for c in cdrs) == sorted(leads)
    await wait_until(lambda: p.dialer.legs == {} and p.switch.tracked == 0, 30)
    assert p.dialer.live_calls("cdrop") == 0
    assert sim.live_channels == 0
    assert sim.max_live_channels <= 10
    await embedded.stop()


async def test_no_phone_number_or_token_reaches_the_logs(
    embedded: EngineApp, caplog: pytest.LogCaptureFixture,
) -> None:
    """Standards: secrets and phone numbers stay out of logs, also when input is bad."""
    import logging
    import re

    caplog.set_level(logging.DEBUG)
    p = embedded.parts
    await create_campaign(embedded, campaign("clog", concurrent_call=5))
    leads = await publish_leads(p.bus, p.topics, "clog", 10)
    bad = m.LeadImport(campaign_uuid="clog", lead_uuid="bad", phone_number="0123456789")
    await p.bus.publish(p.topics.leads, m.dumps(bad), key=b"clog")
    await p.bus.publish(p.topics.leads, b'{"campaign_uuid": "clog", "phone_number": '
                        b'"0987654321", "lead_uuid": 7}', key=b"clog")
    await collect(p.bus, p.topics.cdr, len(leads), seconds=60)
    await collect(p.bus, p.topics.dlq, 1, seconds=30)
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "input rejected" in text, "the rejection was logged (so logs were captured)"
    assert not re.search(r"(?<!\d)(0|84|\+84)\d{9}(?!\d)", text), "a phone number was logged"
    assert "dev-token" not in text and "ClueCon" not in text


async def test_bad_control_messages_are_dead_lettered_once(embedded: EngineApp) -> None:
    """Control is applied by every instance (a global table) but validated by the group
    consumer, so a bad control message gives exactly one DLQ record."""
    p = embedded.parts
    await p.bus.publish(p.topics.control, b'{"type": "campaign.status", "status": "go"}',
                        key=b"x")
    await p.bus.publish(p.topics.control, b"not json", key=b"x")
    dlq = await collect(p.bus, p.topics.dlq, 2, seconds=30)
    assert [d["reason"].split(":")[0] for d in dlq] == ["schema", "malformed JSON"]
    await create_campaign(embedded, campaign("cafter"))
    assert len(p.bus.messages(p.topics.dlq)) == 2
