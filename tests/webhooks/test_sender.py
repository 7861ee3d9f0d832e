"""CDR webhooks against real aiohttp receivers on loopback: retries with backoff, the
signature, the idempotency key, the dead-letter record, and isolation from a slow
receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.memory_bus import MemoryBus
from consumers.reports import CampaignView
from consumers.webhooks import VBOT_STATUS, WebhookSender
from engine.ports import Bus, Topics
from proto import messages as m
from tests.http.rig import collect, kafka_bus, until
from tests.http.seeds import seed
from tests.reports.test_store import BASE, cdr

SECRET = b"per-deployment-secret"


@dataclass
class Receiver:
    """Fails the first ``failures`` requests per CDR with ``status``, or holds requests
    until ``release`` is set; records what it accepted."""

    failures: int = 0
    status: int = 500
    release: asyncio.Event | None = None
    seen: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)
    in_flight: int = 0
    most_in_flight: int = 0
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((asyncio.get_running_loop().time(), dict(request.headers), body))
        key = request.headers["Idempotency-Key"]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.release is not None:
                await self.release.wait()
            tries = sum(1 for _, h, _ in self.seen if h["Idempotency-Key"] == key)
            if tries <= self.failures:
                return web.Response(status=self.status)
            self.accepted[key] = body
            return web.Response(status=204)
        finally:
            self.in_flight -= 1

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hook?token=abc"))


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    started: list[TestServer] = []

    async def make(**kw: Any) -> Receiver:
        receiver = Receiver(**kw)
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        receiver.server = TestServer(app, host="127.0.0.1", port=0)
        await receiver.server.start_server()
        started.append(receiver.server)
        return receiver

    yield make
    for server in started:
        await server.close()


@dataclass
class Rig:
    bus: Bus
    topics: Topics
    campaigns: CampaignView
    sender: WebhookSender

    async def campaign(self, uuid_: str, url: str, fmt: str = "seed", number: int = 0) -> None:
        spec = m.CampaignSpec.model_validate({
            "campaign_uuid": uuid_, "campaign_name": uuid_, "callback_url": url,
            "callback_format": fmt, "caller_id": "02873000000", "campaign_id": number})
        await self.bus.publish(self.topics.control,
                               m.dumps(m.UpsertCampaign(campaign=spec)), key=uuid_.encode())
        async with asyncio.timeout(10):
            await self.campaigns.settled()

    async def cdrs(self, campaign: str, first: int, n: int, status: str = "answered") -> None:
        for i in range(first, first + n):
            record = cdr(i, campaign, "", status, BASE + i, 30, lead=f"lead-{i}")
            await self.bus.publish(self.topics.cdr, m.dumps(record), key=campaign.encode())


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    made: list[Rig] = []

    async def make(bus: Bus | None = None, topics: Topics | None = None, **kw: Any) -> Rig:
        bus = bus or MemoryBus()
        topics = topics or Topics("w.")
        await bus.start()
        campaigns = CampaignView(bus, topics, tmp_path / f"c{len(made)}.db", poll_s=0.05)
        await campaigns.start()
        # Receivers listen on loopback: the egress policy must be told to allow it.
        options: dict[str, Any] = {"base_delay_s": 0.02, "max_delay_s": 0.2, "poll_s": 0.05,
                                   "rng": random.Random(1), "allow": ["127.0.0.1"], **kw}
        sender = WebhookSender(bus, topics, campaigns, SECRET, **options)
        await sender.start()
        made.append(Rig(bus, topics, campaigns, sender))
        return made[-1]

    yield make
    for r in made:
        await r.sender.stop()
        await r.campaigns.stop()
        await r.bus.close()



async def test_retries_with_backoff_then_delivers_signed_once(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]]
) -> None:
    receiver = await receivers(failures=3, status=503)
    r = await rig(max_attempts=6)
    await r.campaign("c1", receiver.url)
    await r.cdrs("c1", 0, 1)
    await until(lambda: len(receiver.accepted) == 1)

    times = [t for t, _, _ in receiver.seen]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 4
    # Equal jitter: attempt n waits between half and all of 0.02 * 2^(n-1) seconds.
    for n, gap in enumerate(gaps, start=1):
        assert 0.01 * 2 ** (n - 1) * 0.9 <= gap <= 0.02 * 2 ** (n - 1) + 1.0, gaps
    for _, headers, body in receiver.seen:
        t, v1 = (p.split("=", 1)[1] for p in headers["X-Autocall-Signature"].split(","))
        assert v1 == hmac.new(SECRET, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["Idempotency-Key"] == "cdr-0"
    sent = m.CdrRecord.model_validate_json(receiver.accepted["cdr-0"])
    assert sent.cdr_uuid == "cdr-0" and sent.campaign_uuid == "c1"
    assert (r.sender.delivered, r.sender.dead_lettered, r.sender.attempts) == (1, 0, 4)


async def test_the_last_failure_is_dead_lettered(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    always_down = await receivers(failures=1000, status=500)
    refuses = await receivers(failures=1000, status=410)
    r = await rig(max_attempts=3)
    await r.campaign("down", always_down.url)
    await r.campaign("gone", refuses.url)
    await r.cdrs("down", 0, 1)
    await r.cdrs("gone", 1, 1)
    letters = await collect(r.bus, r.topics.dlq, 2)
    records = {m.DlqRecord.model_validate_json(x.value).reason: x for x in letters}
    reasons = sorted(records)
    assert reasons[0].endswith("failed after 1 attempt(s): HTTP 410")  # 4xx: final at once
    assert reasons[1].endswith("failed after 3 attempt(s): HTTP 500")
    assert all("127.0.0.1" in x and "token" not in x for x in reasons)
    for letter in letters:
        record = m.DlqRecord.model_validate_json(letter.value)
        assert record.source_topic == r.topics.cdr and letter.key in (b"down", b"gone")
        assert m.CdrRecord.model_validate_json(record.value).cdr_uuid in ("cdr-0", "cdr-1")
        assert record.error_code == "webhook_failed"
    assert (len(always_down.seen), len(refuses.seen)) == (3, 1)
    # The log line says which campaign, lead and call (JSON fields, dialer/logs.py).
    logged = {(rec.campaign, rec.lead, rec.call) for rec in caplog.records  # type: ignore[attr-defined]
              if rec.getMessage().startswith("webhook dead-lettered")}
    assert logged == {("down", "lead-0", "cdr-0"), ("gone", "lead-1", "cdr-1")}


async def test_a_slow_receiver_does_not_hold_up_other_campaigns(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]]
) -> None:
    slow = await receivers(release=asyncio.Event())
    fast = await receivers()
    r = await rig(per_campaign=2)
    await r.campaign("slow", slow.url)
    await r.campaign("fast", fast.url)
    await r.cdrs("slow", 0, 10)
    await r.cdrs("fast", 100, 20)
    await until(lambda: len(fast.accepted) == 20)
    assert slow.accepted == {} and slow.most_in_flight == 2  # its own slots only
    assert slow.release is not None
    slow.release.set()
    await until(lambda: len(slow.accepted) == 10)
    assert slow.most_in_flight <= 2


async def test_vbot_format(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]]
) -> None:
    receiver = await receivers()
    r = await rig()
    await r.campaign("v", receiver.url, fmt="vbot", number=2932)
    statuses = ["answered", "no_answer", "busy", "cancel", "invalid", "failed"]
    for i, status in enumerate(statuses):
        await r.cdrs("v", i, 1, status=status)
    await until(lambda: len(receiver.accepted) == len(statuses))
    bodies = {k: orjson.loads(v) for k, v in receiver.accepted.items()}
    got = [bodies[f"cdr-{i}"]["status"] for i in range(len(statuses))]
    assert got == [200, 2, 3, 4, 101, 104] == [VBOT_STATUS[s] for s in statuses]
    first = bodies["cdr-0"]
    assert set(first) >= {"campaign_id", "create_at", "hotline", "phone", "name",
                          "description", "status", "time_call", "postage", "service_charge",
                          "action_log", "event_data"}
    assert (first["campaign_id"], first["hotline"], first["time_call"]) == (
        2932, "02873000000", 15)  # seed 003: campaign_id is an Int, the numeric id
    types = {"Int": int, "Double": float, "String": str}
    for column in seed("003")["webhook"]["autocall_history_fields"]:
        value = first[column["name"]]
        assert type(value) is types[column["type"]], (column, value)


async def test_campaigns_without_callback_are_skipped(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]]
) -> None:
    receiver = await receivers()
    r = await rig()
    await r.campaign("quiet", "")
    await r.campaign("loud", receiver.url)
    await r.cdrs("quiet", 0, 5)
    await r.cdrs("loud", 5, 1)
    await until(lambda: len(receiver.accepted) == 1)
    await until(lambda: r.sender.skipped == 5)


@pytest.mark.kafka
async def test_redelivers_unfinished_webhooks_after_a_restart_on_kafka(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]],
    kafka_bootstrap: str, kafka_topic_prefix: str,
) -> None:
    """Offsets are committed only past settled CDRs: a CDR whose delivery was cut by a stop
    is sent again by the next run (at-least-once; the receiver dedupes by the key)."""
    topics = Topics(kafka_topic_prefix)
    held = await receivers(release=asyncio.Event())
    first = await rig(kafka_bus(kafka_bootstrap, topics), topics, group="hooks")
    await first.campaign("k", held.url)
    await first.cdrs("k", 0, 3)
    await until(lambda: held.in_flight == 3)
    await first.sender.stop()  # deliveries cut: nothing committed

    ok = await receivers()
    second = await rig(kafka_bus(kafka_bootstrap, topics), topics, group="hooks")
    await second.campaign("k", ok.url)
    await until(lambda: len(ok.accepted) == 3)
    assert sorted(ok.accepted) == ["cdr-0", "cdr-1", "cdr-2"]
    assert held.release is not None
    held.release.set()
