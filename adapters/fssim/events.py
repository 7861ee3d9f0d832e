"""Events as the simulator fires them: header pairs in FreeSWITCH order, serialised lazily.

An `OutEvent` is built once per fired event and serialised at most once per format, and only
if some listener wants it. Delivery is synchronous inside `fire`, so the channel state an event
describes cannot change between building and serialising.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from adapters.esl.codec import encode_event, encode_event_json, encode_header_lines, url_encode

__all__ = ["CALLING", "EventClock", "Identity", "OutEvent", "Pair"]

Pair = tuple[str, str]

# Event-Calling-File / -Function / -Line-Number as FreeSWITCH 1.10 reports them; the lines are
# taken from captures where one exists, else from the current source.
CALLING: Mapping[str, tuple[str, str, int]] = {
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", 768),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", 627),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", 633),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", 2142),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", 304),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3696),
    "CHANNEL_PROGRESS_MEDIA": (
        "switch_channel.c",
        "switch_channel_perform_mark_pre_answered",
        3829,
    ),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", 4042),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", 2971),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", 3021),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", 950),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", 1101),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", 3485),
    "CHANNEL_HANGUP_COMPLETE": (
        "switch_core_state_machine.c",
        "switch_core_session_reporting_state",
        949,
    ),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", 1474),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", 1557),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", 660),
    "HEARTBEAT": ("switch_core.c", "send_heartbeat", 81),
    "RECORD_START": ("switch_ivr_async.c", "record_callback", 1232),
    "RECORD_STOP": ("switch_ivr_async.c", "record_callback", 1311),
    "CUSTOM": ("mod_avmd.c", "avmd_fire_event", 678),
    "API": ("switch_loadable_module.c", "switch_api_execute", 2967),
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_stamp(seconds: int) -> str:
    """`%Y-%m-%d %H:%M:%S` in local time, the format of *_stamp variables and Event-Date-Local."""
    t = time.localtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )


def gmt_stamp(seconds: int) -> str:
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class EventClock:
    """Caches the two date strings per whole second: they cost more than the rest of a header."""

    __slots__ = ("_gmt", "_local", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._local = ""
        self._gmt = ""

    def dates(self, ts_us: int) -> tuple[str, str]:
        second = ts_us // 1_000_000
        if second != self._second:
            self._second = second
            self._local = local_stamp(second)
            self._gmt = gmt_stamp(second)
        return self._local, self._gmt


@dataclass(frozen=True, slots=True)
class Identity:
    """The switch as it names itself in every event."""

    core_uuid: str
    hostname: str
    ipv4: str
    ipv6: str = "::1"


class OutEvent:
    """One fired event.

    `head` is everything up to the variables, `variables` the channel variables (emitted as
    `variable_<name>` in insertion order), `tail` the event-specific headers FreeSWITCH adds
    after the channel data (DTMF-Digit, Application...). `var_block` is the channel's cached
    plain encoding of its variables, valid for this instant.
    """

    __slots__ = (
        "_json",
        "_lookup",
        "_plain",
        "body",
        "head",
        "name",
        "subclass",
        "tail",
        "unique_id",
        "var_block",
        "variables",
    )

    def __init__(
        self,
        name: str,
        head: list[Pair],
        *,
        subclass: str | None = None,
        variables: Mapping[str, str] | None = None,
        var_block: Callable[[], bytes] | None = None,
        tail: Sequence[Pair] = (),
        body: str | None = None,
        unique_id: str | None = None,
    ) -> None:
        self.name = name
        self.subclass = subclass
        self.head = head
        self.variables = variables
        self.var_block = var_block
        self.tail = tail
        self.body = body
        self.unique_id = unique_id
        self._plain: bytes | None = None
        self._json: bytes | None = None
        self._lookup: dict[str, str] | None = None

    def pairs(self) -> list[Pair]:
        out = list(self.head)
        if self.variables:
            out.extend((f"variable_{k}", v) for k, v in self.variables.items())
        out.extend(self.tail)
        return out

    def plain(self) -> bytes:
        if self._plain is None:
            if self.var_block is None:
                self._plain = encode_event(self.pairs(), self.body)
            else:
                parts = [
                    encode_header_lines(self.head),
                    self.var_block(),
                    encode_header_lines(list(self.tail)),
                ]
                payload = b"".join(parts)
                if self.body:
                    raw = self.body.encode()
                    payload += b"Content-Length: %d\n\n%s" % (len(raw), raw)
                else:
                    payload += b"\n"
                self._plain = b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (
                    len(payload),
                    payload,
                )
        return self._plain

    def json(self) -> bytes:
        if self._json is None:
            self._json = encode_event_json(self.pairs(), self.body)
        return self._json

    def header(self, name: str) -> str | None:
        """Case-insensitive, first occurrence wins (switch_event_get_header)."""
        if self._lookup is None:
            lookup: dict[str, str] = {}
            for key, value in self.pairs():
                lookup.setdefault(key.lower(), value)
            self._lookup = lookup
        return self._lookup.get(name.lower())


def variable_line(name: str, value: str) -> bytes:
    return f"variable_{name}: {url_encode(value) or '_undef_'}\n".encode()
