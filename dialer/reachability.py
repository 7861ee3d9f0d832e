"""Is the bus reachable? A periodic probe whose last answer readiness and metrics read.

Readiness must be cheap and synchronous (dialer/health.py), and a Kafka outage does not
surface on its own on an idle producer: so the probe asks the cluster for its metadata
every ``interval`` seconds (bounded by ``timeout``) and keeps the answer. A bus without a
``reachable`` coroutine (the in-memory bus) is always reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class BusWatch:
    def __init__(self, bus: object, *, interval: float = 5.0, timeout: float = 3.0) -> None:
        probe = getattr(bus, "reachable", None)
        self._probe: Callable[[float], Awaitable[bool]] | None = probe
        self._interval = interval
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.ok = True  # the bus started, so it answered a moment ago

    def __call__(self) -> bool:
        return self.ok

    def start(self) -> None:
        if self._probe is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="bus-watch")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._probe is not None
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                # A periodic audit, ended at once by stop().
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._stopping.is_set():
                return
            ok = await self._probe(self._timeout)
            if ok != self.ok:
                log.warning("bus %s", "reachable again" if ok else "unreachable")
            self.ok = ok
