"""FsSimulator: a FreeSWITCH Event Socket server for tests and load runs.

Lifecycle: `await start()` binds (port 0 picks a free port, kept across `restart()`),
`drop_connections()` kills every socket without a notice while calls go on, `restart()` is a
crash and a reboot (channels vanish without events, a new Core-UUID, the same port),
`stop()` closes everything. Only the asyncio loop that ran `start()` may touch the simulator.

Clocks: call timing (ring, talk, originate_timeout, DTMF, AMD) runs on the simulated clock,
`scenario.speed` times faster than real time, and every stamp or CDR value is simulated time.
Sessions-per-second windows, the auth timeout and heartbeats are real seconds, as a dialer's
own rate limiting and watchdogs are.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import time
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from adapters.fssim.api import VERSION, ApiHandler
from adapters.fssim.calllog import CallLog
from adapters.fssim.calls import CallEngine, Limits
from adapters.fssim.channel import SimChannel
from adapters.fssim.connection import EslConnection
from adapters.fssim.events import Identity
from adapters.fssim.hub import Hub, SimClock
from adapters.fssim.scenario import Scenario

__all__ = ["FsSimulator", "serve_forever"]


class FsSimulator:
    def __init__(
        self,
        scenario: Scenario | None = None,
        password: str = "ClueCon",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_sessions: int = 1000,
        sps: int = 30,
        auth_timeout: float = 25.0,
        acl: Sequence[str] | None = None,
        hostname: str = "fssim",
        heartbeat_interval: float | None = 20.0,
        max_backlog_bytes: int = 64 * 1024 * 1024,
        call_log: str | os.PathLike[str] | None = None,
    ) -> None:
        self.scenario = scenario if scenario is not None else Scenario()
        self.password = password
        self.host = host
        self._port = port
        self.max_sessions = max_sessions
        self.sps = sps
        self.auth_timeout = auth_timeout
        # None allows everyone; otherwise the peer must be inside one of these networks.
        self.acl = None if acl is None else [ipaddress.ip_network(n, strict=False) for n in acl]
        self.hostname = hostname
        self.heartbeat_interval = heartbeat_interval
        self.max_backlog_bytes = max_backlog_bytes
        self.connections: set[EslConnection] = set()
        self._server: asyncio.Server | None = None
        self._heartbeat: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        self._attempts: dict[str, int] = {}
        # JSON lines of every channel create/answer/hangup (adapters/fssim/calllog.py).
        self.call_log_path = call_log
        self._call_log: CallLog | None = None
        self._boot()

    def _boot(self) -> None:
        """Fresh switch state: what a FreeSWITCH process has right after it starts."""
        self._started = time.monotonic()
        self.identity = Identity(str(uuidlib.uuid4()), self.hostname, _ipv4(self.host))
        self.limits = Limits(max_sessions=self.max_sessions, sps=self.sps)
        self._hub: Hub | None = None
        self._engine: CallEngine | None = None
        self._api: ApiHandler | None = None

    def _wire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._hub = Hub(self.identity, SimClock(loop, self.scenario.speed))
        self._engine = CallEngine(self._hub, self.scenario, self.limits, loop.time)
        self._engine.attempts = self._attempts
        self._engine.on_idle = self._on_idle
        if self.call_log_path is not None:
            self._call_log = self._call_log or CallLog(self.call_log_path)
            self._engine.call_log = self._call_log
        self._api = ApiHandler(self._engine, self.limits, self.identity)

    # --- wiring, available after start() -------------------------------------------------------

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("simulator not started")
        return self._hub

    @property
    def engine(self) -> CallEngine:
        if self._engine is None:
            raise RuntimeError("simulator not started")
        return self._engine

    @property
    def api(self) -> ApiHandler:
        if self._api is None:
            raise RuntimeError("simulator not started")
        return self._api

    # --- public state --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def core_uuid(self) -> str:
        return self.identity.core_uuid

    @property
    def live_channels(self) -> int:
        return len(self._engine.channels) if self._engine else 0

    @property
    def max_live_channels(self) -> int:
        return self._engine.max_live if self._engine else 0

    @property
    def originate_count(self) -> int:
        return self._engine.originate_count if self._engine else 0

    @property
    def refused_count(self) -> int:
        """Sessions refused by sps, max-sessions, pause or a duplicate origination_uuid."""
        return self._engine.refused_count if self._engine else 0

    @property
    def channels(self) -> Mapping[str, SimChannel]:
        return MappingProxyType(self._engine.channels if self._engine else {})

    @property
    def connection_count(self) -> int:
        return len(self.connections)

    def acl_allows(self, peer: str) -> bool:
        if self.acl is None:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.acl)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._wire(loop)
        self._idle = asyncio.Event()
        self._idle.set()
        self._server = await loop.create_server(
            lambda: EslConnection(self), self.host, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._schedule_heartbeat()

    async def drop_connections(self) -> None:
        """Abort every client socket (no disconnect notice); channels keep running."""
        waits = [conn.closed for conn in self.connections]
        for conn in list(self.connections):
            conn.abort()
        if waits:
            await asyncio.gather(*waits)

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._engine is not None:
            self._engine.drop_all()
        if self._call_log is not None:
            self._call_log.close()
            self._call_log = None

    async def restart(self, downtime: float = 0.0) -> None:
        """Crash and come back: channels vanish silently, new Core-UUID, same port.

        For `downtime` real seconds nothing listens (connects are refused).
        """
        await self.stop()
        self._boot()
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.start()

    async def wait_idle(self) -> None:
        """Return once no channel is live (wrap in asyncio.wait_for for a deadline)."""
        if self._idle is None:
            return
        while self.live_channels:
            self._idle.clear()
            await self._idle.wait()

    def _on_idle(self) -> None:
        if self._idle is not None:
            self._idle.set()

    # --- jobs and heartbeats -------------------------------------------------------------------

    def run_job(self, job_uuid: str, cmd: str, arg: str | None) -> None:
        """A bgapi job: runs after the caller wrote the reply; its result is a BACKGROUND_JOB."""
        hub = self.hub

        def done(result: str) -> None:
            extra = [("Job-UUID", job_uuid), ("Job-Owner-UUID", ""), ("Job-Command", cmd)]
            if arg is not None:
                extra.append(("Job-Command-Arg", arg))
            hub.fire_simple("BACKGROUND_JOB", hub.clock.now_us(), extra, body=result)

        self.api.execute(cmd, arg or "", done)

    def _schedule_heartbeat(self) -> None:
        if self.heartbeat_interval:
            loop = asyncio.get_running_loop()
            self._heartbeat = loop.call_later(self.heartbeat_interval, self._beat)

    def _beat(self) -> None:
        engine, limits = self.engine, self.limits
        up_ms = int((time.monotonic() - self._started) * 1000)
        secs, ms = divmod(up_ms, 1000)
        mins, sec = divmod(secs, 60)
        hours, minute = divmod(mins, 60)
        days, hour = divmod(hours, 24)
        uptime = (
            f"{days // 365} years, {days % 365} days, {hour} hours, {minute} minutes, "
            f"{sec} seconds, {ms} milliseconds, 0 microseconds"
        )
        self.hub.fire_simple("HEARTBEAT", self.hub.clock.now_us(), [
            ("Event-Info", "System Ready"), ("Up-Time", uptime),
            ("FreeSWITCH-Version", VERSION), ("Uptime-msec", str(up_ms)),
            ("Session-Count", str(len(engine.channels))),
            ("Max-Sessions", str(limits.max_sessions)),
            ("Session-Per-Sec", str(limits.sps)),
            ("Session-Per-Sec-Last", str(max(limits.sps - limits.sps_left, 0))),
            ("Session-Per-Sec-Max", str(engine.sps_peak)),
            ("Session-Per-Sec-FiveMin", str(engine.sps_peak)),
            ("Session-Since-Startup", str(engine.sessions_since_startup)),
            ("Session-Peak-Max", str(engine.max_live)),
            ("Session-Peak-FiveMin", str(engine.max_live)),
            ("Idle-CPU", "99.000000"),
        ])  # fmt: skip
        self._schedule_heartbeat()


def _ipv4(host: str) -> str:
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 4 and host != "0.0.0.0":
            return host
    return "127.0.0.1"


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8021,
    password: str = "ClueCon",
    scenario: Scenario | None = None,
    **options: object,
) -> None:
    """Run a simulator until cancelled (the CLI entry: `dialer fssim`)."""
    sim = FsSimulator(scenario, password, host, port, **options)  # type: ignore[arg-type]
    await sim.start()
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
