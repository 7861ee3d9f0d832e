"""One campaign's ready work, ordered the way the seeds and dialer users expect.

Four classes of entries, each kept per network key (viettel, vina, …) so a carrier at its
cap never blocks leads of another carrier:

- continuations: serial mode's next number of a round already started; always first
  (VICIdial's alt-number priority);
- recalls: due at ``ready_at`` (schedule_recall "minute");
- after-pass recalls: released only when the campaign has no never-dialed lead left
  (schedule_recall "after");
- new leads, FIFO.

``priority_recall`` "recall" puts due recalls before new leads; "normal" takes the entry
that became ready first. Entries are removed lazily: the owner validates what ``pop``
returns (a lead skipped by DNC leaves a stale entry behind, which is simply dropped).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum

Entry = tuple[float, int, str]  # (ready_at, seq, lead_uuid)


class WorkClass(IntEnum):
    CONTINUATION = 0
    RECALL = 1
    AFTER_PASS = 2
    NEW = 3


@dataclass(slots=True)
class _Lane:
    continuation: deque[Entry] = field(default_factory=deque)
    recall: list[Entry] = field(default_factory=list)  # heap
    after_pass: deque[Entry] = field(default_factory=deque)
    new: deque[Entry] = field(default_factory=deque)

    def __len__(self) -> int:
        return len(self.continuation) + len(self.recall) + len(self.after_pass) + len(self.new)


class WorkQueue:
    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def push(self, key: str, work: WorkClass, ready_at: float, seq: int, lead_uuid: str) -> None:
        lane = self._lanes.setdefault(key, _Lane())
        entry = (ready_at, seq, lead_uuid)
        if work is WorkClass.CONTINUATION:
            lane.continuation.append(entry)
        elif work is WorkClass.RECALL:
            heapq.heappush(lane.recall, entry)
        elif work is WorkClass.AFTER_PASS:
            lane.after_pass.append(entry)
        else:
            lane.new.append(entry)

    def _heads(
        self, now: float, first_pass_done: bool, key_open: Callable[[str], bool]
    ) -> Iterator[tuple[WorkClass, float, int, str]]:
        for key, lane in self._lanes.items():
            if not key_open(key):
                continue
            if lane.continuation:
                yield WorkClass.CONTINUATION, lane.continuation[0][0], lane.continuation[0][1], key
            if lane.recall and lane.recall[0][0] <= now:
                yield WorkClass.RECALL, lane.recall[0][0], lane.recall[0][1], key
            if lane.after_pass and first_pass_done:
                yield WorkClass.AFTER_PASS, lane.after_pass[0][0], lane.after_pass[0][1], key
            if lane.new:
                yield WorkClass.NEW, lane.new[0][0], lane.new[0][1], key

    def pop(
        self,
        now: float,
        *,
        recall_first: bool,
        first_pass_done: bool,
        key_open: Callable[[str], bool],
    ) -> str | None:
        """Remove and return the next lead to try, or None when nothing is ready."""
        best: tuple[tuple[float, ...], WorkClass, str] | None = None
        for work, ready_at, seq, key in self._heads(now, first_pass_done, key_open):
            if work is WorkClass.CONTINUATION:
                rank: tuple[float, ...] = (0, ready_at, seq)
            elif recall_first:
                rank = (1 if work is not WorkClass.NEW else 2, ready_at, seq)
            else:
                rank = (1, ready_at, seq)
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
            entry = lane.after_pass.popleft()
        else:
            entry = lane.new.popleft()
        return entry[2]

    def next_due(self, now: float) -> float | None:
        """Earliest future recall time, for the owner's wake-up timer."""
        due = [lane.recall[0][0] for lane in self._lanes.values() if lane.recall]
        future = [t for t in due if t > now]
        return min(future) if future else None

    def has_ready(self, now: float, first_pass_done: bool) -> bool:
        return any(True for _ in self._heads(now, first_pass_done, lambda _k: True))

    def drain(self) -> list[str]:
        """Remove everything (campaign deleted); returns the lead ids that were queued."""
        out: list[str] = []
        for lane in self._lanes.values():
            for entries in (lane.continuation, lane.recall, lane.after_pass, lane.new):
                out.extend(e[2] for e in entries)
        self._lanes.clear()
        return out
