"""The narrow ports engine/ defines and adapters/ implement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.lead import LeadSnapshot
from engine.model import CallResult, LeadInput
from engine.records import Cdr, LeadEvent, Originate


@dataclass(frozen=True, slots=True)
class BusMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone (deletes ``key`` from a compacted topic)
    # Kafka record headers in their order (a key may repeat); kept so that a dead-lettered
    # message can be replayed exactly as its producer sent it.
    headers: tuple[tuple[str, bytes], ...] = ()


class Subscription(Protocol):
    async def fetch(self, max_wait: float) -> list[BusMessage]:
        """Wait up to ``max_wait`` seconds for messages; [] when none arrived."""

    async def commit(self, messages: Sequence[BusMessage]) -> None:
        """Mark these messages (and everything before them per partition) as taken."""

    async def close(self) -> None: ...

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs this member reads now (a group splits them)."""

    async def lag(self) -> int:
        """Messages between this member's positions and the end offsets read now."""

    async def ends(self) -> dict[tuple[str, int], int]:
        """The end offset of each partition this member reads, as of now."""

    async def behind(self, ends: Mapping[tuple[str, int], int]) -> int:
        """Messages between this member's positions and ``ends``."""


class Rebalance(Protocol):
    """Told when a group member gains or loses partitions (``Bus.subscribe``). Both are
    awaited before the member fetches again: a partition's state is restored before its
    first message is taken, and handed over before another member takes it."""

    async def assigned(self, partitions: frozenset[tuple[str, int]]) -> None: ...

    async def revoked(self, partitions: frozenset[tuple[str, int]]) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(
        self, topic: str, value: bytes | None, key: bytes | None = None,
        partition: int | None = None, headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Write one record (``value`` None: a tombstone). ``partition`` places it
        explicitly (control and DNC records go to their campaign's partition, see
        consumers/keys.py); None: by key, as Kafka's default partitioner does."""

    async def subscribe(
        self, topics: Sequence[str], group: str, listener: Rebalance | None = None
    ) -> Subscription: ...

    async def read(
        self, topics: Sequence[str], start: Mapping[tuple[str, int], int]
    ) -> Subscription:
        """Read every partition of ``topics`` without a consumer group.

        ``start`` maps (topic, partition) to the next offset to read; a partition missing
        from it is read from its beginning. ``commit`` on the result does nothing: the
        caller stores its offsets itself (a materialised view keeps them in the same
        transaction as the rows they produced, which makes it exactly-once).
        """


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names, all under one configurable prefix, and the partition count of the
    co-partitioned topics (control, dnc, leads, lead-state), which writers use to place
    control and DNC records in their campaign's partition."""

    prefix: str = "autocall."
    partitions: int = 3

    @property
    def leads(self) -> str:
        return self.prefix + "leads"

    @property
    def dnc(self) -> str:
        return self.prefix + "dnc"

    @property
    def control(self) -> str:
        return self.prefix + "control"

    @property
    def cdr(self) -> str:
        return self.prefix + "cdr"

    @property
    def lead_events(self) -> str:
        return self.prefix + "lead-events"

    @property
    def lead_state(self) -> str:
        """Compacted changelog of lead state (a table, like control and dnc)."""
        return self.prefix + "lead-state"

    @property
    def tables(self) -> tuple[str, str, str]:
        """Compacted topics: compaction keeps the latest record per key, forever."""
        return (self.control, self.dnc, self.lead_state)

    @property
    def dlq(self) -> str:
        return self.prefix + "dlq"

    @property
    def inputs(self) -> tuple[str, str, str]:
        return (self.control, self.dnc, self.leads)

    @property
    def all(self) -> tuple[str, ...]:
        return (self.leads, self.dnc, self.control, self.cdr, self.lead_events, self.dlq,
                self.lead_state)


# ---- call control ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_uuid: str


@dataclass(frozen=True, slots=True)
class CallDtmf:
    call_uuid: str
    digit: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    result: CallResult


CallEvent = CallAnswered | CallDtmf | CallEnded


class CallControl(Protocol):
    """A switch (or a pool of switches) that places calls and reports what happens.

    Contract: after ``originate`` returns (or raises), exactly one ``CallEnded`` for that
    call_uuid eventually reaches the listener, also when the switch refuses the session
    or the connection drops (the adapter synthesises it after reconciling).
    """

    def set_listener(self, listener: Callable[[CallEvent], None]) -> None: ...

    def originate(self, request: Originate) -> Awaitable[None]:
        """Place the call; the awaitable settles once the switch took it (or raises).
        An ``async def`` will do; an adapter that returns a Future it has already set
        going (the command queued for the switch when ``originate`` returns) spares the
        engine a task and a loop turn per call."""
        ...

    async def hangup(self, call_uuid: str, cause: str) -> None: ...


class CallOwnership(Protocol):
    """Which calls' events this process receives, when partitions move between engines.

    Every channel carries its partition's tag (a channel variable); a process receives the
    events of the tags it follows, so a call's events move with its partition."""

    async def follow(self, tag: str, calls: Mapping[str, str]) -> set[str]:
        """Receive the events of channels tagged ``tag`` and track ``calls`` (call_uuid →
        node) as live; returns those no switch has any more (they ended unobserved)."""

    def unfollow(self, tag: str, calls: Sequence[str]) -> None:
        """Stop receiving ``tag``'s events and forget ``calls`` without ending them: their
        next owner adopts them."""


# ---- durability ------------------------------------------------------------------------
class Durability(Protocol):
    """Where the engine's state and records become durable before they take effect.

    ``journal`` and ``customer_dnc`` are the partition's state, ``record`` its outputs;
    ``dial`` runs ``go`` only once everything handed over before it is durable (the
    attempt's "dialing" snapshot: the write-ahead intent), and never when the partition
    was lost meanwhile. The embedded mode's implementation does each at once.
    """

    def record(self, item: Cdr | LeadEvent) -> None: ...

    def journal(self, lead: LeadInput, snap: LeadSnapshot) -> None: ...

    def customer_dnc(self, campaign_uuid: str, customer_ids: Sequence[str], add: bool) -> None:
        ...

    def dial(self, request: Originate, go: Callable[[Originate], None]) -> None: ...
