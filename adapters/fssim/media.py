"""What happens on an answered leg: DTMF, answering-machine detection, call recording.

* DTMF: one DTMF event per digit of the number's script (DTMF-Digit, DTMF-Duration in samples
  at 8 kHz, DTMF-Source RTP), channel data without variables, as switch_channel_dequeue_dtmf.
* mod_amd: sets `amd_result` (HUMAN / MACHINE) and `amd_cause` some seconds after answer, so
  they show as variable_amd_result on later events (HANGUP_COMPLETE).
* mod_avmd (voicemail outcome): CUSTOM avmd::start at answer, avmd::beep (Beep-Status
  DETECTED, sets avmd_detect=TRUE) at the beep, avmd::stop half a second later.
* Recording: `execute_on_answer=record_session <path>` (or `uuid_record <uuid> start <path>`)
  fires RECORD_START; hangup (or `stop`) fires RECORD_STOP with record_seconds/_ms/_samples.
All timers go into the channel's `handles`, so a hangup cancels whatever has not happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from adapters.fssim.channel import SimChannel
from adapters.fssim.events import Pair
from adapters.fssim.hub import Hub
from adapters.fssim.scenario import Outcome, Scenario

__all__ = ["ChannelEmitter", "MediaScript"]

_US = 1_000_000


class ChannelEmitter(Protocol):
    def __call__(
        self,
        name: str,
        chan: SimChannel,
        ts_us: int,
        *,
        head: tuple[Pair, ...] = (),
        tail: tuple[Pair, ...] = (),
        with_vars: bool = True,
    ) -> None: ...


class MediaScript:
    def __init__(self, hub: Hub, scenario: Scenario, emit: ChannelEmitter) -> None:
        self.hub = hub
        self.scenario = scenario
        self.emit = emit
        # uuid -> (file path, start time) of recordings in progress.
        self.recordings: dict[str, tuple[str, int]] = {}

    def _at(self, chan: SimChannel, ts: int, action: Callable[[], None]) -> None:
        chan.handles.append(self.hub.clock.call_at_us(ts, action))

    def after_answer(self, chan: SimChannel, answered: int, hangup_at: int) -> None:
        sc, plan = self.scenario, chan.plan
        t = answered + int(sc.dtmf_delay * _US)
        for digit in plan.dtmf:
            if t >= hangup_at:
                break
            self._at(chan, t, _bind(self._dtmf, chan, digit, t))
            t += int(sc.dtmf_interval * _US)
        machine = plan.outcome is Outcome.VOICEMAIL
        amd_at = answered + int(plan.amd_delay * _US)
        if (sc.amd or machine) and amd_at < hangup_at:
            self._at(chan, amd_at, _bind(self._amd, chan, machine))
        if machine:
            self._avmd(chan, "avmd::start", answered, (("Start-time", str(answered)),))
            beep = answered + int(plan.beep_delay * _US)
            if beep < hangup_at:
                self._at(chan, beep, _bind(self._beep, chan, beep))
        command = chan.variables.get("execute_on_answer", "")
        app, _, path = command.partition(" ")
        if app == "record_session" and path:
            self.start_recording(chan, path.strip(), answered)

    def _dtmf(self, chan: SimChannel, digit: str, ts: int) -> None:
        samples = str(self.scenario.dtmf_duration_ms * 8)
        tail = (("DTMF-Digit", digit), ("DTMF-Duration", samples), ("DTMF-Source", "RTP"))
        self.emit("DTMF", chan, ts, tail=tail, with_vars=False)

    def _amd(self, chan: SimChannel, machine: bool) -> None:
        chan.set_var("amd_result", "MACHINE" if machine else "HUMAN")
        chan.set_var("amd_cause", "LONGGREETING" if machine else "HUMAN")

    def _avmd(self, chan: SimChannel, subclass: str, ts: int, extra: tuple[Pair, ...]) -> None:
        pairs = (("Unique-ID", chan.uuid), ("Call-command", "avmd"), *extra)
        self.hub.fire_simple("CUSTOM", ts, pairs, subclass=subclass)

    def _beep(self, chan: SimChannel, ts: int) -> None:
        chan.set_var("avmd_detect", "TRUE")
        elapsed = str(ts - chan.answered_us)
        self._avmd(chan, "avmd::beep", ts, (
            ("Beep-Status", "DETECTED"), ("Frequency", "999.589033"),
            ("Frequency-variance", "0.000003"), ("Amplitude", "11976.009917"),
            ("Amplitude-variance", "871.936721"), ("Detection-time", elapsed),
            ("Detector-resolution", "1"), ("Detector-offset", "0"), ("Detector-index", "36"),
        ))  # fmt: skip
        stop = ts + _US // 2
        self._at(chan, stop, _bind(self._avmd_stop, chan, stop))

    def _avmd_stop(self, chan: SimChannel, ts: int) -> None:
        total = str(ts - chan.answered_us)
        self._avmd(chan, "avmd::stop", ts, (("Beep-Status", "DETECTED"), ("Total-time", total)))

    def start_recording(self, chan: SimChannel, path: str, ts: int) -> None:
        if chan.uuid in self.recordings:
            self.stop_recording(chan, ts)
        self.recordings[chan.uuid] = (path, ts)
        chan.set_var("record_session", path)
        self.emit("RECORD_START", chan, ts, tail=(("Record-File-Path", path),))

    def stop_recording(self, chan: SimChannel, ts: int) -> bool:
        found = self.recordings.pop(chan.uuid, None)
        if found is None:
            return False
        path, start = found
        elapsed_us = max(ts - start, 0)
        chan.set_var("record_samples", str(elapsed_us * 8000 // _US))
        chan.set_var("record_seconds", str(elapsed_us // _US))
        chan.set_var("record_ms", str(elapsed_us // 1000))
        self.emit("RECORD_STOP", chan, ts, tail=(("Record-File-Path", path),))
        return True

    def forget(self, chan: SimChannel) -> None:
        self.recordings.pop(chan.uuid, None)


def _bind(func: Callable[..., None], *args: object) -> Callable[[], None]:
    def call() -> None:
        func(*args)

    return call
