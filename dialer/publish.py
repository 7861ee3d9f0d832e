"""``dialer publish``: leads, DNC entries or control commands from a file to the topics.

Input: JSON lines (one object per line; ``.jsonl``/``.ndjson``/``.json``) or CSV with a header
row (``.csv``). CSV columns name the message's fields; a dotted column builds a nested object
(``param.ten``, ``campaign.concurrent_call``); list fields (``phones``, ``customer_ids``,
``phone_numbers``) take ``|``-separated values; an empty cell leaves the field at its default.

Every row is validated with the wire contracts the engine itself applies (proto/messages.py:
``LeadImport``, ``DncEntry``, the control union), so what the engine would dead-letter is
refused here: an invalid row is reported with its line number and the reason, and is not
sent. Valid rows are sent with the keys and partitions the engine relies on (README,
Topics; consumers/keys.py): leads keyed by campaign id; control commands under their own
key in their campaign's partition, one after another (their order is their meaning), a
delete followed by its tombstones; DNC rows one record per customer or number. Leads and
DNC entries go in bounded concurrent waves. ``--dry-run`` validates and sends to an
in-memory bus instead.
Exit status: 0 when every row was sent, 1 when some row was invalid, 2 when nothing could
be read.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson
from pydantic import BaseModel, ValidationError

from adapters.memory_bus import MemoryBus
from consumers import keys
from dialer.app import EngineApp
from dialer.settings import Settings
from engine.ports import Bus, Topics
from proto import messages as m

KINDS = ("leads", "dnc", "control")
LIST_FIELDS = frozenset({"phones", "customer_ids", "phone_numbers"})
WAVE = 500  # concurrent sends of leads / DNC entries
REPORT_EVERY_S = 1.0
MAX_ERRORS_SHOWN = 50


@dataclass(slots=True)
class Outcome:
    sent: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    unreadable: str = ""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS, help="what the file holds")
    p.add_argument("file", type=Path, help="CSV with a header row, or JSON lines ('-': stdin)")
    p.add_argument("--format", choices=("csv", "jsonl"), default=None,
                   help="default: from the file name (.csv, else JSON lines)")
    p.add_argument("--kafka", default="", metavar="BOOTSTRAP",
                   help="Kafka bootstrap (default DIALER_KAFKA_BOOTSTRAP when DIALER_BUS=kafka)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and send to an in-memory bus, not to Kafka")


# ---- reading --------------------------------------------------------------------------
def _nest(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column, cell in row.items():
        if column is None or cell is None or cell == "":
            continue
        *path, last = column.strip().split(".")
        target = out
        for part in path:
            nested = target.setdefault(part, {})
            if not isinstance(nested, dict):
                raise ValueError(f"column {column!r} nests under a plain value")
            target = nested
        target[last] = [v for v in cell.split("|") if v] if last in LIST_FIELDS else cell
    return out


def rows(text: TextIO, fmt: str) -> Iterator[tuple[int, Any]]:
    """(line number, raw object or the reason it is unreadable as a string wrapped in an
    exception) for every non-empty row."""
    if fmt == "csv":
        reader = csv.DictReader(text)
        for row in reader:
            try:
                yield reader.line_num, _nest(row)
            except ValueError as err:
                yield reader.line_num, err
        return
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as err:
            yield number, ValueError(f"malformed JSON: {err}")


# ---- validating ----------------------------------------------------------------------
def validate(kind: str, raw: Any) -> tuple[BaseModel, str]:
    """The message and its key (campaign id); ValueError with a reason when invalid."""
    if isinstance(raw, Exception):
        raise ValueError(str(raw))
    try:
        if kind == "leads":
            lead = m.LeadImport.model_validate(raw)
            return lead, lead.campaign_uuid
        if kind == "dnc":
            entry = m.DncEntry.model_validate(raw)
            return entry, entry.campaign_uuid
        command = m.CONTROL.validate_python(raw)
    except ValidationError as err:
        raise ValueError(_reason(err)) from err
    key = (command.campaign.campaign_uuid if isinstance(command, m.UpsertCampaign)
           else command.campaign_uuid)
    return command, key


def _reason(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "(row)"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def records(message: BaseModel, key: str,
            partitions: int) -> list[tuple[bytes | None, str, int | None]]:
    """The records a valid row becomes on its topic (keys and partitions: consumers/keys)."""
    if isinstance(message, m.DncEntry):
        return [(m.dumps(r.entry), r.key,
                 keys.partition_for(r.campaign_uuid, partitions) if r.campaign_uuid else None)
                for r in keys.split_dnc(message)]
    if isinstance(message, m.LeadImport):
        return [(m.dumps(message), key, None)]
    command: m.ControlCommand = message  # type: ignore[assignment]
    partition = keys.partition_for(key, partitions)
    out: list[tuple[bytes | None, str, int | None]] = [
        (m.dumps(message), keys.control_key(command), partition)]
    if isinstance(command, m.DeleteCampaign):
        out += [(None, k, partition) for k in keys.deletion_tombstones(key)]
    return out


# ---- sending -------------------------------------------------------------------------
class Publisher:
    def __init__(self, bus: Bus, topic: str, *, ordered: bool, out: TextIO) -> None:
        self._bus = bus
        self._topic = topic
        self._ordered = ordered
        self._wave: list[tuple[bytes | None, bytes, int | None]] = []
        self._rows = 0
        self._out = out
        self._started = time.monotonic()
        self._shown = 0.0
        self.outcome = Outcome()

    async def add(self, records: list[tuple[bytes | None, str, int | None]]) -> None:
        """One row's records: (value or None for a tombstone, key, partition or None)."""
        self._wave.extend((v, k.encode(), p) for v, k, p in records)
        self._rows += 1
        if self._ordered or len(self._wave) >= WAVE:
            await self.flush()

    async def flush(self) -> None:
        wave, self._wave = self._wave, []
        rows, self._rows = self._rows, 0
        if self._ordered:
            for value, key, partition in wave:
                await self._bus.publish(self._topic, value, key=key, partition=partition)
        else:
            await asyncio.gather(*(self._bus.publish(self._topic, v, key=k, partition=p)
                                   for v, k, p in wave))
        self.outcome.sent += rows
        self.progress()

    def progress(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._shown < REPORT_EVERY_S:
            return
        self._shown = now
        o, elapsed = self.outcome, max(now - self._started, 1e-9)
        self._out.write(f"sent {o.sent} to {self._topic} ({o.sent / elapsed:.0f}/s), "
                        f"{len(o.invalid)} invalid\n")
        self._out.flush()


async def publish_file(kind: str, text: TextIO, fmt: str, bus: Bus, topics: Topics,
                       out: TextIO) -> Outcome:
    topic = {"leads": topics.leads, "dnc": topics.dnc, "control": topics.control}[kind]
    pub = Publisher(bus, topic, ordered=kind == "control", out=out)
    for number, raw in rows(text, fmt):
        try:
            message, key = validate(kind, raw)
        except ValueError as err:
            pub.outcome.invalid.append((number, str(err)))
            if len(pub.outcome.invalid) <= MAX_ERRORS_SHOWN:
                out.write(f"line {number}: invalid, not sent: {err}\n")
            continue
        await pub.add(records(message, key, topics.partitions))
    await pub.flush()
    pub.progress(final=True)
    return pub.outcome


async def main(args: argparse.Namespace, settings: Settings) -> int:
    fmt = args.format or ("csv" if str(args.file).lower().endswith(".csv") else "jsonl")
    topics = Topics(settings.topic_prefix, settings.kafka_partitions)
    bootstrap = args.kafka or (settings.kafka_bootstrap if settings.bus == "kafka" else "")
    bus: Bus
    if args.dry_run or not bootstrap:
        bus = MemoryBus()
        print("dry run: validating and sending to an in-memory bus (give --kafka BOOTSTRAP "
              "or DIALER_BUS=kafka to publish)", file=sys.stderr)
    else:
        # The engine's own bus: same security options, tables created compacted and checked.
        bus = EngineApp(settings.model_copy(update={
            "bus": "kafka", "kafka_bootstrap": bootstrap,
            "instance": f"{settings.instance}-publish"})).make_bus()
    try:
        handle = (sys.stdin if str(args.file) == "-"
                  else args.file.open(encoding="utf-8-sig", newline=""))
    except OSError as err:
        print(f"{args.file}: {err.strerror}", file=sys.stderr)
        return 2
    await bus.start()
    try:
        with handle:
            outcome = await publish_file(args.kind, handle, fmt, bus, topics, sys.stderr)
    finally:
        await bus.close()
    invalid = len(outcome.invalid)
    print(f"{outcome.sent} {args.kind} row(s) sent, {invalid} invalid row(s) not sent"
          + (f" (first {MAX_ERRORS_SHOWN} listed)" if invalid > MAX_ERRORS_SHOWN else ""))
    return 1 if invalid else 0
