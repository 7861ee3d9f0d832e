"""Sans-IO codec for the FreeSWITCH Event Socket (ESL).

No sockets, no asyncio: callers feed bytes in and get typed messages out (h11 style), or ask
for the bytes of a message to send.

Wire rules this module relies on (mod_event_socket.c, switch_event.c, switch_utils.c):

* A message is `Name: value\\n` lines ended by an empty line. When the header block carries
  `Content-Length: N`, exactly N *bytes* follow. Framing is done on bytes, and nothing is
  decoded until a frame is complete, so a multi-byte UTF-8 character split across reads, or a
  body holding `\\n\\n`, can never confuse the framing.
* `text/event-plain` bodies hold the event's own header block; if that block has its own
  `Content-Length: n`, the n bytes after its empty line are the event body (BACKGROUND_JOB's
  `+OK <uuid>\\n`). Both Content-Length headers are framing: they are not kept in `headers`.
* Event header values are percent-encoded by switch_url_encode (the unsafe set
  `\\r\\n #%&+:;<=>?@[\\]^`{|}"`, control bytes and every non-ASCII byte; an existing `%XX`
  with upper-case hex is left alone). Values are decoded with `urllib.parse.unquote`, never
  `unquote_plus`: a `+` that arrives raw is a literal plus.
* An empty event header value is serialised by FreeSWITCH as `_undef_`; we do the same.
* Commands (client → server) are one line plus optional header lines; a CR or LF inside the
  command line would start a new command, so `encode_command` refuses it (command injection).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

import orjson

__all__ = [
    "DISCONNECT_MESSAGE", "RUDE_REJECTION_MESSAGE", "ApiResponse", "AuthRequest", "Command",
    "CommandReply", "DisconnectNotice", "EslCommandParser", "EslError", "EslInjectionError",
    "EslParser", "EslProtocolError", "Event", "Headers", "KeepHeaders", "LogData", "Message",
    "RudeRejection",
    "UnknownMessage", "encode_api_response", "encode_auth_request", "encode_command",
    "encode_command_reply", "encode_disconnect_notice", "encode_event", "encode_event_json",
    "encode_header_lines", "encode_rude_rejection", "url_decode", "url_encode",
]  # fmt: skip

DISCONNECT_MESSAGE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
RUDE_REJECTION_MESSAGE = "Access Denied, go away.\n"
# mod_event_socket refuses a command whose Content-Length is above this (16 MiB).
MAX_CONTENT_LENGTH = 16 * 1024 * 1024
# read_packet gives up on a header block longer than this (10 MiB).
MAX_HEADER_BLOCK = 10 * 1024 * 1024


class EslError(Exception):
    """Root of every error raised by the ESL codec."""


class EslProtocolError(EslError):
    """The peer sent bytes that cannot be framed (bad Content-Length, oversized block)."""


class EslInjectionError(EslError, ValueError):
    """A value would change the framing of what we send (CR/LF in a command or header)."""


# Header pairs in wire order; duplicates allowed (CHANNEL_HANGUP_COMPLETE carries Hangup-Cause
# twice), so encoders accept either a mapping or a sequence of pairs.
Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class AuthRequest:
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommandReply:
    reply_text: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reply_text.startswith("+OK")

    @property
    def job_uuid(self) -> str | None:
        return self.headers.get("Job-UUID")


@dataclass(frozen=True, slots=True)
class ApiResponse:
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.body.startswith("+OK")


@dataclass(frozen=True, slots=True)
class Event:
    """One event. `headers` holds decoded values; on duplicates the first wins, as in
    switch_event_get_header. `format` is the wire format it came in (plain, json, xml)."""

    name: str
    headers: Mapping[str, str]
    body: str | None = None
    format: str = "plain"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def subclass(self) -> str | None:
        return self.headers.get("Event-Subclass")

    @property
    def unique_id(self) -> str | None:
        return self.headers.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        return self.headers.get("Job-UUID")


@dataclass(frozen=True, slots=True)
class _BodyMessage:
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


class DisconnectNotice(_BodyMessage):
    """`text/disconnect-notice`: the server is about to close the socket."""

    __slots__ = ()


class RudeRejection(_BodyMessage):
    """`text/rude-rejection`: refused by the ACL before the greeting."""

    __slots__ = ()


class LogData(_BodyMessage):
    """`log/data`: one log line (after `log <level>`)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    content_type: str
    headers: Mapping[str, str]
    body: bytes = b""


Message = (
    AuthRequest | CommandReply | ApiResponse | Event | DisconnectNotice | RudeRejection | LogData
    | UnknownMessage
)  # fmt: skip


# --- percent-encoding (switch_url_encode_opt with double_encode=false) -------------------------

_UNSAFE = '\r\n #%&+:;<=>?@[\\]^`{|}"'
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in _UNSAFE)
# A character needs encoding if it is not printable-safe ASCII, or is a '%' that does not start
# an existing upper-case %XX escape (FreeSWITCH checks against "0123456789ABCDEF" only).
# NUL is exempt: it separates values when a whole header block is encoded in one pass.
_NEEDS_ENCODING = re.compile("[^" + re.escape(_SAFE) + "%\x00]|%(?![0-9A-F]{2})")
_CODES: dict[str, str] = {}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = _CODES.get(char)
    if code is None:
        code = "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
        if len(_CODES) < 4096:
            _CODES[char] = code
    return code


def url_encode(value: str) -> str:
    """Encode exactly as switch_url_encode does (UTF-8 bytes, upper-case hex).

    A C string ends at NUL, so anything from a NUL on is dropped as FreeSWITCH would.
    """
    if "\x00" in value:
        value = value.partition("\x00")[0]
    return _NEEDS_ENCODING.sub(_escape, value)


def encode_header_lines(pairs: Iterable[tuple[str, str]]) -> bytes:
    """`Name: encoded-value\n` lines; empty values become `_undef_` (switch_event_serialize).

    Encodes all values in one regex pass over their NUL-joined text: ~10x faster than one
    call per value on events with hundreds of headers.
    """
    items = pairs if isinstance(pairs, list) else list(pairs)
    joined = "\x00".join([value for _, value in items])
    if joined.count("\x00") != max(len(items) - 1, 0):
        values = [url_encode(value) for _, value in items]
    else:
        values = _NEEDS_ENCODING.sub(_escape, joined).split("\x00") if items else []
    return "".join(
        [f"{name}: {value or '_undef_'}\n" for (name, _), value in zip(items, values, strict=True)]
    ).encode()


def url_decode(value: str) -> str:
    """Inverse of url_encode for event values; `+` stays a plus (unquote, not unquote_plus)."""
    return unquote(value) if "%" in value else value


# --- parsing -------------------------------------------------------------------------------------


def _split_headers(block: str, decode: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split("\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if value[:1] == " ":
            value = value[1:]
        if decode and "%" in value:
            value = unquote(value)
        if name not in headers:
            headers[name] = value
    return headers


_FRAMING = frozenset({"Content-Length"})


def _content_length(headers: Mapping[str, str]) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    try:
        length = int(raw)
    except ValueError as err:
        raise EslProtocolError(f"bad Content-Length {raw!r}") from err
    if length < 0 or length > MAX_CONTENT_LENGTH:
        raise EslProtocolError(f"Content-Length {length} out of range")
    return length


def _text(data: bytes | bytearray) -> str:
    return data.decode("utf-8", "replace")


def _kept_headers(block: str, keep: frozenset[str]) -> dict[str, str]:
    """``_split_headers`` restricted to the names in ``keep``: only those are decoded.

    A CHANNEL_HANGUP_COMPLETE carries ~150 headers (every channel variable) and a dialer
    reads about 15; URL-decoding the others was a quarter of the adapter's CPU. The same
    rules as the full parse: first occurrence wins, one space after the colon is dropped.
    """
    headers: dict[str, str] = {}
    for line in block.split("\n"):
        name, sep, value = line.partition(":")
        if not sep or name not in keep or name in headers:
            continue
        if value[:1] == " ":
            value = value[1:]
        headers[name] = unquote(value) if "%" in value else value
    return headers


def _found_headers(block: bytes, names: tuple[tuple[str, bytes, bytes], ...]) -> dict[str, str]:
    """The headers ``names`` of a block, each searched for at the start of a line
    (``bytes.find``, in C): the same rules as the full parse (first occurrence wins, one
    space after the colon is dropped, a value ends at the next LF). Fast when the names
    are few and present near the top (a missing name scans the whole block)."""
    headers: dict[str, str] = {}
    for name, first, needle in names:
        if block.startswith(first):
            start = len(first)
        else:
            at = block.find(needle)
            if at < 0:
                continue
            start = at + len(needle)
        end = block.find(b"\n", start)
        raw = block[start:] if end < 0 else block[start:end]
        if raw[:1] == b" ":
            raw = raw[1:]
        value = _text(raw)
        headers[name] = unquote(value) if "%" in value else value
    return headers


def _needles(names: Iterable[str]) -> tuple[tuple[str, bytes, bytes], ...]:
    return tuple((name, f"{name}:".encode(), f"\n{name}:".encode())
                 for name in sorted(names) if ":" not in name and "\n" not in name)


_EVENT_NAME = _needles(("Event-Name",))


class KeepHeaders:
    """Which headers a client decodes: ``brief`` names, per event name, the few headers
    it reads of that event (CHANNEL_CREATE: its Unique-ID), searched for directly; any
    other event gets the headers in ``keep``, found by one pass over its lines. Either
    way a header's value is exactly what the full parse gives for it."""

    __slots__ = ("_brief", "_keep")

    def __init__(self, keep: frozenset[str],
                 brief: Mapping[str, frozenset[str]] | None = None) -> None:
        self._keep = keep | _FRAMING | {"Event-Name"}  # Event.name, always
        self._brief = {event: _needles(names | _FRAMING | {"Event-Name"})
                       for event, names in (brief or {}).items()}

    def headers(self, block: bytes) -> dict[str, str]:
        if self._brief:
            event = _found_headers(block, _EVENT_NAME).get("Event-Name")
            names = self._brief.get(event) if event is not None else None
            if names is not None:
                return _found_headers(block, names)
        return _kept_headers(_text(block), self._keep)


def parse_plain_event(payload: bytes, keep: frozenset[str] | KeepHeaders | None = None) -> Event:
    """The body of one ``text/event-plain`` frame (already framed by its Content-Length) →
    Event. For clients that frame themselves, such as greenswitch.

    With ``keep``, ``headers`` holds only those names (the inner Content-Length is always
    read, so BACKGROUND_JOB keeps its body); the values kept are exactly what the full
    parse gives for them.
    """
    end = payload.find(b"\n\n")
    block, rest = (payload, b"") if end < 0 else (payload[:end], payload[end + 2 :])
    if keep is None:
        headers = _split_headers(_text(block), decode=True)
    elif isinstance(keep, KeepHeaders):
        headers = keep.headers(bytes(block))
    else:
        if "Content-Length" not in keep:
            keep = keep | _FRAMING
        headers = _kept_headers(_text(block), keep)
    body: str | None = None
    inner = headers.pop("Content-Length", None)
    if inner is not None:
        try:
            length = int(inner)
        except ValueError as err:
            raise EslProtocolError(f"bad inner Content-Length {inner!r}") from err
        body = _text(rest[:length])
    return Event(headers.get("Event-Name", ""), headers, body, "plain")


def _json_event(payload: bytes) -> Event:
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        raise EslProtocolError("bad text/event-json body") from err
    if not isinstance(raw, dict):
        raise EslProtocolError("text/event-json body is not an object")
    body = raw.pop("_body", None)
    raw.pop("Content-Length", None)
    # FreeSWITCH sends every value as a string; an array is a multi-value header.
    headers = {
        str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in raw.items()
    }
    text = None if body is None else str(body)
    return Event(headers.get("Event-Name", ""), headers, text, "json")


def _xml_event(payload: bytes) -> Event:
    try:
        root = ET.fromstring(payload)
    except ET.ParseError as err:
        raise EslProtocolError("bad text/event-xml body") from err
    headers: dict[str, str] = {}
    for node in root.iterfind("headers/*"):
        headers.setdefault(node.tag, url_decode(node.text or ""))
    body_node = root.find("body")
    body = None if body_node is None else url_decode(body_node.text or "")
    return Event(headers.get("Event-Name", ""), headers, body, "xml")


def _build(headers: dict[str, str], payload: bytes) -> Message:
    ctype = headers.get("Content-Type", "")
    if ctype == "text/event-plain":
        return parse_plain_event(payload)
    if ctype == "command/reply":
        return CommandReply(headers.get("Reply-Text", ""), headers)
    if ctype == "api/response":
        return ApiResponse(_text(payload), headers)
    if ctype == "auth/request":
        return AuthRequest(headers)
    if ctype == "text/event-json":
        return _json_event(payload)
    if ctype == "text/disconnect-notice":
        return DisconnectNotice(_text(payload), headers)
    if ctype == "text/rude-rejection":
        return RudeRejection(_text(payload), headers)
    if ctype == "log/data":
        return LogData(_text(payload), headers)
    if ctype == "text/event-xml":
        return _xml_event(payload)
    return UnknownMessage(ctype, headers, payload)


class EslParser:
    """Incremental parser for what a FreeSWITCH server sends.

    Invariant: `_buf` holds only bytes not yet returned as a message; `_head` is the decoded
    header block of the current frame while its body (`_need` bytes) has not fully arrived.
    """

    __slots__ = ("_buf", "_head", "_need")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: dict[str, str] | None = None
        self._need = 0

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a returned message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        buf = self._buf
        buf += data
        out: list[Message] = []
        pos = 0
        size = len(buf)
        while True:
            if self._head is None:
                # Stray blank lines between frames carry nothing; tolerate them.
                while pos < size and buf[pos] == 0x0A:
                    pos += 1
                end = buf.find(b"\n\n", pos)
                if end < 0:
                    if size - pos > MAX_HEADER_BLOCK:
                        raise EslProtocolError("header block too long")
                    break
                head = _split_headers(_text(buf[pos:end]), decode=True)
                pos = end + 2
                self._need = _content_length(head)
                self._head = head
            if size - pos < self._need:
                break
            payload = bytes(buf[pos : pos + self._need])
            pos += self._need
            out.append(_build(self._head, payload))
            self._head = None
        if pos:
            del buf[:pos]
        return out


@dataclass(frozen=True, slots=True)
class Command:
    """One client command as mod_event_socket's read_packet sees it (values are not decoded)."""

    line: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None


# read_packet ends a block at two LFs; CRs between them do not reset the count.
_COMMAND_END = re.compile(rb"\n\r*\n")
_LINE_BREAKS = re.compile(r"[\r\n]+")


class EslCommandParser:
    """Incremental parser for what a client sends to a FreeSWITCH server."""

    __slots__ = ("_buf", "_head", "_line", "_need")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._line = ""
        self._head: dict[str, str] | None = None
        self._need = 0

    def feed(self, data: bytes) -> list[Command]:
        buf = self._buf
        buf += data
        out: list[Command] = []
        pos = 0
        size = len(buf)
        while True:
            if self._head is None:
                # read_packet discards CR/LF before a command starts.
                while pos < size and buf[pos] in (0x0A, 0x0D):
                    pos += 1
                match = _COMMAND_END.search(buf, pos)
                if match is None:
                    if size - pos > MAX_HEADER_BLOCK:
                        raise EslProtocolError("command too long")
                    break
                lines = _LINE_BREAKS.split(_text(buf[pos : match.start()]))
                pos = match.end()
                self._line = lines[0]
                head: dict[str, str] = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep and name:
                        head.setdefault(name, value.lstrip(" "))
                length = next(
                    (v for k, v in head.items() if k.lower() == "content-length"), None
                )
                self._need = _content_length({"Content-Length": length}) if length else 0
                self._head = head
            if size - pos < self._need:
                break
            body = _text(buf[pos : pos + self._need]) if self._need else None
            pos += self._need
            out.append(Command(self._line, self._head, body))
            self._head = None
        if pos:
            del buf[:pos]
        return out


# --- encoding: server side -----------------------------------------------------------------------


def _pairs(headers: Headers) -> Iterable[tuple[str, str]]:
    return headers.items() if isinstance(headers, Mapping) else headers


def _serialize_plain(headers: Headers, body: str | None) -> bytes:
    text = encode_header_lines(_pairs(headers))
    if body:
        raw = body.encode()
        return b"%sContent-Length: %d\n\n%s" % (text, len(raw), raw)
    return text + b"\n"


def encode_event(headers: Headers, body: str | None = None) -> bytes:
    """A complete `text/event-plain` frame, byte-compatible with switch_event_serialize."""
    payload = _serialize_plain(headers, body)
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(payload), payload)


def encode_event_json(headers: Headers, body: str | None = None) -> bytes:
    """A complete `text/event-json` frame (all values strings, body under `_body`)."""
    obj: dict[str, str] = {}
    for name, value in _pairs(headers):
        obj.setdefault(name, value)
    if body is not None:
        obj["Content-Length"] = str(len(body.encode()))
        obj["_body"] = body
    payload = orjson.dumps(obj)
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n%s" % (len(payload), payload)


def encode_auth_request() -> bytes:
    return b"Content-Type: auth/request\n\n"


def encode_command_reply(reply_text: str, headers: Headers = ()) -> bytes:
    """`command/reply`; extra headers follow Reply-Text (bgapi adds `Job-UUID`)."""
    _check_line(reply_text)
    extra = "".join(f"{_checked_name(n)}: {_check_line(v)}\n" for n, v in _pairs(headers))
    return f"Content-Type: command/reply\nReply-Text: {reply_text}\n{extra}\n".encode()


def encode_api_response(body: str) -> bytes:
    """`api/response`; an empty result becomes `-ERR no reply\\n` as in mod_event_socket."""
    raw = body.encode() or b"-ERR no reply\n"
    return b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(raw), raw)


def encode_disconnect_notice(message: str = DISCONNECT_MESSAGE) -> bytes:
    raw = message.encode()
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n%s" % (len(raw), raw)


def encode_rude_rejection(message: str = RUDE_REJECTION_MESSAGE) -> bytes:
    raw = message.encode()
    return b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n%s" % (len(raw), raw)


# --- encoding: client side -----------------------------------------------------------------------


def _check_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise EslInjectionError(f"CR/LF not allowed in {value!r}")
    return value


def _checked_name(name: str) -> str:
    if not name or ":" in name or " " in name:
        raise EslInjectionError(f"bad header name {name!r}")
    return _check_line(name)


def encode_command(
    cmd: str, headers: Mapping[str, str] | None = None, body: str | None = None
) -> bytes:
    """Bytes of one command. Raises EslInjectionError if anything would break the framing.

    A CR or LF in `cmd` or in a header would end the command early and let the rest be read as
    another command (`api originate ...\\n\\nbgapi hupall`), so it is refused, never stripped.
    """
    if not cmd.strip():
        raise EslInjectionError("empty command")
    lines = [_check_line(cmd)]
    for name, value in (headers or {}).items():
        if name.lower() == "content-length":
            raise EslInjectionError("Content-Length is derived from body")
        lines.append(f"{_checked_name(name)}: {_check_line(value)}")
    if body is None:
        return ("\n".join(lines) + "\n\n").encode()
    raw = body.encode()
    lines.append(f"Content-Length: {len(raw)}")
    return ("\n".join(lines) + "\n\n").encode() + raw
