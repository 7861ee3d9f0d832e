"""Partitions moving between engine instances: the rebalance listener of the engine's
input group (``engine.ports.Rebalance``).

A partition of the co-partitioned input topics carries whole campaigns; whoever owns it
dials them. On assignment the engine takes each new partition before its first message:
it fences the previous owner, restores the partition's changelog (to the end offset read
at that moment) and adopts its calls still up on the switches. On revocation it stops
originating and makes what it staged durable; partitions that the new assignment gives
back stay as they are (eager rebalancing revokes everything first), the others are
handed over: their state is dropped here and their calls are left up for the next owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka.errors import KafkaError

from adapters.kafka.state import KafkaState
from engine.service import DialerService

log = logging.getLogger(__name__)


class PartitionOwner:
    def __init__(self, state: KafkaState, service: DialerService, leads_topic: str,
                 *, stall_s: float = 5.0) -> None:
        """``stall_s``: a pause of the event loop this long (half the group's session
        timeout) may have cost this member its partitions (SIGSTOP, a VM freeze, a
        starved process): dialing stops until a rebalance has confirmed them."""
        self._state = state
        self._service = service
        self._leads = leads_topic
        self._stall_s = stall_s
        self.rejoin: Callable[[], None] = lambda: None
        self.restoring = 0
        self.assignments = 0  # completed assignments (readiness needs one)
        self.stalls = 0

    async def watch_stalls(self, tick: float = 0.1) -> None:
        """Notice the process was paused: the group may have given our partitions away
        while a new owner has not fenced us yet, so what this engine held (or now pumps
        from the events buffered meanwhile) must not be dialed before the group has
        confirmed the assignment again (a rebalance, whose listener probes every kept
        partition with a lease transaction)."""
        asked = 0.0
        while True:
            before = time.monotonic()
            await asyncio.sleep(tick)  # a heartbeat of the event loop itself
            now = time.monotonic()
            if now - before >= self._stall_s and not self._state.suspended:
                self.stalls += 1
                log.warning("event loop paused %.1f s: dialing held until the group "
                            "confirms this engine's partitions", now - before)
                self._state.suspended = True
                self._service.hold()
                self.rejoin()
                asked = now
            elif self._state.suspended and now - asked >= 2 * self._stall_s:
                self.rejoin()  # the first request found no poll to act on: ask again
                asked = now

    def _numbers(self, partitions: frozenset[tuple[str, int]]) -> set[int]:
        return {p for topic, p in partitions if topic == self._leads}

    @property
    def ready(self) -> bool:
        return self.assignments > 0 and self.restoring == 0

    async def revoked(self, partitions: frozenset[tuple[str, int]]) -> None:
        self._service.hold()
        for p in sorted(self._numbers(partitions) & self._state.owned):
            if not await self._state.flush(p):
                log.warning("partition %d: staged state not durable before the rebalance", p)

    async def assigned(self, partitions: frozenset[tuple[str, int]]) -> None:
        mine = self._numbers(partitions)
        try:
            for p in sorted(self._state.known - mine):
                await self.hand_over(p)
            # A partition kept through the rebalance may have been another engine's in a
            # generation this member missed (its membership expired under load): then that
            # engine fenced our producer and our state is stale. A lease transaction tells.
            kept = sorted(mine & self._state.owned)
            probes = await asyncio.gather(*(self._state.probe(p) for p in kept))
            for p, ours in zip(kept, probes, strict=True):
                if not ours:
                    log.warning("partition %d: fenced while kept; taking it afresh", p)
                    await self.hand_over(p)
            for p in sorted(mine - self._state.owned):  # the others are kept as they are
                if p in self._state.known:
                    await self.hand_over(p)  # fenced meanwhile: its state here is stale
                await self._take(p)
            self.assignments += 1
            self._state.resume()
        finally:
            self._service.release_hold()

    async def _take(self, p: int) -> None:
        """Restore ``p``; retried until it works, since the group fetches nothing for any
        partition while this runs, and no lead may be taken before its state is back."""
        self.restoring += 1
        started = time.monotonic()
        delay = 0.2
        try:
            while True:
                try:
                    restored = await self._state.open(p)
                    break
                except (KafkaError, OSError, TimeoutError) as err:
                    log.warning("partition %d: restore failed (%s); retrying in %.1f s",
                                p, type(err).__name__, delay)
                    await asyncio.sleep(delay)  # backoff before asking the broker again
                    delay = min(delay * 2, 5.0)
            leads, adopted, ended = await self._service.take_over(self._state.tag(p), restored)
        finally:
            self.restoring -= 1
        log.info("partition %d taken in %.2f s: %d leads restored, %d calls adopted, "
                 "%d ended unobserved", p, time.monotonic() - started, leads, adopted, ended)

    async def hand_over(self, p: int) -> None:
        campaigns = [c for c in self._service.dialer.campaigns if self._state.partition_of(c) == p]
        calls = self._service.hand_over(self._state.tag(p), campaigns)
        await self._state.close(p)
        log.info("partition %d handed over (%d calls left up for its next owner)", p, calls)

    async def close(self) -> None:
        """Shutdown: make everything durable and hand every partition over."""
        self._service.hold()
        for p in sorted(self._state.known):
            await self.hand_over(p)
