"""greenswitch (the client the project uses) against the simulator, over loopback.

greenswitch is gevent based: it runs in its own OS thread with its own gevent hub, without
monkey-patching; results cross to the asyncio loop with call_soon_threadsafe, and the test wakes
the worker through a hub `async_` watcher (thread-safe). The simulator stays on the test's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from adapters.esl import Event
from adapters.fssim import FsSimulator
from tests.fssim.test_simulator import FAST, TIMEOUT, RawClient, SimFactory, login, make_sim

__all__ = ["make_sim"]  # the fixture is used by name

Item = tuple[str, Any]


def _worker(port: int, commands: list[str], post: Callable[[Item], None]) -> None:
    """Body of the greenswitch thread: connect, run `commands`, report, wait to be told to stop."""
    import gevent.event
    import greenswitch

    try:
        hub = gevent.get_hub()
        stop = gevent.event.Event()
        watcher = hub.loop.async_()
        watcher.start(stop.set)
        post(("wakeup", watcher.send))
        esl = greenswitch.InboundESL(host="127.0.0.1", port=port, password="ClueCon")
        esl.connect()
        esl.register_handle("*", lambda event: post(("event", dict(event.headers))))
        for command in commands:
            reply = esl.send(command)
            post(("reply", dict(reply.headers)))
        stop.wait()
        esl.stop()
        watcher.close()
        post(("stopped", None))
    except BaseException as err:
        post(("error", repr(err)))
        raise


class GreenswitchThread:
    def __init__(self, port: int, commands: list[str]) -> None:
        loop = asyncio.get_running_loop()
        self.items: asyncio.Queue[Item] = asyncio.Queue()

        def post(item: Item) -> None:
            loop.call_soon_threadsafe(self.items.put_nowait, item)

        self.thread = threading.Thread(target=_worker, args=(port, commands, post), daemon=True)
        self.wakeup: Callable[[], None] | None = None

    async def start(self) -> None:
        self.thread.start()
        kind, value = await self.next()
        assert kind == "wakeup", value
        self.wakeup = value

    async def next(self) -> Item:
        kind, value = await asyncio.wait_for(self.items.get(), TIMEOUT)
        assert kind != "error", value
        return kind, value

    async def events_until(self, last: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        events: list[dict[str, str]] = []
        replies: list[dict[str, str]] = []
        while not events or events[-1].get("Event-Name") != last:
            kind, value = await self.next()
            (events if kind == "event" else replies).append(value)
        return events, replies

    async def stop(self) -> None:
        assert self.wakeup is not None
        self.wakeup()
        while (await self.next())[0] != "stopped":
            pass
        await asyncio.to_thread(self.thread.join, TIMEOUT)
        assert not self.thread.is_alive()


async def _run(sim: FsSimulator, originate: str) -> tuple[list[Event], list[dict[str, str]]]:
    raw: RawClient = await login(sim, "ALL")
    green = GreenswitchThread(sim.port, ["event plain ALL", f"bgapi {originate}"])
    await green.start()
    seen, replies = await green.events_until("CHANNEL_DESTROY")
    assert replies[0]["Reply-Text"] == "+OK event listener enabled plain"
    assert replies[1]["Reply-Text"].startswith("+OK Job-UUID: ")
    mine = await raw.until(lambda e: e.name == "CHANNEL_DESTROY")
    await green.stop()
    await raw.close()
    return mine, seen


async def test_greenswitch_authenticates_and_sees_the_same_events(make_sim: SimFactory) -> None:
    sim = await make_sim(FAST)
    originate = (
        "originate {origination_uuid=gs-1,origination_caller_id_number=0281234567,"
        "ten=Nguy%E1%BB%85n}sofia/gateway/gw1/0901234567 &park()"
    )
    mine, seen = await _run(sim, originate)
    assert [e.name for e in mine] == [h["Event-Name"] for h in seen]
    assert [e.headers["Event-Sequence"] for e in mine] == [h["Event-Sequence"] for h in seen]
    assert [e.name for e in mine] == [
        "CHANNEL_OUTGOING", "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_PROGRESS",
        "CHANNEL_ANSWER", "BACKGROUND_JOB", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY",
    ]  # fmt: skip
    for event, green in zip(mine, seen, strict=True):
        for name, value in event.headers.items():
            assert green[name] == value, (event.name, name)
        if event.body is not None:
            # greenswitch bug: the BACKGROUND_JOB body is glued onto Content-Length.
            assert event.name == "BACKGROUND_JOB"
            assert event.body == "+OK gs-1\n"
            assert green["Content-Length"] == f"{len(event.body)}\n\n{event.body.strip()}"
    answer = next(h for h in seen if h["Event-Name"] == "CHANNEL_ANSWER")
    assert answer["variable_ten"] == "Nguyễn"
    assert answer["Caller-Caller-ID-Number"] == "0281234567"


async def test_greenswitch_misreads_encoded_newlines(make_sim: SimFactory) -> None:
    """A value with an encoded LF reaches the codec intact; greenswitch splits it into a
    forged header (it URL-decodes the whole block before splitting lines)."""
    sim = await make_sim(FAST)
    # Quotes keep the space inside one originate argument; `\\n` becomes a real LF.
    originate = "originate {note='x\\nForged-Header: yes'}sofia/gateway/gw1/0902 &park()"
    mine, seen = await _run(sim, originate)
    create = next(e for e in mine if e.name == "CHANNEL_CREATE")
    green = next(h for h in seen if h["Event-Name"] == "CHANNEL_CREATE")
    assert create.headers["variable_note"] == "x\nForged-Header: yes"
    assert "Forged-Header" not in create.headers
    assert green["variable_note"] == "x"
    assert green["Forged-Header"] == "yes"
