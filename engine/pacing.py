"""Switch nodes and their calls-per-second buckets.

Each FreeSWITCH node refuses sessions beyond its own sessions-per-second and max-sessions
(default 30 and 1000), so the engine paces below both. FreeSWITCH counts sessions per
second, so the pacing is a sliding window, not a token bucket: at most ``floor(cps)`` calls
in any one-second window (for cps below 1, one call per 1/cps seconds). A token bucket
with a one-second burst would let 2 x cps through in the second after an idle spell, and
the switch would refuse half of them: a refused session is a wasted attempt.

Rules:
- a call goes to the least-loaded healthy node (live / max_sessions) that has a token;
  ties go to the node listed first;
- an unhealthy node gets nothing, and a node at max_sessions gets nothing;
- ``available`` says how many calls could start right now over all nodes, so a parallel
  round (several legs at once) starts whole or not at all.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class SwitchNode:
    name: str
    max_sessions: int = 1000
    cps: float = 20.0
    healthy: bool = True
    live: int = 0
    sent: deque[float] = field(default_factory=deque)  # starts within the last window

    @property
    def window(self) -> float:
        """The sliding window's length: one second, or 1/cps below one call a second."""
        return 1.0 if self.cps >= 1.0 else 1.0 / self.cps

    @property
    def burst(self) -> int:
        """Calls per window: the most this node may start at one instant."""
        return max(1, math.floor(self.cps * self.window + 1e-9))

    def refill(self, now: float) -> None:
        """Forget the starts that left the window."""
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()

    def can_take(self) -> bool:
        return self.healthy and self.live < self.max_sessions and len(self.sent) < self.burst

    def room(self) -> int:
        """Calls this node could start now (after ``refill``)."""
        if not self.healthy:
            return 0
        return max(0, min(self.burst - len(self.sent), self.max_sessions - self.live))

    def next_token_at(self, now: float) -> float | None:
        """When this node's room next grows (None: its window is empty, nothing to wait
        for). Not only when it is full: a parallel round may need more than its room."""
        self.refill(now)
        return self.sent[0] + self.window if self.sent else None


class NodePool:
    def __init__(self, nodes: list[SwitchNode]) -> None:
        if not nodes:
            raise ValueError("at least one switch node is needed")
        self.nodes = {n.name: n for n in nodes}

    def pick(self, now: float) -> SwitchNode | None:
        best: SwitchNode | None = None
        for node in self.nodes.values():
            node.refill(now)
            if node.can_take() and (
                best is None or node.live * best.max_sessions < best.live * node.max_sessions
            ):
                best = node
        return best

    def available(self, now: float) -> int:
        total = 0
        for node in self.nodes.values():
            node.refill(now)
            total += node.room()
        return total

    def max_burst(self) -> int:
        """The most calls the pool could ever start at one instant (healthy nodes)."""
        return sum(
            min(n.burst, n.max_sessions) for n in self.nodes.values() if n.healthy
        )

    def take(self, node: SwitchNode, now: float) -> None:
        node.sent.append(now)
        node.live += 1

    def release(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is not None and node.live > 0:
            node.live -= 1

    def next_token_at(self, now: float) -> float | None:
        """When a healthy node with session room next gains a token (None: no such node).

        A node at max_sessions is woken by a call ending, not by time.
        """
        waits = [
            t
            for n in self.nodes.values()
            if n.healthy and n.live < n.max_sessions
            and (t := n.next_token_at(now)) is not None
        ]
        return min(waits) if waits else None
