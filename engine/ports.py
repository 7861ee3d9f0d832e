"""The narrow ports engine/ defines and adapters/ implement."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.model import CallResult
from engine.records import Originate


@dataclass(frozen=True, slots=True)
class BusMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class Subscription(Protocol):
    async def fetch(self, max_wait: float) -> list[BusMessage]:
        """Wait up to ``max_wait`` seconds for messages; [] when none arrived."""

    async def commit(self, messages: Sequence[BusMessage]) -> None:
        """Mark these messages (and everything before them per partition) as taken."""

    async def close(self) -> None: ...

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs this member reads now (a group splits them)."""


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None: ...

    async def subscribe(self, topics: Sequence[str], group: str) -> Subscription: ...

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
    """Topic names, all under one configurable prefix."""

    prefix: str = "autocall."

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
    def dlq(self) -> str:
        return self.prefix + "dlq"

    @property
    def inputs(self) -> tuple[str, str, str]:
        return (self.control, self.dnc, self.leads)

    @property
    def all(self) -> tuple[str, ...]:
        return (self.leads, self.dnc, self.control, self.cdr, self.lead_events, self.dlq)


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

    async def originate(self, request: Originate) -> None: ...

    async def hangup(self, call_uuid: str, cause: str) -> None: ...
