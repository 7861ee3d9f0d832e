"""A lead never overtakes its campaign's do-not-call entry (issue 10: 0 calls to a customer
on a do-not-call list).

Kafka orders a partition, not topics: the group consumer may return a partition's leads
before the same partition's dnc records, although the upstream acknowledged the DNC
entry before it sent the lead. The full-size chaos run (20,000 leads, engines joining one
after the other) dialled 11 listed customers that way. Here the entry and then a large
backlog of leads are on the broker before the engine starts, so its first fetches see
both topics at once."""

from __future__ import annotations

import asyncio

from adapters.fssim import Scenario
from adapters.kafka import KafkaBus
from dialer.app import EngineApp
from dialer.settings import FsNode, Settings
from engine.lead import TERMINAL
from engine.ports import Topics
from engine.scheduler import REASON_DNC_CUSTOMER
from proto import messages as m
from tests.e2e.harness import campaign, phone, publish_control, publish_dnc, wait_until

FAST = Scenario(speed=400.0, ring_time=(1.0, 2.0), talk_time=(1.0, 2.0), seed=8)
LEADS = 2000
LISTED_EVERY = 40  # customers 0, 40, 80, … are on the campaign's list


async def test_a_lead_is_never_dialled_before_its_campaigns_dnc_entry(
    kafka_bootstrap: str, kafka_topic_prefix: str, kafka: tuple[KafkaBus, Topics],
) -> None:
    bus, topics = kafka
    cid = "dnc-order"
    listed = {f"cust-{i}" for i in range(0, LEADS, LISTED_EVERY)}
    await publish_control(bus, topics, m.UpsertCampaign(
        campaign=campaign(cid, concurrent_call=200)))
    await publish_dnc(bus, topics, m.DncEntry(campaign_uuid=cid, customer_ids=sorted(listed)))
    await asyncio.gather(*(
        bus.publish(topics.leads, m.dumps(m.LeadImport(
            campaign_uuid=cid, lead_uuid=f"lead-{i}", phone_number=phone(i),
            customer_id=f"cust-{i}", param={"ten": "Khách"})), key=cid.encode())
        for i in range(LEADS)))

    app = EngineApp(Settings(bus="kafka", kafka_bootstrap=kafka_bootstrap,
                             topic_prefix=kafka_topic_prefix, instance="dnc-order",
                             fs_nodes=[FsNode(cps=1000, max_sessions=1000)]),
                    scenario=FAST)
    await app.start()
    try:
        dialer = app.parts.dialer
        await wait_until(lambda: len(dialer.leads) == LEADS and all(
            lead.state in TERMINAL for lead in dialer.leads.values()), 90)
        by_customer = {lead.input.customer_id: lead for lead in dialer.leads.values()}
        dialled = sorted(c for c in listed if by_customer[c].attempts)
        print(f"\nlisted customers: {len(listed)}, dialled: {len(dialled)}")
        assert dialled == []
        assert {by_customer[c].reason for c in listed} == {REASON_DNC_CUSTOMER}
        assert sum(1 for lead in dialer.leads.values() if lead.attempts) == LEADS - len(listed)
    finally:
        await app.stop()
