"""A protocol-faithful FreeSWITCH Event Socket simulator (asyncio, loopback, port 0 allowed).

    sim = FsSimulator(scenario=Scenario(speed=1000, seed=1), password="ClueCon", port=0)
    await sim.start()        # sim.port, sim.live_channels, sim.max_live_channels, ...
    await sim.drop_connections(); await sim.restart(); await sim.stop()

Modules: scenario (what the far end does), dialstring (originate argument parsing with
FreeSWITCH's splitting rules), calls (admission, legs, event sequences, hangups), media (DTMF,
AMD, recording), channel (per-channel state and headers), hub (event bus, simulated clock),
connection (one mod_event_socket listener), api (api/bgapi commands), server (FsSimulator).
"""

from adapters.fssim.scenario import CallPlan, CallScript, Outcome, Scenario, plan_call
from adapters.fssim.server import FsSimulator, serve_forever

__all__ = [
    "CallPlan",
    "CallScript",
    "FsSimulator",
    "Outcome",
    "Scenario",
    "plan_call",
    "serve_forever",
]
