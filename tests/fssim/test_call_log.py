"""The simulator's call log: every channel create/answer/hangup as a JSON line, with the
dialer's channel variables, readable while it is written; `dialer fssim --call-log`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import replace
from pathlib import Path

import orjson

from adapters.fssim import CallScript, FsSimulator, Outcome, Scenario
from adapters.fssim.calllog import CALL_LOG_ENV, CallLogReader, CallRecord, live_peaks
from tests.e2e.harness import wait_until
from tests.fssim.test_simulator import login, originate

DIALER = str(Path(sys.executable).with_name("dialer"))
FAST = Scenario(speed=1000.0, ring_time=(1.0, 1.0), talk_time=(5.0, 5.0), state_events=False)


def polled(reader: CallLogReader) -> list[CallRecord]:
    reader.poll()
    return reader.records


def tagged(number: str, uid: str, campaign: str, lead: str) -> str:
    return originate(number, origination_uuid=uid, autocall_campaign=campaign,
                     autocall_lead=lead, autocall_attempt="1", autocall_partition="7",
                     autocall_engine="e0")


async def test_create_answer_hangup_with_the_dialers_variables(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    # Both calls up at once (0.5 s and 0.05 s real at speed 1000), for the live peak.
    scenario = replace(FAST, numbers={"0901": CallScript(talk_time=500.0),
                                      "0902": CallScript(Outcome.BUSY, ring_time=50.0)})
    sim = FsSimulator(scenario, call_log=path)
    await sim.start()
    reader = CallLogReader(path)
    client = await login(sim, "BACKGROUND_JOB")
    await client.command("bgapi " + tagged("0901", "u1", "camp-a", "lead-1"))
    await client.command("bgapi " + tagged("0902", "u2", "camp-a", "lead-2"))
    await wait_until(lambda: len([r for r in polled(reader) if r.ev == "hangup"]) == 2, 10)
    by_uuid: dict[str, list[str]] = {}
    for rec in reader.records:
        by_uuid.setdefault(rec.uuid, []).append(rec.ev)
    assert by_uuid == {"u1": ["create", "answer", "hangup"], "u2": ["create", "hangup"]}
    first = reader.records[0]
    assert (first.campaign, first.lead, first.attempt, first.partition, first.engine,
            first.number) == ("camp-a", "lead-1", "1", "7", "e0", "0901")
    hangups = {r.uuid: r for r in reader.records if r.ev == "hangup"}
    assert (hangups["u1"].cause, hangups["u1"].by) == ("NORMAL_CLEARING", "far_end")
    assert (hangups["u2"].cause, hangups["u2"].by) == ("USER_BUSY", "far_end")
    assert live_peaks(reader.records) == {"camp-a": 2}
    times = [r.t for r in reader.records]
    assert times == sorted(times)
    await client.close()
    await sim.stop()


async def test_api_kills_duplicates_and_peaks_per_campaign(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    sim = FsSimulator(replace(FAST, talk_time=(100_000.0, 100_000.0)), call_log=path)
    await sim.start()
    reader = CallLogReader(path)
    client = await login(sim, "BACKGROUND_JOB")
    for i, campaign in enumerate(["a", "a", "a", "b"]):
        await client.command("bgapi " + tagged(f"090{i}", f"k{i}", campaign, f"l{i}"))
    await wait_until(lambda: sim.live_channels == 4, 10)
    await client.command("bgapi " + tagged("0909", "k0", "a", "l9"))  # uuid still live
    assert await client.api("uuid_kill k1 USER_BUSY") == "+OK\n"
    await wait_until(lambda: any(r.ev == "refuse" for r in polled(reader)), 10)
    assert await client.api("uuid_kill k2") == "+OK\n"
    await client.command("bgapi " + tagged("0905", "k5", "a", "l5"))
    await wait_until(lambda: sim.live_channels == 3, 10)
    await sim.stop()  # a clean stop flushes and closes the log
    reader.poll()
    (refused,) = [r for r in reader.records if r.ev == "refuse"]
    assert (refused.uuid, refused.reason, refused.lead) == ("k0", "duplicate_uuid", "l9")
    kills = {r.uuid: (r.cause, r.by) for r in reader.records if r.ev == "hangup"}
    assert kills == {"k1": ("USER_BUSY", "api"), "k2": ("NORMAL_CLEARING", "api")}
    # a: 3 up, two killed, one more: the peak stays 3; the stop vanishes the rest ("reset").
    assert live_peaks(reader.records) == {"a": 3, "b": 1}
    assert set(live_peaks(reader.records, by="number").values()) == {1}
    assert reader.records[-1].ev == "reset"
    creates = [r for r in reader.records if r.ev == "create"]
    assert [r.live for r in creates] == [1, 2, 3, 1, 2]
    await client.close()


async def test_off_by_default_and_no_file(tmp_path: Path) -> None:
    sim = FsSimulator(FAST)
    await sim.start()
    client = await login(sim, "BACKGROUND_JOB")
    await client.command("bgapi " + tagged("0901", "u1", "c", "l"))
    await wait_until(lambda: sim.originate_count == 1 and sim.live_channels == 0, 10)
    assert sim.engine.call_log is None
    await client.close()
    await sim.stop()


def test_reader_waits_for_a_whole_line(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    reader = CallLogReader(path)
    assert reader.poll() == []  # no file yet
    line = orjson.dumps({"t": 1.0, "ev": "create", "uuid": "u", "campaign": "c", "live": 1})
    path.write_bytes(line + b"\n" + line[:10])
    assert [r.uuid for r in reader.poll()] == ["u"]
    with path.open("ab") as fh:
        fh.write(line[10:] + b"\n")
    assert [r.ev for r in reader.poll()] == ["create"]
    assert live_peaks(reader.records) == {"c": 2}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_dialer_fssim_writes_the_log_from_the_environment(tmp_path: Path) -> None:
    """The production command: env DIALER_FSSIM_CALL_LOG, SIGTERM stops it cleanly."""
    path, port = tmp_path / "calls.jsonl", _free_port()
    env = {**os.environ, CALL_LOG_ENV: str(path)}
    proc = await asyncio.create_subprocess_exec(
        DIALER, "fssim", "--port", str(port), "--speed", "1000", "--talk-time", "1,1", env=env)
    try:
        async def connectable() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            writer.close()
            return True

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not await connectable():
            assert loop.time() < deadline, "dialer fssim did not listen"
            await asyncio.sleep(0.05)
        sim_port = type("P", (), {"port": port})()
        client = await login(sim_port, "BACKGROUND_JOB")  # type: ignore[arg-type]
        await client.command("bgapi " + tagged("0901", "p1", "c", "l"))
        reader = CallLogReader(path)
        await wait_until(lambda: any(r.ev == "hangup" for r in polled(reader)), 10)
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert [r.ev for r in reader.records] == ["create", "answer", "hangup"]
