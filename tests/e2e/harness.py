"""Helpers for end-to-end tests: run the real EngineApp, publish inputs, collect outputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from adapters.app import EngineApp
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


async def create_campaign(app: EngineApp, spec: m.CampaignSpec) -> None:
    p = app.parts
    await p.bus.publish(p.topics.control, m.dumps(m.UpsertCampaign(campaign=spec)),
                        key=spec.campaign_uuid.encode())
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
