"""The report aggregator: CDRs, lead events and lead imports → the SQLite report view.

It reads the cdr, lead-events and leads topics with ``Bus.read`` from the offsets stored
in its database and applies every batch with its offsets in one transaction
(``consumers.reports.view``), so the view is exactly-once across restarts. The leads input
topic is read too so a lead shows in the lead report (phone, params, list, created_at)
before the engine has called it.

Queries run on the reader connection (WAL: they never wait for ingestion).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.sqlite.db import SqliteDb
from adapters.sqlite.reports import SCHEMA, Counts, ReportStore, TimeRange
from consumers.reports.view import ViewRunner
from engine.ports import Bus, Topics


class ReportAggregator:
    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        db_path: str | Path,
        *,
        poll_s: float = 0.5,
    ) -> None:
        self._store = ReportStore(topics)
        self._db = SqliteDb(db_path, SCHEMA)
        self._runner = ViewRunner(
            "reports", bus, self._store.sources, self._db, self._store, poll_s=poll_s
        )

    async def start(self) -> None:
        await self._db.open()
        self._runner.start()

    @property
    def healthy(self) -> bool:
        return self._runner.healthy

    async def stop(self) -> None:
        await self._runner.stop()
        await self._db.close()

    async def settled(self) -> None:
        """Wait until everything published before this call is in the view."""
        await self._runner.settled()

    @property
    def applied(self) -> int:
        """Messages applied since start (one process lifetime)."""
        return self._runner.applied

    @property
    def rejected(self) -> int:
        return self._store.rejected

    # ---- queries -----------------------------------------------------------------------
    async def counts(
        self,
        campaigns: Sequence[str],
        window: TimeRange | None = None,
        list_uuid: str | None = None,
    ) -> Counts:
        """Per campaign, per CDR status: calls and summed duration/billsec/waitsec of the
        CDRs whose start falls in ``window``."""
        return await self._db.read(
            functools.partial(self._store.counts, campaigns=list(campaigns),
                              window=window or TimeRange(), list_uuid=list_uuid)
        )

    async def lead_page(
        self,
        campaign_uuid: str | None,
        window: TimeRange | None = None,
        list_uuid: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of leads, newest import first: ``[{"lead": …, "cdr": … | None}]`` and
        the total. With a time window, only leads whose latest call started in it."""
        return await self._db.read(
            functools.partial(self._store.lead_page, campaign_uuid=campaign_uuid,
                              window=window or TimeRange(), list_uuid=list_uuid,
                              limit=limit, offset=offset)
        )

    async def lead(self, lead_uuid: str) -> dict[str, Any] | None:
        """The lead's row: import fields, counters, and its last lead event's state."""
        return await self._db.read(functools.partial(ReportStore.lead, lead_uuid=lead_uuid))

    async def offsets(self) -> dict[tuple[str, int], int]:
        return await self._db.read(self._store.load_offsets)
