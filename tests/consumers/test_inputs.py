"""The input consumer: bad input to the DLQ with its reason, and leads that overtake
their campaign (Kafka orders partitions, not topics) parked until the campaign exists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest

from adapters.memory_bus import MemoryBus
from consumers.inputs import InputConsumer, error_code
from engine.commands import AddLead, Command, UpsertCampaign
from engine.core import Dialer
from engine.ports import Topics
from proto import messages as m
from tests.e2e.harness import wait_until

T = Topics("t.")


class Engine:
    """The real pure core behind a minimal apply (campaigns stay stopped: no dialing)."""

    def __init__(self) -> None:
        self.dialer = Dialer()

    def apply(self, command: Command) -> None:
        if isinstance(command, UpsertCampaign):
            self.dialer.upsert_campaign(command.campaign)
        elif isinstance(command, AddLead):
            self.dialer.add_lead(command.lead, 0.0)


@pytest.fixture
async def running() -> AsyncIterator[tuple[MemoryBus, Engine, InputConsumer]]:
    bus, engine = MemoryBus(), Engine()
    consumer = InputConsumer(bus, T, engine.apply, group="g", park_seconds=0.3)
    task = asyncio.ensure_future(consumer.run())
    yield bus, engine, consumer
    consumer.stop()
    await task


def lead(campaign: str, lead_uuid: str) -> bytes:
    return m.dumps(m.LeadImport(campaign_uuid=campaign, lead_uuid=lead_uuid,
                                phone_number="0901234567"))


def upsert(campaign: str) -> bytes:
    return m.dumps(m.UpsertCampaign(campaign=m.CampaignSpec(
        campaign_uuid=campaign, campaign_name=campaign, status="stop")))


async def test_a_lead_that_overtakes_its_campaign_is_applied_when_the_campaign_comes(
    running: tuple[MemoryBus, Engine, InputConsumer],
) -> None:
    bus, engine, consumer = running
    await bus.publish(T.leads, lead("late", "l1"), b"late")
    await wait_until(lambda: consumer.parked == 1, 5)
    await bus.publish(T.control, upsert("late"), b"late")
    await wait_until(lambda: "l1" in engine.dialer.leads, 5)
    assert consumer.parked == 0
    assert bus.messages(T.dlq) == []


async def test_a_lead_for_a_campaign_that_never_comes_is_dead_lettered(
    running: tuple[MemoryBus, Engine, InputConsumer],
) -> None:
    bus, _engine, consumer = running
    await bus.publish(T.leads, lead("never", "l2"), b"never")
    await wait_until(lambda: len(bus.messages(T.dlq)) == 1, 5)
    record = orjson.loads(bus.messages(T.dlq)[0].value)
    assert record["reason"].startswith("UnknownCampaign: never")
    assert record["source_topic"] == T.leads
    assert consumer.parked == 0


async def test_the_commit_stays_before_a_parked_lead() -> None:
    """A crash while a lead is parked redelivers it: the group's committed offset on the
    leads topic stays before it even though later messages were taken."""
    bus, engine = MemoryBus(), Engine()
    await bus.publish(T.control, upsert("known"), b"known")
    await bus.publish(T.leads, lead("known", "a"), b"known")
    await bus.publish(T.leads, lead("late", "b"), b"late")
    await bus.publish(T.leads, lead("known", "c"), b"known")
    consumer = InputConsumer(bus, T, engine.apply, group="g", park_seconds=60)
    task = asyncio.ensure_future(consumer.run())
    await wait_until(lambda: "c" in engine.dialer.leads and consumer.parked == 1, 5)
    consumer.stop()  # "crash" with b parked
    await task
    again = await bus.subscribe([T.leads], "g")
    redelivered = [orjson.loads(x.value)["lead_uuid"] for x in await again.fetch(max_wait=1)]
    assert redelivered == ["b", "c"]


async def test_malformed_and_invalid_messages_do_not_stop_the_partition(
    running: tuple[MemoryBus, Engine, InputConsumer],
) -> None:
    bus, engine, _consumer = running
    await bus.publish(T.control, upsert("c"), b"c")
    await bus.publish(T.leads, b"{not json", b"c")
    await bus.publish(T.leads, b'{"campaign_uuid": "c", "lead_uuid": "x", "phone_number": 5}',
                      b"c")
    await bus.publish(T.leads, orjson.dumps({"campaign_uuid": "c", "lead_uuid": "y",
                                             "phone_number": "0901234567",
                                             "param": {"k": "v" * 5000}}), b"c")
    await bus.publish(T.control, b'{"type": "campaign.explode"}', b"c")
    await bus.publish(T.leads, b"x" * 1_000_001, b"c")
    await bus.publish(T.leads, lead("c", "ok"), b"c")
    await wait_until(lambda: "ok" in engine.dialer.leads, 5)
    await wait_until(lambda: len(bus.messages(T.dlq)) == 5, 5)
    reasons = sorted(orjson.loads(x.value)["reason"].split(":")[0]
                     for x in bus.messages(T.dlq))
    assert reasons == ["malformed JSON", "oversized", "schema", "schema", "schema"]
    codes = sorted(orjson.loads(x.value)["error_code"] for x in bus.messages(T.dlq))
    assert codes == ["malformed_json", "oversized", "schema", "schema", "schema"]


async def test_unknown_fields_are_ignored_and_counted_not_dead_lettered(
    running: tuple[MemoryBus, Engine, InputConsumer],
) -> None:
    """Forward compatibility: a publisher one version ahead adds fields at every level."""
    bus, engine, consumer = running
    control = orjson.loads(upsert("fc"))
    control["trace_id"] = "t"
    control["campaign"]["policy"] = {"preset": "none", "quiet_hours": [1, 2]}
    await bus.publish(T.control, orjson.dumps(control), b"fc")
    newer = {**orjson.loads(lead("fc", "l-new")), "priority": 7, "channel": "sms"}
    await bus.publish(T.leads, orjson.dumps(newer), b"fc")
    await bus.publish(T.leads, lead("fc", "l-old"), b"fc")
    await bus.publish(T.dnc, orjson.dumps({"type": "dnc", "phone_numbers": ["0901234567"],
                                           "source": "crm"}), None)
    await wait_until(lambda: {"l-new", "l-old"} <= set(engine.dialer.leads), 5)
    await wait_until(lambda: consumer.unknown_fields.total == 3, 5)
    assert bus.messages(T.dlq) == []
    assert consumer.unknown_fields.messages == {T.control: 1, T.leads: 1, T.dnc: 1}
    assert set(consumer.unknown_fields.names) == {
        f"{T.control}:trace_id", f"{T.control}:campaign.policy.quiet_hours",
        f"{T.leads}:priority", f"{T.leads}:channel", f"{T.dnc}:source"}


async def test_a_dead_letter_keeps_headers_and_says_when_and_why() -> None:
    bus, engine = MemoryBus(), Engine()
    headers = [("traceparent", b"00-abc-01"), ("blob", b"\xff\xfe"), ("traceparent", b"2")]
    await bus.publish(T.leads, b'{"campaign_uuid": 1}', b"k1", headers=headers)
    consumer = InputConsumer(bus, T, engine.apply, group="g", park_seconds=60)
    task = asyncio.ensure_future(consumer.run())
    await wait_until(lambda: len(bus.messages(T.dlq)) == 1, 5)
    consumer.stop()
    await task
    dead = bus.messages(T.dlq)[0]
    record = m.DlqRecord.model_validate_json(dead.value)
    assert (record.error_code, record.key, record.value) == (
        "schema", "k1", '{"campaign_uuid": 1}')
    assert [(h.key, h.value, h.value_encoding) for h in record.headers] == [
        ("traceparent", "00-abc-01", "utf-8"), ("blob", "//4=", "base64"),
        ("traceparent", "2", "utf-8")]
    when = datetime.fromisoformat(record.timestamp)
    assert record.timestamp.endswith("Z")
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60


@pytest.mark.parametrize(("reason", "code"), [
    ("oversized: 2000000 bytes > 1000000", "oversized"),
    ("malformed JSON: unexpected character", "malformed_json"),
    ("schema: phone_number: Field required", "schema"),
    ("not an input topic: t.cdr", "not_an_input_topic"),
    ("UnknownCampaign: c9 (no such campaign after 30 s)", "unknown_campaign"),
    ("misrouted: campaign c lives in partition 2", "misrouted"),
    ("CampaignConflict: campaign must be deactive", "refused"),
    ("webhook to 127.0.0.1 failed after 3 attempt(s): HTTP 500", "webhook_failed"),
])
def test_every_dlq_reason_has_a_stable_code(reason: str, code: str) -> None:
    assert error_code(reason) == code
