"""A simulated outbound channel: its state, times, variables and the channel-data headers.

Invariants:
* `variables` is insertion ordered; setting a variable moves it to the end, as
  switch_channel_set_variable does (unique headers: delete, then add at the bottom).
  `_var_lines` holds each variable's encoded line in the same order, so an event re-encodes
  only what changed; `_var_block` caches their concatenation until the next change.
* Times are microseconds on the simulated clock; 0 means "not happened" as in FreeSWITCH.
* The CDR variables set by `set_timestamps` follow switch_channel_set_timestamps: durations are
  differences of whole-second epochs (so billsec can differ from billmsec/1000 by one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from adapters.esl.codec import encode_header_lines
from adapters.fssim.events import local_stamp, variable_line
from adapters.fssim.scenario import CallPlan

if TYPE_CHECKING:
    from adapters.fssim.calls import OriginateJob

__all__ = ["CAUSE_CODES", "STATE_NUMBERS", "SimChannel", "cause_q850"]

STATE_NUMBERS: Mapping[str, int] = {
    "CS_NEW": 0,
    "CS_INIT": 1,
    "CS_ROUTING": 2,
    "CS_SOFT_EXECUTE": 3,
    "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5,
    "CS_PARK": 6,
    "CS_CONSUME_MEDIA": 7,
    "CS_HIBERNATE": 8,
    "CS_RESET": 9,
    "CS_HANGUP": 10,
    "CS_REPORTING": 11,
    "CS_DESTROY": 12,
}

CAUSE_CODES: Mapping[str, int] = {
    "NONE": 0,
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_TRANSIT_NET": 2,
    "NO_ROUTE_DESTINATION": 3,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "FACILITY_REJECTED": 29,
    "NORMAL_UNSPECIFIED": 31,
    "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "SWITCH_CONGESTION": 42,
    "REQUESTED_CHAN_UNAVAIL": 44,
    "OUTGOING_CALL_BARRED": 52,
    "SERVICE_UNAVAILABLE": 63,
    "CHAN_NOT_IMPLEMENTED": 66,
    "INCOMPATIBLE_DESTINATION": 88,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "INTERWORKING": 127,
    "ORIGINATOR_CANCEL": 487,
    "SYSTEM_SHUTDOWN": 701,
    "LOSE_RACE": 702,
    "MANAGER_REQUEST": 703,
    "ALLOTTED_TIMEOUT": 802,
    "MEDIA_TIMEOUT": 804,
    "PROGRESS_TIMEOUT": 807,
    "INVALID_GATEWAY": 808,
    "GATEWAY_DOWN": 809,
    "INVALID_URL": 810,
}


def cause_q850(cause: str) -> int:
    """switch_channel_cause_q850: causes above INTERWORKING (127) report 16."""
    code = CAUSE_CODES.get(cause, 0)
    return code if code <= 127 else 16


class SimChannel:
    __slots__ = (
        "_var_block",
        "_var_lines",
        "answered_us",
        "callstate",
        "cid_name",
        "cid_num",
        "created_us",
        "destination",
        "early",
        "gateway",
        "handles",
        "hangup_cause",
        "hangup_us",
        "host",
        "job",
        "leg_timeout",
        "name",
        "plan",
        "progress_media_us",
        "progress_us",
        "state",
        "uuid",
        "variables",
    )

    def __init__(
        self,
        uuid: str,
        name: str,
        destination: str,
        cid_name: str,
        cid_num: str,
        created_us: int,
        plan: CallPlan,
        job: OriginateJob,
        gateway: str | None,
        host: str,
    ) -> None:
        self.uuid = uuid
        self.name = name
        self.destination = destination
        self.cid_name = cid_name
        self.cid_num = cid_num
        self.created_us = created_us
        self.plan = plan
        self.job = job
        self.gateway = gateway
        self.host = host
        self.state = "CS_INIT"
        self.callstate = "DOWN"
        self.early = False
        self.hangup_cause = ""
        self.progress_us = 0
        self.progress_media_us = 0
        self.answered_us = 0
        self.hangup_us = 0
        self.leg_timeout = 0.0
        self.variables: dict[str, str] = {}
        self._var_lines: dict[str, bytes] = {}
        self._var_block: bytes | None = None
        # Pending timers of this leg; all are cancelled when it hangs up.
        self.handles: list[asyncio.TimerHandle] = []

    # --- variables -----------------------------------------------------------------------------

    def set_var(self, name: str, value: str) -> None:
        self.variables.pop(name, None)
        self._var_lines.pop(name, None)
        self.variables[name] = value
        self._var_lines[name] = variable_line(name, value)
        self._var_block = None

    def set_vars(self, items: list[tuple[str, str]]) -> None:
        """Many set_var calls, encoding all the values in one pass."""
        lines = encode_header_lines([(f"variable_{k}", v) for k, v in items]).split(b"\n")
        for (name, value), line in zip(items, lines, strict=False):
            self.variables.pop(name, None)
            self._var_lines.pop(name, None)
            self.variables[name] = value
            self._var_lines[name] = line + b"\n"
        self._var_block = None

    def unset_var(self, name: str) -> None:
        if self.variables.pop(name, None) is not None:
            del self._var_lines[name]
            self._var_block = None

    def var_block(self) -> bytes:
        if self._var_block is None:
            self._var_block = b"".join(self._var_lines.values())
        return self._var_block

    @property
    def view(self) -> Mapping[str, str]:
        return MappingProxyType(self.variables)

    @property
    def answered(self) -> bool:
        return self.answered_us != 0

    @property
    def up(self) -> bool:
        return not self.hangup_cause

    @property
    def answer_state(self) -> str:
        if self.hangup_cause:
            return "hangup"
        if self.answered_us:
            return "answered"
        return "early" if self.early else "ringing"

    # --- headers -------------------------------------------------------------------------------

    def basic_data(self) -> list[tuple[str, str]]:
        """switch_channel_event_set_basic_data plus the caller profile, in FreeSWITCH order."""
        pairs = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.callstate),
            ("Channel-State-Number", str(STATE_NUMBERS[self.state])),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", "outbound"),
            ("Presence-Call-Direction", "outbound"),
            ("Channel-HIT-Dialplan", "false"),
            ("Channel-Call-UUID", self.uuid),
            ("Answer-State", self.answer_state),
        ]
        if self.hangup_cause:
            pairs.append(("Hangup-Cause", self.hangup_cause))
        if self.answered_us or self.early:
            pairs += [
                ("Channel-Read-Codec-Name", "PCMA"),
                ("Channel-Read-Codec-Rate", "8000"),
                ("Channel-Read-Codec-Bit-Rate", "64000"),
                ("Channel-Write-Codec-Name", "PCMA"),
                ("Channel-Write-Codec-Rate", "8000"),
                ("Channel-Write-Codec-Bit-Rate", "64000"),
            ]
        created = str(self.created_us)
        pairs += [
            ("Caller-Direction", "outbound"),
            ("Caller-Logical-Direction", "outbound"),
            ("Caller-Caller-ID-Name", self.cid_name),
            ("Caller-Caller-ID-Number", self.cid_num),
            ("Caller-Orig-Caller-ID-Name", self.cid_name),
            ("Caller-Orig-Caller-ID-Number", self.cid_num),
            ("Caller-Callee-ID-Name", "Outbound Call"),
            ("Caller-Callee-ID-Number", self.destination),
            ("Caller-Network-Addr", self.host),
            ("Caller-ANI", self.cid_num),
            ("Caller-Destination-Number", self.destination),
            ("Caller-Unique-ID", self.uuid),
            ("Caller-Source", "src/switch_ivr_originate.c"),
            ("Caller-Context", "default"),
            ("Caller-Channel-Name", self.name),
            ("Caller-Profile-Index", "1"),
            ("Caller-Profile-Created-Time", created),
            ("Caller-Channel-Created-Time", created),
            ("Caller-Channel-Answered-Time", str(self.answered_us)),
            ("Caller-Channel-Progress-Time", str(self.progress_us)),
            ("Caller-Channel-Progress-Media-Time", str(self.progress_media_us)),
            ("Caller-Channel-Hangup-Time", str(self.hangup_us)),
            ("Caller-Channel-Transfer-Time", "0"),
            ("Caller-Channel-Resurrect-Time", "0"),
            ("Caller-Channel-Bridged-Time", "0"),
            ("Caller-Channel-Last-Hold", "0"),
            ("Caller-Channel-Hold-Accum", "0"),
            ("Caller-Screen-Bit", "true"),
            ("Caller-Privacy-Hide-Name", "false"),
            ("Caller-Privacy-Hide-Number", "false"),
        ]
        return pairs

    def set_timestamps(self) -> None:
        """The CDR variables switch_channel_set_timestamps adds before CHANNEL_HANGUP_COMPLETE."""
        created, answered, hungup = self.created_us, self.answered_us, self.hangup_us
        progress, media = self.progress_us, self.progress_media_us
        tt_created, tt_hungup = created // 1_000_000, hungup // 1_000_000
        out: list[tuple[str, str]] = [
            ("start_stamp", local_stamp(tt_created)),
            ("profile_start_stamp", local_stamp(tt_created)),
        ]
        if answered:
            out.append(("answer_stamp", local_stamp(answered // 1_000_000)))
        if progress:
            out.append(("progress_stamp", local_stamp(progress // 1_000_000)))
        if media:
            out.append(("progress_media_stamp", local_stamp(media // 1_000_000)))
        out.append(("end_stamp", local_stamp(tt_hungup)))
        for name, value in (
            ("start", created),
            ("profile_start", created),
            ("answer", answered),
            ("bridge", 0),
            ("last_hold", 0),
            ("resurrect", 0),
            ("progress", progress),
            ("progress_media", media),
            ("end", hungup),
        ):
            out.append((f"{name}_epoch", str(value // 1_000_000)))
            out.append((f"{name}_uepoch", str(value)))
        out += [
            ("hold_accum_seconds", "0"),
            ("hold_accum_usec", "0"),
            ("hold_accum_ms", "0"),
            ("caller_id", f'"{self.cid_name}" <{self.cid_num}>'),
        ]

        def secs(later: int) -> int:
            return later // 1_000_000 - tt_created if later else 0

        def msecs(later: int) -> int:
            return later // 1000 - created // 1000 if later else 0

        bill = tt_hungup - answered // 1_000_000 if answered else 0
        billm = hungup // 1000 - answered // 1000 if answered else 0
        values = {
            "duration": tt_hungup - tt_created,
            "billsec": bill,
            "progresssec": secs(progress),
            "answersec": secs(answered),
            "waitsec": 0,
            "progress_mediasec": secs(media),
            "flow_billsec": (tt_hungup - tt_created) if answered else 0,
            "mduration": hungup // 1000 - created // 1000,
            "billmsec": billm,
            "progressmsec": msecs(progress),
            "answermsec": msecs(answered),
            "waitmsec": 0,
            "progress_mediamsec": msecs(media),
            "flow_billmsec": (hungup // 1000 - created // 1000) if answered else 0,
            "uduration": hungup - created,
            "billusec": hungup - answered if answered else 0,
            "progressusec": progress - created if progress else 0,
            "answerusec": answered - created if answered else 0,
            "waitusec": 0,
            "progress_mediausec": media - created if media else 0,
            "flow_billusec": (hungup - created) if answered else 0,
        }
        out += [(name, str(number)) for name, number in values.items()]
        self.set_vars(out)
