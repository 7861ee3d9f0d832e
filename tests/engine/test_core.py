"""The dialing core on a virtual clock: the walking-skeleton rules (issue 2)."""

from __future__ import annotations

import pytest

from engine.errors import CampaignConflict, UnknownCampaign
from engine.lead import LeadState
from engine.model import CallStatus, CampaignStatus
from tests.engine.rig import BUSY, Outcome, Rig, basic_campaign


def phone(i: int) -> str:
    return f"09{i:08d}"


def test_every_lead_is_called_once_and_concurrency_holds() -> None:
    """seed 000 import + seed 001 concurrent_call: every lead once, never above 20 live."""
    rig = Rig()
    rig.campaign(basic_campaign(concurrent_call=20))
    for i in range(300):
        rig.lead(f"l{i}", "c1", phone(i))
    rig.run_until_idle()
    assert len(rig.cdrs) == 300
    assert sorted(c.lead_uuid for c in rig.cdrs) == sorted(f"l{i}" for i in range(300))
    assert rig.max_live["c1"] == 20
    assert all(rig.state(f"l{i}") is LeadState.COMPLETED for i in range(300))


def test_freed_slot_is_refilled_in_the_same_step() -> None:
    """what-users-expect #7: a freed slot is refilled at once, not on the next poll."""
    rig = Rig()
    rig.campaign(basic_campaign(concurrent_call=1))
    rig.lead("a", "c1", phone(1))
    rig.lead("b", "c1", phone(2))
    rig.run_until_idle()
    (t_a, _), (t_b, _) = rig.originated
    end_a = next(c for c in rig.cdrs if c.lead_uuid == "a")
    assert end_a.status == "answered"
    # a answered after 5 s and talked 20 s; b is originated at that very instant
    assert t_b - t_a == pytest.approx(25.0)


def test_hangup_cause_gives_the_seed_status() -> None:
    """seed 004 status: USER_BUSY → busy, no billsec."""
    rig = Rig(outcome=lambda o: BUSY)
    rig.campaign(basic_campaign())
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    (cdr,) = rig.cdrs
    assert cdr.status == CallStatus.BUSY
    assert cdr.hangup_cause == "USER_BUSY"
    assert cdr.billsec == 0


def test_invalid_phone_is_not_called() -> None:
    """seed 000 phone_number: a number that is not Vietnamese → invalid, no call."""
    rig = Rig()
    rig.campaign(basic_campaign())
    rig.lead("a", "c1", "0901234567,0912345678")
    rig.lead("b", "c1", "12345")
    rig.run_until_idle()
    assert rig.originated == []
    assert rig.state("a") is LeadState.INVALID
    assert rig.state("b") is LeadState.INVALID


def test_unknown_campaign_is_refused() -> None:
    """seed 000 import for an unknown campaign_uuid → refused (UnknownCampaign)."""
    rig = Rig()
    with pytest.raises(UnknownCampaign):
        rig.lead("a", "nope", phone(1))


def test_reimported_lead_is_not_dialed_twice() -> None:
    """ARCHITECTURE.md guarantee 2: a redelivered lead import is a no-op."""
    rig = Rig()
    rig.campaign(basic_campaign())
    rig.lead("a", "c1", phone(1))
    rig.lead("a", "c1", phone(1))
    rig.run_until_idle()
    assert len(rig.originated) == 1


def test_pause_keeps_the_queue_and_lets_live_calls_finish() -> None:
    """seed 001 status pause: the queue is kept, live calls finish, start resumes."""
    rig = Rig(outcome=lambda o: Outcome(talk=100))
    rig.campaign(basic_campaign(concurrent_call=2))
    for i in range(5):
        rig.lead(f"l{i}", "c1", phone(i))
    assert len(rig.originated) == 2
    rig.dialer.set_status("c1", CampaignStatus.PAUSE)
    rig.run(1000)
    assert len(rig.cdrs) == 2  # live calls finished
    assert len(rig.originated) == 2  # nothing new while paused
    rig.dialer.set_status("c1", CampaignStatus.START)
    rig.step()
    rig.run_until_idle()
    assert len(rig.cdrs) == 5


def test_delete_needs_an_inactive_campaign() -> None:
    """seed 001 DELETE: "campaign must be deactive"; waiting leads are removed."""
    rig = Rig()
    rig.campaign(basic_campaign(status=CampaignStatus.STOP))
    rig.lead("a", "c1", phone(1))
    with pytest.raises(CampaignConflict):
        rig.dialer.delete_campaign("c1", rig.clock.now())
    rig.dialer.set_active("c1", False)
    rig.dialer.delete_campaign("c1", rig.clock.now())
    assert rig.state("a") is LeadState.REMOVED
