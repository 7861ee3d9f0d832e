"""A partition's leads wait for the do-not-call entries written before them.

Kafka orders a partition, not topics. The group consumer reads partition *p* of ``dnc``
and of ``leads`` together (co-partitioned, one member), and a fetch may hand it *p*'s
leads before *p*'s dnc records, although the upstream had its DNC entry acknowledged
before it sent the lead: the lead would be dialled before the entry that forbids it is
applied. (The global list and the campaigns are global tables, ordered by
``GlobalTables.sync``; a campaign's own list is partition state and comes through here.)

So, per fetched batch that carries leads of *p*: the end offset of ``(dnc, p)`` is read
(everything acknowledged before the lead is below it), the batch's dnc records are taken
first, and the leads of *p* are held, in order and uncommitted, until this member's
position on ``(dnc, p)`` has reached that end. A partition still behind after
``patience`` seconds (a DNC producer's transaction left open holds the end back) lets its
leads go with a warning rather than stall them for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from engine.ports import BusMessage, Subscription, Topics

log = logging.getLogger(__name__)


class DncBeforeLeads:
    def __init__(self, topics: Topics, patience: float = 30.0) -> None:
        self._dnc = topics.dnc
        self._leads = topics.leads
        self._patience = patience
        self._due: dict[int, int] = {}  # partition → dnc end offset to reach first
        self._since: dict[int, float] = {}  # partition → when its leads started waiting
        self._held: dict[int, list[BusMessage]] = {}  # partition → leads, in offset order

    @property
    def held(self) -> int:
        return sum(len(msgs) for msgs in self._held.values())

    def dnc_first(self, batch: Sequence[BusMessage]) -> tuple[list[BusMessage], list[BusMessage]]:
        """The batch's dnc records, then the rest in fetch order (an entry taken a little
        early only ever forbids more)."""
        dnc = [msg for msg in batch if msg.topic == self._dnc]
        return dnc, [msg for msg in batch if msg.topic != self._dnc]

    async def note(self, sub: Subscription, batch: Sequence[BusMessage]) -> None:
        """Read the dnc end offsets the batch's lead partitions must reach (call right
        after the fetch: every entry acknowledged before these leads is below them)."""
        fresh = {msg.partition for msg in batch if msg.topic == self._leads}
        if not fresh:
            return
        ends = await sub.ends()
        for p in fresh:
            end = ends.get((self._dnc, p))
            if end is not None and end > self._due.get(p, 0):
                self._due[p] = end

    async def settle(self, sub: Subscription) -> list[BusMessage]:
        """After the batch's dnc records are taken: forget the partitions that caught up
        and return their held leads, oldest first, to be taken now."""
        now = asyncio.get_running_loop().time()
        for p, end in list(self._due.items()):
            if await sub.behind({(self._dnc, p): end}) == 0:
                del self._due[p]
            elif now - self._since.setdefault(p, now) > self._patience:
                log.warning("partition %d: do-not-call records still behind after %.0f s; "
                            "taking its leads", p, self._patience)
                del self._due[p]
        released: list[BusMessage] = []
        for p in [p for p in self._held if p not in self._due]:
            released.extend(self._held.pop(p))
        for p in [p for p in self._since if p not in self._due]:
            del self._since[p]
        return released

    def hold(self, msg: BusMessage) -> bool:
        """Keep a lead whose partition is still waiting (True), else let it be taken."""
        if msg.topic != self._leads or msg.partition not in self._due:
            return False
        self._held.setdefault(msg.partition, []).append(msg)
        self._since.setdefault(msg.partition, asyncio.get_running_loop().time())
        return True

    def forget(self, owned: frozenset[tuple[str, int]]) -> None:
        """Partitions given away: their held leads are the next owner's (uncommitted)."""
        for p in [p for p in {*self._due, *self._held} if (self._leads, p) not in owned]:
            self._due.pop(p, None)
            self._held.pop(p, None)
            self._since.pop(p, None)
