"""The FreeSWITCH simulator over real loopback sockets, driven by a raw codec client."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
import pytest

from adapters.esl import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    EslParser,
    Event,
    Message,
    RudeRejection,
    encode_command,
    encode_event,
)
from adapters.fssim import CallScript, FsSimulator, Outcome, Scenario, plan_call

FAST = Scenario(speed=1000.0, ring_time=(3.0, 3.0), talk_time=(30.0, 30.0), state_events=False)
TIMEOUT = 10.0


class RawClient:
    """A minimal ESL client on the sans-IO codec; keeps every message in arrival order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = EslParser()
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.events: deque[Event] = deque()
        self.log: list[Message] = []
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                for message in self.parser.feed(data):
                    self.log.append(message)
                    self.queue.put_nowait(message)
        except ConnectionError:
            pass
        self.queue.put_nowait(None)

    async def next(self) -> Message | None:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)

    def send(self, cmd: str, headers: dict[str, str] | None = None) -> None:
        self.writer.write(encode_command(cmd, headers))

    async def reply(self) -> Message:
        """The next non-event message; events met on the way are kept for `until`."""
        while True:
            message = await self.next()
            assert message is not None, "connection closed"
            if isinstance(message, Event):
                self.events.append(message)
            else:
                return message

    async def command(self, cmd: str, headers: dict[str, str] | None = None) -> Message:
        self.send(cmd, headers)
        return await self.reply()

    async def api(self, cmd: str) -> str:
        reply = await self.command(f"api {cmd}")
        assert isinstance(reply, ApiResponse)
        return reply.body

    async def until(self, done: Callable[[Event], bool]) -> list[Event]:
        """Events up to and including the first for which `done` is true."""
        out: list[Event] = []
        while True:
            if self.events:
                event = self.events.popleft()
            else:
                message = await self.next()
                assert message is not None, "connection closed"
                if not isinstance(message, Event):
                    continue
                event = message
            out.append(event)
            if done(event):
                return out

    async def eof(self) -> list[Message]:
        """Every message until the server closes the socket."""
        rest: list[Message] = []
        while (message := await self.next()) is not None:
            rest.append(message)
        return rest

    async def close(self) -> None:
        self.writer.close()
        self.task.cancel()


SimFactory = Callable[..., Awaitable[FsSimulator]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    sims: list[FsSimulator] = []

    async def factory(scenario: Scenario | None = None, **options: Any) -> FsSimulator:
        sim = FsSimulator(scenario or FAST, **options)
        await sim.start()
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        await sim.stop()


async def login(sim: FsSimulator, events: str | None = "ALL") -> RawClient:
    client = await RawClient.open(sim.port)
    assert isinstance(await client.next(), AuthRequest)
    reply = await client.command("auth ClueCon")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK accepted"
    if events is not None:
        reply = await client.command(f"event plain {events}")
        assert isinstance(reply, CommandReply)
        assert reply.reply_text == "+OK event listener enabled plain"
    return client


def originate(number: str, **variables: str) -> str:
    block = ",".join(f"{k}={v}" for k, v in variables.items())
    return f"originate {{{block}}}sofia/gateway/gw1/{number} &park()"


def is_destroy(event: Event) -> bool:
    return event.name == "CHANNEL_DESTROY"


def names(events: list[Event]) -> list[str]:
    return [e.name for e in events]


# --- auth and connection control ---------------------------------------------------------------


async def test_auth_accepted(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await login(sim, events=None)
    assert sim.connection_count == 1
    await client.close()


async def test_wrong_password_gets_err_invalid_then_disconnect(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await RawClient.open(sim.port)
    assert isinstance(await client.next(), AuthRequest)
    reply = await client.command("auth nope")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "-ERR invalid"
    (notice,) = await client.eof()
    assert isinstance(notice, DisconnectNotice)
    assert notice.body.startswith("Disconnected, goodbye.")


async def test_commands_before_auth_are_not_found(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await RawClient.open(sim.port)
    await client.next()
    reply = await client.command("api status")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "-ERR command not found"
    await client.close()


async def test_auth_timeout_disconnects(make_sim: SimFactory) -> None:
    sim = await make_sim(auth_timeout=0.2)
    client = await RawClient.open(sim.port)
    assert isinstance(await client.next(), AuthRequest)
    (notice,) = await client.eof()
    assert isinstance(notice, DisconnectNotice)


async def test_acl_rude_rejection(make_sim: SimFactory) -> None:
    sim = await make_sim(acl=["10.0.0.0/8"])
    client = await RawClient.open(sim.port)
    rejection, notice = await client.eof()
    assert isinstance(rejection, RudeRejection)
    assert rejection.body == "Access Denied, go away.\n"
    assert isinstance(notice, DisconnectNotice)


async def test_exit_says_bye_then_disconnect_notice(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await login(sim, events=None)
    reply = await client.command("exit")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK bye"
    (notice,) = await client.eof()
    assert isinstance(notice, DisconnectNotice)


async def test_unknown_commands(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await login(sim, events=None)
    reply = await client.command("frobnicate now")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "-ERR command not found"
    assert await client.api("frobnicate now") == "-ERR frobnicate Command not found!\n"
    assert await client.api("global_getvar not_set") == "-ERR no reply\n"
    reply = await client.command("event plain NOT_AN_EVENT")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "-ERR no keywords supplied"
    await client.close()


# --- originate: success ------------------------------------------------------------------------


async def test_answered_call_full_sequence_and_cdr(make_sim: SimFactory) -> None:
    sim = await make_sim(replace(FAST, state_events=True))
    client = await login(sim)
    cmd = originate("0901234567", origination_uuid="call-1", originate_timeout="30",
                    origination_caller_id_number="0281234567", ten="Nguyễn\\,Văn")  # fmt: skip
    reply = await client.command(f"bgapi {cmd}", {"Job-UUID": "job-1"})
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK Job-UUID: job-1"
    assert reply.job_uuid == "job-1"
    events = await client.until(is_destroy)
    assert names(events) == [
        "CHANNEL_OUTGOING", "CHANNEL_STATE", "CHANNEL_CREATE", "CHANNEL_ORIGINATE",
        "CHANNEL_STATE", "CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_PROGRESS",
        "CHANNEL_ANSWER", "CHANNEL_CALLSTATE", "BACKGROUND_JOB", "CHANNEL_STATE",
        "CHANNEL_EXECUTE", "CHANNEL_PARK", "CHANNEL_CALLSTATE", "CHANNEL_HANGUP",
        "CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_STATE", "CHANNEL_STATE",
        "CHANNEL_HANGUP_COMPLETE", "CHANNEL_STATE", "CHANNEL_DESTROY",
    ]  # fmt: skip
    by_name = {e.name: e for e in events}
    job = by_name["BACKGROUND_JOB"]
    assert job.body == "+OK call-1\n"
    assert job.headers["Job-UUID"] == "job-1"
    assert job.headers["Job-Command"] == "originate"
    assert job.headers["Job-Command-Arg"] == cmd[len("originate ") :]
    create = by_name["CHANNEL_CREATE"]
    assert create.headers["Unique-ID"] == "call-1"
    assert create.headers["Caller-Caller-ID-Number"] == "0281234567"
    assert create.headers["Caller-Destination-Number"] == "0901234567"
    assert create.headers["variable_ten"] == "Nguyễn,Văn"
    assert create.headers["variable_origination_caller_id_number"] == "0281234567"
    assert create.headers["Answer-State"] == "ringing"
    assert by_name["CHANNEL_ANSWER"].headers["Answer-State"] == "answered"
    sequence = [int(e.headers["Event-Sequence"]) for e in events]
    assert sequence == sorted(sequence)
    done = by_name["CHANNEL_HANGUP_COMPLETE"]
    h = done.headers
    assert h["Hangup-Cause"] == "NORMAL_CLEARING"
    assert h["variable_hangup_cause"] == "NORMAL_CLEARING"
    assert h["variable_hangup_cause_q850"] == "16"
    assert h["variable_sip_term_status"] == "200"
    assert h["variable_sip_hangup_disposition"] == "recv_bye"
    assert (h["variable_billsec"], h["variable_duration"]) in {("30", "33"), ("30", "34")}
    assert h["variable_answersec"] in {"3", "2"}
    assert int(h["variable_billusec"]) == 30_000_000
    assert int(h["variable_answer_uepoch"]) - int(h["variable_start_uepoch"]) == 3_000_000
    assert int(h["variable_progress_uepoch"]) > int(h["variable_start_uepoch"])
    assert h["variable_waitsec"] == "0"
    assert h["variable_answer_stamp"] != h["variable_end_stamp"]
    assert h["variable_end_epoch"] == str(int(h["variable_end_uepoch"]) // 1_000_000)
    assert len(h["variable_start_stamp"]) == len("2024-01-01 00:00:00")
    assert sim.live_channels == 0
    assert sim.max_live_channels == 1
    assert sim.originate_count == 1
    await client.close()


async def test_bgapi_reply_precedes_job_result(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await login(sim)
    client.send("bgapi originate {origination_uuid=x}error/user_busy &park()")
    client.send("bgapi status")
    first, second, third, fourth = [await client.next() for _ in range(4)]
    assert isinstance(first, CommandReply)
    assert isinstance(second, Event)
    assert second.body == "-ERR USER_BUSY\n"
    assert isinstance(third, CommandReply)
    assert isinstance(fourth, Event)
    assert fourth.body is not None
    assert fourth.body.startswith("UP ")
    assert "Job-Command-Arg" not in fourth.headers
    await client.close()


async def test_escaped_newline_in_variable_arrives_encoded(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await login(sim, "CHANNEL_CREATE")
    await client.command("bgapi " + originate("0901", note="line1\\nline2\\r"))
    (create,) = await client.until(lambda e: e.name == "CHANNEL_CREATE")
    assert create.headers["variable_note"] == "line1\nline2\r"
    assert b"variable_note: line1%0Aline2%0D\n" in create_frame(sim, client)
    await client.close()


def create_frame(sim: FsSimulator, client: RawClient) -> bytes:
    """The parser keeps no raw bytes; re-encode the event to check the wire form."""
    event = next(m for m in client.log if isinstance(m, Event) and m.name == "CHANNEL_CREATE")
    return encode_event(list(event.headers.items()))


# --- originate: failures -----------------------------------------------------------------------

FAILURE_CASES = [
    (Outcome.BUSY, "USER_BUSY", "17", "486"),
    (Outcome.REJECTED, "CALL_REJECTED", "21", "603"),
    (Outcome.UNREACHABLE, "SUBSCRIBER_ABSENT", "20", "480"),
    (Outcome.UNALLOCATED, "UNALLOCATED_NUMBER", "1", "404"),
    (Outcome.CONGESTION, "NORMAL_CIRCUIT_CONGESTION", "34", "503"),
    (Outcome.NO_ANSWER, "NO_ANSWER", "19", "487"),
]


@pytest.mark.parametrize(("outcome", "cause", "q850", "sip"), FAILURE_CASES)
async def test_failure_causes(
    make_sim: SimFactory, outcome: Outcome, cause: str, q850: str, sip: str
) -> None:
    scenario = replace(FAST, numbers={"0900000001": CallScript(outcome)})
    sim = await make_sim(scenario)
    client = await login(sim)
    await client.command("bgapi " + originate("0900000001", originate_timeout="20"))
    events = await client.until(is_destroy)
    tail = [n for n in names(events) if n not in ("CHANNEL_PROGRESS",)]
    assert tail[-4:] == [
        "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB", "CHANNEL_DESTROY",
    ]  # fmt: skip
    assert "CHANNEL_ANSWER" not in names(events)
    job = next(e for e in events if e.name == "BACKGROUND_JOB")
    assert job.body == f"-ERR {cause}\n"
    done = next(e for e in events if e.name == "CHANNEL_HANGUP_COMPLETE")
    assert done.headers["Hangup-Cause"] == cause
    assert done.headers["variable_hangup_cause_q850"] == q850
    assert done.headers["variable_sip_term_status"] == sip
    assert done.headers["variable_billsec"] == "0"
    if outcome is Outcome.NO_ANSWER:
        assert done.headers["variable_duration"] in {"20", "21"}
    await client.close()


async def test_ring_longer_than_originate_timeout_is_no_answer(make_sim: SimFactory) -> None:
    scenario = replace(FAST, numbers={"0902": CallScript(ring_time=40.0)})
    sim = await make_sim(scenario)
    client = await login(sim, "BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")
    await client.command("bgapi " + originate("0902", originate_timeout="25"))
    events = await client.until(lambda e: e.name == "BACKGROUND_JOB")
    assert events[-1].body == "-ERR NO_ANSWER\n"
    assert events[0].headers["variable_duration"] in {"25", "26"}
    await client.close()


async def test_duplicate_origination_uuid_refused_without_channel_events(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim()
    client = await login(sim)
    await client.command("bgapi " + originate("0903", origination_uuid="dup"))
    await client.until(lambda e: e.name == "CHANNEL_CREATE")
    await client.command("bgapi " + originate("0904", origination_uuid="dup"), {"Job-UUID": "j2"})
    events = await client.until(lambda e: e.name == "BACKGROUND_JOB" and e.job_uuid == "j2")
    assert events[-1].body == "-ERR DESTINATION_OUT_OF_ORDER\n"
    assert all(e.headers.get("Caller-Destination-Number") != "0904" for e in events)
    assert sim.refused_count == 1
    await client.close()


# --- limits ------------------------------------------------------------------------------------


async def test_sessions_per_second_refusal(make_sim: SimFactory) -> None:
    sim = await make_sim(sps=4)
    client = await login(sim, "BACKGROUND_JOB CHANNEL_CREATE")
    # One write: all five are admitted within the same one-second window.
    client.writer.write(b"".join(
        encode_command("bgapi " + originate(f"09100{i}"), {"Job-UUID": f"j{i}"})
        for i in range(5)
    ))  # fmt: skip
    replies = [await client.reply() for _ in range(5)]
    assert all(isinstance(r, CommandReply) and r.ok for r in replies)
    refused = await client.until(lambda e: e.name == "BACKGROUND_JOB")
    # switch_core_session_request_uuid decrements before testing: sps N admits N-1.
    assert names(refused).count("CHANNEL_CREATE") == 3
    assert refused[-1].job_uuid == "j3"
    assert refused[-1].body == "-ERR DESTINATION_OUT_OF_ORDER\n"
    assert sim.refused_count == 2
    await client.close()


async def test_max_sessions_and_fsctl(make_sim: SimFactory) -> None:
    scenario = replace(FAST, talk_time=(100_000.0, 100_000.0))
    sim = await make_sim(scenario, max_sessions=2, sps=1000)
    client = await login(sim, "BACKGROUND_JOB")
    assert await client.api("fsctl max_sessions") == "+OK max sessions: 2\n"
    for i in range(2):
        await client.command("bgapi " + originate(f"0920{i}", origination_uuid=f"m{i}"))
    await client.until(lambda e: e.name == "BACKGROUND_JOB")
    await client.until(lambda e: e.name == "BACKGROUND_JOB")
    await client.command("bgapi " + originate("09203"))
    (job,) = await client.until(lambda e: e.name == "BACKGROUND_JOB")
    assert job.body == "-ERR DESTINATION_OUT_OF_ORDER\n"
    assert sim.live_channels == 2
    assert await client.api("fsctl max_sessions 3") == "+OK max sessions: 3\n"
    assert await client.api("fsctl sps 50") == "+OK sessions per second: 50\n"
    assert "out of max 50," in await client.api("status")
    assert "3 session(s) max" in await client.api("status")
    assert await client.api("fsctl pause outbound") == "+OK\n"
    await client.command("bgapi " + originate("09204"))
    jobs = await client.until(lambda e: e.name == "BACKGROUND_JOB" and "09204" in e.headers.get(
        "Job-Command-Arg", ""))  # fmt: skip
    assert jobs[-1].body == "-ERR DESTINATION_OUT_OF_ORDER\n"
    assert await client.api("fsctl resume outbound") == "+OK\n"
    await client.close()


# --- control -----------------------------------------------------------------------------------


async def test_uuid_kill_and_hupall(make_sim: SimFactory) -> None:
    scenario = replace(FAST, talk_time=(100_000.0, 100_000.0), ring_time=(0.5, 0.5))
    sim = await make_sim(scenario)
    client = await login(sim, "BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")
    for uid in ("k1", "k2", "k3"):
        await client.command("bgapi " + originate("0930", origination_uuid=uid))
    await client.until(lambda e: e.body == "+OK k3\n")
    assert sim.live_channels == 3
    assert await client.api("uuid_kill nope") == "-ERR No such channel!\n"
    assert await client.api("uuid_kill k1 USER_BUSY") == "+OK\n"
    (done,) = await client.until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE")
    assert done.headers["Hangup-Cause"] == "USER_BUSY"
    assert done.headers["variable_sip_hangup_disposition"] == "send_bye"
    assert await client.api("hupall") == "+OK hangup all channels with cause MANAGER_REQUEST\n"
    rest = await client.until(lambda e: e.unique_id == "k3")
    assert {e.headers["Hangup-Cause"] for e in rest} == {"MANAGER_REQUEST"}
    assert sim.live_channels == 0
    await client.close()


async def test_uuid_kill_while_ringing_fails_the_job(make_sim: SimFactory) -> None:
    sim = await make_sim(replace(FAST, ring_time=(1000.0, 1000.0)))
    client = await login(sim, "BACKGROUND_JOB")
    cmd = originate("0931", origination_uuid="r1", originate_timeout="2000")
    await client.command("bgapi " + cmd)
    assert await client.api("uuid_kill r1 ORIGINATOR_CANCEL") == "+OK\n"
    (job,) = await client.until(lambda e: e.name == "BACKGROUND_JOB")
    assert job.body == "-ERR ORIGINATOR_CANCEL\n"
    await client.close()


async def test_show_channels_plain_json_and_counts(make_sim: SimFactory) -> None:
    sim = await make_sim(replace(FAST, talk_time=(100_000.0, 100_000.0)))
    client = await login(sim, "BACKGROUND_JOB")
    assert await client.api("show channels") == "\n0 total.\n"
    assert await client.api("show channels as json") == '{"row_count": 0}\n'
    for uid in ("s1", "s2"):
        await client.command("bgapi " + originate("0940", origination_uuid=uid,
                                                   origination_caller_id_number="0281"))
    await client.until(lambda e: e.body == "+OK s2\n")
    text = await client.api("show channels")
    lines = text.split("\n")
    assert lines[0].startswith("uuid,direction,created,created_epoch,name,state,cid_name")
    assert lines[1].startswith("s1,outbound,")
    assert text.endswith("\n\n2 total.\n")
    rows = orjson.loads(await client.api("show channels as json"))
    assert rows["row_count"] == 2
    first = rows["rows"][0]
    assert (first["uuid"], first["cid_num"], first["dest"]) == ("s1", "0281", "0940")
    assert first["callstate"] == "ACTIVE"
    assert first["application"] == "park"
    assert len(first) == 38
    assert await client.api("show calls count") == "\n2 total.\n"
    assert "2 session(s) - peak 2" in await client.api("status")
    assert await client.api("uuid_exists s1") == "true"
    assert await client.api("uuid_getvar s1 origination_caller_id_number") == "0281"
    await client.close()


# --- subscriptions -----------------------------------------------------------------------------


async def test_events_reach_every_subscribed_connection(make_sim: SimFactory) -> None:
    sim = await make_sim()
    answers = await login(sim, "CHANNEL_ANSWER")
    everything = await login(sim, "ALL")
    dialer = await login(sim, events=None)
    await dialer.command("bgapi " + originate("0950", origination_uuid="m1"))
    (answer,) = await answers.until(lambda e: e.name == "CHANNEL_ANSWER")
    assert answer.unique_id == "m1"
    seen = await everything.until(is_destroy)
    assert "BACKGROUND_JOB" in names(seen)
    assert "CHANNEL_HANGUP_COMPLETE" in names(seen)
    reply = await answers.command("api status")
    assert isinstance(reply, ApiResponse)
    assert {e.name for e in answers.events} <= {"CHANNEL_ANSWER"}
    assert dialer.events == deque()
    for c in (answers, everything, dialer):
        await c.close()


async def test_filter_nixevent_noevents(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await login(sim, "ALL")
    reply = await client.command("filter variable_campaign c1")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK filter added. [variable_campaign]=[c1]"
    reply = await client.command("nixevent CHANNEL_CREATE")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK events nixed"
    await client.command("bgapi " + originate("0960", campaign="c2", origination_uuid="f2"))
    await client.command("bgapi " + originate("0961", campaign="c1", origination_uuid="f1"))
    events = await client.until(is_destroy)
    assert {e.unique_id for e in events} == {"f1"}
    assert "CHANNEL_CREATE" not in names(events)
    assert "BACKGROUND_JOB" not in names(events), "filters drop events without the header"
    reply = await client.command("filter delete variable_campaign c1")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK filter deleted. [variable_campaign][c1]"
    reply = await client.command("noevents")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK no longer listening for events"
    await client.close()


async def test_custom_subclass_subscription_and_voicemail(make_sim: SimFactory) -> None:
    scenario = replace(
        FAST,
        numbers={"0970": CallScript(Outcome.VOICEMAIL)},
        beep_delay=(5.0, 5.0),
        amd_delay=(2.0, 2.0),
    )
    sim = await make_sim(scenario)
    client = await login(sim, "CHANNEL_HANGUP_COMPLETE CUSTOM avmd::beep avmd::stop")
    await client.command("bgapi " + originate("0970"))
    events = await client.until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE")
    assert [e.subclass for e in events] == ["avmd::beep", "avmd::stop", None]
    assert events[0].headers["Beep-Status"] == "DETECTED"
    assert events[-1].headers["variable_amd_result"] == "MACHINE"
    assert events[-1].headers["variable_avmd_detect"] == "TRUE"
    await client.close()


async def test_dtmf_script_and_recording(make_sim: SimFactory) -> None:
    scenario = replace(FAST, numbers={"0980": CallScript(dtmf="1#")})
    sim = await make_sim(scenario)
    client = await login(sim, "DTMF RECORD_START RECORD_STOP CHANNEL_HANGUP_COMPLETE")
    cmd = originate("0980", execute_on_answer="record_session\\s/tmp/r.wav")
    await client.command("bgapi " + cmd)
    events = await client.until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE")
    assert names(events) == ["RECORD_START", "DTMF", "DTMF", "RECORD_STOP",
                             "CHANNEL_HANGUP_COMPLETE"]  # fmt: skip
    assert [e.headers["DTMF-Digit"] for e in events[1:3]] == ["1", "#"]
    assert events[0].headers["Record-File-Path"] == "/tmp/r.wav"
    assert events[-1].headers["variable_record_seconds"] == "30"
    await client.close()


# --- dial strings ------------------------------------------------------------------------------


async def test_sequential_failover(make_sim: SimFactory) -> None:
    scenario = replace(FAST, numbers={"0990": CallScript(Outcome.UNALLOCATED)})
    sim = await make_sim(scenario)
    client = await login(sim, "BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")
    await client.command("bgapi originate {origination_uuid=seq}sofia/gateway/gw1/0990|"
                         "sofia/gateway/gw2/0991 &park()")  # fmt: skip
    events = await client.until(lambda e: e.name == "BACKGROUND_JOB")
    assert events[0].headers["Hangup-Cause"] == "UNALLOCATED_NUMBER"
    assert events[0].unique_id == "seq"
    winner = events[-1].body
    assert winner is not None
    assert winner.startswith("+OK ")
    assert winner != "+OK seq\n"
    await client.close()


async def test_simultaneous_first_answer_wins(make_sim: SimFactory) -> None:
    numbers = {"0995": CallScript(ring_time=2.0), "0996": CallScript(ring_time=5.0)}
    sim = await make_sim(replace(FAST, numbers=numbers))
    client = await login(sim, "BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")
    await client.command("bgapi originate {ignore_early_media=true}[origination_uuid=a]"
                         "sofia/gateway/gw1/0995,[origination_uuid=b]sofia/gateway/gw1/0996"
                         " &park()")  # fmt: skip
    events = await client.until(lambda e: e.name == "BACKGROUND_JOB")
    assert [(e.unique_id, e.headers.get("Hangup-Cause")) for e in events[:-1]] == [
        ("b", "LOSE_RACE")
    ]
    assert events[-1].body == "+OK a\n"
    await client.close()


async def test_api_originate_blocks_the_socket(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await login(sim, "CHANNEL_CREATE")
    client.send("api " + originate("0997", origination_uuid="blk"))
    client.send("api uuid_exists blk")
    first = await client.next()
    assert isinstance(first, ApiResponse)
    assert first.body == "+OK blk\n"
    create = await client.next()
    assert isinstance(create, Event)
    assert create.name == "CHANNEL_CREATE"
    second = await client.next()
    assert isinstance(second, ApiResponse)
    await client.close()


async def test_usage_and_bad_endpoint(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await login(sim, events=None)
    assert (await client.api("originate onlyone")).startswith("-USAGE: <call url>")
    assert await client.api("originate foo/bar &park()") == "-ERR CHAN_NOT_IMPLEMENTED\n"
    await client.close()


# --- scenario, faults --------------------------------------------------------------------------


def test_plans_repeat_for_a_seed() -> None:
    scenario = Scenario(outcomes={o: 1.0 for o in Outcome}, seed=42)
    first = [plan_call(scenario, f"09{i:08d}", 0) for i in range(50)]
    again = [plan_call(scenario, f"09{i:08d}", 0) for i in reversed(range(50))][::-1]
    assert first == again
    assert len({p.outcome for p in first}) > 4
    other = [plan_call(Scenario(outcomes={o: 1.0 for o in Outcome}, seed=43), f"09{i:08d}", 0)
             for i in range(50)]  # fmt: skip
    assert other != first


def test_prefix_rules() -> None:
    scenario = Scenario(prefixes={"09": Outcome.BUSY, "0912": Outcome.REJECTED})
    assert plan_call(scenario, "0912345", 0).outcome is Outcome.REJECTED
    assert plan_call(scenario, "0999", 0).outcome is Outcome.BUSY
    assert plan_call(scenario, "0281", 0).outcome is Outcome.ANSWERED


async def test_drop_connections_keeps_calls_and_restart_forgets_them(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(replace(FAST, talk_time=(100_000.0, 100_000.0)))
    client = await login(sim, "BACKGROUND_JOB")
    await client.command("bgapi " + originate("0999"))
    await client.until(lambda e: e.name == "BACKGROUND_JOB")
    await sim.drop_connections()
    assert await client.eof() == []
    assert sim.live_channels == 1
    port, core = sim.port, sim.core_uuid
    await sim.restart()
    assert sim.port == port
    assert sim.core_uuid != core
    assert sim.live_channels == 0
    again = await login(sim, "HEARTBEAT")
    assert await again.api("show calls count") == "\n0 total.\n"
    await again.close()


async def test_heartbeat(make_sim: SimFactory) -> None:
    sim = await make_sim(heartbeat_interval=0.05)
    client = await login(sim, "HEARTBEAT")
    (beat,) = await client.until(lambda e: e.name == "HEARTBEAT")
    assert beat.headers["Event-Info"] == "System Ready"
    assert beat.headers["Max-Sessions"] == "1000"
    assert beat.headers["Core-UUID"] == sim.core_uuid
    await client.close()


async def test_many_concurrent_calls(make_sim: SimFactory) -> None:
    scenario = replace(FAST, ring_time=(1.0, 5.0), talk_time=(20.0, 60.0))
    sim = await make_sim(scenario, sps=100_000, max_sessions=100_000)
    client = await login(sim, "BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")
    count = 500
    client.writer.write(b"".join(
        encode_command("bgapi " + originate(f"08{i:08d}")) for i in range(count)
    ))  # fmt: skip
    done = 0

    def finished(event: Event) -> bool:
        nonlocal done
        done += event.name == "CHANNEL_HANGUP_COMPLETE"
        return done == count

    await client.until(finished)
    assert sim.max_live_channels > 100
    await asyncio.wait_for(sim.wait_idle(), TIMEOUT)
    await client.close()


# --- formats, session-scoped listeners, back-pressure, CLI -------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_event_json_and_xml_formats(make_sim: SimFactory, fmt: str) -> None:
    sim = await make_sim()
    plain = await login(sim, "CHANNEL_ANSWER BACKGROUND_JOB")
    other = await login(sim, events=None)
    reply = await other.command(f"event {fmt} CHANNEL_ANSWER BACKGROUND_JOB")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == f"+OK event listener enabled {fmt}"
    await plain.command("bgapi " + originate("0710", ten="'Trần Thị Ánh'"))
    mine = await plain.until(lambda e: e.name == "BACKGROUND_JOB")
    theirs = await other.until(lambda e: e.name == "BACKGROUND_JOB")
    assert {e.format for e in theirs} == {fmt}

    def undef(e: Event) -> dict[str, str]:
        # Only the plain serialiser writes an empty value as `_undef_`.
        return {k: "" if v == "_undef_" else v for k, v in e.headers.items()}

    assert [undef(e) for e in theirs] == [undef(e) for e in mine]
    assert theirs[-1].body == mine[-1].body
    assert theirs[0].headers["variable_ten"] == "Trần Thị Ánh"
    await plain.close()
    await other.close()


async def test_myevents_and_sendmsg_hangup(make_sim: SimFactory) -> None:
    sim = await make_sim(replace(FAST, talk_time=(100_000.0, 100_000.0)))
    dialer = await login(sim, "BACKGROUND_JOB")
    for uid in ("me", "other"):
        await dialer.command("bgapi " + originate("0720", origination_uuid=uid))
    await dialer.until(lambda e: e.body == "+OK other\n")
    watcher = await login(sim, events=None)
    reply = await watcher.command("myevents me")
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK Events Enabled"
    reply = await dialer.command("sendmsg other", {"call-command": "hangup"})
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "+OK"
    await dialer.command("sendmsg me", {"call-command": "hangup", "hangup-cause": "USER_BUSY"})
    events = await watcher.until(is_destroy)
    assert {e.unique_id for e in events} == {"me"}
    assert next(e for e in events if e.name == "CHANNEL_HANGUP").headers["Hangup-Cause"] == (
        "USER_BUSY"
    )
    reply = await dialer.command("sendmsg nope", {"call-command": "hangup"})
    assert isinstance(reply, CommandReply)
    assert reply.reply_text == "-ERR invalid session id [nope]"
    await dialer.close()
    await watcher.close()


async def test_return_ring_ready_reports_on_ringing(make_sim: SimFactory) -> None:
    sim = await make_sim(replace(FAST, numbers={"0730": CallScript(Outcome.BUSY)}))
    client = await login(sim, "BACKGROUND_JOB CHANNEL_PROGRESS CHANNEL_HANGUP_COMPLETE")
    await client.command("bgapi " + originate("0730", origination_uuid="rr",
                                               return_ring_ready="true"))  # fmt: skip
    events = await client.until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE")
    assert names(events) == ["CHANNEL_PROGRESS", "BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE"]
    assert events[1].body == "+OK rr\n"
    await client.close()


async def test_slow_listener_is_killed_after_too_many_lost_events(make_sim: SimFactory) -> None:
    sim = await make_sim(replace(FAST, state_events=True), max_backlog_bytes=1000)
    slow = await login(sim, "ALL")
    (connection,) = sim.connections
    slow.task.cancel()  # stop reading: the kernel buffers fill, then the write buffer
    dialer = await login(sim, events=None)
    dialer.writer.write(b"".join(
        encode_command("bgapi " + originate(f"0740{i:04d}")) for i in range(400)
    ))  # fmt: skip
    await asyncio.wait_for(connection.closed, TIMEOUT)
    slow.task = asyncio.create_task(slow._read())
    rest = await slow.eof()
    assert isinstance(rest[-1], DisconnectNotice)
    assert rest[-1].body == "killed listener because of lost events\n"
    await dialer.close()


def test_cli_builds_the_scenario() -> None:
    from adapters.fssim.__main__ import build_parser, scenario_from_args

    args = build_parser().parse_args([
        "--port", "8022", "--speed", "50", "--outcomes", "answered=0.7,busy=0.3",
        "--ring-time", "1,4", "--no-state-events",
    ])  # fmt: skip
    scenario = scenario_from_args(args)
    assert args.port == 8022
    assert scenario.speed == 50.0
    assert scenario.outcomes == {Outcome.ANSWERED: 0.7, Outcome.BUSY: 0.3}
    assert scenario.ring_time == (1.0, 4.0)
    assert scenario.state_events is False
