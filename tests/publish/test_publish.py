"""Issue 12 item 2: `dialer publish` sends a file's valid rows to the topics, keyed by
campaign, validated with the engine's own contracts; invalid rows are reported by line
number and not sent."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from adapters.kafka import KafkaBus
from adapters.memory_bus import MemoryBus
from consumers.inputs import decode
from dialer.publish import publish_file
from engine.commands import AddLead, Dnc, UpsertCampaign
from engine.ports import Topics
from tests.e2e.harness import collect

LEADS_CSV = """campaign_uuid,lead_uuid,phone_number,phones,param.ten,param.due_amount
c1,l1,0901234567,0912345678|0987654321,Nguyễn Văn A,10410000
c1,l2,0901234568,,Trần Thị B,
,l3,0901234569,,missing campaign,
c2,l4,0901234570,,Lê C,5000
"""

CONTROL_JSONL = b"\n".join([
    orjson.dumps({"type": "campaign.upsert", "campaign": {
        "campaign_uuid": "c1", "campaign_name": "Nhắc nợ", "concurrent_call": 5,
        "template_text": "Chào {{ten}}"}}),
    b"{broken",
    orjson.dumps({"type": "campaign.status", "campaign_uuid": "c1", "status": "start"}),
    b"",
    orjson.dumps({"type": "campaign.status", "campaign_uuid": "c1", "status": "go"}),
]).decode()

DNC_CSV = """op,campaign_uuid,customer_ids,phone_numbers
add,,,0901111111|0902222222
add,c1,cust-1|cust-2,
remove,c1,cust-2,
"""


async def test_leads_from_csv_are_validated_keyed_and_reported_by_line() -> None:
    bus, topics, out = MemoryBus(), Topics("t."), io.StringIO()
    outcome = await publish_file("leads", io.StringIO(LEADS_CSV), "csv", bus, topics, out)
    assert outcome.sent == 3
    assert [n for n, _ in outcome.invalid] == [4], "the CSV line of the bad row"
    assert "line 4: invalid, not sent: campaign_uuid" in out.getvalue()
    sent = bus.messages(topics.leads)
    assert [msg.key for msg in sent] == [b"c1", b"c1", b"c2"]
    # What the engine's own decoder makes of them: the rows, with nested params and lists.
    first = decode(topics, sent[0])
    assert isinstance(first, AddLead)
    assert first.lead.lead_uuid == "l1"
    assert len(first.lead.phones) == 3
    assert first.lead.params["ten"] == "Nguyễn Văn A"
    assert "sent 3 to t.leads" in out.getvalue()


async def test_control_from_json_lines_keeps_order_and_refuses_bad_lines() -> None:
    bus, topics, out = MemoryBus(), Topics("t."), io.StringIO()
    outcome = await publish_file("control", io.StringIO(CONTROL_JSONL), "jsonl", bus, topics,
                                 out)
    assert outcome.sent == 2
    assert [n for n, _ in outcome.invalid] == [2, 5]
    assert "malformed JSON" in outcome.invalid[0][1]
    assert "status" in outcome.invalid[1][1]
    sent = bus.messages(topics.control)
    assert isinstance(decode(topics, sent[0]), UpsertCampaign)
    assert orjson.loads(sent[1].value)["status"] == "start"
    # Each fact under its own key (compaction keeps both), in the campaign's partition.
    assert [msg.key for msg in sent] == [b"c1", b"c1/status"]


async def test_dnc_entries_global_and_per_campaign() -> None:
    bus, topics, out = MemoryBus(), Topics("t."), io.StringIO()
    outcome = await publish_file("dnc", io.StringIO(DNC_CSV), "csv", bus, topics, out)
    assert (outcome.sent, outcome.invalid) == (3, [])
    commands = [decode(topics, msg) for msg in bus.messages(topics.dnc)]
    assert all(isinstance(c, Dnc) for c in commands)
    first = commands[0]
    assert isinstance(first, Dnc)
    assert first.campaign_uuid == "" and first.phone_numbers == ("0901111111",)
    # One record per number or customer, each under its own key.
    assert [msg.key for msg in bus.messages(topics.dnc)] == [
        b"dnc-phone/0901111111", b"dnc-phone/0902222222", b"dnc/c1/cust-1", b"dnc/c1/cust-2",
        b"dnc/c1/cust-2"]


@pytest.mark.kafka
def test_the_command_publishes_to_kafka(kafka_bootstrap: str, kafka_topic_prefix: str,
                                        tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS_CSV, encoding="utf-8")
    dialer = Path(sys.executable).with_name("dialer")
    out = subprocess.run(
        [str(dialer), "publish", "leads", str(leads), "--kafka", kafka_bootstrap],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "DIALER_TOPIC_PREFIX": kafka_topic_prefix})
    assert out.returncode == 1, "an invalid row makes the exit status 1"
    assert "3 leads row(s) sent, 1 invalid row(s) not sent" in out.stdout
    assert "line 4: invalid, not sent" in out.stderr

    async def read() -> list[dict[str, object]]:
        bus = KafkaBus(kafka_bootstrap)
        await bus.start()
        try:
            return await collect(bus, f"{kafka_topic_prefix}leads", 3, seconds=60)
        finally:
            await bus.close()

    import asyncio

    got = asyncio.run(read())
    assert sorted(str(r["lead_uuid"]) for r in got) == ["l1", "l2", "l4"]


def test_dry_run_without_kafka(tmp_path: Path) -> None:
    control = tmp_path / "control.jsonl"
    control.write_text(CONTROL_JSONL, encoding="utf-8")
    dialer = Path(sys.executable).with_name("dialer")
    out = subprocess.run([str(dialer), "publish", "control", str(control), "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "dry run" in out.stderr
    assert "line 2: invalid" in out.stderr and "line 5: invalid" in out.stderr
    assert "2 control row(s) sent" in out.stdout
