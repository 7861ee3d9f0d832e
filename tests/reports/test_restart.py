"""The aggregator stopped mid-stream (twice) ends with the same view as one that never
stopped, on the real broker: offsets live in the view's transaction, so nothing is
applied twice or skipped."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.sqlite.reports import TimeRange
from adapters.sqlite.stamps import parse_filter
from consumers.reports import ReportAggregator
from engine.ports import Bus, Topics
from proto import messages as m
from tests.http.rig import kafka_bus, until
from tests.reports.test_store import BASE, STATUSES, cdr

pytestmark = pytest.mark.kafka

CAMPAIGNS = ["camp-a", "camp-b", "camp-c"]


def stream(rng: random.Random) -> list[tuple[str, Any, str]]:
    """(topic, record, key) in publish order: imports, then calls and lead events."""
    topics = Topics("")
    out: list[tuple[str, Any, str]] = []
    leads = [(f"L{i}", CAMPAIGNS[i % 3]) for i in range(300)]
    for lead, campaign in leads:
        out.append(("leads", m.LeadImport(
            campaign_uuid=campaign, lead_uuid=lead, phone_number="0901234567",
            list_uuid=f"list-{int(lead[1:]) % 2}", param={"n": lead},
            created_at=f"2023-03-07T09:{int(lead[1:]) % 60:02d}:00+07:00"), campaign))
    calls: dict[str, int] = {}
    for n in range(1200):
        lead, campaign = leads[rng.randrange(len(leads))]
        calls[lead] = calls.get(lead, 0) + 1
        record = cdr(n, campaign, f"list-{int(lead[1:]) % 2}", rng.choice(STATUSES),
                     BASE + rng.randrange(3 * 86_400), rng.randrange(120), lead=lead,
                     called=calls[lead])
        out.append(("cdr", record, campaign))
        if n % 25 == 0:  # the engine re-published a CDR
            out.append(("cdr", record, campaign))
        out.append(("lead-events", m.LeadEventRecord(
            lead_uuid=lead, campaign_uuid=campaign, state=rng.choice(["recall", "completed"]),
            previous="dialing", reason="", at=float(n), attempts=calls[lead],
            calls=calls[lead]), campaign))
    assert topics.prefix == ""
    return out


async def publish(bus: Bus, topics: Topics, items: list[tuple[str, Any, str]]) -> None:
    for i in range(0, len(items), 200):
        await asyncio.gather(*(
            bus.publish(topics.prefix + topic, m.dumps(record), key=key.encode())
            for topic, record, key in items[i : i + 200]))



async def view_of(agg: ReportAggregator) -> dict[str, Any]:
    windows = [TimeRange(), TimeRange(parse_filter("2023-03-07 10:30:00"),
                                      parse_filter("2023-03-08 17:45:10"))]
    counts = [await agg.counts(CAMPAIGNS, w, lst) for w in windows for lst in (None, "list-1")]
    pages = [await agg.lead_page(c, TimeRange(), None, 1000, 0) for c in CAMPAIGNS]
    return {"counts": counts, "pages": pages, "offsets": await agg.offsets()}


async def test_restarted_mid_stream_equals_never_stopped(
    kafka_bootstrap: str, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    topics = Topics(kafka_topic_prefix)
    bus = kafka_bus(kafka_bootstrap, topics)
    await bus.start()
    items = stream(random.Random(7))
    thirds = [items[: len(items) // 3], items[len(items) // 3 : 2 * len(items) // 3],
              items[2 * len(items) // 3 :]]

    def aggregator(name: str) -> ReportAggregator:
        return ReportAggregator(bus, topics, tmp_path / f"{name}.db", poll_s=0.05)

    steady, restarted = aggregator("steady"), aggregator("restarted")
    await steady.start()
    await restarted.start()
    publishing = asyncio.create_task(publish(bus, topics, thirds[0]))
    await until(lambda: restarted.applied > 0)  # stopped while the stream flows
    await restarted.stop()
    await publishing
    await publish(bus, topics, thirds[1])  # published while it is down

    restarted = aggregator("restarted")
    await restarted.start()
    publishing = asyncio.create_task(publish(bus, topics, thirds[2]))
    await until(lambda: restarted.applied > 0)
    await restarted.stop()  # and once more, in the middle of catching up
    await publishing
    restarted = aggregator("restarted")
    await restarted.start()

    finished: list[Callable[[], Awaitable[None]]] = [steady.settled, restarted.settled]
    async with asyncio.timeout(60):
        await asyncio.gather(*(f() for f in finished))
    steady_view, restarted_view = await view_of(steady), await view_of(restarted)
    assert restarted_view == steady_view

    # And the view is right, not just equal: every distinct CDR counted once.
    distinct = {r.cdr_uuid for t, r, _ in items if t == "cdr"}
    total = sum(t.calls for per in steady_view["counts"][0].values() for t in per.values())
    assert total == len(distinct) == 1200
    assert sum(steady_view["offsets"].values()) == len(items)
    await steady.stop()
    await restarted.stop()
    await bus.close()
