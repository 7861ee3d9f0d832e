"""proto.fastencode writes the very bytes the pydantic path writes, and they validate."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.publisher import encode as publisher_encode
from engine.records import Cdr, LeadEvent
from proto import fastencode
from proto import messages as m


def pydantic_encode(record: Cdr | LeadEvent) -> bytes:
    """The reference: the record validated by its wire model, then dumped (what the
    publisher did before it wrote the dataclass directly)."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if isinstance(record, Cdr):
        fields["additional"] = dict(record.additional)
        return m.dumps(m.CdrRecord.model_validate(fields))
    return m.dumps(m.LeadEventRecord.model_validate(fields))


def test_the_publisher_writes_with_the_fast_encoder() -> None:
    event = LeadEvent("l1", "c1", "queued", "new", "imported", 5, 0, 0)
    assert publisher_encode(event) == pydantic_encode(event)

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_int = st.integers(-(2**53), 2**53)
_float = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_scalar = st.none() | st.booleans() | _int | _finite | _text

_cdrs = st.builds(
    Cdr,
    **{name: _text for name in (
        "cdr_uuid", "campaign_uuid", "campaign_name", "lead_uuid", "call_id", "phone_number",
        "status", "hangup_cause", "press_key", "record_name", "recording_url", "start_stamp",
        "answer_stamp", "end_stamp", "created_at", "last_call_time", "customer_id",
        "list_uuid", "list_name", "lead_name", "lead_code", "contract_number", "amd_result",
        "sip_term_status")},
    **{name: _int for name in (
        "hangup_cause_q850", "billsec", "duration", "waitsec", "called_count", "attempt")},
    additional=st.dictionaries(_text, _scalar, max_size=5).map(MappingProxyType),
)
_events = st.builds(
    LeadEvent,
    **{name: _text for name in ("lead_uuid", "campaign_uuid", "state", "previous", "reason")},
    at=_float, ready_at=_float, attempts=_int, calls=_int,
)


@settings(max_examples=300, deadline=None)
@given(_cdrs)
def test_cdr_bytes_equal_the_pydantic_path_and_validate(record: Cdr) -> None:
    fast = fastencode.encode(record)
    assert fast == pydantic_encode(record)
    assert m.CdrRecord.model_validate_json(fast) == m.CdrRecord.model_validate(
        orjson.loads(pydantic_encode(record)))


@settings(max_examples=300, deadline=None)
@given(_events)
def test_lead_event_bytes_equal_the_pydantic_path_and_validate(record: LeadEvent) -> None:
    fast = fastencode.encode(record)
    assert fast == pydantic_encode(record)
    decoded = m.LeadEventRecord.model_validate_json(fast)
    assert isinstance(decoded.at, float) and decoded.at == float(record.at)


def test_an_int_time_is_written_as_a_float_like_the_model() -> None:
    event = LeadEvent("l", "c", "queued", "new", "imported", 5, 0, 0)  # type: ignore[arg-type]
    assert b'"at":5.0' in fastencode.encode(event)
    assert fastencode.encode(event) == pydantic_encode(event)

