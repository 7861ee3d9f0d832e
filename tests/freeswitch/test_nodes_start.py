"""Issue 11: the pool starts with the nodes that are up, connects the others in the
background, says so when a node refuses the password, and its sweeper survives a crash."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from adapters.freeswitch import DialPlan, FreeSwitchPool, NodeConfig
from adapters.fssim import FsSimulator
from tests.e2e.harness import wait_until
from tests.freeswitch.test_switch import FAST


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_start_returns_with_one_node_up_and_connects_the_other_later() -> None:
    up = FsSimulator(FAST, sps=1000)
    await up.start()
    late_port = free_port()
    pool = FreeSwitchPool([NodeConfig("up", "127.0.0.1", up.port, up.password),
                           NodeConfig("late", "127.0.0.1", late_port, up.password)],
                          plan=DialPlan(park=True))
    late = FsSimulator(FAST, sps=1000, port=late_port)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await pool.start(wait=10.0)
        assert pool.connected("up") and not pool.connected("late")
        assert loop.time() - t0 < 5.0, "start waited for the node that is down"
        await late.start()
        await wait_until(lambda: pool.connected("late"), 15.0)
    finally:
        await pool.close()
        await late.stop()
        await up.stop()


async def test_a_wrong_password_is_reported_naming_the_node(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = FsSimulator(FAST, password="right")
    await sim.start()
    pool = FreeSwitchPool([NodeConfig("fs-auth", "127.0.0.1", sim.port, "wrong")],
                          plan=DialPlan(park=True))
    try:
        with caplog.at_level(logging.WARNING):
            await pool.start(wait=3.0)  # returns: the engine serves, not ready
            await wait_until(lambda: pool.auth_failed("fs-auth"), 10.0)
        assert not pool.connected("fs-auth")
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("fs-auth" in m and "authentication failed" in m for m in said), said
        assert not any("TimeoutError" in m for m in said)
    finally:
        await pool.close()
        await sim.stop()


async def test_the_sweeper_is_restarted_after_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = FsSimulator(FAST)
    await sim.start()
    pool = FreeSwitchPool([NodeConfig("fs1", "127.0.0.1", sim.port, sim.password)],
                          plan=DialPlan(park=True), sweep_after=0.1)
    sweeps = 0

    async def sweep() -> None:  # an unexpected bug on the first audit only
        nonlocal sweeps
        sweeps += 1
        if sweeps == 1:
            raise RuntimeError("boom")

    pool.sweep = sweep  # type: ignore[method-assign]
    pool._tasks._backoff_s = 0.05
    try:
        with caplog.at_level(logging.ERROR, logger="engine.tasks"):
            await pool.start()
            await wait_until(lambda: sweeps >= 3, 20.0)
        crashed = [r for r in caplog.records if "sweeper crashed" in r.getMessage()]
        assert len(crashed) == 1 and crashed[0].exc_info is not None
    finally:
        await pool.close()
        await sim.stop()
