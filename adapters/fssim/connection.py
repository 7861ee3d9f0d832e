"""One inbound Event Socket connection, behaving like a mod_event_socket listener.

Invariants:
* A command's reply is written before anything the command causes (a bgapi reply precedes its
  BACKGROUND_JOB, which is fired no earlier than the reply's write).
* While an `api originate` rings, the connection is blocked as the listener thread would be:
  later commands wait, events are queued, and the api/response is written before them.
* Leaving for any reason FreeSWITCH would (exit, bad password, auth timeout, ACL, too many lost
  events) sends text/disconnect-notice and closes; `abort()` drops without a word (a crash).
* Output is gathered in `_out` and written once per loop iteration (one send instead of one per
  event); every write goes through `write`, so wire order is call order.
"""

from __future__ import annotations

import asyncio
import re
import uuid as uuidlib
from collections import deque
from typing import TYPE_CHECKING, cast

from adapters.esl.codec import (
    Command,
    EslCommandParser,
    EslProtocolError,
    encode_api_response,
    encode_auth_request,
    encode_command_reply,
    encode_disconnect_notice,
    encode_rude_rejection,
    url_encode,
)
from adapters.fssim.events import OutEvent

if TYPE_CHECKING:
    from adapters.fssim.server import FsSimulator

__all__ = ["EVENT_NAMES", "EslConnection"]



def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# switch_event.c EVENT_NAMES, without CLONE and ALL.
EVENT_NAMES = _words(
    "CUSTOM CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_ANSWER "
    "CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE "
    "CHANNEL_HOLD CHANNEL_UNHOLD CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PROGRESS "
    "CHANNEL_PROGRESS_MEDIA CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK CHANNEL_APPLICATION "
    "CHANNEL_ORIGINATE CHANNEL_UUID API LOG INBOUND_CHAN OUTBOUND_CHAN STARTUP SHUTDOWN PUBLISH "
    "UNPUBLISH TALK NOTALK SESSION_CRASH MODULE_LOAD MODULE_UNLOAD DTMF MESSAGE PRESENCE_IN "
    "NOTIFY_IN PRESENCE_OUT PRESENCE_PROBE MESSAGE_WAITING MESSAGE_QUERY ROSTER CODEC "
    "BACKGROUND_JOB DETECTED_SPEECH DETECTED_TONE PRIVATE_COMMAND HEARTBEAT TRAP ADD_SCHEDULE "
    "DEL_SCHEDULE EXE_SCHEDULE RE_SCHEDULE RELOADXML NOTIFY PHONE_FEATURE "
    "PHONE_FEATURE_SUBSCRIBE SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS CHANNEL_DATA GENERAL "
    "COMMAND SESSION_HEARTBEAT CLIENT_DISCONNECTED SERVER_DISCONNECTED SEND_INFO RECV_INFO "
    "RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE CALL_SECURE NAT RECORD_START RECORD_STOP "
    "PLAYBACK_START PLAYBACK_STOP CALL_UPDATE FAILURE SOCKET_DATA MEDIA_BUG_START "
    "MEDIA_BUG_STOP CONFERENCE_DATA_QUERY CONFERENCE_DATA CALL_SETUP_REQ CALL_SETUP_RESULT "
    "CALL_DETAIL DEVICE_STATE TEXT SHUTDOWN_REQUESTED CERT_RELOAD"
)
# The events `myevents` turns on (mod_event_socket.c).
MYEVENTS = _words(
    "CHANNEL_ANSWER CHANNEL_APPLICATION CHANNEL_BRIDGE CHANNEL_CREATE CHANNEL_DATA "
    "CHANNEL_DESTROY CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP "
    "CHANNEL_HANGUP_COMPLETE CHANNEL_ORIGINATE CHANNEL_UUID CHANNEL_OUTGOING CHANNEL_PARK "
    "CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_STATE CHANNEL_UNBRIDGE CHANNEL_UNPARK "
    "DETECTED_SPEECH DTMF NOTALK TALK"
)
MAX_MISSED = 500


def _event_name(token: str) -> str | None:
    """switch_name_event: case-insensitive, `SWITCH_EVENT_` prefix allowed."""
    upper = token.upper()
    if len(upper) > 13 and upper[13:] in EVENT_NAMES | {"ALL"}:
        upper = upper[13:]
    return upper if upper in EVENT_NAMES or upper == "ALL" else None


def _xml_event(event: OutEvent) -> bytes:
    esc = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
    lines = ["<event>", "  <headers>"]
    for name, value in event.pairs():
        lines.append(f"    <{name}>{url_encode(value)}</{name}>")
    lines.append("  </headers>")
    if event.body:
        body = "".join(esc.get(c, c) for c in event.body)
        lines.append(f'  <body length="{len(event.body.encode())}">{body}</body>')
    payload = ("\n".join(lines) + "\n</event>\n").encode()
    return b"Content-Length: %d\nContent-Type: text/event-xml\n\n%s" % (len(payload), payload)


class EslConnection(asyncio.Protocol):
    def __init__(self, sim: FsSimulator) -> None:
        self.sim = sim
        self.transport: asyncio.Transport | None = None
        self.parser = EslCommandParser()
        self.authed = False
        self.closing = False
        self.fmt = "plain"
        self.events_on = False
        self.all_events = False
        self.all_custom = False
        self.event_list: set[str] = set()
        self.custom: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.my_uuid: str | None = None
        self.blocked = False
        self.pending: deque[Command] = deque()
        self.queued: list[bytes] = []
        self.lost = 0
        self.auth_timer: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []
        self._out_size = 0
        self._loop = asyncio.get_running_loop()
        self.closed = self._loop.create_future()

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is not an asyncio.Transport subclass, only the same shape.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if not self.sim.acl_allows(peer[0] if peer else ""):
            self.write(encode_rude_rejection())
            self.disconnect()
            return
        self.sim.connections.add(self)
        self.sim.hub.listeners.append(self)
        self.write(encode_auth_request())
        loop = asyncio.get_running_loop()
        self.auth_timer = loop.call_later(self.sim.auth_timeout, self.disconnect)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        self.sim.connections.discard(self)
        if self in self.sim.hub.listeners:
            self.sim.hub.listeners.remove(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            commands = self.parser.feed(data)
        except EslProtocolError:
            self.disconnect()
            return
        self.pending.extend(commands)
        self._drain()

    # --- output --------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is None or self.closing:
            return
        if not self._out:
            self._loop.call_soon(self.flush)
        self._out.append(data)
        self._out_size += len(data)

    def flush(self) -> None:
        if self._out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._out))
        self._out.clear()
        self._out_size = 0

    def backlog(self) -> int:
        """Bytes written but not yet handed to the kernel."""
        buffered = self.transport.get_write_buffer_size() if self.transport else 0
        return self._out_size + buffered

    def disconnect(self, message: str | None = None) -> None:
        """send_disconnect + close: the notice always precedes the close."""
        if self.closing or self.transport is None:
            return
        if message is None:
            self.write(encode_disconnect_notice())
        else:
            self.write(encode_disconnect_notice(message))
        self.flush()
        self.closing = True
        self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closing = True
            self.transport.abort()

    def reply(self, text: str) -> None:
        self.write(encode_command_reply(text))

    # --- event delivery ------------------------------------------------------------------------

    def wants(self, name: str, subclass: str | None) -> bool:
        if not self.events_on or self.closing:
            return False
        if self.all_events:
            return True
        if name not in self.event_list:
            return False
        return name != "CUSTOM" or subclass is None or self.all_custom or subclass in self.custom

    def _passes_filters(self, event: OutEvent) -> bool:
        send = False
        for name, raw in self.filters:
            value = event.header(name)
            if value is None:
                continue
            positive, comp = True, raw
            while comp and comp[0] in "+- ":
                positive = {"+": True, "-": False}.get(comp[0], positive)
                comp = comp[1:]
            if send and positive:
                continue
            if raw.startswith("/"):
                try:
                    matched = re.search(comp[1:].rstrip("/"), value) is not None
                except re.error:
                    matched = False
            else:
                matched = value.lower() == comp.lower()
            if matched:
                if not positive:
                    return False
                send = True
        return send

    def deliver(self, event: OutEvent) -> None:
        if self.filters and not self._passes_filters(event):
            return
        if self.my_uuid is not None and event.unique_id != self.my_uuid:
            return
        data = event.plain() if self.fmt == "plain" else (
            event.json() if self.fmt == "json" else _xml_event(event)
        )  # fmt: skip
        if self.blocked:
            self.queued.append(data)
            return
        if self.transport is None or self.closing:
            return
        if self.backlog() > self.sim.max_backlog_bytes:
            # mod_event_socket drops events when the listener's queue is full and kills the
            # listener after MAX_MISSED consecutive losses.
            self.lost += 1
            if self.lost > MAX_MISSED:
                self.disconnect("killed listener because of lost events\n")
            return
        self.lost = 0
        self.write(data)

    # --- commands ------------------------------------------------------------------------------

    def _drain(self) -> None:
        while self.pending and not self.blocked and not self.closing:
            self.dispatch(self.pending.popleft())

    def _unblock(self) -> None:
        self.blocked = False
        queued, self.queued = self.queued, []
        for data in queued:
            self.write(data)
        self._drain()

    def dispatch(self, command: Command) -> None:
        if self.auth_timer is not None:
            # Only the first packet is read with the 25 s timeout (listener_run).
            self.auth_timer.cancel()
            self.auth_timer = None
        line = command.line
        low = line.lower()
        if low.startswith(("exit", "...")):
            self.reply("+OK bye")
            self.disconnect()
            return
        if not self.authed:
            if low.startswith("auth "):
                if line[5:] == self.sim.password:
                    self.authed = True
                    self.reply("+OK accepted")
                else:
                    self.reply("-ERR invalid")
                    self.disconnect()
                return
            if low.startswith("userauth "):
                self.reply("-ERR invalid")
                self.disconnect()
                return
            self.reply("-ERR command not found")
            return
        if low.startswith("filter "):
            self.reply(self._filter(line[7:]))
        elif low.startswith("myevents"):
            self.reply(self._myevents(line))
        elif low.startswith("sendmsg"):
            self.reply(self._sendmsg(line[7:].strip(), command))
        elif low.startswith("api "):
            self._api(line[4:])
        elif low.startswith("bgapi "):
            self._bgapi(line[6:], command)
        elif low.startswith("nolog"):
            self.reply("-ERR not loging")
        elif low.startswith("log"):
            self.reply("+OK log level  [7]")
        elif low.startswith(("linger", "nolinger")):
            self.reply("-ERR not controlling a session")
        elif low.startswith("nixevent"):
            self.reply(self._nixevent(line.split(" ")[1:]))
        elif low.startswith("noevents"):
            self.reply(self._noevents())
        elif low.startswith("event"):
            self.reply(self._event(line.split(" ")[1:]))
        else:
            self.reply("-ERR command not found")

    def _api(self, text: str) -> None:
        cmd, _, arg = text.partition(" ")

        def done(result: str) -> None:
            self.write(encode_api_response(result))
            if self.blocked:
                self._unblock()

        if cmd.lower() == "originate":
            self.blocked = True
        self.sim.api.execute(cmd, arg, done)

    def _bgapi(self, text: str, command: Command) -> None:
        cmd, _, arg = text.partition(" ")
        job_uuid = next(
            (v for k, v in command.headers.items() if k.lower() == "job-uuid"), None
        ) or str(uuidlib.uuid4())
        self.write(encode_command_reply(f"+OK Job-UUID: {job_uuid}", [("Job-UUID", job_uuid)]))
        self.sim.run_job(job_uuid, cmd, arg if arg else None)

    def _event(self, tokens: list[str]) -> str:
        keys = 0
        custom = False
        for index, token in enumerate(t for t in tokens if t):
            if index == 0 and token.lower() in ("plain", "json", "xml"):
                self.fmt = token.lower()
                continue
            if custom:
                self.custom.add(token)
                continue
            name = _event_name(token)
            if name is None:
                continue
            keys += 1
            if name == "ALL":
                self.all_events = True
                self.all_custom = True
                self.event_list |= EVENT_NAMES
            else:
                self.event_list.add(name)
            custom = custom or name == "CUSTOM"
        if not keys:
            return "-ERR no keywords supplied"
        self.events_on = True
        return f"+OK event listener enabled {self.fmt}"

    def _nixevent(self, tokens: list[str]) -> str:
        keys = 0
        custom = False
        for token in (t for t in tokens if t):
            if custom:
                self.custom.discard(token)
                continue
            name = _event_name(token)
            if name is None:
                continue
            keys += 1
            if name == "CUSTOM":
                custom = True
            elif name == "ALL":
                self.all_events = False
                self.event_list.clear()
            else:
                if self.all_events:
                    self.all_events = False
                    self.event_list = set(EVENT_NAMES)
                self.event_list.discard(name)
        if not keys:
            return "-ERR no keywords supplied"
        self.events_on = True
        return "+OK events nixed"

    def _noevents(self) -> str:
        self.queued.clear()
        if not self.events_on:
            return "-ERR not listening for events"
        self.events_on = self.all_events = self.all_custom = False
        self.event_list.clear()
        self.custom.clear()
        return "+OK no longer listening for events"

    def _filter(self, text: str) -> str:
        name, _, value = text.lstrip(" ").partition(" ")
        if name.lower() == "delete" and value:
            name, _, target = value.partition(" ")
            if name.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [
                    (n, v) for n, v in self.filters
                    if not (n.lower() == name.lower() and (not target or v == target))
                ]  # fmt: skip
            return f"+OK filter deleted. [{name}][{target or '(null)'}]"
        if not value:
            return "-ERR invalid syntax"
        if name.lower() == "add":
            name, _, value = value.partition(" ")
        self.filters.append((name, value))
        return f"+OK filter added. [{name}]=[{value}]"

    def _myevents(self, line: str) -> str:
        if self.my_uuid is not None:
            return "-ERR aready enabled."
        argv = line.split(" ")
        if len(argv) < 2 or not argv[1]:
            return "-ERR command not found"
        if len(argv) > 2 and argv[1] not in self.sim.engine.channels:
            return "-ERR invalid uuid"
        self.my_uuid = argv[1]
        self.event_list |= MYEVENTS
        self.events_on = True
        lowered = line.lower()
        self.fmt = "xml" if "xml" in lowered else "json" if "json" in lowered else self.fmt
        return "+OK Events Enabled"

    def _sendmsg(self, uid: str, command: Command) -> str:
        headers = {k.lower(): v for k, v in command.headers.items()}
        uid = uid or headers.get("session-id", "")
        chan = self.sim.engine.channels.get(uid)
        if chan is None:
            return f"-ERR invalid session id [{uid or '(null)'}]"
        if headers.get("call-command", "").lower() == "hangup":
            cause = headers.get("hangup-cause", "NORMAL_CLEARING").upper()
            asyncio.get_running_loop().call_soon(self.sim.engine.hangup, chan, cause)
        return "+OK"
