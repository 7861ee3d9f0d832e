"""Switch nodes and their calls-per-second buckets.

Each FreeSWITCH node refuses sessions beyond its own sessions-per-second and max-sessions
(default 30 and 1000), so the engine paces below both: a token bucket per node, refilled
continuously, with a burst of one second's worth. Originations go to the least-loaded
healthy node that has a token.
"""

from __future__ import annotations

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

    def refill(self, now: float) -> None:
        burst = max(1.0, self.cps)
        if self.refilled_at is None:
            self.tokens = burst
        else:
            self.tokens = min(burst, self.tokens + (now - self.refilled_at) * self.cps)
        self.refilled_at = now

    def can_take(self) -> bool:
        return self.healthy and self.live < self.max_sessions and self.tokens >= 1.0

    def next_token_at(self, now: float) -> float:
        return now + max(0.0, 1.0 - self.tokens) / self.cps if self.cps > 0 else now + 1.0


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
                best is None or node.live / node.max_sessions < best.live / best.max_sessions
            ):
                best = node
        return best

    def take(self, node: SwitchNode) -> None:
        node.tokens -= 1.0
        node.live += 1

    def release(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is not None and node.live > 0:
            node.live -= 1

    def next_token_at(self, now: float) -> float | None:
        """When a token frees up on a node that is blocked only by its bucket."""
        waits = [
            n.next_token_at(now)
            for n in self.nodes.values()
            if n.healthy and n.live < n.max_sessions and n.tokens < 1.0
        ]
        return min(waits) if waits else None
