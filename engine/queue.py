"""One campaign's ready work, ordered the way the seeds and dialer users expect.

Four classes of entries, each kept per network key (viettel, vina, …) so a carrier at its
cap never blocks leads of another carrier:

- continuations: serial mode's next number of a round already started; always first
  (VICIdial's alt-number priority), ready at once;
- recalls: due at ``ready_at`` (schedule_recall "minute"; also any lead deferred by the
  per-number cap);
- after-pass recalls: released only when the campaign has no never-dialed lead left
  (schedule_recall "after"), and not before their ``ready_at``;
- new leads, FIFO.

``priority_recall`` "recall" puts due recalls before new leads; "normal" takes the entry
that became ready first. Entries are removed lazily: each carries the lead's queue token
and the owner drops what ``pop`` returns when the token is stale (a lead skipped by DNC
leaves its entry behind). A popped entry that cannot be dialed yet goes back to the front
of its class with ``unpop``, so waiting never costs a lead its place.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

Entry = tuple[float, int, int, str]  # (ready_at, seq, token, lead_uuid)


class WorkClass(IntEnum):
    CONTINUATION = 0
    RECALL = 1
    AFTER_PASS = 2
    NEW = 3


@dataclass(frozen=True, slots=True)
class Ticket:
    """A popped entry: enough to validate it and to put it back where it was."""

    work: WorkClass
    key: str
    entry: Entry

    @property
    def lead_uuid(self) -> str:
        return self.entry[3]

    @property
    def token(self) -> int:
        return self.entry[2]


class _Line:
    """A FIFO of entries stored flat, four items per entry (no tuple per entry): a queue of
    a million new leads costs 32 bytes a lead here, not 80; ``ready_at``, ``seq`` and the
    uuid are the lead's own objects and the token a small int, so an entry adds nothing
    else. The Entry tuple is built only for the head and for what is popped."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[float | int | str] = deque()

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items) // 4

    def __iter__(self) -> Iterator[Entry]:
        it: Iterator[Any] = iter(self._items)
        return zip(it, it, it, it, strict=False)  # one iterator: four items per entry

    def head(self) -> Entry:
        i = self._items
        return (i[0], i[1], i[2], i[3])  # type: ignore[return-value]

    def append(self, entry: Entry) -> None:
        self._items.extend(entry)

    def appendleft(self, entry: Entry) -> None:
        self._items.extendleft(reversed(entry))

    def popleft(self) -> Entry:
        p = self._items.popleft
        return (p(), p(), p(), p())  # type: ignore[return-value]


@dataclass(slots=True)
class _Lane:
    continuation: _Line = field(default_factory=_Line)
    recall: list[Entry] = field(default_factory=list)  # heap
    after_pass: list[Entry] = field(default_factory=list)  # heap
    new: _Line = field(default_factory=_Line)


class WorkQueue:
    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._size = 0  # entries, stale ones included

    def __len__(self) -> int:
        return self._size

    def push(
        self, key: str, work: WorkClass, ready_at: float, seq: int, token: int, lead_uuid: str
    ) -> None:
        self._put(key, work, (ready_at, seq, token, lead_uuid), front=False)

    def unpop(self, ticket: Ticket) -> None:
        """Put a popped entry back at the front of its class."""
        self._put(ticket.key, ticket.work, ticket.entry, front=True)

    def _put(self, key: str, work: WorkClass, entry: Entry, *, front: bool) -> None:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        self._size += 1
        if work is WorkClass.RECALL:
            heapq.heappush(lane.recall, entry)
        elif work is WorkClass.AFTER_PASS:
            heapq.heappush(lane.after_pass, entry)
        else:
            line = lane.continuation if work is WorkClass.CONTINUATION else lane.new
            if front:
                line.appendleft(entry)
            else:
                line.append(entry)

    def _heads(
        self, now: float, first_pass_done: bool, key_open: Callable[[str], bool]
    ) -> Iterator[tuple[WorkClass, str, Entry]]:
        for key, lane in self._lanes.items():
            if not key_open(key):
                continue
            if lane.continuation:
                yield WorkClass.CONTINUATION, key, lane.continuation.head()
            if lane.recall and lane.recall[0][0] <= now:
                yield WorkClass.RECALL, key, lane.recall[0]
            if first_pass_done and lane.after_pass and lane.after_pass[0][0] <= now:
                yield WorkClass.AFTER_PASS, key, lane.after_pass[0]
            if lane.new:
                yield WorkClass.NEW, key, lane.new.head()

    def pop(
        self,
        now: float,
        *,
        recall_first: bool,
        first_pass_done: bool,
        key_open: Callable[[str], bool],
    ) -> Ticket | None:
        """Remove and return the next entry to try, or None when nothing is ready."""
        best: tuple[tuple[float, float, int], WorkClass, str] | None = None
        for work, key, (ready_at, seq, _token, _lead) in self._heads(
            now, first_pass_done, key_open
        ):
            if work is WorkClass.CONTINUATION:
                band = 0
            elif recall_first:
                band = 2 if work is WorkClass.NEW else 1
            else:
                band = 1
            rank = (band, ready_at, seq)
            if best is None or rank < best[0]:
                best = (rank, work, key)
        if best is None:
            return None
        _, work, key = best
        lane = self._lanes[key]
        if work is WorkClass.CONTINUATION:
            entry = lane.continuation.popleft()
        elif work is WorkClass.RECALL:
            entry = heapq.heappop(lane.recall)
        elif work is WorkClass.AFTER_PASS:
            entry = heapq.heappop(lane.after_pass)
        else:
            entry = lane.new.popleft()
        self._size -= 1
        return Ticket(work, key, entry)

    def next_due(self, now: float, first_pass_done: bool) -> float | None:
        """Earliest future time an entry becomes ready, for the owner's wake-up timer."""
        due: float | None = None
        for lane in self._lanes.values():
            heads = [lane.recall[0][0]] if lane.recall else []
            if first_pass_done and lane.after_pass:
                heads.append(lane.after_pass[0][0])
            for t in heads:
                if t > now and (due is None or t < due):
                    due = t
        return due

    def drain(self) -> list[str]:
        """Remove everything (campaign deleted); returns the lead ids that were queued."""
        out: list[str] = []
        for lane in self._lanes.values():
            for entries in (lane.continuation, lane.recall, lane.after_pass, lane.new):
                out.extend(e[3] for e in entries)
        self._lanes.clear()
        self._size = 0
        return out
