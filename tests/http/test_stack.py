"""The wired API side (what the embedded ``dialer up`` serves): a real HTTP server on
loopback, the views, and the webhook sender, on the in-memory bus."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.http.stack import ApiStack
from adapters.memory_bus import MemoryBus
from engine.ports import Topics
from proto import messages as m
from tests.http.rig import AUTH, TOKEN
from tests.reports.test_store import BASE, cdr


async def test_embedded_stack_end_to_end(tmp_path: Path) -> None:
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await got.put(await request.read())
        return web.Response(status=200)

    receiver_app = web.Application()
    receiver_app.router.add_post("/cdr", hook)
    receiver = TestServer(receiver_app, host="127.0.0.1", port=0)
    await receiver.start_server()

    bus, topics = MemoryBus(), Topics("e.")
    api = ApiStack(bus, topics, data_dir=tmp_path, tokens=[TOKEN], webhook_secret="s",
                   port=0, webhook_allow=["127.0.0.1"])
    await api.start()
    try:
        async with aiohttp.ClientSession(api.url, headers=AUTH) as http:
            resp = await http.post("/v3/campaign", json={
                "campaign_name": "E2E", "type": "autocall",
                "callback_url": str(receiver.make_url("/cdr"))})
            campaign = (await resp.json())["campaign_uuid"]
            resp = await http.post("/v3/autocall/import", json={
                "campaign_uuid": campaign, "phone_number": "0901234567", "param": {}})
            lead = (await resp.json())["lead_uuid"]
            record = cdr(1, campaign, "", "answered", BASE, 42, lead=lead)
            await bus.publish(topics.cdr, m.dumps(record), key=campaign.encode())

            body = await asyncio.wait_for(got.get(), 20)
            assert m.CdrRecord.model_validate_json(body).lead_uuid == lead
            async with asyncio.timeout(20):
                await api.reports.settled()
            resp = await http.get(f"/v1/autocall/report?campaign_uuid={campaign}")
            data = (await resp.json())["data"]
            assert (data["total_calls"], data["total_duration"]) == (1, 42)
            resp = await http.get(f"/v3/lead/{lead}/state")
            assert (await resp.json())["called_count"] == 1
    finally:
        await api.stop()
        await receiver.close()
