"""The input consumer: bad input to the DLQ with its reason, and leads that overtake
their campaign (Kafka orders partitions, not topics) parked until the campaign exists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from adapters.memory_bus import MemoryBus
from consumers.inputs import InputConsumer
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
