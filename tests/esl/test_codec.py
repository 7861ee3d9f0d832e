"""The sans-IO ESL codec against real captured FreeSWITCH output and generated frames."""

from __future__ import annotations

import pathlib
import random
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.esl import (
    DISCONNECT_MESSAGE,
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    EslCommandParser,
    EslInjectionError,
    EslParser,
    EslProtocolError,
    Event,
    LogData,
    Message,
    RudeRejection,
    encode_api_response,
    encode_auth_request,
    encode_command,
    encode_command_reply,
    encode_disconnect_notice,
    encode_event,
    encode_event_json,
    encode_header_lines,
    encode_rude_rejection,
    url_decode,
    url_encode,
)

CAPTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "esl-captures"


def _wire_captures() -> list[str]:
    """Files INDEX.md marks as wire frames; docs examples carry wrong Content-Lengths."""
    names = []
    for line in (CAPTURES / "INDEX.md").read_text().splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) > 6 and cols[1].endswith(".txt"):
            framing = cols[6]
            if framing.startswith("wire") and "docs" not in framing:
                names.append(cols[1])
    return sorted(names)


WIRE = _wire_captures()


def _load(name: str) -> bytes:
    data = (CAPTURES / name).read_bytes()
    if "TRUNCATED" in _framing(name):
        data += b"\n"  # the source dropped the terminating blank line
    return data


def _framing(name: str) -> str:
    for line in (CAPTURES / "INDEX.md").read_text().splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) > 6 and cols[1] == name:
            return cols[6]
    return ""


def _parse_chunks(chunks: list[bytes]) -> tuple[list[Message], int]:
    parser = EslParser()
    out: list[Message] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out, parser.pending


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def test_index_lists_wire_captures() -> None:
    assert len(WIRE) >= 30
    assert "switchio__text-event-plain_BACKGROUND_JOB.txt" in WIRE
    assert all((CAPTURES / n).exists() for n in WIRE)


@pytest.mark.parametrize("name", WIRE)
def test_capture_whole_bytewise_and_random_splits_agree(name: str) -> None:
    data = _load(name)
    whole, pending = _parse_chunks([data])
    assert whole, f"{name}: no message"
    assert pending == 0, f"{name}: {pending} bytes left unparsed"
    bytewise, _ = _parse_chunks([data[i : i + 1] for i in range(len(data))])
    assert bytewise == whole
    rng = random.Random(name)
    for _ in range(20):
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, 12))]
        split, _ = _parse_chunks(_split(data, cuts))
        assert split == whole


def test_all_wire_captures_concatenated_any_chunking() -> None:
    stream = b"".join(_load(n) for n in WIRE)
    whole, pending = _parse_chunks([stream])
    assert pending == 0
    rng = random.Random(7)
    for size in (1, 2, 3, 7, 64, 1460, 4096):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert _parse_chunks(chunks)[0] == whole
    cuts = [rng.randrange(len(stream)) for _ in range(500)]
    assert _parse_chunks(_split(stream, cuts))[0] == whole


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=40))
def test_property_any_split_of_the_originate_stream(cuts: list[int]) -> None:
    data = _load("switchio__eventstream2_bgapi_originate_2017.txt") + _vietnamese_frames()
    whole, _ = _parse_chunks([data])
    assert _parse_chunks(_split(data, cuts))[0] == whole


def test_background_job_body_is_the_inner_body() -> None:
    (event,) = EslParser().feed(_load("switchio__text-event-plain_BACKGROUND_JOB.txt"))
    assert isinstance(event, Event)
    assert event.name == "BACKGROUND_JOB"
    assert event.body == "+OK 8de782e0-83c9-11e7-af1b-001500e3e25c\n"
    assert "Content-Length" not in event.headers
    assert event.job_uuid == "86b51ad6-ebb9-4bca-8a41-f28986dde3e4"
    arg = event.headers["Job-Command-Arg"]
    assert arg.startswith("{originate_timeout=60,")
    assert arg.endswith("5080 &park()")


def test_originate_stream_message_types() -> None:
    msgs = EslParser().feed(_load("switchio__eventstream2_bgapi_originate_2017.txt"))
    assert [type(m).__name__ for m in msgs] == [
        "CommandReply", "Event", "Event", "Event", "CommandReply",
    ]  # fmt: skip
    reply = msgs[0]
    assert isinstance(reply, CommandReply)
    assert reply.ok
    assert reply.job_uuid == "1246016f-ea2f-4cba-a018-16443bcadc6f"
    park = msgs[2]
    assert isinstance(park, Event)
    assert park.name == "CHANNEL_PARK"
    assert park.headers["Channel-Name"] == "sofia/external/doggy@192.168.0.105:5080"
    sdp = park.headers["variable_rtp_local_sdp_str"]
    assert sdp.startswith("v=0\r\no=FreeSWITCH ")
    assert sdp.endswith("a=sendrecv\r\n")


def test_control_messages() -> None:
    msgs = EslParser().feed(_load("switchio__eventstream_auth_bye_disconnect_create.txt"))
    assert isinstance(msgs[0], AuthRequest)
    assert isinstance(msgs[1], CommandReply)
    assert msgs[1].reply_text == "+OK accepted"
    assert isinstance(msgs[2], CommandReply)
    assert msgs[2].reply_text == "+OK bye"
    assert isinstance(msgs[3], DisconnectNotice)
    assert msgs[3].body == DISCONNECT_MESSAGE
    (log,) = EslParser().feed(_load("unidentified-go-esl__log_data.txt"))
    assert isinstance(log, LogData)
    assert log.headers["User-Data"] == ""
    assert log.body.endswith("mod_commands.c:6391 2\n")


def test_json_and_xml_events() -> None:
    (job,) = EslParser().feed(_load("zhifeichen-esl__BACKGROUND_JOB_status_event-json.txt"))
    assert isinstance(job, Event)
    assert job.format == "json"
    assert job.name == "BACKGROUND_JOB"
    assert job.body is not None
    assert job.body.startswith("UP 0 years")
    assert "Content-Length" not in job.headers
    (xml,) = EslParser().feed(_load("lua-lluv-esl__CHANNEL_DESTROY_event-xml.txt"))
    assert isinstance(xml, Event)
    assert xml.format == "xml"
    assert xml.headers["Event-Date-Local"] == "2017-08-03 14:40:13"


def test_plus_is_not_a_space_and_values_are_decoded_after_framing() -> None:
    frame = encode_event([("Event-Name", "CUSTOM"), ("Number", "+84901234567")])
    assert b"Number: %2B84901234567\n" in frame
    body = b"Event-Name: API\nRaw-Plus: a+b\nX: %0A%0A\n\n"
    raw = b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(body), body)
    (event,) = EslParser().feed(raw)
    assert isinstance(event, Event)
    assert event.headers["Raw-Plus"] == "a+b"
    assert event.headers["X"] == "\n\n"


# --- url encoding (switch_url_encode_opt) ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("2015-07-07 16:53:14", "2015-07-07%2016%3A53%3A14"),
        ("::1", "%3A%3A1"),
        ("doggy@192.168.0.105:5080", "doggy%40192.168.0.105%3A5080"),
        ("a\r\nb", "a%0D%0Ab"),
        ('"x" <sip:1@h>;tag=1', "%22x%22%20%3Csip%3A1%40h%3E%3Btag%3D1"),
        ("#%&+:;<=>?@[\\]^`{|}", "%23%25%26%2B%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D"),
        (",/()*~.-_'!$", ",/()*~.-_'!$"),
        ("%41%3A", "%41%3A"),  # an existing upper-case escape is kept
        ("%3a", "%253a"),  # lower-case hex is not recognised
        ("%4", "%254"),
        ("100%", "100%25"),
        ("Nguyễn Văn Ánh", "Nguy%E1%BB%85n%20V%C4%83n%20%C3%81nh"),
        ("\x7f\x01\t", "%7F%01%09"),
        ("", ""),
    ],
)
def test_url_encode_matches_freeswitch(raw: str, encoded: str) -> None:
    assert url_encode(raw) == encoded


def test_empty_value_is_undef_like_freeswitch() -> None:
    frame = encode_event([("Event-Name", "API"), ("Job-Owner-UUID", "")])
    (event,) = EslParser().feed(frame)
    assert isinstance(event, Event)
    assert event.headers["Job-Owner-UUID"] == "_undef_"


# FreeSWITCH values are C strings: no NUL, and no lone surrogates in valid UTF-8.
_VALUE_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_ESCAPE_FREE = st.text(alphabet=_VALUE_CHARS, max_size=40).filter(
    lambda s: unquote(s) == s and s != ""
)
_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_NAMES, _ESCAPE_FREE), max_size=12), st.text(max_size=60))
def test_round_trip_plain(pairs: list[tuple[str, str]], body: str) -> None:
    headers = [("Event-Name", "CUSTOM"), *pairs]
    frame = encode_event(headers, body or None)
    (event,) = EslParser().feed(frame)
    assert isinstance(event, Event)
    expected: dict[str, str] = {}
    for name, value in headers:
        expected.setdefault(name, value)
    assert dict(event.headers) == expected
    assert event.body == (body or None)


def test_nul_ends_a_value_like_a_c_string() -> None:
    assert url_encode("abc\x00def") == "abc"
    assert encode_header_lines([("A", "x\x00y"), ("B", "\x00")]) == b"A: x\nB: _undef_\n"


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=_VALUE_CHARS, max_size=40))
def test_encoding_is_decoded_by_unquote(value: str) -> None:
    # FreeSWITCH keeps existing %XX, so decoding yields unquote(value), not always value.
    assert url_decode(url_encode(value)) == unquote(value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_NAMES, st.text(max_size=30), max_size=8), st.text(max_size=40))
def test_round_trip_json(headers: dict[str, str], body: str) -> None:
    headers = {"Event-Name": "CUSTOM", **headers}
    headers.pop("Content-Length", None)
    headers.pop("_body", None)
    (event,) = EslParser().feed(encode_event_json(headers, body))
    assert isinstance(event, Event)
    assert dict(event.headers) == headers
    assert event.body == body


def _vietnamese_frames() -> bytes:
    return b"".join(
        [
            encode_event(
                [
                    ("Event-Name", "CHANNEL_ANSWER"),
                    ("Unique-ID", "7f4de4bc-17d7-11ee-8c3d-e7b6c2d0a9a1"),
                    ("variable_ten", "Nguyễn Thị Minh Khai"),
                    ("variable_ghi_chu", "dòng 1\r\ndòng 2\n\n"),
                    ("variable_dia_chi", "Số 1, Đường Lê Lợi; Q.1 @ HCM"),
                ]
            ),
            encode_event([("Event-Name", "BACKGROUND_JOB")], "+OK 7f4de4bc\n"),
            encode_api_response("Chào bạn\n\nhai dòng"),
        ]
    )


def test_vietnamese_and_encoded_crlf_values() -> None:
    answer, job, api = EslParser().feed(_vietnamese_frames())
    assert isinstance(answer, Event)
    assert answer.headers["variable_ten"] == "Nguyễn Thị Minh Khai"
    assert answer.headers["variable_ghi_chu"] == "dòng 1\r\ndòng 2\n\n"
    assert answer.headers["variable_dia_chi"] == "Số 1, Đường Lê Lợi; Q.1 @ HCM"
    assert isinstance(job, Event)
    assert job.body == "+OK 7f4de4bc\n"
    assert isinstance(api, ApiResponse)
    assert api.body == "Chào bạn\n\nhai dòng"


def test_multibyte_character_split_between_reads() -> None:
    frame = encode_api_response("ễ")
    cut = frame.index("ễ".encode()) + 1
    parser = EslParser()
    assert parser.feed(frame[:cut]) == []
    (api,) = parser.feed(frame[cut:])
    assert isinstance(api, ApiResponse)
    assert api.body == "ễ"


# --- server-side encoders ----------------------------------------------------------------------


def test_server_encoders_exact_bytes() -> None:
    assert encode_auth_request() == b"Content-Type: auth/request\n\n"
    assert encode_command_reply("+OK accepted") == (
        b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
    )
    assert encode_command_reply("+OK Job-UUID: u", [("Job-UUID", "u")]) == (
        b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: u\nJob-UUID: u\n\n"
    )
    assert encode_api_response("") == (
        b"Content-Type: api/response\nContent-Length: 14\n\n-ERR no reply\n"
    )
    # Current mod_event_socket.c puts Content-Type first; the 2017 capture had it second.
    notice = encode_disconnect_notice()
    assert notice.startswith(b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n")
    (ours,) = EslParser().feed(notice)
    (captured,) = EslParser().feed(_load("switchio__text-disconnect-notice.txt"))
    assert isinstance(ours, DisconnectNotice)
    assert isinstance(captured, DisconnectNotice)
    assert ours.body == captured.body == DISCONNECT_MESSAGE
    rude = encode_rude_rejection()
    assert rude == (
        b"Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"
    )
    assert isinstance(EslParser().feed(rude)[0], RudeRejection)
    with pytest.raises(EslInjectionError):
        encode_command_reply("+OK\nContent-Type: api/response")


def test_event_frame_layout_matches_capture() -> None:
    """Re-serialising the decoded BACKGROUND_JOB gives back the captured bytes."""
    data = _load("switchio__text-event-plain_BACKGROUND_JOB.txt")
    (event,) = EslParser().feed(data)
    assert isinstance(event, Event)
    assert encode_event(list(event.headers.items()), event.body) == data


def test_hangup_complete_capture_reencodes_identically() -> None:
    """A body-only capture with duplicate Hangup-Cause: pairs in order round-trip exactly."""
    body = (CAPTURES / "cgrates__CHANNEL_HANGUP_COMPLETE_2018b.txt").read_bytes()
    if not body.endswith(b"\n\n"):
        body = body.rstrip(b"\n") + b"\n\n"
    frame = b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(body), body)
    (event,) = EslParser().feed(frame)
    assert isinstance(event, Event)
    assert event.name == "CHANNEL_HANGUP_COMPLETE"
    assert event.headers["variable_billsec"] == "21"
    pairs = [
        (line.split(": ", 1)[0], url_decode(line.split(": ", 1)[1]))
        for line in body.decode().splitlines()
        if ": " in line
    ]
    assert encode_event(pairs) == frame


# --- client side -------------------------------------------------------------------------------


def test_encode_command() -> None:
    assert encode_command("auth ClueCon") == b"auth ClueCon\n\n"
    assert encode_command("bgapi status", {"Job-UUID": "j1"}) == b"bgapi status\nJob-UUID: j1\n\n"
    assert encode_command("sendevent CUSTOM", {"Event-Subclass": "x::y"}, "hi") == (
        b"sendevent CUSTOM\nEvent-Subclass: x::y\nContent-Length: 2\n\nhi"
    )


@pytest.mark.parametrize(
    "cmd",
    [
        "api originate {a=1}user/1 &park()\n\nbgapi hupall",
        "bgapi originate x\r",
        "api status\nJob-UUID: x",
        "",
        "   ",
    ],
)
def test_encode_command_refuses_injection(cmd: str) -> None:
    with pytest.raises(EslInjectionError):
        encode_command(cmd)


@pytest.mark.parametrize(
    "headers",
    [{"Job-UUID": "a\nb"}, {"Bad:Name": "x"}, {"Bad\nName": "x"}, {"Content-Length": "3"}],
)
def test_encode_command_refuses_bad_headers(headers: dict[str, str]) -> None:
    with pytest.raises(EslInjectionError):
        encode_command("bgapi status", headers)


def test_command_parser_like_read_packet() -> None:
    data = b"\r\n\nauth ClueCon\r\n\r\nbgapi status\nJob-UUID:  j-1\n\nsendevent CUSTOM\n" \
        b"Content-Length: 5\n\nhello" b"event plain ALL\n\n"  # fmt: skip
    whole = EslCommandParser().feed(data)
    assert [c.line for c in whole] == [
        "auth ClueCon", "bgapi status", "sendevent CUSTOM", "event plain ALL",
    ]  # fmt: skip
    assert whole[1].headers == {"Job-UUID": "j-1"}
    assert whole[2].body == "hello"
    parser = EslCommandParser()
    bytewise = [c for i in range(len(data)) for c in parser.feed(data[i : i + 1])]
    assert bytewise == whole


def test_protocol_errors() -> None:
    with pytest.raises(EslProtocolError):
        EslParser().feed(b"Content-Type: api/response\nContent-Length: x\n\n")
    with pytest.raises(EslProtocolError):
        EslParser().feed(b"Content-Type: api/response\nContent-Length: -1\n\n")
    with pytest.raises(EslProtocolError):
        EslCommandParser().feed(b"sendmsg\nContent-Length: 99999999999\n\n")


def _plain_payloads(stream: bytes) -> list[bytes]:
    """The bodies of the text/event-plain frames of a stream, as greenswitch hands them."""
    out, pos = [], 0
    while (end := stream.find(b"\n\n", pos)) >= 0:
        head = dict(line.split(": ", 1) for line in stream[pos:end].decode().split("\n")
                    if ": " in line)
        pos = end + 2
        length = int(head.get("Content-Length", 0))
        if head.get("Content-Type") == "text/event-plain":
            out.append(stream[pos:pos + length])
        pos += length
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_NAMES, _VALUE_CHARS.map(str) | _ESCAPE_FREE), max_size=12),
       st.text(max_size=60), st.sets(_NAMES, max_size=6))
def test_kept_headers_are_the_full_parse_restricted(
    pairs: list[tuple[str, str]], body: str, wanted: set[str]
) -> None:
    from adapters.esl import parse_plain_event

    headers = [("Event-Name", "CUSTOM"), *pairs]
    keep = frozenset(wanted | {name for name, _ in pairs[:2]})
    (payload,) = _plain_payloads(encode_event(headers, body or None))
    full = parse_plain_event(payload)
    kept = parse_plain_event(payload, keep)
    assert dict(kept.headers) == {k: v for k, v in full.headers.items() if k in keep}
    assert kept.body == full.body  # the inner Content-Length is always read


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["CHANNEL_CREATE", "CUSTOM"]),
       st.lists(st.tuples(_NAMES, _VALUE_CHARS.map(str) | _ESCAPE_FREE), max_size=12),
       st.text(max_size=60), st.sets(_NAMES, max_size=6), st.sets(_NAMES, max_size=3))
def test_brief_headers_are_the_full_parse_restricted(
    event: str, pairs: list[tuple[str, str]], body: str, wanted: set[str], brief: set[str]
) -> None:
    """``KeepHeaders``: an event named in ``brief`` gets its few headers by a direct search
    (duplicates, names that end another name, the first line, a missing name), any other
    event the ``keep`` set; both exactly as the full parse has them."""
    from adapters.esl import KeepHeaders, parse_plain_event

    headers = [("Event-Name", event), *pairs]
    named = frozenset(brief | {name for name, _ in pairs[:1]})
    keep = KeepHeaders(frozenset(wanted), {"CHANNEL_CREATE": named})
    (payload,) = _plain_payloads(encode_event(headers, body or None))
    full = parse_plain_event(payload)
    kept = parse_plain_event(payload, keep)
    names = (named if event == "CHANNEL_CREATE" else frozenset(wanted)) | {"Event-Name"}
    assert dict(kept.headers) == {k: v for k, v in full.headers.items() if k in names}
    assert kept.body == full.body and kept.name == event


def test_kept_headers_on_the_vietnamese_frames() -> None:
    from adapters.esl import parse_plain_event

    keep = frozenset({"Event-Name", "variable_ghi_chu", "variable_ten", "Unique-ID"})
    answer, job = (parse_plain_event(p, keep) for p in _plain_payloads(_vietnamese_frames()))
    assert dict(answer.headers) == {
        "Event-Name": "CHANNEL_ANSWER", "Unique-ID": "7f4de4bc-17d7-11ee-8c3d-e7b6c2d0a9a1",
        "variable_ten": "Nguyễn Thị Minh Khai", "variable_ghi_chu": "dòng 1\r\ndòng 2\n\n"}
    assert job.name == "BACKGROUND_JOB" and job.body == "+OK 7f4de4bc\n"
    assert dict(job.headers) == {"Event-Name": "BACKGROUND_JOB"}
