"""Readiness is false while Kafka is unreachable: a broker of the test's own is stopped
under a started bus, the probe notices, /readyz answers 503 and /metrics says so."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from adapters.kafka import KafkaBus
from dialer.app import EngineApp
from dialer.health import HealthServer
from dialer.metrics import Metrics
from dialer.reachability import BusWatch
from tests.e2e.harness import wait_until
from tests.kafka_broker import KafkaBroker
from tests.metrics.scrape import scrape, total


async def get_status(port: int, path: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status


async def test_the_engine_readiness_includes_the_bus(
        running: tuple[EngineApp, HealthServer]) -> None:
    app, health = running
    assert await get_status(health.port, "/readyz") == 200
    assert app.bus_watch is not None
    app.bus_watch.ok = False  # what the probe sets when Kafka stops answering
    assert await get_status(health.port, "/readyz") == 503
    samples = await scrape(f"http://127.0.0.1:{health.port}/metrics")
    assert total(samples, "dialer_bus_reachable") == 0


@pytest.mark.kafka
@pytest.mark.timeout(300)
async def test_a_stopped_broker_makes_readiness_false() -> None:
    broker = KafkaBroker()
    bootstrap = await asyncio.to_thread(broker.start)
    bus = KafkaBus(bootstrap, topics=["rz.dlq"], partitions=1)
    watch = BusWatch(bus, interval=0.3, timeout=2.0)
    metrics = Metrics()
    health = HealthServer({"bus reachable": watch}, host="127.0.0.1", port=0,
                          metrics=metrics.render)
    try:
        await bus.start()
        metrics.watch_bus(bus, "rz.dlq", watch)
        watch.start()
        await health.start()
        assert await bus.reachable()
        assert await get_status(health.port, "/readyz") == 200
        await asyncio.to_thread(broker.stop)
        await wait_until(lambda: not watch.ok, 60)
        assert await get_status(health.port, "/readyz") == 503
        samples = await scrape(f"http://127.0.0.1:{health.port}/metrics")
        assert total(samples, "dialer_bus_reachable") == 0
    finally:
        broker.stop()
        await watch.stop()
        await health.stop()
        await bus.close()
