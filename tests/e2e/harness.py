"""Helpers for end-to-end tests: run the real EngineApp, publish inputs, collect outputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from consumers import keys
from dialer.app import EngineApp
from engine.ports import Bus, Topics
from proto import messages as m


async def wait_until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    """Wait on a condition with a deadline (the loop runs meanwhile); fail on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {seconds}s")
        await asyncio.sleep(0.005)


async def collect(bus: Bus, topic: str, count: int, seconds: float = 120.0,
                  group: str = "test-collector") -> list[dict[str, Any]]:
    """Read ``count`` JSON records from ``topic`` (fails after ``seconds``)."""
    sub = await bus.subscribe([topic], group)
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        while len(out) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{topic}: {len(out)}/{count} records in {seconds}s")
            for msg in await sub.fetch(max_wait=0.5):
                out.append(orjson.loads(msg.value))
    finally:
        await sub.close()
    return out


def campaign(campaign_uuid: str, **kw: Any) -> m.CampaignSpec:
    fields: dict[str, Any] = {"campaign_uuid": campaign_uuid, "campaign_name": campaign_uuid,
                              "status": "start", "concurrent_call": 20, "call_timeout": 30,
                              "template_text": "Chào bạn {{ten}}"}
    fields.update(kw)
    return m.CampaignSpec(**fields)


async def publish_control(bus: Bus, topics: Topics, cmd: m.ControlCommand) -> None:
    """As upstream publishers must (README, Topics): the command's own key, in its
    campaign's partition; a delete is followed by the tombstones of the campaign's keys."""
    campaign = (cmd.campaign.campaign_uuid if isinstance(cmd, m.UpsertCampaign)
                else cmd.campaign_uuid)
    partition = keys.partition_for(campaign, topics.partitions)
    await bus.publish(topics.control, m.dumps(cmd), key=keys.control_key(cmd).encode(),
                      partition=partition)
    if isinstance(cmd, m.DeleteCampaign):
        for key in keys.deletion_tombstones(campaign):
            await bus.publish(topics.control, None, key=key.encode(), partition=partition)


async def publish_dnc(bus: Bus, topics: Topics, entry: m.DncEntry) -> None:
    """One record per customer or number under its own key (README, Topics)."""
    for record in keys.split_dnc(entry):
        partition = (keys.partition_for(record.campaign_uuid, topics.partitions)
                     if record.campaign_uuid else None)
        await bus.publish(topics.dnc, m.dumps(record.entry), key=record.key.encode(),
                          partition=partition)


async def create_campaign(app: EngineApp, spec: m.CampaignSpec) -> None:
    p = app.parts
    await publish_control(p.bus, p.topics, m.UpsertCampaign(campaign=spec))
    await wait_until(lambda: spec.campaign_uuid in p.dialer.campaigns, 30)


def phone(i: int) -> str:
    return f"090{1_000_000 + i:07d}"


async def publish_leads(bus: Bus, topics: Topics, campaign_uuid: str, n: int,
                        start: int = 0) -> list[str]:
    ids = []
    for i in range(start, start + n):
        lead = m.LeadImport(campaign_uuid=campaign_uuid, lead_uuid=f"lead-{i}",
                            phone_number=phone(i), param={"ten": f"Khách {i}"})
        await bus.publish(topics.leads, m.dumps(lead), key=campaign_uuid.encode())
        ids.append(lead.lead_uuid)
    return ids
