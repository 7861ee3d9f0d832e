""""Why is this lead not being dialed?" (what-users-expect.md, goautodial #4).

``hold`` names the first rule, in the order below, that keeps a lead from being dialed at
``now``, with a human-readable detail and, when time alone will lift it, the instant:

| rule                      | meaning                                                     |
|---------------------------|-------------------------------------------------------------|
| completed / exhausted / invalid / removed | terminal; detail is the reason it ended     |
| dnc                       | skipped, or will be skipped: customer or every number is DNC |
| skipped                   | terminal for another reason                                 |
| in_call                   | an attempt is live                                          |
| campaign_deleted          | its campaign is gone                                        |
| campaign_error            | evaluating its campaign raised; detail names the error      |
| campaign_inactive         | active is false                                             |
| campaign_pause / _stop    | status is not start                                         |
| script_missing            | nothing to say: no template / audio file                    |
| window_closed             | outside schedules ∩ local times ∩ policy hours; next_try_at |
| exhausted                 | recall_times lowered below its attempts; ends when reached  |
| number_busy               | a call to its number is live (one live call per number)     |
| daily_cap                 | every number reached the per-number cap; next_try_at        |
| recall_not_due            | waiting for schedule_recall_duration; next_try_at           |
| recall_after_first_pass   | schedule_recall "after": never-dialed leads go first        |
| concurrency_full          | concurrent_call legs are live                               |
| carrier_cap               | the ``network`` cap of its number's carrier is reached      |
| switch_capacity           | no switch node has a free session and a CPS token now       |
| "" (next in line)         | nothing holds it: it is dialed as soon as its turn comes   |

The answer never changes what the engine will do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine import script
from engine.lead import Lead, LeadState
from engine.model import CampaignStatus
from engine.scheduler import REASON_AFTER_PASS, REASON_CAP

if TYPE_CHECKING:
    from engine.scheduler import Scheduler

Hold = tuple[str, str, float | None]

_TERMINAL_RULE = {
    LeadState.COMPLETED: "completed",
    LeadState.EXHAUSTED: "exhausted",
    LeadState.INVALID: "invalid",
    LeadState.REMOVED: "removed",
    LeadState.SKIPPED: "skipped",
}


def hold(d: Scheduler, lead: Lead, now: float) -> Hold:
    if lead.state in _TERMINAL_RULE:
        rule = _TERMINAL_RULE[lead.state]
        if lead.state is LeadState.SKIPPED and lead.reason.startswith("dnc"):
            rule = "dnc"
        return rule, lead.reason, None
    if lead.state is LeadState.DIALING:
        return "in_call", f"{len(lead.live)} live leg(s), attempt {lead.attempts}", None
    run = d.campaigns.get(lead.campaign_uuid)
    if run is None or run.deleted:
        return "campaign_deleted", "", None
    if run.fault:
        return "campaign_error", run.fault, None
    spec = run.spec
    customer = lead.input.customer_id
    if customer and customer in run.dnc_customers:
        return "dnc", "customer is on the campaign's do-not-call list", None
    if all(d.dnc_phone(spec, lead.phones[i]) for i in d.candidates(spec, lead)):
        return "dnc", "every number left is on the do-not-call list", None
    if not spec.active:
        return "campaign_inactive", "active is false", None
    if spec.status is not CampaignStatus.START:
        return f"campaign_{spec.status}", f"campaign status is {spec.status}", None
    missing = script.missing(spec)
    if missing:
        return "script_missing", missing, None
    window = run.window.state(spec, now)
    if not window.open:
        return "window_closed", "outside the calling window", window.until
    if not lead.round_open and lead.attempts >= spec.recall_times + 1:
        return "exhausted", f"{lead.attempts} attempt(s), recall_times {spec.recall_times}", None
    busy = d.parked_on.get(lead.uuid)
    if busy is not None:
        return "number_busy", "another live call rings this number; it waits its turn", None
    cap_hold = _cap(d, lead, now)
    if cap_hold is not None:
        return cap_hold
    if lead.ready_at > now:
        return "recall_not_due", lead.reason, lead.ready_at
    if lead.reason.startswith(REASON_AFTER_PASS) and run.never_dialed > 0:
        return "recall_after_first_pass", f"{run.never_dialed} never-dialed lead(s) first", None
    need = max(1, len(d.plan(run, lead, now).indexes))  # parallel rings several at once
    if spec.concurrent_call - len(run.live) < need:
        detail = f"{len(run.live)}/{spec.concurrent_call} live, {need} slot(s) needed"
        return "concurrency_full", detail, None
    key = d.lane_key(spec, lead)
    if not run.key_open(key):
        cap = spec.network.get(key, 0)
        return "carrier_cap", f"{key}: {run.live_by_key[key]}/{cap} live", None
    if d.pool.available(now) < 1:
        return "switch_capacity", "no switch node can take a call now", d.pool.next_token_at(now)
    return "", "next in line", None


def _cap(d: Scheduler, lead: Lead, now: float) -> Hold | None:
    spec = d.campaigns[lead.campaign_uuid].spec
    cap = spec.policy.max_calls_per_number_per_day
    if cap <= 0:
        return None
    released = [
        d.call_log.released_at(lead.phones[i].national, cap, now)
        for i in d.candidates(spec, lead)
        if not d.dnc_phone(spec, lead.phones[i])
    ]
    if released and min(released) > now:
        return "daily_cap", f"every number called {cap} time(s) in the last 24 h", min(released)
    if lead.ready_at > now and lead.reason.startswith(REASON_CAP):
        return "daily_cap", lead.reason, lead.ready_at
    return None
