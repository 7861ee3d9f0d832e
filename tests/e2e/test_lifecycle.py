"""Issue 11, start, stop, configure: configuration errors are one line naming the variable
(exit 2, no traceback, before any connection); the production roles refuse the
development credentials; a failed start closes what it opened; every shutdown wait has a
deadline and the last line counts what was not flushed; a second signal exits at once."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from adapters.fssim import Scenario
from adapters.memory_bus import MemoryBus
from dialer.app import EngineApp
from dialer.settings import Settings
from engine.commands import AddLead
from engine.model import LeadInput
from tests.e2e.harness import campaign, create_campaign, publish_leads, wait_until

ROOT = Path(__file__).resolve().parents[2]
DIALER = str(Path(sys.executable).parent / "dialer")
FAST = Scenario(speed=500.0, ring_time=(1.0, 3.0), talk_time=(5.0, 20.0), seed=3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    return subprocess.run([DIALER, *args], cwd=ROOT, env={**clean, **env}, text=True,
                          capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize(("env", "variable"), [
    ({"DIALER_FS_NODES": '[{"name": "fs1", "port": "abc"}]'}, "DIALER_FS_NODES[0].port"),
    ({"DIALER_FS_NODES": '[{"name": '}, "DIALER_FS_NODES"),
    ({"DIALER_HTTP_PORT": "eighty"}, "DIALER_HTTP_PORT"),
    ({"DIALER_BUS": "rabbit"}, "DIALER_BUS"),
    ({"DIALER_SOUND_DIR": "../sounds"}, "DIALER_SOUND_DIR"),
    ({"DIALER_TEMPLATES": '{"T1": {"audio_file": "../../etc/passwd"}}'},
     "DIALER_TEMPLATES.T1.audio_file"),
])
def test_bad_configuration_is_one_line_naming_the_variable(
    env: dict[str, str], variable: str,
) -> None:
    # Kafka on a closed port: the error must come before any connection is tried.
    done = run(["engine"], DIALER_BUS=env.pop("DIALER_BUS", "kafka"),
               DIALER_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}", **env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dialer: {variable}:"), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_the_production_roles_refuse_the_development_credentials() -> None:
    api = run(["api"], DIALER_BUS="kafka", DIALER_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    assert api.returncode == 2
    assert "DIALER_API_TOKENS" in api.stderr and "DIALER_WEBHOOK_SECRET" in api.stderr
    assert len(api.stderr.strip().splitlines()) == 2 and "Traceback" not in api.stderr
    engine = run(["engine"], DIALER_BUS="kafka", DIALER_API_TOKENS='["dev-token"]',
                 DIALER_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    assert engine.returncode == 2 and "DIALER_API_TOKENS" in engine.stderr


async def test_a_failed_start_closes_what_it_opened() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    app = EngineApp(Settings(bus="memory", http_port=port), bus=MemoryBus(), scenario=FAST,
                    api=True)
    try:
        with pytest.raises(OSError, match="bind"):
            await app.start()  # the API's port is taken: the last step fails
    finally:
        taken.close()
    assert not app.started
    # The simulator it had started is gone: nothing listens where the switch was.
    sims = [t for t in _tasks() if "fssim" in t]
    assert sims == [], sims
    assert not [t for t in _tasks() if t in ("inputs", "global-tables", "records")]


def _tasks() -> list[str]:
    current = asyncio.current_task()
    return [t.get_name() for t in asyncio.all_tasks() if t is not current and not t.done()]


class DeadBus(MemoryBus):
    """The in-memory bus that stops taking records (Kafka gone at shutdown)."""

    dead = False

    async def publish(self, topic: str, value: bytes | None, key: bytes | None = None,
                      partition: int | None = None) -> None:
        if self.dead:
            raise ConnectionError("broker unreachable")
        await super().publish(topic, value, key, partition)


async def test_stop_ends_within_its_deadlines_when_the_bus_is_gone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = DeadBus()
    app = EngineApp(Settings(bus="memory", stop_seconds=0.5, drain_seconds=0.2), bus=bus,
                    scenario=FAST)
    await app.start()
    p = app.parts
    await create_campaign(app, campaign("cdead", concurrent_call=5))
    await publish_leads(p.bus, p.topics, "cdead", 5)
    await wait_until(lambda: len(p.dialer.leads) == 5)
    bus.dead = True  # records produced from now on cannot be published
    p.service.apply(AddLead(LeadInput("late", "cdead", ("0901234999",))))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with caplog.at_level(logging.INFO, logger="dialer.app"):
        await app.stop()
    assert loop.time() - t0 < 8.0, "stop waited past its deadlines"
    said = [r.getMessage() for r in caplog.records if r.name == "dialer.app"]
    assert re.fullmatch(r"engine stopped: [1-9]\d* records could not be flushed", said[-1]), said


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    http_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env.update(DIALER_HTTP_PORT=str(http_port), DIALER_DRAIN_SECONDS="120",
               DIALER_DATA_DIR=str(tmp_path))
    # Slow simulated calls: the drain after the first signal would wait for them.
    proc = subprocess.Popen([DIALER, "up", "--speed", "0.05"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "engine running" in proc.stdout.readline()
        api = f"http://127.0.0.1:{http_port}"

        def post(path: str, body: object) -> dict[str, object]:
            req = urllib.request.Request(api + path, data=json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer dev-token"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                out: dict[str, object] = json.loads(resp.read())
                return out

        cid = post("/v3/campaign", {"campaign_name": "slow", "type": "autocall",
                                    "template_text": "Chào", "concurrent_call": 2})
        lead = post("/v3/autocall/import", {"campaign_uuid": cid["campaign_uuid"],
                                            "phone_number": "0901234567", "param": {}})
        post(f"/v1/campaign/{cid['campaign_uuid']}/run/start", {})

        def state() -> object:
            req = urllib.request.Request(api + f"/v3/lead/{lead['lead_uuid']}/state",
                                         headers={"Authorization": "Bearer dev-token"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read()).get("state")

        deadline = time.monotonic() + 30
        while state() != "dialing":  # the drain will then have a live call to wait for
            assert time.monotonic() < deadline, "the call never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(1.0)  # draining: the first signal does not end it at once
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 130
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
