"""The greenswitch bridge against misbehaving switches on real loopback sockets: a switch
that never greets (connect watchdog), and one that takes commands and dies before it
answers (pending commands must fail, not hang forever as they do in bare greenswitch)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from adapters.freeswitch.bridge import EslBridge
from engine.errors import NotConnected

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(srv)
        return int(srv.sockets[0].getsockname()[1])

    yield start
    for srv in servers:
        srv.close()


def bridge(port: int, **kw: object) -> tuple[EslBridge, list[str]]:
    seen: list[str] = []
    b = EslBridge("127.0.0.1", port, "ClueCon", on_event=lambda _e: None,
                  on_connected=lambda: seen.append("up"),
                  on_disconnected=lambda: seen.append("down"), **kw)  # type: ignore[arg-type]
    return b, seen


async def test_a_switch_that_never_greets_trips_the_connect_watchdog(
    server: Callable[[Handler], Awaitable[int]],
) -> None:
    accepted = asyncio.Event()
    attempts = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= 2:
            accepted.set()
        await reader.read()  # never sends auth/request
        writer.close()

    port = await server(silent)
    b, seen = bridge(port, connect_timeout=0.2, backoff_initial=0.01)
    b.start()
    await asyncio.wait_for(accepted.wait(), 10)  # gave up on the first and tried again
    assert seen == []
    assert not b.connected
    with pytest.raises(NotConnected):
        await b.submit("api status")
    await b.stop()


async def test_pending_commands_fail_when_the_connection_drops(
    server: Callable[[Handler], Awaitable[int]],
) -> None:
    got_command = asyncio.Event()

    async def dies_mid_command(reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        writer.write(b"Content-Type: auth/request\n\n")
        await reader.readuntil(b"\n\n")  # auth
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        await writer.drain()
        await reader.readuntil(b"\n\n")  # the command that will never be answered
        got_command.set()
        writer.close()

    port = await server(dies_mid_command)
    b, seen = bridge(port, backoff_initial=5.0)
    b.start()
    deadline = asyncio.get_running_loop().time() + 10
    while not b.connected:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)
    pending = asyncio.ensure_future(b.submit("api show channels", wait_s=30))
    await asyncio.wait_for(got_command.wait(), 10)
    with pytest.raises(NotConnected):
        await asyncio.wait_for(pending, 10)  # failed at once, not after the 30 s timeout
    assert seen[:2] == ["up", "down"]
    await b.stop()
