"""The simulator's call log: one JSON line per channel create, answer, hangup and refusal.

It is the switch-side record of what dialers asked for, written so that a test can check
from outside what no dialer may be trusted to report about itself: how many channels of a
campaign were up at once, whether an origination uuid was created twice, which numbers were
called, and who ended each call. It holds destination numbers like a switch CDR does, so it
is a test artefact for simulated numbers, never an application log; it is off unless a path
is given (`dialer fssim --call-log PATH` or `DIALER_FSSIM_CALL_LOG`).

Record fields (absent values are empty strings):

    {"t": 1733000000.123456,        # wall clock, seconds (comparable across processes)
     "ev": "create" | "answer" | "hangup" | "refuse" | "reset",
     "uuid": "...", "number": "0901000001",
     "campaign": "...", "lead": "...", "attempt": "1", "partition": "3",
     "engine": "...",               # autocall_engine: the instance that originated it
     "live": 7,                     # channels of this campaign up after this event
     # hangup only:
     "cause": "NORMAL_CLEARING", "by": "far_end" | "timeout" | "race" | "api",
     # refuse only:
     "reason": "duplicate_uuid" | "admission"}

Invariants: lines are in the order the events happened (one event loop writes them), so
replaying creates and hangups in file order gives exact per-campaign live counts; a
"create" is followed by exactly one "hangup" for the same uuid unless the simulator crashed
first ("reset": every channel vanished without an event). Writes are batched per event-loop
iteration and flushed at its end, so a reader sees an event within one loop turn; when off,
the cost is one `is None` check.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import orjson

from adapters.fssim.channel import SimChannel

__all__ = ["CALL_LOG_ENV", "CallLog", "CallLogReader", "CallRecord", "live_peaks"]

CALL_LOG_ENV: Final = "DIALER_FSSIM_CALL_LOG"

# Channel variables the dialer sets on every originate (engine/script.py) plus the
# partition tag the durable engine adds; copied into every record.
_VARS: Final = (
    ("campaign", "autocall_campaign"),
    ("lead", "autocall_lead"),
    ("attempt", "autocall_attempt"),
    ("partition", "autocall_partition"),
    ("engine", "autocall_engine"),
)


def _who_hung_up(cause: str, disposition: str) -> str:
    """The far end (scenario), the originate timeout, a lost race, or an API command."""
    if disposition in ("recv_bye", "recv_refuse"):
        return "far_end"
    if cause == "LOSE_RACE":
        return "race"
    if disposition == "send_cancel" and cause == "NO_ANSWER":
        return "timeout"
    return "api"


class CallLog:
    """Appends records to a file; only the simulator's event loop may call it."""

    __slots__ = ("_file", "_flush_pending", "_lines", "_live")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file: IO[bytes] = Path(path).open("ab")  # noqa: SIM115 - closed by close()
        self._lines: list[bytes] = []
        self._flush_pending = False
        self._live: Counter[str] = Counter()

    def _write(self, record: dict[str, Any]) -> None:
        self._lines.append(orjson.dumps(record) + b"\n")
        if not self._flush_pending:
            self._flush_pending = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (a synchronous caller): write through
                self.flush()

    def flush(self) -> None:
        self._flush_pending = False
        if self._lines and not self._file.closed:
            self._file.write(b"".join(self._lines))
            self._file.flush()
        self._lines.clear()

    def close(self) -> None:
        self.flush()
        self._file.close()

    def _record(self, ev: str, chan: SimChannel, live: int) -> dict[str, Any]:
        variables = chan.variables
        record: dict[str, Any] = {"t": time.time(), "ev": ev, "uuid": chan.uuid,
                                  "number": chan.destination}
        for key, name in _VARS:
            record[key] = variables.get(name, "")
        record["live"] = live
        return record

    def created(self, chan: SimChannel) -> None:
        campaign = chan.variables.get("autocall_campaign", "")
        self._live[campaign] += 1
        self._write(self._record("create", chan, self._live[campaign]))

    def answered(self, chan: SimChannel) -> None:
        campaign = chan.variables.get("autocall_campaign", "")
        self._write(self._record("answer", chan, self._live[campaign]))

    def hungup(self, chan: SimChannel, cause: str, disposition: str) -> None:
        campaign = chan.variables.get("autocall_campaign", "")
        self._live[campaign] -= 1
        record = self._record("hangup", chan, self._live[campaign])
        record["cause"] = cause
        record["by"] = _who_hung_up(cause, disposition)
        self._write(record)

    def vanished(self) -> None:
        """The switch crashed: every channel is gone without an event ("reset")."""
        self._live.clear()
        self._write({"t": time.time(), "ev": "reset"})

    def refused(self, variables: dict[str, str], number: str, reason: str) -> None:
        record: dict[str, Any] = {"t": time.time(), "ev": "refuse",
                                  "uuid": variables.get("origination_uuid", ""),
                                  "number": number}
        for key, name in _VARS:
            record[key] = variables.get(name, "")
        record["reason"] = reason
        self._write(record)


@dataclass(frozen=True, slots=True)
class CallRecord:
    t: float
    ev: str
    uuid: str
    number: str
    campaign: str
    lead: str
    attempt: str
    partition: str
    engine: str
    live: int
    cause: str
    by: str
    reason: str

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CallRecord:
        def text(name: str) -> str:
            return str(raw.get(name, ""))

        return cls(t=float(raw["t"]), ev=text("ev"), uuid=text("uuid"),
                   number=text("number"),
                   campaign=text("campaign"), lead=text("lead"), attempt=text("attempt"),
                   partition=text("partition"), engine=text("engine"),
                   live=int(raw.get("live", 0)), cause=text("cause"), by=text("by"),
                   reason=text("reason"))


class CallLogReader:
    """Reads a call log while the simulator still writes it: each `poll()` returns the
    complete lines added since the last one (a half-written last line waits)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self.records: list[CallRecord] = []

    def poll(self) -> list[CallRecord]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        fresh = [CallRecord.from_json(orjson.loads(line))
                 for line in data[:end].splitlines() if line]
        self.records.extend(fresh)
        return fresh


def live_peaks(records: list[CallRecord], by: str = "campaign") -> dict[str, int]:
    """Per campaign (or per `by` field, e.g. "number"), the most channels up at once,
    replaying creates and hangups in file order."""
    live: Counter[str] = Counter()
    peaks: dict[str, int] = {}
    for rec in _channel_events(records):
        key = str(getattr(rec, by))
        if rec.ev == "reset":
            live.clear()
        elif rec.ev == "create":
            live[key] += 1
            peaks[key] = max(peaks.get(key, 0), live[key])
        else:
            live[key] -= 1
    return peaks


def _channel_events(records: list[CallRecord]) -> Iterator[CallRecord]:
    return (r for r in records if r.ev in ("create", "hangup", "reset"))
