"""What the handlers need, injected once into the application."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.sqlite.stamps import REPORT_ZONE
from consumers.keys import partition_for, split_dnc
from consumers.reports import CampaignView, ReportAggregator
from consumers.reports.view import publish
from engine.ports import Bus, Topics
from proto import messages as m

PUBLISH_CONCURRENCY = 256

# In embedded mode the engine answers "why is this lead not dialed?" live.
Explain = Callable[[str], Mapping[str, Any] | None]


def now_local() -> datetime:
    return datetime.now(REPORT_ZONE)


@dataclass(frozen=True)
class Deps:
    bus: Bus
    topics: Topics
    campaigns: CampaignView
    reports: ReportAggregator
    explain: Explain | None = None
    now: Callable[[], datetime] = field(default=now_local)
    domain_uuid: str = ""

    def stamp(self) -> str:
        """created_at/updated_at as the seeds write them: ISO 8601 in +07:00."""
        return self.now().astimezone(REPORT_ZONE).isoformat()

    async def publish(self, topic: str, value: bytes, key: str) -> None:
        await publish(self.bus, topic, value, key.encode())

    async def publish_dnc(self, entry: m.DncEntry) -> None:
        """One record per customer or number under its own key (consumers/keys.py), so
        compaction keeps every entry; a campaign's entries go to the campaign's partition."""
        records = split_dnc(entry)
        for i in range(0, len(records), PUBLISH_CONCURRENCY):
            await asyncio.gather(*(
                publish(self.bus, self.topics.dnc, m.dumps(r.entry), r.key.encode(),
                        partition_for(r.campaign_uuid, self.topics.partitions)
                        if r.campaign_uuid else None)
                for r in records[i : i + PUBLISH_CONCURRENCY]
            ))
