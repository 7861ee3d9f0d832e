"""Issue 4, end to end: Kafka → engine → greenswitch → simulator → CDRs on Kafka, for the
weekday window, recall priority and each mode_call. Each test names the seed rule."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from adapters.fssim import CallScript, Outcome, Scenario
from dialer.app import EngineApp
from dialer.settings import Settings
from proto import messages as m
from tests.e2e.harness import campaign, collect, create_campaign, wait_until

VN = ZoneInfo("Asia/Ho_Chi_Minh")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Start = Callable[[Scenario], Awaitable[EngineApp]]


@pytest.fixture
async def start_app(kafka_bootstrap: str, kafka_topic_prefix: str) -> AsyncIterator[Start]:
    apps: list[EngineApp] = []

    async def start(scenario: Scenario) -> EngineApp:
        settings = Settings(bus="kafka", kafka_bootstrap=kafka_bootstrap,
                            topic_prefix=f"{kafka_topic_prefix}{len(apps)}.",
                            instance=f"rules{len(apps)}")
        app = EngineApp(settings, scenario=scenario)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await app.stop()


async def send_lead(app: EngineApp, campaign_uuid: str, lead_uuid: str, *phones: str,
                    customer_id: str = "") -> None:
    p = app.parts
    msg = m.LeadImport(campaign_uuid=campaign_uuid, lead_uuid=lead_uuid,
                       phone_number=phones[0], phones=list(phones), customer_id=customer_id)
    await p.bus.publish(p.topics.leads, m.dumps(msg), key=campaign_uuid.encode())


async def start_campaign(app: EngineApp, campaign_uuid: str) -> None:
    p = app.parts
    await p.bus.publish(p.topics.control, m.dumps(m.SetCampaignStatus(
        campaign_uuid=campaign_uuid, status="start")), key=campaign_uuid.encode())


async def test_seed001_schedules_dialing_waits_for_the_window_and_starts_by_itself(
    start_app: Start,
) -> None:
    """seed 001 schedules: outside today's window the leads wait; when the window opens
    (local time, Asia/Ho_Chi_Minh) dialing starts with no other input."""
    app = await start_app(Scenario(speed=200.0, ring_time=(1, 2), talk_time=(3, 5)))
    now = datetime.now(VN)
    if now.hour == 23 and now.minute >= 58:
        pytest.skip("the window would cross local midnight")
    since_midnight = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
    opens_at = time.time() + 2.5
    start_ns = int((since_midnight + 2.5) * 1e9)
    end_ns = min(int((since_midnight + 3600) * 1e9), 86_399 * 10**9)
    today = WEEKDAYS[now.weekday()]
    schedule = m.DaySchedule(**{f"{today}_start_time": start_ns, f"{today}_end_time": end_ns})
    await create_campaign(app, campaign("win", concurrent_call=3, schedules=[schedule]))
    for i in range(6):
        await send_lead(app, "win", f"w{i}", f"090{5000000 + i}")
    p = app.parts
    await wait_until(lambda: len(p.dialer.leads) == 6)
    assert p.simulator is not None
    assert p.simulator.originate_count == 0, "nothing is dialed before the window opens"
    cdrs = await collect(p.bus, p.topics.cdr, 6, seconds=60)
    assert time.time() >= opens_at
    first = min(datetime.fromisoformat(c["last_call_time"]).timestamp() for c in cdrs)
    assert first >= int(opens_at) - 1  # last_call_time has whole seconds


async def _order(start_app: Start, priority: str) -> list[str]:
    busy = "0911000001"
    scenario = Scenario(speed=200.0, ring_time=(1, 1), talk_time=(3, 3),
                        numbers={busy: CallScript(Outcome.BUSY, ring_time=1.0)})
    app = await start_app(scenario)
    cid = f"prio-{priority}"
    await create_campaign(app, campaign(
        cid, concurrent_call=1, status="pause", priority_recall=priority, recall_times=1,
        recall_status=["busy"], schedule_recall="minute", schedule_recall_duration=0))
    await send_lead(app, cid, "first-busy", busy)
    for i in range(4):
        await send_lead(app, cid, f"new{i}", f"090{6000000 + i}")
    p = app.parts
    await wait_until(lambda: len(p.dialer.leads) == 5)
    await start_campaign(app, cid)
    cdrs = await collect(p.bus, p.topics.cdr, 6, seconds=60)
    return [c["lead_uuid"] for c in cdrs]


async def test_seed001_priority_recall_recall_dials_due_recalls_before_new_leads(
    start_app: Start,
) -> None:
    """seed 001 priority_recall=recall: a due recall goes before the new leads."""
    order = await _order(start_app, "recall")
    assert order[:2] == ["first-busy", "first-busy"]


async def test_seed001_priority_recall_normal_takes_the_oldest_ready_work_first(
    start_app: Start,
) -> None:
    """seed 001 priority_recall=normal: the recall became ready after the new leads were
    imported, so they go first."""
    order = await _order(start_app, "normal")
    assert order[0] == "first-busy"
    assert order[-1] == "first-busy"
    assert order[1:5] == ["new0", "new1", "new2", "new3"]


A, B = "0912000001", "0912000002"


async def _mode(start_app: Start, mode: str, scripts: dict[str, CallScript],
                legs: int) -> list[dict[str, object]]:
    app = await start_app(Scenario(speed=200.0, numbers=scripts))
    cid = f"mode-{mode}"
    await create_campaign(app, campaign(cid, concurrent_call=4, mode_call=mode,
                                        recall_times=0))
    await send_lead(app, cid, "cust", A, B, customer_id="KH_01")
    p = app.parts
    cdrs = await collect(p.bus, p.topics.cdr, legs, seconds=60)
    await wait_until(lambda: p.dialer.leads["cust"].state.value in ("completed", "exhausted"))
    assert p.simulator is not None
    assert p.simulator.originate_count == legs
    return cdrs


async def test_seed001_mode_call_direct_dials_only_the_first_number(start_app: Start) -> None:
    """seed 001 mode_call=direct: the first number only, even when it fails."""
    cdrs = await _mode(start_app, "direct", {A: CallScript(Outcome.BUSY)}, legs=1)
    assert [(c["phone_number"], c["status"]) for c in cdrs] == [(A, "busy")]


async def test_seed001_mode_call_serial_tries_the_next_number_when_one_fails(
    start_app: Start,
) -> None:
    """seed 001 mode_call=serial: number 1 busy → number 2, which answers."""
    cdrs = await _mode(start_app, "serial", {A: CallScript(Outcome.BUSY),
                                             B: CallScript(Outcome.ANSWERED, talk_time=5)},
                       legs=2)
    assert [(c["phone_number"], c["status"]) for c in cdrs] == [(A, "busy"), (B, "answered")]


async def test_seed001_mode_call_parallel_first_answer_wins_the_other_is_cancelled(
    start_app: Start,
) -> None:
    """seed 001 mode_call=parallel: both ring at once; B answers first, A is cancelled."""
    cdrs = await _mode(start_app, "parallel", {
        A: CallScript(Outcome.ANSWERED, ring_time=20.0, talk_time=5),
        B: CallScript(Outcome.ANSWERED, ring_time=2.0, talk_time=5)}, legs=2)
    by_phone = {c["phone_number"]: c for c in cdrs}
    assert by_phone[B]["status"] == "answered"
    assert by_phone[A]["status"] == "cancel"
    assert by_phone[A]["billsec"] == 0
