"""Originate: admission, legs, the event sequence of each call, and hangups.

Rules followed (switch_core_session.c, switch_ivr_originate.c, mod_commands.c, mod_sofia.c):
* A session is refused, with no channel event at all, when outbound calls are paused, the
  origination_uuid is already live ("Duplicate UUID"), the sessions-per-second budget is spent
  (it is decremented before the check, so `sps` N admits N-1 per second), or one more session
  would exceed max-sessions. sofia then reports DESTINATION_OUT_OF_ORDER.
* Success: OUTGOING, CREATE, ORIGINATE, PROGRESS, ANSWER, the job result `+OK <uuid>`, then
  the parked call; the callee hangs up after the talk time: HANGUP, HANGUP_COMPLETE, DESTROY.
  Failure: HANGUP, HANGUP_COMPLETE, the job result `-ERR <CAUSE>`, DESTROY.
* `originate_timeout` (or `leg_timeout`) ends ringing with NO_ANSWER. `a|b` tries b when a
  fails (not after a timeout unless originate_continue_on_timeout=true); `a,b` rings both,
  the first answer wins and the others hang up with LOSE_RACE.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.fssim.calllog import CallLog
from adapters.fssim.channel import SimChannel, cause_q850
from adapters.fssim.dialstring import ORIGINATE_SYNTAX, DialError, Leg, OriginateArgs
from adapters.fssim.dialstring import parse_originate as parse
from adapters.fssim.events import OutEvent, Pair
from adapters.fssim.hub import Hub
from adapters.fssim.media import MediaScript
from adapters.fssim.scenario import FAILURES, Outcome, Scenario, plan_call

__all__ = ["CallEngine", "Limits", "OriginateJob"]

_US = 1_000_000
# switch_channel_callstate_t
CALLSTATE_NUMBERS = {"DOWN": 0, "DIALING": 1, "RINGING": 2, "EARLY": 3, "ACTIVE": 4, "HANGUP": 7}


@dataclass(slots=True)
class Limits:
    max_sessions: int = 1000
    sps: int = 30
    paused_outbound: bool = False
    # Tokens left in the current one-second window (runtime.sps in switch_core).
    sps_left: int = 0
    window_start: float = float("-inf")


@dataclass(slots=True)
class OriginateJob:
    arg: str
    args: OriginateArgs
    on_done: Callable[[str], None]
    group: int = 0
    legs: list[SimChannel] = field(default_factory=list)
    # Why legs of the current group could not even be created (refusals, error/ endpoints).
    refusals: list[str] = field(default_factory=list)
    timed_out: bool = False
    done: bool = False
    # The global origination_uuid is consumed by the first leg created with it.
    uuid_used: bool = False


class CallEngine:
    """Owns the live channels. Time-driven steps are asyncio timers, one per pending step."""

    def __init__(self, hub: Hub, scenario: Scenario, limits: Limits, now: Callable[[], float]):
        self.hub = hub
        self.scenario = scenario
        self.limits = limits
        self._now = now  # monotonic real seconds, for the SPS window
        self.channels: dict[str, SimChannel] = {}
        self.attempts: dict[str, int] = {}
        self.media = MediaScript(hub, scenario, self._chan_event)
        self.originate_count = 0
        self.sessions_since_startup = 0
        self.refused_count = 0
        self.max_live = 0
        self.sps_peak = 0
        self.on_idle: Callable[[], None] = lambda: None
        self.call_log: CallLog | None = None

    # --- events --------------------------------------------------------------------------------

    def _chan_event(
        self,
        name: str,
        chan: SimChannel,
        ts_us: int,
        *,
        head: tuple[Pair, ...] = (),
        tail: tuple[Pair, ...] = (),
        with_vars: bool = True,
    ) -> None:
        if not self.hub.wanted(name):
            return
        pairs = self.hub.common(name, ts_us)
        pairs.extend(head)
        pairs.extend(chan.basic_data())
        event = OutEvent(
            name,
            pairs,
            variables=chan.variables if with_vars else None,
            var_block=chan.var_block if with_vars else None,
            tail=tail,
            unique_id=chan.uuid,
        )
        self.hub.fire(event)

    def _state(self, chan: SimChannel, state: str, ts_us: int) -> None:
        chan.state = state
        if self.scenario.state_events:
            self._chan_event("CHANNEL_STATE", chan, ts_us, with_vars=False)

    def _callstate(self, chan: SimChannel, callstate: str, ts_us: int) -> None:
        old, chan.callstate = chan.callstate, callstate
        if self.scenario.state_events:
            number = str(CALLSTATE_NUMBERS[callstate])
            head = (("Original-Channel-Call-State", old), ("Channel-Call-State-Number", number))
            self._chan_event("CHANNEL_CALLSTATE", chan, ts_us, head=head, with_vars=False)

    # --- originate -----------------------------------------------------------------------------

    def originate(self, arg: str, on_done: Callable[[str], None]) -> None:
        """Start an originate; `on_done` gets the API output (`+OK <uuid>\\n` / `-ERR X\\n`)."""
        self.originate_count += 1
        try:
            args = parse(arg)
        except DialError as err:
            text = f"-USAGE: {ORIGINATE_SYNTAX}\n" if err.cause == "-USAGE" else None
            on_done(text or f"-ERR {err.cause}\n")
            return
        job = OriginateJob(arg, args, on_done)
        self._start_group(job)

    def _admit(self, wanted_uuid: str | None) -> bool:
        lim = self.limits
        if lim.paused_outbound:
            return False
        if wanted_uuid is not None and wanted_uuid in self.channels:
            return False
        now = self._now()
        if now - lim.window_start >= 1.0:
            if lim.window_start > float("-inf"):
                self.sps_peak = max(self.sps_peak, lim.sps - lim.sps_left)
            lim.window_start = now
            lim.sps_left = lim.sps
        lim.sps_left -= 1
        if lim.sps_left <= 0:
            return False
        return len(self.channels) + 1 <= lim.max_sessions

    def _start_group(self, job: OriginateJob) -> None:
        job.legs = []
        job.refusals = []
        now = self.hub.clock.now_us()
        for leg in job.args.groups[job.group]:
            chan = self._new_leg(job, leg, now)
            if chan is None:
                job.refusals.append("DESTINATION_OUT_OF_ORDER")
            elif isinstance(chan, str):
                job.refusals.append(chan)
            else:
                job.legs.append(chan)
        if not job.legs:
            self._group_failed(job)

    def _new_leg(self, job: OriginateJob, leg: Leg, now: int) -> SimChannel | str | None:
        variables = dict(job.args.global_vars)
        if job.uuid_used:
            variables.pop("origination_uuid", None)
        variables.update(leg.variables)
        wanted = variables.get("origination_uuid")
        if not self._admit(wanted):
            self.refused_count += 1
            if self.call_log is not None:
                dup = wanted is not None and wanted in self.channels
                self.call_log.refused(variables, leg.number,
                                      "duplicate_uuid" if dup else "admission")
            return None
        if leg.endpoint == "error":
            return leg.number.upper()
        attempt = self.attempts.get(leg.number, 0)
        self.attempts[leg.number] = attempt + 1
        plan = plan_call(self.scenario, leg.number, attempt)
        uid = wanted or str(uuidlib.uuid4())
        if "origination_uuid" not in leg.variables and wanted is not None:
            job.uuid_used = True
        cid_name = variables.get("origination_caller_id_name", job.args.cid_name or "FreeSWITCH")
        cid_num = variables.get("origination_caller_id_number", job.args.cid_num or "0000000000")
        host = leg.host or "127.0.0.1"
        chan = SimChannel(
            uid, leg.channel_name, leg.number, cid_name, cid_num, now, plan, job, leg.gateway, host
        )
        self.channels[uid] = chan
        self.sessions_since_startup += 1
        self.max_live = max(self.max_live, len(self.channels))
        self._init_vars(chan, leg, variables)
        timeout = variables.get("leg_timeout") or variables.get("originate_timeout")
        chan.leg_timeout = float(_int(timeout, job.args.timeout)) or 60.0
        self._chan_event("CHANNEL_OUTGOING", chan, now, with_vars=False)
        self._state(chan, "CS_INIT", now)
        self._chan_event("CHANNEL_CREATE", chan, now)
        if self.call_log is not None:
            self.call_log.created(chan)
        self._chan_event("CHANNEL_ORIGINATE", chan, now)
        self._state(chan, "CS_ROUTING", now)
        self._state(chan, "CS_CONSUME_MEDIA", now)
        self._schedule_leg(chan)
        return chan

    def _init_vars(self, chan: SimChannel, leg: Leg, variables: dict[str, str]) -> None:
        chan.set_var("direction", "outbound")
        chan.set_var("is_outbound", "true")
        chan.set_var("uuid", chan.uuid)
        chan.set_var("call_uuid", chan.uuid)
        chan.set_var("session_id", str(self.sessions_since_startup))
        if leg.endpoint == "sofia":
            if leg.gateway:
                chan.set_var("sip_gateway_name", leg.gateway)
            chan.set_var("sip_profile_name", "external")
        chan.set_var("channel_name", chan.name)
        if leg.endpoint == "sofia":
            chan.set_var("sip_destination_url", f"sip:{leg.number}@{chan.host}")
        chan.set_vars([*variables.items(), ("originate_early_media", "false")])

    def _schedule_leg(self, chan: SimChannel) -> None:
        plan, clock = chan.plan, self.hub.clock
        start = chan.created_us
        timeout_us = start + int(chan.leg_timeout * _US)
        if plan.progress_delay is not None:
            at = start + int(plan.progress_delay * _US)
            if at < timeout_us:
                chan.handles.append(clock.call_at_us(at, lambda: self._progress(chan, at)))
        final_us = start + int(plan.ring_time * _US)
        if plan.outcome is not Outcome.NO_ANSWER and final_us < timeout_us:
            chan.handles.append(clock.call_at_us(final_us, lambda: self._final(chan, final_us)))
        else:
            timeout = clock.call_at_us(timeout_us, lambda: self._timeout(chan, timeout_us))
            chan.handles.append(timeout)

    def _progress(self, chan: SimChannel, ts: int) -> None:
        chan.progress_us = ts
        self._callstate(chan, "RINGING", ts)
        self._chan_event("CHANNEL_PROGRESS", chan, ts)
        if chan.variables.get("return_ring_ready", "").lower() == "true":
            # originate returns as soon as the far end rings.
            self._finish(chan.job, f"+OK {chan.uuid}\n")

    def _timeout(self, chan: SimChannel, ts: int) -> None:
        job = chan.job
        job.timed_out = True
        chan.set_var("sip_term_status", "487")
        self.hangup(chan, "NO_ANSWER", ts, disposition="send_cancel")

    def _final(self, chan: SimChannel, ts: int) -> None:
        outcome = chan.plan.outcome
        failure = FAILURES.get(outcome)
        if failure is not None:
            chan.set_var("sip_term_status", str(failure.sip_status))
            self.hangup(chan, failure.cause, ts, disposition="recv_refuse")
            return
        self._answer(chan, ts)

    def _answer(self, chan: SimChannel, ts: int) -> None:
        job = chan.job
        chan.answered_us = ts
        chan.handles.clear()
        chan.set_vars([
            ("sip_to_user", chan.destination),
            ("sip_from_user", chan.cid_num),
            ("sip_call_id", f"{chan.uuid}@fssim"),
            ("read_codec", "PCMA"),
            ("read_rate", "8000"),
            ("write_codec", "PCMA"),
            ("write_rate", "8000"),
            ("audio_media_flow", "sendrecv"),
            ("endpoint_disposition", "ANSWER"),
        ])  # fmt: skip
        self._chan_event("CHANNEL_ANSWER", chan, ts)
        if self.call_log is not None:
            self.call_log.answered(chan)
        self._callstate(chan, "ACTIVE", ts)
        # The winner is decided; the other legs of a simultaneous group lose the race.
        for other in list(job.legs):
            if other is not chan and other.up:
                other.set_var("group_dial_status", "loser")
                self.hangup(other, "LOSE_RACE", ts, disposition="send_cancel")
        self._finish(job, f"+OK {chan.uuid}\n")
        app = job.args.application
        if app is not None:
            self._state(chan, "CS_EXECUTE", ts)
            chan.set_var("current_application", app)
            chan.set_var("current_application_data", job.args.application_arg)
            if self.scenario.state_events:
                tail = (("Application", app), ("Application-Data", job.args.application_arg))
                self._chan_event("CHANNEL_EXECUTE", chan, ts, tail=tail)
                if app == "park":
                    self._chan_event("CHANNEL_PARK", chan, ts)
        hangup_at = ts + int(chan.plan.talk_time * _US)
        clock = self.hub.clock
        chan.handles.append(clock.call_at_us(hangup_at, lambda: self._remote_bye(chan, hangup_at)))
        self.media.after_answer(chan, ts, hangup_at)

    def _remote_bye(self, chan: SimChannel, ts: int) -> None:
        chan.set_var("sip_term_status", "200")
        self.hangup(chan, "NORMAL_CLEARING", ts, disposition="recv_bye")

    # --- hangup --------------------------------------------------------------------------------

    def hangup(
        self, chan: SimChannel, cause: str, ts: int | None = None, disposition: str = "send_bye"
    ) -> None:
        """End a leg now (or at simulated `ts`), emitting the full hangup sequence."""
        if not chan.up:
            return
        for handle in chan.handles:
            handle.cancel()
        chan.handles.clear()
        if ts is None:
            ts = self.hub.clock.now_us()
        ts = max(ts, chan.answered_us, chan.progress_us, chan.created_us + 1)
        chan.hangup_us = ts
        chan.hangup_cause = cause
        if "sip_term_status" not in chan.variables:
            chan.set_var("sip_term_status", "200" if chan.answered else "487")
        status = chan.variables["sip_term_status"]
        chan.set_var("proto_specific_hangup_cause", f"sip:{status}")
        chan.set_var("sip_term_cause", str(cause_q850(cause)))
        chan.set_var("sip_hangup_disposition", disposition)
        chan.set_var("hangup_cause", cause)
        chan.set_var("hangup_cause_q850", str(cause_q850(cause)))
        self._callstate(chan, "HANGUP", ts)
        chan.state = "CS_HANGUP"
        self._chan_event("CHANNEL_HANGUP", chan, ts, head=(("Hangup-Cause", cause),))
        if chan.answered and self.scenario.state_events and chan.variables.get(
            "current_application"
        ):
            app = chan.variables["current_application"]
            if app == "park":
                self._chan_event("CHANNEL_UNPARK", chan, ts)
            tail = (("Application", app), ("Application-Response", "_none_"))
            self._chan_event("CHANNEL_EXECUTE_COMPLETE", chan, ts, tail=tail)
        self.media.stop_recording(chan, ts)
        self._state(chan, "CS_HANGUP", ts)
        chan.set_var("digits_dialed", "none")
        chan.set_timestamps()
        self._state(chan, "CS_REPORTING", ts)
        self._chan_event("CHANNEL_HANGUP_COMPLETE", chan, ts, head=(("Hangup-Cause", cause),))
        job = chan.job
        # The job fails once every leg of the group is down (HANGUP_COMPLETE precedes it).
        if not job.done and chan in job.legs and all(not leg.up for leg in job.legs):
            self._group_failed(job)
        self._state(chan, "CS_DESTROY", ts)
        self._chan_event("CHANNEL_DESTROY", chan, ts)
        if self.call_log is not None:
            self.call_log.hungup(chan, cause, disposition)
        self.channels.pop(chan.uuid, None)
        if not self.channels:
            self.on_idle()

    def _group_failed(self, job: OriginateJob) -> None:
        more = job.group + 1 < len(job.args.groups)
        go_on = job.args.global_vars.get("originate_continue_on_timeout", "") == "true"
        if more and (not job.timed_out or go_on):
            job.group += 1
            job.timed_out = False
            self._start_group(job)
            return
        # Like switch_ivr_originate: the first leg, in dial-string order, that went down.
        causes = [leg.hangup_cause for leg in job.legs if leg.hangup_cause] + job.refusals
        cause = "NO_ANSWER" if job.timed_out else (causes[0] if causes else "")
        self._finish(job, f"-ERR {cause or 'DESTINATION_OUT_OF_ORDER'}\n")

    def _finish(self, job: OriginateJob, result: str) -> None:
        if not job.done:
            job.done = True
            job.on_done(result)

    def kill(self, uid: str, cause: str = "NORMAL_CLEARING") -> bool:
        chan = self.channels.get(uid)
        if chan is None:
            return False
        self.hangup(chan, cause)
        return True

    def hupall(self, cause: str, match: dict[str, str] | None = None) -> None:
        for chan in list(self.channels.values()):
            if match and any(chan.variables.get(k) != v for k, v in match.items()):
                continue
            self.hangup(chan, cause)

    def drop_all(self) -> None:
        """A crash: every channel vanishes silently (no events, no job results)."""
        for chan in self.channels.values():
            for handle in chan.handles:
                handle.cancel()
            self.media.forget(chan)
        if self.channels and self.call_log is not None:
            self.call_log.vanished()
        self.channels.clear()
        self.on_idle()


def _int(value: str | None, default: int) -> int:
    if value is None:
        return default
    digits = "".join(c for c in value if c.isdigit())
    return int(digits) if digits else default
