"""A gateway stack for tests: bus + campaign view + report aggregator + aiohttp test
client on loopback. Shared by tests/http, tests/reports and tests/webhooks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from adapters.http import build_gateway
from adapters.http.deps import Explain
from adapters.kafka import KafkaBus
from adapters.memory_bus import MemoryBus
from consumers.keys import control_key, partition_for
from consumers.reports import CampaignView, ReportAggregator
from engine.ports import Bus, BusMessage, Topics
from proto import messages as m

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@dataclass
class Stack:
    bus: Bus
    topics: Topics
    campaigns: CampaignView
    reports: ReportAggregator
    client: TestClient[Any, Any]

    async def settle(self, seconds: float = 20.0) -> None:
        """Both views have applied everything published before this call."""
        async with asyncio.timeout(seconds):
            await asyncio.gather(self.campaigns.settled(), self.reports.settled())

    async def publish(self, topic: str, record: Any, key: str) -> None:
        await self.bus.publish(topic, m.dumps(record), key=key.encode())

    async def publish_control(self, cmd: m.ControlCommand) -> None:
        """As an upstream publisher must (README, Topics): the command's own key, in its
        campaign's partition."""
        campaign = cmd.campaign.campaign_uuid if isinstance(cmd, m.UpsertCampaign) \
            else cmd.campaign_uuid
        await self.bus.publish(self.topics.control, m.dumps(cmd), key=control_key(cmd).encode(),
                               partition=partition_for(campaign, self.topics.partitions))


def kafka_bus(bootstrap: str, topics: Topics) -> KafkaBus:
    return KafkaBus(bootstrap, topics=topics.all, partitions=3, client_id="tests")


@contextlib.asynccontextmanager
async def stack(
    bus: Bus, topics: Topics, data_dir: Path, *, explain: Explain | None = None
) -> AsyncIterator[Stack]:
    await bus.start()
    campaigns = CampaignView(bus, topics, data_dir / "campaigns.db", poll_s=0.1)
    reports = ReportAggregator(bus, topics, data_dir / "reports.db", poll_s=0.1)
    await campaigns.start()
    await reports.start()
    app = build_gateway(bus=bus, topics=topics, campaigns=campaigns, reports=reports,
                        tokens=[TOKEN, "second-token"], explain=explain)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Stack(bus, topics, campaigns, reports, client)
    finally:
        await client.close()
        await reports.stop()
        await campaigns.stop()
        await bus.close()


def memory_stack(topics: Topics, data_dir: Path, **kw: Any) -> Any:
    return stack(MemoryBus(), topics, data_dir, **kw)


async def collect(
    bus: Bus, topic: str, n: int, *, seconds: float = 20.0,
    where: Callable[[BusMessage], bool] = lambda _: True,
) -> list[BusMessage]:
    """The first ``n`` messages of ``topic`` (all partitions) that satisfy ``where``."""
    reader = await bus.read([topic], {})
    out: list[BusMessage] = []
    try:
        async with asyncio.timeout(seconds):
            while len(out) < n:
                out.extend(msg for msg in await reader.fetch(0.2) if where(msg))
    finally:
        await reader.close()
    return out


async def until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Wait until ``check()`` holds (a counter moved), failing after ``seconds``.

    For counters that have no event of their own; a state change with an event or a
    ``settled()`` is awaited directly instead."""
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 - a bounded poll of plain counters
            await asyncio.sleep(0.01)


async def upsert_campaign(s: Stack, spec: dict[str, Any]) -> m.CampaignSpec:
    """Create a campaign the way an upstream system would: a control message, consumed by
    the gateway's view (not through the gateway)."""
    campaign = m.CampaignSpec.model_validate(spec)
    await s.publish_control(m.UpsertCampaign(campaign=campaign))
    await s.settle()
    return campaign


def control_of(s: Stack, campaign_uuid: str) -> Callable[[BusMessage], bool]:
    """The campaign's control commands (its spec and sub-keys), tombstones left out."""
    def match(msg: BusMessage) -> bool:
        key = (msg.key or b"").decode()
        return msg.value is not None and (
            key == campaign_uuid or key.startswith(campaign_uuid + "/"))
    return match
