"""What the handlers need, injected once into the application."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.sqlite.stamps import REPORT_ZONE
from consumers.reports import CampaignView, ReportAggregator
from consumers.reports.view import publish
from engine.ports import Bus, Topics

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
