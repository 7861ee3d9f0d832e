"""The embedded product as a customer meets it: the seed API on localhost, calls through
the simulator, CDRs pushed to the campaign's callback_url, signed, one per call; a VBot
client (seed 003) clones that campaign by its numeric id and gets seed 003's webhook."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from pydantic import SecretStr

from adapters.fssim import Scenario
from adapters.memory_bus import MemoryBus
from consumers.webhooks import verify
from dialer.app import EngineApp
from dialer.settings import Settings
from tests.e2e.harness import wait_until

SECRET = "whsec-test"
TOKEN = "tok-e2e"


async def test_seed_flow_over_http_pushes_signed_cdrs_to_the_callback_url() -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.json_response({"ok": True})

    receiver = web.Application()
    receiver.router.add_post("/cdr", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    settings = Settings(bus="memory", http_port=0, api_tokens=[SecretStr(TOKEN)],
                        webhook_secret=SecretStr(SECRET), webhook_allow=["127.0.0.1"])
    app = EngineApp(settings, bus=MemoryBus(), api=True,
                    scenario=Scenario(speed=400.0, ring_time=(1, 3), talk_time=(3, 9)))
    await app.start()
    assert app.parts.api is not None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(app.parts.api.url, headers=headers) as http:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            async with http.post(path, json=body) as resp:
                data: dict[str, Any] = await resp.json()
                assert resp.status == 200, data
                return data

        async with http.post("/v3/campaign", json={}, headers={"Authorization": "x"}) as r:
            assert r.status == 401
        created = await post("/v3/campaign", {
            "campaign_name": "hooks", "type": "autocall", "concurrent_call": 3,
            "type_autocall": "autocall_voice_tts", "template_text": "Chào {{ten}}",
            "callback_url": f"http://127.0.0.1:{port}/cdr"})
        cid = created["campaign_uuid"]
        leads = [(await post("/v3/autocall/import", {
            "campaign_uuid": cid, "phone_number": f"0912{i:06d}", "param": {"ten": f"A{i}"},
        }))["lead_uuid"] for i in range(4)]
        await post(f"/v1/campaign/{cid}/run/start", {})
        await wait_until(lambda: len(received) >= 4, 60)

        # Seed 003: the campaign's numeric id names it as a template.
        async with http.get(f"/v3/campaign/{cid}") as resp:
            number = (await resp.json())["campaign_id"]
        assert isinstance(number, int) and number > 0
        clone = await post("/api/campaign/create", {
            "vbot_id": "446340000", "project_code": "PR1", "campaignID": number,
            "name": "vbot clone", "phones": [
                {"fields": [{"key": "phone", "value": f"0913{i:06d}"},
                            {"key": "name", "value": f"B{i}"}]} for i in range(2)]})
        assert (clone["status"], clone["error"]) == (1, 0)
        await wait_until(lambda: len(received) >= 6, 60)

    await app.stop()
    await runner.cleanup()
    vbot = [orjson.loads(body) for _h, body in received[4:]]
    assert sorted(b["phone"] for b in vbot) == ["0913000000", "0913000001"]
    assert sorted(b["name"] for b in vbot) == ["B0", "B1"]
    assert {b["campaign_id"] for b in vbot} == {clone["data"]}  # an Int, as seed 003 says
    assert all(isinstance(b["status"], int) and "cdr_uuid" in b for b in vbot)
    received = received[:4]
    bodies = [orjson.loads(body) for _h, body in received]
    assert sorted(b["lead_uuid"] for b in bodies) == sorted(leads)
    for (hdrs, body), cdr in zip(received, bodies, strict=True):
        assert verify(SECRET.encode(), body, hdrs["X-Autocall-Signature"], time.time())
        assert hdrs["Idempotency-Key"] == cdr["cdr_uuid"]
        assert cdr["campaign_uuid"] == cid
        assert cdr["status"]
