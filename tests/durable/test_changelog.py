"""The lead-state changelog as a restore reads it (no broker: the codec and the engine on a
virtual clock). A partition handed over and taken back through its changelog records
continues exactly where it stopped: no attempt is dialed twice, waiting leads keep their
order, campaign-scoped do-not-call entries hold, and the old owner forgets everything."""

from __future__ import annotations

from types import MappingProxyType

import orjson
from hypothesis import given
from hypothesis import strategies as st

from adapters.kafka.state import (
    DNC_KEY,
    LEAD_KEY,
    LEASE_KEY,
    decode_changelog,
    decode_lead,
    encode_lead,
)
from engine.core import Dialer
from engine.lead import LeadSnapshot, LeadState
from engine.model import CallStatus, LeadInput, ModeCall
from tests.engine.rig import BUSY, NO_ANSWER, Outcome, Rig, basic_campaign, phone

text = st.text(max_size=30)
# Inputs arrive through orjson, whose integers are 64-bit.
params = st.dictionaries(text, st.one_of(text, st.integers(-(2**63), 2**63 - 1),
                                         st.booleans(), st.none()),
                         max_size=4)


@given(lead_uuid=text, phones=st.lists(text, max_size=3), params=params, name=text,
       state=st.sampled_from(list(LeadState)),
       statuses=st.lists(st.sampled_from(list(CallStatus)), max_size=3),
       live=st.lists(st.tuples(text, st.integers(0, 5), text,
                               st.floats(0, 1e9, allow_nan=False)), max_size=3))
def test_a_lead_record_round_trips(lead_uuid: str, phones: list[str],
                                   params: dict[str, object], name: str, state: LeadState,
                                   statuses: list[CallStatus],
                                   live: list[tuple[str, int, str, float]]) -> None:
    lead = LeadInput(lead_uuid, "c1", tuple(phones), MappingProxyType(params), lead_name=name)
    snap = LeadSnapshot(lead_uuid, "c1", state, "why", 1.5, 2, 3, 1, 9.0, 1.0, 2.0, True,
                        tuple(statuses), 7, tuple(live), seq=42)
    assert decode_lead(encode_lead(lead, snap)) == (lead, snap)
    # The record's bytes are what the dict-built body gave (records already written by
    # an older version and new ones are the same document).
    body = {f: getattr(snap, f) for f in LeadSnapshot.__dataclass_fields__}
    body["input"] = {f: getattr(lead, f) for f in LeadInput.__dataclass_fields__}
    assert encode_lead(lead, snap) == orjson.dumps(
        body, default=lambda o: dict(o) if isinstance(o, MappingProxyType) else None)


def test_the_last_record_per_key_wins_and_a_tombstone_deletes() -> None:
    lead = LeadInput("l1", "c1", (phone(1),))
    queued = LeadSnapshot("l1", "c1", LeadState.QUEUED, "imported", 0, 0, 0, 0, 0, 0, 0,
                          False, (), 0)
    done = LeadSnapshot("l1", "c1", LeadState.COMPLETED, "done", 5, 1, 1, 0, 0, 1, 1,
                        False, (), 0)
    key = (LEAD_KEY + "l1").encode()
    dnc_a, dnc_b = (DNC_KEY + "c1/A").encode(), (DNC_KEY + "c1/B").encode()
    restored = decode_changelog([
        (key, encode_lead(lead, queued)),
        (dnc_a, b'{"campaign_uuid":"c1","customer_id":"A"}'),
        (dnc_b, b'{"campaign_uuid":"c1","customer_id":"B"}'),
        (key, encode_lead(lead, done)),
        (dnc_b, None),
        ((LEASE_KEY + "g.p0").encode(), b'{"owner":"x","at":1}'),
        ((LEAD_KEY + "broken").encode(), b"{not json"),
    ])
    assert restored.leads == [(lead, done)]
    assert list(restored.dnc_customers) == [("c1", "A")]


OUTCOMES = [BUSY, Outcome(talk=40), NO_ANSWER, Outcome(ring=2, talk=3)]


def test_a_partition_handed_over_and_restored_from_its_changelog_goes_on_exactly() -> None:
    """The old owner unloads the campaign (its calls stay up, nothing is published); the new
    owner restores every lead from the encoded changelog records, takes the live legs over,
    and the run finishes with one CDR per leg and no call uuid dialed twice."""
    rig = Rig(outcome=lambda o: OUTCOMES[(int(o.lead_uuid[1:]) +
                                          int(o.variables["autocall_attempt"])) % 4])
    changelog: list[tuple[bytes, bytes | None]] = []

    def journal(snap: LeadSnapshot) -> None:
        lead = rig.dialer.leads[snap.lead_uuid].input
        changelog.append(((LEAD_KEY + snap.lead_uuid).encode(), encode_lead(lead, snap)))

    rig.dialer = Dialer(rig.nodes, journal=journal)
    spec = basic_campaign("c1", concurrent_call=4, recall_times=2, schedule_recall_duration=1,
                          mode_call=ModeCall.SERIAL,
                          recall_status=frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER}))
    rig.campaign(spec)
    for i in range(30):
        rig.lead(f"l{i}", "c1", phone(i), phone(100 + i))
    rig.run(120)
    old = rig.dialer
    live = sorted(old.legs)
    assert live, "the handover happens with calls up"
    before = {u: (lead.state, lead.attempts) for u, lead in old.leads.items()}
    handed = old.unload({"c1"})
    assert sorted(handed) == live
    assert not old.leads and not old.legs and old.live_calls("c1") == 0
    assert not old.live_numbers and not old.parked_on
    assert not old.drain(), "the old owner publishes nothing for a partition it lost"

    new = Dialer(rig.nodes)
    new.upsert_campaign(spec)
    restored = decode_changelog(changelog)
    for lead_in, snap in sorted(restored.leads, key=lambda r: r[1].seq):
        new.restore_lead(lead_in, snap)
    assert {u: (lead.state, lead.attempts) for u, lead in new.leads.items()} == before
    assert sorted(new.legs) == live and new.live_calls("c1") == len(live)
    rig.dialer = new
    rig.step()
    rig.run_until_idle()
    rig.finish()  # the rig's invariants: one CDR per leg, no uuid twice, caps held
    assert all(lead.state in (LeadState.COMPLETED, LeadState.EXHAUSTED)
               for lead in new.leads.values())
