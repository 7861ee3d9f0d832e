"""The campaign registry every API-facing process keeps: a view of the control topic.

Design (the full argument is in ``adapters.sqlite.campaigns``): the control topic is the
truth; this view materialises it in SQLite with its offsets in the same transaction; the
gateway publishes control commands through ``submit``, which records the command as
pending before the publish, so this process reads its own writes at once and never sees
them go back in time when the consumed copies arrive.

``writing()`` is the lock a caller holds across "check the view, then submit" (name
uniqueness, "campaign must be deactive"), so two requests in this process cannot both pass
a check that only one of them may pass. Across gateway replicas the check is best effort
(there is no cross-process lock; the engine stays consistent because it applies the topic
in order).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from adapters.sqlite.campaigns import SCHEMA, CampaignStore, Spec, command_campaign
from adapters.sqlite.campaigns import sort_newest_first as _newest_first
from adapters.sqlite.db import SqliteDb
from consumers.keys import control_key, deletion_tombstones, partition_for
from consumers.reports.view import ViewRunner, publish
from engine.ports import Bus, Topics
from proto import messages as m

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """Where a campaign's CDRs go (seed 001 callback_url) and in which body format."""

    url: str
    format: str  # "seed" | "vbot"
    hotline: str = ""
    campaign_id: int = 0  # the numeric id (seed 003 webhook campaign_id); 0 = none


def _spec(raw: Spec) -> m.CampaignSpec | None:
    try:
        return m.CampaignSpec.model_validate(raw)
    except ValidationError:
        # Written by this code from a validated model; only a model change could break
        # it. Hide the row rather than fail every read.
        log.error("stored campaign %s no longer validates", raw.get("campaign_uuid"))
        return None


class CampaignView:
    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        db_path: str | Path,
        *,
        poll_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._topics = topics
        self._store = CampaignStore(topics.control, clock=clock)
        self._db = SqliteDb(db_path, SCHEMA)
        self._runner = ViewRunner(
            "campaigns", bus, (topics.control,), self._db, self._store, poll_s=poll_s
        )
        self._write_lock = asyncio.Lock()

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        await self._db.open()
        self._runner.start()

    @property
    def healthy(self) -> bool:
        return self._runner.healthy

    async def stop(self) -> None:
        await self._runner.stop()
        await self._db.close()

    @property
    def ready(self) -> asyncio.Event:
        """Set once the view has read the control topic to its end (after a start)."""
        return self._runner.ready

    async def settled(self) -> None:
        await self._runner.settled()

    # ---- writes ------------------------------------------------------------------------
    def writing(self) -> asyncio.Lock:
        return self._write_lock

    async def submit(self, cmd: m.ControlCommand) -> None:
        """Publish one control command; this view shows it from now on."""
        payload = m.dumps(cmd)
        uuid = command_campaign(cmd)
        seq = await self._db.write(
            lambda conn: self._store.add_pending(conn, uuid, payload)
        )
        try:
            await self._publish(payload, control_key(cmd), uuid)
            if isinstance(cmd, m.DeleteCampaign):
                # Compaction keeps the latest record per key: without these tombstones
                # the campaign's spec would stay on the topic forever.
                for key in deletion_tombstones(uuid):
                    await self._publish(None, key, uuid)
        except BaseException:
            await asyncio.shield(
                self._db.write(functools.partial(_drop_pending, seq))
            )
            raise

    async def _publish(self, payload: bytes | None, key: str, campaign_uuid: str) -> None:
        await publish(self._bus, self._topics.control, payload, key.encode(),
                      partition_for(campaign_uuid, self._topics.partitions))

    # ---- reads -------------------------------------------------------------------------
    async def get(self, campaign_uuid: str) -> m.CampaignSpec | None:
        raw = await self._db.read(lambda conn: self._store.get(conn, campaign_uuid))
        return None if raw is None else _spec(raw)

    async def all(self) -> list[m.CampaignSpec]:
        """Every campaign, newest first."""
        specs = await self._db.read(self._store.all)
        return [s for s in (_spec(raw) for raw in _newest_first(specs)) if s is not None]

    async def by_name(self, name: str) -> m.CampaignSpec | None:
        for spec in await self.all():
            if spec.campaign_name == name:
                return spec
        return None

    async def by_number(self, campaign_id: int) -> m.CampaignSpec | None:
        """The campaign with this numeric id (``campaign_id``; 0 names none)."""
        if campaign_id <= 0:
            return None
        for spec in await self.all():
            if spec.campaign_id == campaign_id:
                return spec
        return None

    async def next_number(self) -> int:
        """One more than the highest numeric id in use. Call it under ``writing()`` and
        submit the campaign before the lock is released, or two creations share a number
        (two gateway replicas creating at the same instant still can: the ids are unique
        per gateway, and a clash shows as two campaigns answering one campaignId)."""
        return 1 + max((s.campaign_id for s in await self.all()), default=0)

    async def callback(self, campaign_uuid: str) -> CallbackTarget | None:
        spec = await self.get(campaign_uuid)
        if spec is None or not spec.callback_url:
            return None
        return CallbackTarget(spec.callback_url, spec.callback_format, spec.caller_id,
                              spec.campaign_id)


def _drop_pending(seq: int, conn: sqlite3.Connection) -> None:
    CampaignStore.drop_pending(conn, seq)
