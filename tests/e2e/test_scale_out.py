"""Scale-out on the real broker: two engine instances in one consumer group split the
campaigns' leads by partition (each lead dialed once, by one instance), while campaigns and
the global do-not-call list are global tables that every instance reads in full."""

from __future__ import annotations

from collections import Counter

from adapters.fssim import Scenario
from adapters.memory_bus import MemoryBus
from dialer.app import EngineApp
from dialer.settings import Settings
from engine.ports import Topics
from proto import messages as m
from tests.e2e.harness import (
    campaign,
    collect,
    create_campaign,
    phone,
    publish_control,
    publish_dnc,
    wait_until,
)

FAST = Scenario(speed=400.0, ring_time=(1.0, 3.0), talk_time=(3.0, 8.0), seed=4)
DNC_NUMBER = phone(999)


def lead_msg(cid: str, i: int) -> bytes:
    return m.dumps(m.LeadImport(campaign_uuid=cid, lead_uuid=f"{cid}-{i}",
                                phone_number=DNC_NUMBER if i == 0 else phone(i)))


async def test_two_engines_split_campaigns_and_share_the_global_tables(
    kafka_bootstrap: str, kafka_topic_prefix: str,
) -> None:
    """Campaigns exist before the second engine joins: after the rebalance each instance
    dials the leads of the partitions it owns, knowing their campaigns from the control
    table; every lead is dialed once, by one instance; the global DNC binds both."""

    def settings(instance: str) -> Settings:
        return Settings(bus="kafka", kafka_bootstrap=kafka_bootstrap, kafka_partitions=4,
                        topic_prefix=kafka_topic_prefix, instance=instance)

    first = EngineApp(settings("engine-0"), scenario=FAST)
    await first.start()
    p = first.parts
    await publish_dnc(p.bus, p.topics, m.DncEntry(phone_numbers=[DNC_NUMBER]))
    campaigns = [f"camp-{i}" for i in range(12)]
    for cid in campaigns:
        await publish_control(p.bus, p.topics, m.UpsertCampaign(
            campaign=campaign(cid, concurrent_call=3)))
    await wait_until(lambda: len(p.dialer.campaigns) == 12, 60)
    second = EngineApp(settings("engine-1"), scenario=FAST)
    await second.start()
    apps = (first, second)
    assert set(second.parts.dialer.campaigns) == set(campaigns), "control is a global table"
    assert DNC_NUMBER in second.parts.dialer.dnc_phones

    def split() -> bool:
        owned = [a.parts.inputs.assignment() for a in apps]
        return all(owned) and len(owned[0] | owned[1]) == 12 and not owned[0] & owned[1]

    await wait_until(split, 60)
    owned = [a.parts.inputs.assignment() for a in apps]
    for mine in owned:  # co-partitioned: partition i of every input topic together
        for topic in p.topics.inputs:
            assert {n for t, n in mine if t == topic} == {
                n for t, n in mine if t == p.topics.leads}
    for cid in campaigns:
        for i in range(6):
            await p.bus.publish(p.topics.leads, lead_msg(cid, i), key=cid.encode())
    cdrs = await collect(p.bus, p.topics.cdr, 12 * 5, seconds=90)
    per_lead = Counter(c["lead_uuid"] for c in cdrs)
    assert set(per_lead.values()) == {1}
    assert not any(lead.endswith("-0") for lead in per_lead), "a DNC number was dialed"
    dialed_by = [{lead.campaign_uuid for lead in a.parts.dialer.leads.values()} for a in apps]
    assert dialed_by[0].isdisjoint(dialed_by[1]), "each campaign's leads go to one instance"
    assert dialed_by[0] | dialed_by[1] == set(campaigns)
    assert all(dialed_by), "both instances dial"
    for app in apps:
        for lead in app.parts.dialer.leads.values():
            if lead.uuid.endswith("-0"):
                assert lead.state.value == "skipped"
    await second.stop()
    await first.stop()


async def test_campaigns_survive_an_engine_restart() -> None:
    """The control table is read again at start: a restarted engine knows its campaigns
    (their pause/start state included) and dials new leads for them."""
    bus = MemoryBus()
    app = EngineApp(Settings(bus="memory"), bus=bus, scenario=FAST)
    await app.start()
    await create_campaign(app, campaign("c-restart", status="pause"))
    topics = app.parts.topics
    await publish_control(bus, topics, m.SetCampaignStatus(
        campaign_uuid="c-restart", status="start"))
    await app.stop()
    again = EngineApp(Settings(bus="memory"), bus=bus, scenario=FAST)
    await again.start()
    spec = again.parts.dialer.campaigns["c-restart"].spec
    assert spec.status.value == "start"
    await bus.publish(topics.leads, lead_msg("c-restart", 1), key=b"c-restart")
    (cdr,) = await collect(bus, topics.cdr, 1, seconds=30)
    assert cdr["lead_uuid"] == "c-restart-1"
    await again.stop()


async def test_the_global_dnc_list_is_loaded_before_any_lead_is_taken() -> None:
    """A DNC entry published before the engine starts binds its very first lead."""
    bus = MemoryBus()
    await publish_dnc(bus, Topics(Settings().topic_prefix),
                      m.DncEntry(phone_numbers=[DNC_NUMBER]))
    app = EngineApp(Settings(bus="memory"), bus=bus, scenario=FAST)
    await app.start()
    assert DNC_NUMBER in app.parts.dialer.dnc_phones, "loaded during start()"
    await create_campaign(app, campaign("c-dnc"))
    await bus.publish(app.parts.topics.leads, lead_msg("c-dnc", 0), key=b"c-dnc")
    await bus.publish(app.parts.topics.leads, lead_msg("c-dnc", 1), key=b"c-dnc")
    (cdr,) = await collect(bus, app.parts.topics.cdr, 1, seconds=30)
    assert cdr["lead_uuid"] == "c-dnc-1"
    await wait_until(lambda: app.parts.dialer.leads["c-dnc-0"].state.value == "skipped")
    assert app.parts.simulator is not None
    assert app.parts.simulator.originate_count == 1
    await app.stop()
