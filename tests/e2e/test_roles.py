"""Production shape: each role its own process (`dialer fssim`, `dialer engine`,
`dialer api`), Kafka between them, configured only by DIALER_* variables; a customer's
seed 000 session over HTTP gets its calls made and reported."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIALER = str(Path(sys.executable).with_name("dialer"))
TOKEN = "role-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """The Kubernetes readiness probe's view: /readyz answers 200 once the role is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never became ready")


@pytest.fixture
def roles(kafka_bootstrap: str, kafka_topic_prefix: str) -> Iterator[str]:
    fs_port, http_port, engine_health, api_health = (free_port() for _ in range(4))
    data_dir = tempfile.mkdtemp(prefix="dialer-roles-")
    env = {
        **os.environ,
        "DIALER_BUS": "kafka",
        "DIALER_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "DIALER_TOPIC_PREFIX": kafka_topic_prefix,
        "DIALER_INSTANCE": "roles",
        "DIALER_HEALTH_HOST": "127.0.0.1",
        "DIALER_FS_NODES": json.dumps([{"name": "fs1", "port": fs_port, "cps": 200}]),
        "DIALER_API_TOKENS": json.dumps([TOKEN]),
        "DIALER_WEBHOOK_SECRET": "roles-test-secret",
        "DIALER_HTTP_PORT": str(http_port),
        "DIALER_DATA_DIR": data_dir,
        "DIALER_LOG_LEVEL": "WARNING",
    }
    procs: list[subprocess.Popen[bytes]] = []
    fssim = subprocess.Popen([DIALER, "fssim", "--port", str(fs_port), "--speed", "200",
                              "--sps", "1000", "--ring-time", "1,3", "--talk-time", "3,8"],
                             cwd=ROOT, env=env)
    procs.append(fssim)
    try:
        wait_port(fs_port, fssim)
        engine = subprocess.Popen([DIALER, "engine"], cwd=ROOT,
                                  env={**env, "DIALER_HEALTH_PORT": str(engine_health)})
        procs.append(engine)
        api = subprocess.Popen([DIALER, "api"], cwd=ROOT,
                               env={**env, "DIALER_HEALTH_PORT": str(api_health)})
        procs.append(api)
        wait_port(http_port, api, 60)
        for port, proc in ((engine_health, engine), (api_health, api)):
            wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        yield f"http://127.0.0.1:{http_port}"
        for proc in procs[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in procs[1:]:
            assert proc.wait(60) == 0, "a role did not shut down cleanly on SIGTERM"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def call(method: str, url: str, body: object = None) -> dict[str, object]:
    request = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
        data: dict[str, object] = json.loads(resp.read())
    return data


def test_roles_in_separate_processes_make_and_report_the_calls(roles: str) -> None:
    created = call("POST", f"{roles}/v3/campaign", {
        "campaign_name": "roles", "type": "autocall", "concurrent_call": 3,
        "type_autocall": "autocall_voice_tts", "template_text": "Chào bạn {{ten}}"})
    cid = created["campaign_uuid"]
    for i in range(5):
        call("POST", f"{roles}/v3/autocall/import", {
            "campaign_uuid": cid, "phone_number": f"09{i}1234567", "param": {"ten": f"A{i}"}})
    call("POST", f"{roles}/v1/campaign/{cid}/run/start", {})
    deadline = time.monotonic() + 60
    report: dict[str, object] = {}
    while time.monotonic() < deadline:
        report = call("GET", f"{roles}/v1/autocall/report?campaign_uuid={cid}")
        if report["data"]["total_calls"] == 5:  # type: ignore[index]
            break
        time.sleep(0.1)
    assert report["data"]["total_calls"] == 5, report  # type: ignore[index]
    leads = call("GET", f"{roles}/v3/report/call/lead?campaign_uuid={cid}")
    assert leads["total"] == 5
    assert all(row["called_count"] == 1 for row in leads["data"])  # type: ignore[attr-defined]
