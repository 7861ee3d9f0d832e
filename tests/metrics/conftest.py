"""An embedded app (memory bus, simulator, engine, API) with its probe server on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.fssim import Outcome, Scenario
from adapters.memory_bus import MemoryBus
from dialer.app import EngineApp
from dialer.health import HealthServer
from dialer.observe import embedded_health
from dialer.settings import Settings

SCENARIO = Scenario(speed=20.0, ring_time=(1.0, 3.0), talk_time=(2.0, 5.0), seed=5,
                    outcomes={Outcome.ANSWERED: 0.6, Outcome.BUSY: 0.2,
                              Outcome.UNREACHABLE: 0.2})


@pytest.fixture
async def running() -> AsyncIterator[tuple[EngineApp, HealthServer]]:
    app = EngineApp(Settings(bus="memory", http_port=0), bus=MemoryBus(), scenario=SCENARIO,
                    api=True)
    await app.start()
    health = await embedded_health(app, port=0)
    assert health.running
    yield app, health
    await app.stop()
    await health.stop()
