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
from datetime import datetime

from engine.lead import Lead, Leg
from engine.model import CallResult, CallStatus, Campaign
from engine.records import Cdr
from engine.windows import zone


def press_key(digits: list[str]) -> str:
    return json.dumps({"keys": "".join(digits)} if digits else {})


def build(spec: Campaign, lead: Lead, leg: Leg, result: CallResult, status: CallStatus) -> Cdr:
    tz = zone(spec.time_zone)

    def stamp(epoch: float) -> str:
        if epoch <= 0:
            return ""
        return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S")

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
        start_stamp=stamp(result.start_epoch or leg.originated_at),
        answer_stamp=stamp(result.answer_epoch),
        end_stamp=stamp(result.end_epoch),
        created_at=li.created_at,
        last_call_time=datetime.fromtimestamp(last_call, tz).isoformat(timespec="seconds"),
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
