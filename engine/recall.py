"""How a round of calls ends: its outcome and whether the seeds want it called again.

A round is one attempt over the lead's numbers: one call (direct), one call per number
until one is answered (serial), or all numbers at once (parallel). Rules (seed 001, 002):

- an answered leg decides the round: its status (answered, or voicemail when
  answering-machine detection said machine) is the outcome; it is recalled when that
  status is in ``recall_status``, or when ``min_recall_duration`` > 0 and the talk time
  (billsec) is shorter: the customer hung up before the message was heard;
- otherwise the legs' statuses (cancelled legs aside) decide: the round is recalled when
  any of them is in ``recall_status`` (a busy first number is worth another round even if
  the second was invalid), and the outcome is the first recallable status, else the last;
- whether a recall actually happens also depends on recall_times, limit_recall_duration and
  do-not-call; the owner checks those (``engine.core``).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.model import CallStatus, Campaign

ANSWERED_STATUSES = frozenset({CallStatus.ANSWERED, CallStatus.VOICEMAIL})


@dataclass(frozen=True, slots=True)
class RoundResult:
    outcome: CallStatus
    recall: bool
    too_short: bool = False


def _recalled(spec: Campaign, status: CallStatus) -> bool:
    """An unknown outcome (a call that ended while no engine owned it) is a failure to
    know: it is recalled when failed calls are."""
    if status is CallStatus.UNKNOWN:
        return CallStatus.FAILED in spec.recall_status
    return status in spec.recall_status


def decide(spec: Campaign, statuses: list[CallStatus], answered_billsec: int) -> RoundResult:
    answered = next((s for s in statuses if s in ANSWERED_STATUSES), None)
    if answered is not None:
        too_short = spec.min_recall_duration > 0 and answered_billsec < spec.min_recall_duration
        return RoundResult(answered, answered in spec.recall_status or too_short, too_short)
    tried = [s for s in statuses if s is not CallStatus.CANCEL] or statuses
    if not tried:
        return RoundResult(CallStatus.FAILED, CallStatus.FAILED in spec.recall_status)
    recallable = [s for s in tried if _recalled(spec, s)]
    return RoundResult(recallable[0] if recallable else tried[-1], bool(recallable))
