"""Issue 3 §3: several FreeSWITCH nodes, each with its max sessions and CPS bucket;
originations go to the least-loaded healthy node; a dead node gets nothing, and its calls
are accounted when it comes back (reconciliation), so no slot stays taken."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from adapters.fssim import FsSimulator, Scenario
from adapters.memory_bus import MemoryBus
from dialer.app import EngineApp
from dialer.settings import FsNode, Settings
from proto import messages as m
from tests.e2e.harness import campaign, collect, create_campaign, publish_leads, wait_until


@pytest.fixture
async def two_sims() -> AsyncIterator[tuple[FsSimulator, FsSimulator]]:
    a = FsSimulator(Scenario(speed=200.0, ring_time=(1, 3), talk_time=(5, 20), seed=1),
                    max_sessions=100, sps=1000, hostname="fs-a")
    b = FsSimulator(Scenario(speed=200.0, ring_time=(1, 3), talk_time=(5, 20), seed=2),
                    max_sessions=100, sps=1000, hostname="fs-b")
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def app_on(a: FsSimulator, b: FsSimulator, *, a_max: int, b_max: int) -> EngineApp:
    nodes = [FsNode(name="a", port=a.port, password=SecretStr("ClueCon"), max_sessions=a_max,
                    cps=500),
             FsNode(name="b", port=b.port, password=SecretStr("ClueCon"), max_sessions=b_max,
                    cps=500)]
    app = EngineApp(Settings(bus="memory", simulator=False, fs_nodes=nodes), bus=MemoryBus())
    await app.start()
    return app


async def test_calls_spread_over_nodes_within_each_nodes_limits(
    two_sims: tuple[FsSimulator, FsSimulator],
) -> None:
    a, b = two_sims
    app = await app_on(a, b, a_max=4, b_max=12)
    p = app.parts
    await create_campaign(app, campaign("cn", concurrent_call=16, status="pause"))
    await publish_leads(p.bus, p.topics, "cn", 200)
    await wait_until(lambda: len(p.dialer.leads) == 200)
    await p.bus.publish(p.topics.control, m.dumps(m.SetCampaignStatus(
        campaign_uuid="cn", status="start")), key=b"cn")
    cdrs = await collect(p.bus, p.topics.cdr, 200, seconds=60)
    assert len({c["lead_uuid"] for c in cdrs}) == 200
    assert a.max_live_channels <= 4
    assert b.max_live_channels <= 12
    assert a.max_live_channels == 4 and b.max_live_channels == 12, "both nodes were used fully"
    assert a.originate_count + b.originate_count == 200
    # least-loaded by ratio: the larger node takes about three times the calls
    assert 2.0 < b.originate_count / a.originate_count < 4.5
    await app.stop()


async def test_a_dead_node_gets_no_calls_and_its_calls_are_accounted_on_return(
    two_sims: tuple[FsSimulator, FsSimulator],
) -> None:
    a, b = two_sims
    app = await app_on(a, b, a_max=10, b_max=10)
    p = app.parts
    await create_campaign(app, campaign("cd", concurrent_call=10, status="pause",
                                        recall_times=0))
    await publish_leads(p.bus, p.topics, "cd", 150)
    await wait_until(lambda: len(p.dialer.leads) == 150)
    await p.bus.publish(p.topics.control, m.dumps(m.SetCampaignStatus(
        campaign_uuid="cd", status="start")), key=b"cd")
    await wait_until(lambda: b.live_channels > 0 and b.originate_count >= 10)
    b_before = b.originate_count
    b_live_legs = [leg for leg in p.dialer.legs.values() if leg.node == "b"]
    await b.stop()  # the node dies with calls up
    await wait_until(lambda: not p.dialer.pool.nodes["b"].healthy)
    assert all(leg.call_uuid in p.dialer.legs for leg in b_live_legs), (
        "calls on a dead node stay counted until it is reconciled"
    )
    await wait_until(lambda: a.originate_count >= 40)
    assert b.originate_count == b_before, "no origination went to the dead node"
    b._boot()  # the node comes back on the same port, its channels gone
    await b.start()
    cdrs = await collect(p.bus, p.topics.cdr, 150, seconds=60)
    by_lead = Counter(c["lead_uuid"] for c in cdrs)
    assert len(by_lead) == 150
    assert set(by_lead.values()) == {1}
    lost = {c["cdr_uuid"] for c in cdrs if c["hangup_cause"] == "LOST_WHILE_DISCONNECTED"}
    assert lost, "the calls that died with the node were ended by reconciliation"
    assert lost <= {leg.call_uuid for leg in b_live_legs}
    assert p.dialer.legs == {}
    assert p.switch.tracked == 0
    await app.stop()
