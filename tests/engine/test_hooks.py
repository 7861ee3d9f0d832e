"""engine/hooks.py: refill pairing and the fan-out (pure, no clock)."""

from __future__ import annotations

from engine.hooks import NO_HOOKS, FanOut, RefillTracker
from engine.records import Cdr, LeadEvent


class Tape:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def originated(self, campaign_uuid: str, node: str) -> None:
        self.calls.append(("originated", (campaign_uuid, node)))

    def answered(self, campaign_uuid: str, node: str, seconds: float) -> None:
        self.calls.append(("answered", (campaign_uuid, node, seconds)))

    def refilled(self, campaign_uuid: str, seconds: float) -> None:
        self.calls.append(("refilled", (campaign_uuid, seconds)))

    def recorded(self, record: Cdr | LeadEvent) -> None:
        self.calls.append(("recorded", (record,)))


def test_refills_pair_the_oldest_freed_slot_per_campaign() -> None:
    t = RefillTracker()
    assert t.refill("a", 1.0) is None, "ramp-up: no slot was freed"
    t.freed("a", 10.0)
    t.freed("a", 11.0)
    t.freed("b", 10.5)
    assert t.refill("a", 12.0) == 2.0
    assert t.refill("b", 10.75) == 0.25
    assert t.refill("a", 11.5) == 0.5
    assert t.refill("a", 20.0) is None
    assert t.refill("b", 9.0) is None


def test_forgotten_slots_are_never_paired() -> None:
    t = RefillTracker()
    t.freed("a", 1.0)
    assert t.campaigns() == ["a"]
    t.forget("a")
    assert t.campaigns() == []
    assert t.refill("a", 100.0) is None


def test_fan_out_calls_every_hook_in_order() -> None:
    one, two = Tape(), Tape()
    hooks = FanOut([one, NO_HOOKS, two])
    hooks.originated("c", "fs1")
    hooks.answered("c", "fs1", 1.5)
    hooks.refilled("c", 0.01)
    assert one.calls == two.calls == [("originated", ("c", "fs1")),
                                      ("answered", ("c", "fs1", 1.5)),
                                      ("refilled", ("c", 0.01))]
