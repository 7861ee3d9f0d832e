"""Switch nodes and their calls-per-second buckets.

Each FreeSWITCH node refuses sessions beyond its own sessions-per-second and max-sessions
(default 30 and 1000), so the engine paces below both: a token bucket per node, refilled
continuously at ``cps`` with a burst of one second's worth (at least one call).

Rules:
- a call goes to the least-loaded healthy node (live / max_sessions) that has a token;
  ties go to the node listed first;
- an unhealthy node gets nothing, and a node at max_sessions gets nothing;
- ``available`` says how many calls could start right now over all nodes, so a parallel
  round (several legs at once) starts whole or not at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class SwitchNode:
    name: str
    max_sessions: int = 1000
    cps: float = 20.0
    healthy: bool = True
    live: int = 0
    tokens: float = 0.0
    refilled_at: float | None = None

    @property
    def burst(self) -> float:
        return max(1.0, self.cps)

    def refill(self, now: float) -> None:
        if self.refilled_at is None:
            self.tokens = self.burst
        elif now > self.refilled_at:
            self.tokens = min(self.burst, self.tokens + (now - self.refilled_at) * self.cps)
        else:
            return  # time never runs backwards for a bucket
        self.refilled_at = now

    def can_take(self) -> bool:
        return self.healthy and self.live < self.max_sessions and self.tokens >= 1.0

    def room(self) -> int:
        """Calls this node could start now (after ``refill``)."""
        if not self.healthy:
            return 0
        return max(0, min(math.floor(self.tokens), self.max_sessions - self.live))

    def next_token_at(self, now: float) -> float | None:
        """When this node's bucket next gains a whole token (None: full or no refill)."""
        if self.tokens >= self.burst or self.cps <= 0:
            return None
        whole = min(self.burst, math.floor(self.tokens) + 1.0)
        return now + (whole - self.tokens) / self.cps


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
            min(math.floor(n.burst), n.max_sessions) for n in self.nodes.values() if n.healthy
        )

    def take(self, node: SwitchNode) -> None:
        node.tokens -= 1.0
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
