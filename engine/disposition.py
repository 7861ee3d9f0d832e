"""Hangup cause → seed status (ARCHITECTURE.md "Campaign semantics").

Rules:
- an answered call is ``answered``, or ``voicemail`` when answering-machine detection said
  MACHINE, whatever the cause that ended it (the far end usually hangs up normally, but a
  timer or the engine may end it too);
- an unanswered call maps by cause; causes not listed are ``failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from engine.model import CallResult, CallStatus

# The cause given to a call found "dialing" in the changelog of a partition this engine
# took over, whose channel no switch has any more: it ended while nobody owned it.
UNKNOWN_OUTCOME = "UNKNOWN_OUTCOME"

UNANSWERED_CAUSES: Mapping[str, CallStatus] = MappingProxyType(
    {
        "USER_BUSY": CallStatus.BUSY,
        "NO_ANSWER": CallStatus.NO_ANSWER,
        "NO_USER_RESPONSE": CallStatus.NO_ANSWER,
        "RECOVERY_ON_TIMER_EXPIRE": CallStatus.NO_ANSWER,
        "ALLOTTED_TIMEOUT": CallStatus.NO_ANSWER,
        "SUBSCRIBER_ABSENT": CallStatus.NOT_AVAILABLE,
        "DESTINATION_OUT_OF_ORDER": CallStatus.NOT_AVAILABLE,
        "UNALLOCATED_NUMBER": CallStatus.INVALID,
        "INVALID_NUMBER_FORMAT": CallStatus.INVALID,
        "NO_ROUTE_DESTINATION": CallStatus.INVALID,
        "CALL_REJECTED": CallStatus.PHONE_BLOCK,
        "NORMAL_CIRCUIT_CONGESTION": CallStatus.CONGESTION,
        "SWITCH_CONGESTION": CallStatus.CONGESTION,
        "ORIGINATOR_CANCEL": CallStatus.CANCEL,
        "LOSE_RACE": CallStatus.CANCEL,
        UNKNOWN_OUTCOME: CallStatus.UNKNOWN,
    }
)

MACHINE_VERDICTS = frozenset({"MACHINE", "TRUE"})


def status_of(result: CallResult) -> CallStatus:
    if result.answered:
        if result.amd_result.upper() in MACHINE_VERDICTS:
            return CallStatus.VOICEMAIL
        return CallStatus.ANSWERED
    return UNANSWERED_CAUSES.get(result.hangup_cause, CallStatus.FAILED)
