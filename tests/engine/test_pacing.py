"""Pacing: concurrent_call, per-carrier caps (seed 001 ``network``), calls per second and
sessions per switch node, and campaign updates while running."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from engine.model import ModeCall
from engine.pacing import NodePool, SwitchNode
from tests.engine.rig import BUSY, Outcome, Rig, basic_campaign, by_number, phone

LONG = Outcome(talk=600)


def caps(**kw: int) -> MappingProxyType[str, int]:
    return MappingProxyType(kw)


def test_concurrent_call_is_reached_and_never_exceeded() -> None:
    """seed 001 concurrent_call: live calls of a campaign ≤ concurrent_call, and a full
    campaign uses every slot."""
    rig = Rig(outcome=lambda o: LONG)
    rig.campaign(basic_campaign(concurrent_call=7))
    for i in range(20):
        rig.lead(f"l{i}", "c1", phone(i))
    assert rig.dialer.live_calls("c1") == 7
    rig.run_until_idle()
    assert rig.max_live["c1"] == 7
    assert len(rig.cdrs) == 20
    rig.finish()


def test_a_carrier_at_its_cap_does_not_block_other_carriers() -> None:
    """seed 001 network {viettel: 2}: at most 2 live Viettel calls; Vina leads behind them
    in the queue are dialed at once (0 = no cap)."""
    rig = Rig(outcome=lambda o: LONG)
    rig.campaign(basic_campaign(concurrent_call=10, network=caps(viettel=2, vina=0)))
    for i in range(6):
        rig.lead(f"v{i}", "c1", phone(i, "098"))
    for i in range(6):
        rig.lead(f"n{i}", "c1", phone(i, "091"))
    run = rig.dialer.campaigns["c1"]
    assert run.live_by_key["viettel"] == 2 and run.live_by_key["vina"] == 6
    ex = rig.dialer.explain("v2", rig.clock.now())
    assert ex is not None and ex.rule == "carrier_cap"
    rig.run_until_idle()
    assert len(rig.cdrs) == 12
    rig.finish()


def test_the_cap_applies_to_the_number_actually_dialed() -> None:
    """seed 001 network + mode_call serial: a lead whose second number is on another
    carrier waits for that carrier's cap, not its first number's."""
    viettel, vina, other_vina = phone(1, "098"), phone(2, "091"), phone(3, "091")
    rig = Rig(outcome=by_number({viettel: BUSY, other_vina: Outcome(talk=100)}))
    rig.campaign(basic_campaign(concurrent_call=5, mode_call=ModeCall.SERIAL,
                                network=caps(vina=1)))
    rig.lead("holder", "c1", other_vina)
    rig.lead("x", "c1", viettel, vina)
    rig.run(4)  # viettel was busy after 3 s; vina is full
    assert [o.destination for _, o in rig.calls_of("x")] == [viettel]
    ex = rig.dialer.explain("x", rig.clock.now())
    assert ex is not None and ex.rule == "carrier_cap"
    rig.run_until_idle()
    (t_vina, _), = [(t, o) for t, o in rig.calls_of("x") if o.destination == vina]
    holder_end = rig.cdrs_of("holder")[0]
    assert t_vina == rig.start + 105  # the instant the holder's call ended
    assert holder_end.billsec == 100
    rig.finish()


def test_a_dnc_first_number_moves_the_lead_to_its_next_carrier() -> None:
    """seed 001 network + DNC by phone: the lead queues behind the carrier of the number it
    will really dial (its Viettel number is on the DNC list and Viettel is full)."""
    rig = Rig(outcome=lambda o: LONG)
    rig.campaign(basic_campaign(concurrent_call=5, mode_call=ModeCall.SERIAL,
                                network=caps(viettel=1)))
    rig.dialer.add_dnc_phones([phone(9, "098")])
    rig.lead("holder", "c1", phone(1, "098"))
    rig.lead("x", "c1", phone(9, "098"), phone(2, "091"))
    assert [o.destination for _, o in rig.calls_of("x")] == [phone(2, "091")]
    rig.run_until_idle()
    rig.finish()


def test_a_node_paces_originations_by_its_calls_per_second() -> None:
    """what-users-expect: CPS per switch node, as FreeSWITCH counts sessions per second: at
    most cps starts in any one-second window (a token bucket would let 2 x cps through in
    the second after an idle spell); the wake-up is when the window lets one more."""
    rig = Rig(outcome=lambda o: LONG, nodes=[SwitchNode("fs1", cps=2)])
    rig.campaign(basic_campaign(concurrent_call=10))
    for i in range(6):
        rig.lead(f"l{i}", "c1", phone(i))
    assert len(rig.originated) == 2
    assert rig.dialer.next_wakeup() == pytest.approx(rig.start + 1.0)
    ex = rig.dialer.explain("l2", rig.clock.now())
    assert ex is not None and ex.rule == "switch_capacity"
    rig.run(3)
    offsets = [t - rig.start for t, _ in rig.originated]
    assert offsets == pytest.approx([0, 0, 1.0, 1.0, 2.0, 2.0])
    rig.run_until_idle()
    rig.finish()


def test_least_loaded_healthy_node_is_chosen() -> None:
    """what-users-expect: several switch nodes of different size; calls go to the node with
    the lowest live/max_sessions, so both fill in proportion."""
    nodes = [SwitchNode("small", max_sessions=10, cps=100),
             SwitchNode("big", max_sessions=30, cps=100)]
    rig = Rig(outcome=lambda o: LONG, nodes=nodes)
    rig.campaign(basic_campaign(concurrent_call=20))
    for i in range(20):
        rig.lead(f"l{i}", "c1", phone(i))
    per_node = {n.name: n.live for n in nodes}
    assert per_node == {"small": 5, "big": 15}
    rig.run_until_idle()
    assert all(n.live == 0 for n in nodes)
    rig.finish()


def test_an_unhealthy_node_gets_nothing_and_a_full_node_holds_calls() -> None:
    """what-users-expect: a node that is down gets no call; max_sessions is a hard cap."""
    nodes = [SwitchNode("fs1", max_sessions=3, cps=100), SwitchNode("fs2", cps=100)]
    nodes[1].healthy = False
    rig = Rig(outcome=lambda o: LONG, nodes=nodes)
    rig.campaign(basic_campaign(concurrent_call=10))
    for i in range(6):
        rig.lead(f"l{i}", "c1", phone(i))
    assert {o.node for _, o in rig.originated} == {"fs1"}
    assert len(rig.originated) == 3
    ex = rig.dialer.explain("l5", rig.clock.now())
    assert ex is not None and ex.rule == "switch_capacity"
    nodes[1].healthy = True
    rig.step()
    assert [o.node for _, o in rig.originated[3:]] == ["fs2"] * 3
    rig.run_until_idle()
    rig.finish()


def test_lowering_concurrent_call_lets_calls_finish_and_raising_fills_at_once() -> None:
    """seed 001 PUT while running: concurrent_call lowered below the live calls → no new
    call until below it; raised → the new slots are filled in the same step."""
    rig = Rig(outcome=lambda o: Outcome(talk=100 + 10 * int(o.lead_uuid[1:])))
    spec = rig.campaign(basic_campaign(concurrent_call=10))
    for i in range(30):
        rig.lead(f"l{i}", "c1", phone(i))
    assert rig.dialer.live_calls("c1") == 10
    rig.dialer.upsert_campaign(replace(spec, concurrent_call=4))
    rig.step()
    rig.run(150)  # l0..l4 ended (105..145 s): 5 live, still above 4
    assert rig.dialer.live_calls("c1") == 5 and len(rig.originated) == 10
    rig.run(10)  # l5 ended: 4 live, not below 4 yet
    assert len(rig.originated) == 10
    rig.run(10)  # l6 ended: 3 live → one new call
    assert len(rig.originated) == 11 and rig.dialer.live_calls("c1") == 4
    now = rig.clock.now()
    rig.dialer.upsert_campaign(replace(spec, concurrent_call=8))
    rig.step()
    assert rig.dialer.live_calls("c1") == 8
    assert [t for t, _ in rig.originated[11:]] == [now] * 4
    rig.run_until_idle()
    rig.finish()


def test_campaigns_sharing_a_slow_node_take_turns() -> None:
    """what-users-expect: CPS is shared; no campaign starves another on the same node."""
    rig = Rig(outcome=lambda o: LONG, nodes=[SwitchNode("fs1", cps=1)])
    rig.campaign(basic_campaign("a", concurrent_call=50))
    rig.campaign(basic_campaign("b", concurrent_call=50))
    for i in range(30):
        rig.lead(f"a{i}", "a", phone(i))
        rig.lead(f"b{i}", "b", phone(100 + i))
    rig.run(20)
    per = {c: sum(1 for _, o in rig.originated if o.campaign_uuid == c) for c in "ab"}
    assert abs(per["a"] - per["b"]) <= 1 and sum(per.values()) == 21
    rig.run_until_idle()
    rig.finish()


def test_pool_available_counts_tokens_and_sessions() -> None:
    """Switch pacing unit: ``available`` = whole tokens within free sessions, healthy only."""
    a, b = SwitchNode("a", max_sessions=2, cps=5), SwitchNode("b", cps=1.5, healthy=False)
    pool = NodePool([a, b])
    assert pool.available(0.0) == 2
    assert pool.max_burst() == 2
    a_node = pool.pick(0.0)
    assert a_node is a
    pool.take(a, 0.0)
    pool.take(a, 0.0)
    assert pool.available(0.0) == 0 and pool.pick(0.0) is None
    assert pool.next_token_at(0.0) is None  # a is full of sessions, b is down
    pool.release("a")
    assert pool.available(0.0) == 1  # 3 starts left in this second, 1 session free
    with pytest.raises(ValueError, match="at least one"):
        NodePool([])


def test_the_wake_up_comes_when_room_grows_not_only_when_a_node_is_full() -> None:
    """A parallel round needing more legs than the pool has room for right now waits for
    the pool's room to grow, even while every node still has some room (found by the
    random-run property: a 3-number parallel lead left queued for good)."""
    a, b = SwitchNode("a", cps=2), SwitchNode("b", cps=1)
    pool = NodePool([a, b])
    pool.take(a, 0.0)
    assert pool.available(0.2) == 2  # a has 1 of 2 left, b 1 of 1: short of 3
    assert pool.next_token_at(0.2) == pytest.approx(1.0)
    assert pool.available(1.0) == 3
    assert pool.next_token_at(1.0) is None
