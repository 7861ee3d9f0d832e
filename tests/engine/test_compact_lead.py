"""The compact lead keeps every field of its input and the attributes of the old record."""

from __future__ import annotations

import math
from dataclasses import replace
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import Dialer
from engine.lead import Lead, LeadState, snapshot, transition
from engine.model import CallStatus, Campaign, CampaignStatus, LeadInput
from engine.phone import PhoneNumber, normalize, pack, unpack
from engine.queue import WorkClass, WorkQueue

_text = st.text(max_size=20)  # lone surrogates included: kept as they came
_value = (st.none() | st.booleans() | st.integers() | st.floats() | _text)
_phones = st.lists(st.sampled_from(["0901234567", "+84 91 234 5678", "0981111111", "bad",
                                    "0981111111", "02438253456", "84 33 111 2222"]),
                   max_size=4)
_inputs = st.builds(
    LeadInput,
    lead_uuid=st.uuids().map(str), campaign_uuid=st.just("c1"),
    phones=_phones.map(tuple),
    params=st.dictionaries(st.text(max_size=10), _value, max_size=5).map(MappingProxyType),
    call_id=_text, customer_id=_text, list_uuid=_text, list_name=_text, lead_name=_text,
    lead_code=_text, contract_number=_text, created_at=_text,
)


def _valid(lead_in: LeadInput) -> tuple[PhoneNumber, ...]:
    out: dict[str, PhoneNumber] = {}
    for raw in lead_in.phones:
        p = normalize(raw)
        if isinstance(p, PhoneNumber):
            out.setdefault(p.national, p)
    return tuple(out.values())


def _same(a: object, b: object) -> bool:
    """Equality that counts NaN equal to NaN (a NaN param is kept, not lost)."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)  # 0.0 is not -0.0
    return type(a) is type(b) and a == b


def _decoded(lead: Lead) -> LeadInput:
    """The input as decoded from the compact form (not the recent-inputs cache)."""
    extra = lead._extra
    return extra if isinstance(extra, LeadInput) else lead._decode(extra)


def _assert_same_input(back: LeadInput, lead_in: LeadInput) -> None:
    assert back.phones == lead_in.phones
    assert list(back.params) == list(lead_in.params)
    assert all(_same(back.params[k], v) for k, v in lead_in.params.items())
    for name in ("lead_uuid", "campaign_uuid", "call_id", "customer_id", "list_uuid",
                 "list_name", "lead_name", "lead_code", "contract_number", "created_at"):
        assert getattr(back, name) == getattr(lead_in, name), name


_campaign_inputs = st.lists(_inputs, min_size=1, max_size=6).flatmap(
    lambda leads: st.tuples(st.uuids().map(str), st.just(leads), st.lists(
        st.tuples(st.integers(0, len(leads) - 1), st.integers(0, 11)), max_size=8)))


@settings(max_examples=300, deadline=None)
@given(_campaign_inputs)
def test_leads_encoded_against_their_campaigns_template_come_back_whole(
    case: tuple[str, list[LeadInput], list[tuple[int, int]]],
) -> None:
    """A campaign's leads are stored relative to its first lead (the template): fields
    and param values equal to the template's, different ones, other param names, fewer or
    none, and values equal but of another type (1 / True / 1.0, 0.0 / -0.0) all decode to
    exactly the input. ``copies`` makes later leads share fields with the first."""
    campaign, leads, copies = case
    first = leads[0]
    fields = ("call_id", "customer_id", "list_uuid", "list_name", "lead_name", "lead_code",
              "contract_number", "created_at")
    made = [replace(first, campaign_uuid=campaign)]
    for i, lead_in in enumerate(leads[1:], 1):
        lead_in = replace(lead_in, campaign_uuid=campaign)
        for who, what in copies:
            if who == i and what < len(fields):
                lead_in = replace(lead_in, **{fields[what]: getattr(first, fields[what])})
            elif who == i and what == 8:  # the template's names, some values changed
                lead_in = replace(lead_in, params=MappingProxyType(
                    {k: (v if j % 2 else [1, True, 1.0, 0.0, -0.0][j % 5])
                     for j, (k, v) in enumerate(first.params.items())}))
            elif who == i and what == 9:
                lead_in = replace(lead_in, params=first.params)
        made.append(lead_in)
    stored = [Lead(lead_in, _valid(lead_in), seq=i) for i, lead_in in enumerate(made)]
    for lead, lead_in in zip(stored, made, strict=True):
        _assert_same_input(_decoded(lead), lead_in)


def test_values_equal_to_the_templates_but_of_another_type_are_kept_as_they_came() -> None:
    first = LeadInput("u1", "c-types", ("0901234567",),
                      MappingProxyType({"a": True, "b": 0.0, "c": 1, "d": "x"}),
                      list_uuid="L", created_at="t")
    other = LeadInput("u2", "c-types", ("0901234568",),
                      MappingProxyType({"a": 1, "b": -0.0, "c": True, "d": "x"}),
                      list_uuid="L", created_at="t2")
    leads = [Lead(li, _valid(li), seq=i) for i, li in enumerate((first, other))]
    assert b"\"L\"" not in leads[1]._extra  # type: ignore[operator]  # kept once
    for lead, li in zip(leads, (first, other), strict=True):
        _assert_same_input(_decoded(lead), li)


@settings(max_examples=300, deadline=None)
@given(_inputs)
def test_every_input_field_comes_back(lead_in: LeadInput) -> None:
    phones = _valid(lead_in)
    lead = Lead(lead_in, phones, seq=7, ready_at=1.5)
    _assert_same_input(_decoded(lead), lead_in)
    _assert_same_input(lead.input, lead_in)
    assert lead.phones == phones and unpack(pack(phones)) == phones
    assert (lead.uuid, lead.campaign_uuid, lead.seq, lead.ready_at) == (
        lead_in.lead_uuid, "c1", 7, 1.5)


def test_a_never_dialed_lead_reads_the_defaults_and_stores_none_of_them() -> None:
    lead = Lead(LeadInput("l1", "c1", ("0901234567",)), (normalize("0901234567"),), seq=1)  # type: ignore[arg-type]
    assert (lead.attempts, lead.calls, lead.phone_index, lead.first_attempt_at,
            lead.last_call_time, lead.last_status, lead.round_open, lead.round_billsec,
            lead.answered_leg, lead.token, lead.reason) == (0, 0, 0, 0.0, 0.0, None, False,
                                                             0, "", 0, "")
    lead.round_open = False
    lead.phone_index = 0
    assert lead._d is None  # writing a default allocates nothing
    lead.attempts += 1
    lead.live.add("x")
    lead.round_statuses.append(CallStatus.BUSY)
    lead.last_status = CallStatus.BUSY
    assert (lead.attempts, lead.live, lead.round_statuses, lead.last_status) == (
        1, {"x"}, [CallStatus.BUSY], CallStatus.BUSY)
    transition(lead, LeadState.QUEUED, "imported")
    snap = snapshot(lead, {}, 3.0)
    assert (snap.attempts, snap.round_statuses, snap.state) == (1, (CallStatus.BUSY,),
                                                                 LeadState.QUEUED)


def test_reasons_and_campaign_ids_are_shared_between_leads() -> None:
    d = Dialer()
    d.upsert_campaign(Campaign("c1", "C", status=CampaignStatus.PAUSE, template_text="x"))
    a = d.add_lead(LeadInput("a", "".join(["c", "1"]), ("0901234567",)), 0.0)
    b = d.add_lead(LeadInput("b", "".join(["c", "1"]), ("0901234568",)), 0.0)
    assert a.campaign_uuid is b.campaign_uuid is d.campaigns["c1"].spec.campaign_uuid
    assert a.reason is b.reason


def test_flat_fifo_entries_keep_order_and_unpop_to_the_front() -> None:
    q = WorkQueue()
    for i in range(5):
        q.push("vina", WorkClass.NEW, float(i), i, 1, f"l{i}")
    first = q.pop(10.0, recall_first=False, first_pass_done=False, key_open=lambda _k: True)
    assert first is not None and first.entry == (0.0, 0, 1, "l0")
    q.unpop(first)
    order = []
    while (t := q.pop(10.0, recall_first=False, first_pass_done=False,
                      key_open=lambda _k: True)) is not None:
        order.append(t.lead_uuid)
    assert order == ["l0", "l1", "l2", "l3", "l4"] and len(q) == 0
    q.push("vina", WorkClass.NEW, 0.0, 9, 2, "l9")
    assert q.drain() == ["l9"]
