"""The input consumer: control, dnc and leads topics → typed engine commands.

Per message: decode JSON, validate with pydantic, convert, apply to the engine. A message
that fails any step becomes one DLQ record with the reason and the original bytes, and the
partition goes on. Offsets are committed only past messages the engine has taken (applied,
or dead-lettered with the DLQ write acknowledged), never before.

Kafka orders a partition, not topics: a lead (leads topic) may arrive before the upsert of
its campaign (control topic) even when the producer sent them the other way round. Such a
lead, or a DNC entry for such a campaign, is parked for up to ``park_seconds`` and applied
as soon as the campaign appears; only then is it dead-lettered as an unknown campaign.
While a message is parked, its partition's committed offset stays before it, so a crash
redelivers it (the messages after it are re-applied too: every command is idempotent).
For the same reason a partition's leads wait for the do-not-call entries written to the
partition before them (consumers/order.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import orjson
from pydantic import BaseModel, ValidationError

from consumers import convert, keys
from consumers.dlq import dlq_record as dlq_record  # re-exported (webhooks, tests)
from consumers.dlq import error_code as error_code
from consumers.order import DncBeforeLeads
from engine.commands import AddLead, Command, DeleteCampaign, Dnc, UpsertCampaign
from engine.errors import DialerError, UnknownCampaign
from engine.ports import Bus, BusMessage, Rebalance, Subscription, Topics
from proto import messages as m
from proto.compat import UnknownFields, unknown_fields

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1_000_000
MAX_PARKED = 100_000
BATCH = 2_000  # input messages taken per sync with the global tables
SLICE = 500  # messages taken between two yields to the event loop


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _validation_reason(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "(root)"
        parts.append(f"{where}: {e['msg']}")
    return "schema: " + "; ".join(parts)


def decode(
    topics: Topics, msg: BusMessage, templates: convert.Templates | None = None,
    unknown: UnknownFields | None = None,
) -> Command | None:
    """Bytes of one input message → a command, or ``Rejected`` with the reason. A tombstone
    (null value) → the delete it means, or None when it means nothing to apply.

    Fields the input models do not know are ignored (forward compatibility) and, when
    ``unknown`` is given, counted there."""
    if msg.value is None:
        return tombstone(topics, msg)
    if len(msg.value) > MAX_MESSAGE_BYTES:
        raise Rejected(f"oversized: {len(msg.value)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        raw = orjson.loads(msg.value)
    except orjson.JSONDecodeError as err:
        raise Rejected(f"malformed JSON: {err}") from err
    model: BaseModel
    try:
        if msg.topic == topics.leads:
            model = m.LeadImport.model_validate(raw)
        elif msg.topic == topics.dnc:
            model = m.DncEntry.model_validate(raw)
        elif msg.topic == topics.control:
            model = m.CONTROL.validate_python(raw)
        else:
            raise Rejected(f"not an input topic: {msg.topic}")
    except ValidationError as err:
        raise Rejected(_validation_reason(err)) from err
    if unknown is not None:
        _note_unknown(unknown, msg, unknown_fields(model, raw))
    if isinstance(model, m.LeadImport):
        return convert.lead_command(model)
    if isinstance(model, m.DncEntry):
        return convert.dnc(model)
    return convert.control(model, templates)


def _note_unknown(unknown: UnknownFields, msg: BusMessage, paths: list[str]) -> None:
    for name in unknown.add(msg.topic, paths):
        log.info("input carries a field this version ignores: %s", name[:200],
                 extra={"campaign": (msg.key or b"").decode("utf-8", "replace")[:128]})


def tombstone(topics: Topics, msg: BusMessage) -> Command | None:
    """The delete a tombstone on a table topic means (consumers/keys.py): the campaign key
    → ``DeleteCampaign`` (same rules as the command), a DNC entry's key → its removal. A
    tombstone of any other key (a status, an active flag, a lead) carries nothing."""
    key = (msg.key or b"").decode("utf-8", "replace")
    if msg.topic == topics.control:
        deleted = keys.control_tombstone(key)
        return None if deleted is None else DeleteCampaign(deleted.campaign_uuid)
    if msg.topic == topics.dnc:
        deleted = keys.dnc_tombstone(key)
        if deleted is None:
            return None
        if deleted.phone:
            return Dnc(add=False, campaign_uuid="", phone_numbers=(deleted.phone,))
        return Dnc(add=False, campaign_uuid=deleted.campaign_uuid,
                   customer_ids=(deleted.customer_id,))
    return None


@dataclass(frozen=True, slots=True)
class _Parked:
    msg: BusMessage
    command: AddLead | Dnc
    since: float


class InputConsumer:
    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        apply: Callable[[Command], None],
        *,
        group: str = "dialer-engine",
        park_seconds: float = 30.0,
        templates: convert.Templates | None = None,
        tables_elsewhere: bool = False,
        listener: Rebalance | None = None,
        commit: Callable[[Sequence[BusMessage]], Awaitable[None]] | None = None,
        settle: Callable[[], None] = lambda: None,
        partition_of: Callable[[str], int] | None = None,
        before_close: Callable[[], Awaitable[None]] | None = None,
        sync: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Durable mode (the engine on Kafka): ``listener`` restores and hands over
        partitions, ``settle`` makes the engine hand its state changes to the durability
        layer, and ``commit`` puts the offsets into that layer's next transaction, after
        the state they produced. ``partition_of`` says where a campaign's leads must
        arrive (one engine owns a campaign); ``before_close`` runs while this member is
        still in the group."""
        self._bus = bus
        self._listener = listener
        self._commit = commit
        self._settle = settle
        self._partition_of = partition_of
        self._before_close = before_close
        self._sync = sync  # the global tables catch up before a batch is taken
        self._topics = topics
        self._apply = apply
        self._group = group
        self._park_seconds = park_seconds
        self._templates = templates
        # With GlobalTables running, control and global DNC entries are applied there;
        # this consumer still validates them, so bad ones are dead-lettered exactly once.
        self._tables_elsewhere = tables_elsewhere
        self._appeared: set[str] = set()
        self._sub: Subscription | None = None
        self._stopping = asyncio.Event()
        self._parked: dict[str, list[_Parked]] = defaultdict(list)
        self._next: dict[tuple[str, int], int] = {}  # partition → offset after the last taken
        self._order = DncBeforeLeads(topics)  # a lead waits for the DNC entries before it
        self.taken = 0
        self.rejected = 0
        # Messages that carried fields this version ignores, per topic (and which fields).
        self.unknown_fields = UnknownFields()

    def rejoin(self) -> None:
        """Ask the group to rebalance (where the bus can: Kafka)."""
        rejoin = getattr(self._sub, "rejoin", None)
        if rejoin is not None:
            rejoin()

    def assignment(self) -> frozenset[tuple[str, int]]:
        """Partitions this engine instance owns now (so the campaigns keyed onto them)."""
        return self._sub.assignment() if self._sub is not None else frozenset()

    @property
    def parked(self) -> int:
        return sum(len(v) for v in self._parked.values())

    async def run(self) -> None:
        self._sub = await self._bus.subscribe(self._topics.inputs, self._group, self._listener)
        commit = self._commit or self._sub.commit
        try:
            while not self._stopping.is_set():
                batch = await self._sub.fetch(max_wait=0.5)
                # More of what is already fetched, up to BATCH: one sync and one step
                # (settle, commit) then cover all of it; the sync is a broker round trip.
                while batch and len(batch) < BATCH:
                    more = await self._sub.fetch(max_wait=0)
                    if not more:
                        break
                    batch.extend(more)
                await self._order.note(self._sub, batch)
                if batch and self._sync is not None:
                    await self._sync()
                owned = self._sub.assignment()
                self._forget_lost_partitions(owned)
                await self._release_appeared()
                dnc, rest = self._order.dnc_first(batch)
                owned = await self._take_owned(dnc, owned, hold=False)
                released = await self._order.settle(self._sub)
                owned = self._sub.assignment()  # settle asked the broker: a rebalance may
                self._forget_lost_partitions(owned)  # have completed meanwhile
                owned = await self._take_owned(released, owned, hold=False)
                await self._take_owned(rest, owned, hold=True)
                await self._expire_parked()
                if batch or released or self._parked:
                    self._settle()
                    await commit(self._commit_marks())
        finally:
            if self._before_close is not None:
                await self._before_close()
            await self._sub.close()

    async def _take_owned(self, msgs: Sequence[BusMessage],
                          owned: frozenset[tuple[str, int]],
                          *, hold: bool) -> frozenset[tuple[str, int]]:
        """Take ``msgs`` in order, except those of partitions no longer ``owned`` (their
        new owner reads them again) and, with ``hold``, the leads that wait for their
        partition's do-not-call records. Yields to the event loop every SLICE messages:
        taking a lead is tens of µs, a whole batch would hold the loop (call events, the
        flushers) too long; a rebalance may complete meanwhile, so ownership is read
        again after each yield. Returns what is owned now."""
        for i, msg in enumerate(msgs, 1):
            if (msg.topic, msg.partition) in owned and not (hold and self._order.hold(msg)):
                await self._take_next(msg)
            if i % SLICE == 0:
                await asyncio.sleep(0)
                owned = self._sub.assignment() if self._sub is not None else owned
                self._forget_lost_partitions(owned)
        return owned

    async def _take_next(self, msg: BusMessage) -> None:
        await self._take(msg)
        self._next[(msg.topic, msg.partition)] = msg.offset + 1

    async def _take(self, msg: BusMessage) -> None:
        try:
            command = decode(self._topics, msg, self._templates, self.unknown_fields)
        except Rejected as err:
            await self._dead_letter(msg, err.reason)
            return
        if command is None:
            return  # a tombstone with nothing to apply
        if self._tables_elsewhere and (
            msg.topic == self._topics.control
            or (isinstance(command, Dnc) and not command.campaign_uuid)
        ):
            return  # a global table's: GlobalTables applies it in every instance
        campaign = (command.lead.campaign_uuid if isinstance(command, AddLead)
                    else command.campaign_uuid if isinstance(command, Dnc) else "")
        if campaign and self._partition_of is not None:
            home = self._partition_of(campaign)
            if home != msg.partition:
                # Another engine may own the campaign: applying this here could dial it
                # from two engines at once. Upstream must key leads by campaign_uuid and
                # write DNC entries to the campaign's partition (README, Topics).
                await self._dead_letter(msg, f"misrouted: campaign {campaign} lives in "
                                             f"partition {home}; key leads by campaign_uuid, "
                                             "write DNC entries to that partition")
                return
        await self._apply_or_park(msg, command)
        if isinstance(command, UpsertCampaign):
            await self._release(command.campaign.campaign_uuid)

    def campaign_appeared(self, campaign_uuid: str) -> None:
        """A campaign was created elsewhere (the control table reader): its parked leads
        are applied on this consumer's next turn."""
        self._appeared.add(campaign_uuid)

    async def _release_appeared(self) -> None:
        appeared, self._appeared = self._appeared, set()
        for campaign_uuid in appeared:
            await self._release(campaign_uuid)

    async def _release(self, campaign_uuid: str) -> None:
        for parked in self._parked.pop(campaign_uuid, []):
            await self._apply_or_park(parked.msg, parked.command, may_park=False)

    async def _apply_or_park(self, msg: BusMessage, command: Command, *,
                             may_park: bool = True) -> None:
        try:
            self._apply(command)
            self.taken += 1
        except UnknownCampaign as err:
            if may_park and isinstance(command, AddLead | Dnc) and self.parked < MAX_PARKED:
                campaign = (command.lead.campaign_uuid if isinstance(command, AddLead)
                            else command.campaign_uuid)
                now = asyncio.get_running_loop().time()
                self._parked[campaign].append(_Parked(msg, command, now))
            else:
                await self._dead_letter(msg, f"UnknownCampaign: {err}")
        except DialerError as err:
            await self._dead_letter(msg, f"{type(err).__name__}: {err}")

    def _forget_lost_partitions(self, owned: frozenset[tuple[str, int]]) -> None:
        """After a rebalance, partitions taken away are another member's: their parked
        messages and positions are dropped here (the new owner reads them again from the
        last committed offset, which never passed a parked message)."""
        for tp in [tp for tp in self._next if tp not in owned]:
            del self._next[tp]
        self._order.forget(owned)
        for campaign in list(self._parked):
            kept = [p for p in self._parked[campaign]
                    if (p.msg.topic, p.msg.partition) in owned]
            if kept:
                self._parked[campaign] = kept
            else:
                del self._parked[campaign]

    async def _expire_parked(self) -> None:
        cutoff = asyncio.get_running_loop().time() - self._park_seconds
        for campaign in list(self._parked):
            waiting = self._parked[campaign]
            while waiting and waiting[0].since <= cutoff:
                parked = waiting.pop(0)
                await self._dead_letter(
                    parked.msg,
                    f"UnknownCampaign: {campaign} (no such campaign after "
                    f"{self._park_seconds:g} s)",
                )
            if not waiting:
                del self._parked[campaign]

    def _commit_marks(self) -> list[BusMessage]:
        """One mark per partition: just before its oldest parked message, else after the
        last message taken (commit(m) means "everything up to m is taken")."""
        oldest: dict[tuple[str, int], int] = {}
        for waiting in self._parked.values():
            for p in waiting:
                tp = (p.msg.topic, p.msg.partition)
                oldest[tp] = min(oldest.get(tp, p.msg.offset), p.msg.offset)
        marks = []
        for tp, after in self._next.items():
            position = min(after, oldest.get(tp, after))
            if position > 0:
                marks.append(BusMessage(tp[0], tp[1], position - 1, None, b""))
        return marks

    async def _dead_letter(self, msg: BusMessage, reason: str) -> None:
        self.rejected += 1
        log.warning("input rejected topic=%s offset=%d reason=%s",
                    msg.topic, msg.offset, reason.split(":")[0])
        await self._bus.publish(self._topics.dlq, dlq_record(msg, reason), key=msg.key)

    def stop(self) -> None:
        self._stopping.set()


class GlobalTables:
    """Campaigns and the global do-not-call list are global tables: every engine instance
    reads the whole control topic and the global entries of the dnc topic from the
    beginning at start, with no group, and follows them. So every instance knows every
    campaign: when a rebalance hands it a partition, the campaigns keyed onto it are
    already there, and a restart rebuilds them. Leads and campaign-scoped DNC entries go
    through the group consumer, which dials only what its partitions carry.

    ``ready`` is set once both topics have been read to their end; the engine takes no
    lead before it (it must never dial a number whose DNC entry it has not read yet).

    Both topics are compacted tables keyed per fact (consumers/keys.py): a restart reads
    the latest record of every key, so the campaign's spec and its later status both
    survive. A tombstone of a campaign key is applied as its delete, of a global number's
    key as its removal; the others carry nothing.
    """

    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        apply: Callable[[Command], None],
        *,
        templates: convert.Templates | None = None,
        on_campaign: Callable[[str], None] = lambda _c: None,
    ) -> None:
        self._bus = bus
        self._topics = topics
        self._apply = apply
        self._templates = templates
        self.on_campaign = on_campaign
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.applied = 0
        self._reader: Subscription | None = None
        self._progress = asyncio.Event()  # set after every fetch the reader has applied

    async def run(self) -> None:
        reader = self._reader = await self._bus.read(
            [self._topics.control, self._topics.dnc], {})
        try:
            while not self._stopping.is_set():
                batch = await reader.fetch(max_wait=0.3)
                for msg in batch:
                    self._take(msg)
                self._progress.set()
                # Caught up means the end offsets are reached, not a fetch that came back
                # empty (a slow broker answers empty long before the end).
                if not self.ready.is_set() and not batch and await reader.lag() == 0:
                    self.ready.set()
        finally:
            self._reader = None
            await reader.close()

    async def sync(self, patience: float = 30.0) -> None:
        """Return once everything written to the tables before this call is applied.

        Kafka orders a partition, not topics: a lead fetched by the group consumer may
        overtake a global do-not-call entry (or its campaign's upsert) that its producer
        had acknowledged before sending the lead. The input consumer calls this before it
        takes a batch, so the lead is checked against every entry written before it."""
        reader = self._reader
        if reader is None:
            return
        target = await reader.ends()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while await reader.behind(target) > 0:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("global tables still behind after %.0f s; taking the batch",
                            patience)
                return

    def _take(self, msg: BusMessage) -> None:
        try:
            command = decode(self._topics, msg, self._templates)
        except Rejected:
            return  # the group consumer dead-letters it, once
        if command is None:
            return  # a tombstone of a status/active/delete key: nothing to undo
        if isinstance(command, Dnc) and command.campaign_uuid:
            return  # campaign-scoped: the group consumer's
        try:
            self._apply(command)
            self.applied += 1
        except UnknownCampaign:
            if msg.value is not None:
                log.warning("control %s at offset %d not applied: UnknownCampaign",
                            msg.topic, msg.offset)
            # A tombstone of a campaign already deleted (by its delete command): the
            # normal case, nothing to say.
            return
        except DialerError as err:
            # The engine refused a valid command (a delete of an active campaign, a status
            # for a campaign deleted since): every instance refuses it alike; it is logged
            # and the table moves on.
            log.warning("control %s at offset %d not applied: %s", msg.topic, msg.offset,
                     type(err).__name__)
            return
        if isinstance(command, UpsertCampaign):
            self.on_campaign(command.campaign.campaign_uuid)

    def stop(self) -> None:
        self._stopping.set()
