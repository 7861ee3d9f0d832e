"""Probes and metrics for the embedded ``dialer up`` (and ``dialer loadtest``).

On the loopback interface of ``DIALER_HTTP_HOST`` (embedded mode serves nothing beyond
the machine) and ``DIALER_HEALTH_PORT``. A taken port does not stop a demo or a load test:
it is reported and the run goes on without probes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from dialer.app import EngineApp
from dialer.health import HealthServer


def readiness_checks(app: EngineApp) -> dict[str, Callable[[], bool]]:
    """The engine role's readiness: started, consuming, caught up, any switch up, the bus
    reachable."""

    def switch_connected() -> bool:
        # Any node: one dead FreeSWITCH must not stall a rollout; the engine routes around it.
        return app.started and any(app.parts.switch.connected(name)
                                   for name in app.parts.dialer.pool.nodes)

    return {"engine started": lambda: app.started,
            "inputs consumed": lambda: app.consuming,
            "state caught up": lambda: app.caught_up,
            "switch node connected": switch_connected,
            "bus reachable": lambda: app.bus_watch is None or app.bus_watch.ok}


async def embedded_health(app: EngineApp, port: int | None = None) -> HealthServer:
    s = app.settings
    health = HealthServer(readiness_checks(app), host=s.http_host,
                          port=s.health_port if port is None else port,
                          metrics=app.metrics.render)
    try:
        await health.start()
    except OSError as err:
        print(f"health/metrics port {s.health_port} not available ({err.strerror}); "
              "running without /metrics", file=sys.stderr)
    return health
