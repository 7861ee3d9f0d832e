"""Do-not-call: by customer id per campaign/queue (seed 002 /queue/dnc) and by phone number
globally (the national list, vietnam.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.errors import UnknownCampaign
from engine.lead import LeadState
from engine.model import CallingPolicy, CallStatus, CampaignStatus
from tests.engine.rig import BUSY, Outcome, Rig, basic_campaign, by_number, phone


def test_customers_not_dialed_yet_are_skipped_and_reported() -> None:
    """seed 002 /queue/dnc: "customers not yet reached are skipped" — their leads end as
    skipped with a lead event, and are never called."""
    rig = Rig(outcome=lambda o: Outcome(talk=60))
    rig.campaign(basic_campaign(concurrent_call=1))
    for i in range(3):
        rig.lead(f"l{i}", "c1", phone(i), customer_id=f"KH_0{i}")
    rig.dialer.add_dnc_customers("c1", ["KH_01", "KH_02", "KH_99"], rig.clock.now())
    rig.step()
    for lead_uuid in ("l1", "l2"):
        assert rig.state(lead_uuid) is LeadState.SKIPPED
        (event,) = [e for e in rig.events_of(lead_uuid) if e.state == "skipped"]
        assert event.previous == "queued" and event.reason == "dnc: customer"
    rig.run_until_idle()
    assert [o.lead_uuid for _, o in rig.originated] == ["l0"]
    rig.finish()


def test_customers_whose_keys_collide_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """The customer index is keyed by a 30-bit hash of the id (memory per queued lead): a
    customer put on the list skips only its own leads, never those of another customer
    whose key is the same."""
    import engine.core

    monkeypatch.setattr(engine.core, "customer_key", lambda _customer_id: 7)
    rig = Rig(outcome=lambda o: Outcome(talk=60))
    rig.campaign(basic_campaign(concurrent_call=1, status=CampaignStatus.PAUSE))
    for i in range(4):
        rig.lead(f"l{i}", "c1", phone(i), customer_id=f"KH_0{i % 2}")
    rig.dialer.add_dnc_customers("c1", ["KH_01"], rig.clock.now())
    assert [rig.state(f"l{i}") for i in range(4)] == [
        LeadState.QUEUED, LeadState.SKIPPED, LeadState.QUEUED, LeadState.SKIPPED]
    rig.finish()


def test_a_live_call_is_left_alone_and_not_recalled() -> None:
    """seed 002 /queue/dnc: "one already dialed or in a call is kept as it is" — no hangup,
    its CDR as usual; and no new call starts for that customer afterwards."""
    rig = Rig(outcome=lambda o: Outcome("USER_BUSY", ring=30, talk=0))
    rig.campaign(basic_campaign(recall_times=3, recall_status=frozenset({CallStatus.BUSY})))
    rig.lead("a", "c1", phone(1), customer_id="KH_01")
    rig.run(10)
    rig.dialer.add_dnc_customers("c1", ["KH_01"], rig.clock.now())
    rig.step()
    assert rig.hangups == [] and rig.state("a") is LeadState.DIALING
    rig.run_until_idle()
    assert len(rig.cdrs_of("a")) == 1 and rig.cdrs_of("a")[0].status == "busy"
    assert rig.state("a") is LeadState.SKIPPED
    rig.finish()


def test_a_customer_waiting_for_a_recall_is_not_called_again() -> None:
    """seed 002 /queue/dnc on a customer already dialed and waiting for a recall: the call
    made stays in the records; the recall (a new call) is not made."""
    rig = Rig(outcome=lambda o: BUSY)
    rig.campaign(basic_campaign(recall_times=3, recall_status=frozenset({CallStatus.BUSY}),
                                schedule_recall_duration=5))
    rig.lead("a", "c1", phone(1), customer_id="KH_01")
    rig.run(10)
    assert rig.state("a") is LeadState.RECALL
    rig.dialer.add_dnc_customers("c1", ["KH_01"], rig.clock.now())
    rig.run_until_idle()
    assert len(rig.calls_of("a")) == 1 and rig.state("a") is LeadState.SKIPPED
    rig.finish()


def test_a_customer_on_the_list_before_import_is_skipped_at_import() -> None:
    """seed 002 /queue/dnc then /queue import: the lead is skipped on arrival; removing the
    customer from the list lets later imports through."""
    rig = Rig()
    rig.campaign(basic_campaign())
    rig.dialer.add_dnc_customers("c1", ["KH_01"], rig.clock.now())
    rig.lead("a", "c1", phone(1), customer_id="KH_01")
    assert rig.state("a") is LeadState.SKIPPED
    rig.dialer.remove_dnc_customers("c1", ["KH_01"])
    rig.lead("b", "c1", phone(1), customer_id="KH_01")
    rig.run_until_idle()
    assert rig.state("a") is LeadState.SKIPPED  # stays skipped
    assert [o.lead_uuid for _, o in rig.originated] == ["b"]


def test_customer_dnc_is_per_campaign_and_unknown_queue_is_refused() -> None:
    """seed 002 /queue/dnc {queue_code}: the list belongs to that queue; an unknown queue →
    "queue not found" (UnknownCampaign)."""
    rig = Rig()
    rig.campaign(basic_campaign("q1", queue_code="Autocall-Q1"))
    rig.campaign(basic_campaign("q2", queue_code="Autocall-Q2"))
    rig.dialer.add_dnc_customers(rig.dialer.campaign_for_queue("Autocall-Q1"), ["KH_01"],
                                 rig.clock.now())
    rig.lead("a", "q1", phone(1), customer_id="KH_01")
    rig.lead("b", "q2", phone(2), customer_id="KH_01")
    assert rig.state("a") is LeadState.SKIPPED
    assert rig.state("b") is LeadState.DIALING
    with pytest.raises(UnknownCampaign):
        rig.dialer.campaign_for_queue("Autocall-Q9")
    with pytest.raises(UnknownCampaign):
        rig.dialer.add_dnc_customers("nope", ["KH_01"], rig.clock.now())


def test_phone_dnc_is_global_and_matches_any_written_form() -> None:
    """vietnam.md national DNC list: a number on it is never called by any campaign, in
    whatever form it was written (+84…, spaces); a waiting lead whose only number is listed
    is skipped when reached and reported."""
    rig = Rig(outcome=lambda o: Outcome(talk=60))
    rig.campaign(basic_campaign("a", concurrent_call=1))
    rig.campaign(basic_campaign("b", concurrent_call=1))
    rig.lead("a0", "a", phone(50))  # both campaigns are busy with one call each
    rig.lead("b0", "b", phone(51))
    rig.lead("a1", "a", phone(1))
    rig.lead("b1", "b", "+84 " + phone(1)[1:])
    rig.lead("b2", "b", phone(2))
    rig.dialer.add_dnc_phones(["+84" + phone(1)[1:], "garbage"])
    rig.run_until_idle()
    assert phone(1) not in {o.destination for _, o in rig.originated}
    assert rig.state("b1") is LeadState.SKIPPED
    ev = [e for e in rig.events_of("a1") if e.state == "skipped"]
    assert ev and ev[0].reason == "dnc: phone"
    assert rig.state("b2") is LeadState.COMPLETED
    rig.dialer.remove_dnc_phones([phone(1)])
    rig.lead("a3", "a", phone(1))
    rig.run_until_idle()
    assert rig.state("a3") is LeadState.COMPLETED
    rig.finish()


def test_a_lead_whose_numbers_are_all_listed_is_skipped_at_import() -> None:
    """vietnam.md national DNC: nothing to call → skipped at once, reported."""
    rig = Rig()
    rig.campaign(basic_campaign())
    rig.dialer.add_dnc_phones([phone(1), phone(2)])
    rig.lead("a", "c1", phone(1), phone(2))
    assert rig.state("a") is LeadState.SKIPPED
    assert rig.events_of("a")[-1].reason == "dnc: phone"


def test_a_policy_may_ignore_the_national_list() -> None:
    """vietnam.md: the national DNC list binds advertising; a policy with
    respect_national_dnc off (an OTP the user asked for) still calls the number."""
    rig = Rig(outcome=by_number({}))
    rig.campaign(basic_campaign(policy=CallingPolicy(respect_national_dnc=False)))
    rig.dialer.add_dnc_phones([phone(1)])
    rig.lead("a", "c1", phone(1))
    assert [o.destination for _, o in rig.originated] == [phone(1)]


class _NoScan(dict[str, Any]):
    """A lead table that fails the test when something scans it."""

    def values(self) -> Any:
        raise AssertionError("scanned every lead")

    def items(self) -> Any:
        raise AssertionError("scanned every lead")

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("scanned every lead")


def test_customer_dnc_is_indexed_not_a_scan_of_every_lead() -> None:
    """seed 002 /queue/dnc at scale: adding customers touches only their own leads."""
    rig = Rig(check=False)
    rig.campaign(basic_campaign(status=CampaignStatus.STOP))
    for i in range(2_000):
        rig.lead(f"l{i}", "c1", phone(i), customer_id=f"K{i}")
    rig.dialer.leads = _NoScan(rig.dialer.leads)
    rig.dialer.add_dnc_customers("c1", [f"K{i}" for i in range(0, 2_000, 2)], rig.clock.now())
    assert sum(1 for e in rig.dialer.drain() if getattr(e, "state", "") == "skipped") == 1_000
