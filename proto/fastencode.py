"""JSON of the engine's output records without a pydantic round trip.

Building a ``CdrRecord``/``LeadEventRecord`` per record and dumping it cost about 7 % of
the engine's CPU per call, for records the engine built itself from typed values; the
publisher and the durable state write with this module. These encoders write the same
bytes straight from the frozen dataclasses (orjson serialises a slotted dataclass field by
field, in declaration order, which is the wire models' order: tests/test_fastencode.py
holds both to byte equality and validates the output against the models).

What the pydantic path did beyond copying, done here too: floats stay floats (an ``at``
given as an int is written ``5.0``, as ``float`` fields are), and ``additional`` (a
read-only mapping) is written as an object. Anything orjson cannot write raises
``TypeError``, as a record the contract refuses raised ``ValueError`` before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.records import Cdr, LeadEvent

__all__ = ["encode", "encode_cdr", "encode_lead_event"]


def _default(obj: Any) -> Any:
    if isinstance(obj, Mapping):  # MappingProxyType: orjson writes dicts only
        return dict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def encode_cdr(record: Cdr) -> bytes:
    return orjson.dumps(record, default=_default)


def encode_lead_event(record: LeadEvent) -> bytes:
    at, ready_at = record.at, record.ready_at
    if type(at) is float and type(ready_at) is float:
        return orjson.dumps(record)
    return orjson.dumps({
        "lead_uuid": record.lead_uuid, "campaign_uuid": record.campaign_uuid,
        "state": record.state, "previous": record.previous, "reason": record.reason,
        "at": float(at), "attempts": record.attempts, "calls": record.calls,
        "ready_at": float(ready_at),
    })


def encode(record: Cdr | LeadEvent) -> bytes:
    """Same bytes as the pydantic models write for records the engine builds."""
    if isinstance(record, LeadEvent):
        return encode_lead_event(record)
    return encode_cdr(record)
