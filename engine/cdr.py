"""One CDR per finished call leg: the seed 004 lead-report fields plus switch facts.

- stamps (start/answer/end) are local times of the campaign's zone, "YYYY-MM-DD HH:MM:SS",
  empty when the event never happened (no answer → no answer_stamp), as in seed 004;
- ``last_call_time`` is the lead's latest origination, ISO 8601 with the zone offset;
- ``called_count`` is the number of legs originated for the lead so far, this one included;
- ``press_key`` is the DTMF the callee pressed, as a JSON object: "{}" when none (seed 004),
  else {"keys": "<digits in order>"};
- ``additional`` is the lead's params (seed 004 ``additional``).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from functools import lru_cache

from engine.lead import Lead, Leg
from engine.model import CallResult, CallStatus, Campaign
from engine.records import Cdr
from engine.windows import zone


def press_key(digits: list[str]) -> str:
    return json.dumps({"keys": "".join(digits)}) if digits else "{}"


def _second(epoch: float) -> int:
    """The whole second ``datetime.fromtimestamp(epoch)`` shows: its microseconds are
    rounded half to even, so .9999996 is the next second."""
    frac, whole = math.modf(epoch)
    return int(whole) + (1 if round(frac * 1e6) >= 1_000_000 else 0)


# Formatting a local time is most of a CDR's cost, and the calls ending in one second
# share their stamps: both are formatted once per (second, zone).
@lru_cache(maxsize=1024)
def _stamp(second: int, time_zone: str) -> str:
    return datetime.fromtimestamp(second, zone(time_zone)).strftime("%Y-%m-%d %H:%M:%S")


@lru_cache(maxsize=1024)
def _iso(second: int, time_zone: str) -> str:
    return datetime.fromtimestamp(second, zone(time_zone)).isoformat(timespec="seconds")


def stamp(epoch: float, time_zone: str) -> str:
    """Local "YYYY-MM-DD HH:MM:SS" of ``epoch`` in the zone ("" when it never happened)."""
    return "" if epoch <= 0 else _stamp(_second(epoch), time_zone)


def build(spec: Campaign, lead: Lead, leg: Leg, result: CallResult, status: CallStatus) -> Cdr:
    tz = spec.time_zone
    li = lead.input
    last_call = max(lead.last_call_time, leg.originated_at)
    return Cdr(
        cdr_uuid=leg.call_uuid,
        campaign_uuid=spec.campaign_uuid,
        campaign_name=spec.campaign_name,
        lead_uuid=lead.uuid,
        call_id=li.call_id,
        phone_number=leg.phone.national,
        status=str(status),
        hangup_cause=result.hangup_cause,
        hangup_cause_q850=result.q850,
        billsec=result.billsec,
        duration=result.duration,
        waitsec=result.waitsec,
        called_count=lead.calls,
        attempt=leg.attempt,
        press_key=press_key(leg.digits),
        record_name=result.record_name,
        recording_url=result.recording_url,
        start_stamp=stamp(result.start_epoch or leg.originated_at, tz),
        answer_stamp=stamp(result.answer_epoch, tz),
        end_stamp=stamp(result.end_epoch, tz),
        created_at=li.created_at,
        last_call_time=_iso(_second(last_call), tz),
        customer_id=li.customer_id,
        list_uuid=li.list_uuid,
        list_name=li.list_name,
        lead_name=li.lead_name,
        lead_code=li.lead_code,
        contract_number=li.contract_number,
        amd_result=result.amd_result,
        sip_term_status=result.sip_term_status,
        additional=li.params,
    )
