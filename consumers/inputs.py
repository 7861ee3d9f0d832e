"""The input consumer: control, dnc and leads topics → typed engine commands.

Per message: decode JSON, validate with pydantic, convert, apply to the engine. A message
that fails any step becomes one DLQ record with the reason and the original bytes, and the
partition goes on. Offsets are committed after the whole batch was taken by the engine
(applied, or dead-lettered with the DLQ write acknowledged), never before.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable

import orjson
from pydantic import ValidationError

from consumers import convert
from engine.commands import Command
from engine.errors import DialerError
from engine.ports import Bus, BusMessage, Subscription, Topics
from proto import messages as m

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1_000_000


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


def decode(topics: Topics, msg: BusMessage) -> Command:
    """Bytes of one input message → a command, or ``Rejected`` with the reason."""
    if len(msg.value) > MAX_MESSAGE_BYTES:
        raise Rejected(f"oversized: {len(msg.value)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        raw = orjson.loads(msg.value)
    except orjson.JSONDecodeError as err:
        raise Rejected(f"malformed JSON: {err}") from err
    try:
        if msg.topic == topics.leads:
            return convert.lead_command(m.LeadImport.model_validate(raw))
        if msg.topic == topics.dnc:
            return convert.dnc(m.DncEntry.model_validate(raw))
        if msg.topic == topics.control:
            return convert.control(m.CONTROL.validate_python(raw))
    except ValidationError as err:
        raise Rejected(_validation_reason(err)) from err
    raise Rejected(f"not an input topic: {msg.topic}")


def dlq_record(msg: BusMessage, reason: str) -> bytes:
    try:
        value, encoding = msg.value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        value, encoding = base64.b64encode(msg.value).decode("ascii"), "base64"
    key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
    return m.dumps(
        m.DlqRecord(
            reason=reason[:2000],
            source_topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=key,
            value=value,
            value_encoding=encoding,  # type: ignore[arg-type]
        )
    )


class InputConsumer:
    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        apply: Callable[[Command], None],
        *,
        group: str = "dialer-engine",
    ) -> None:
        self._bus = bus
        self._topics = topics
        self._apply = apply
        self._group = group
        self._sub: Subscription | None = None
        self._stopping = asyncio.Event()
        self.taken = 0
        self.rejected = 0

    async def run(self) -> None:
        self._sub = await self._bus.subscribe(self._topics.inputs, self._group)
        try:
            while not self._stopping.is_set():
                batch = await self._sub.fetch(max_wait=0.5)
                if not batch:
                    continue
                for msg in batch:
                    await self._take(msg)
                await self._sub.commit(batch)
        finally:
            await self._sub.close()

    async def _take(self, msg: BusMessage) -> None:
        try:
            self._apply(decode(self._topics, msg))
            self.taken += 1
        except Rejected as err:
            await self._dead_letter(msg, err.reason)
        except DialerError as err:
            await self._dead_letter(msg, f"{type(err).__name__}: {err}")

    async def _dead_letter(self, msg: BusMessage, reason: str) -> None:
        self.rejected += 1
        log.warning("input rejected topic=%s offset=%d reason=%s",
                    msg.topic, msg.offset, reason.split(":")[0])
        await self._bus.publish(self._topics.dlq, dlq_record(msg, reason), key=msg.key)

    def stop(self) -> None:
        self._stopping.set()
