"""Kafka security on the real broker: a SASL_SSL listener (TLS with a CA made at test time,
SCRAM and PLAIN users). One engine (SCRAM-SHA-512) and the API role in its own process
(PLAIN, configured only by DIALER_* variables) connect through it; a lead imported over
HTTP is dialled and its CDR reaches the API's report. A wrong password stops a role at
start with one clear line that names the cause and never the password."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from adapters.fssim import Scenario
from adapters.kafka.security import KafkaSecurityError
from dialer.app import EngineApp
from dialer.settings import Settings
from tests.e2e.test_roles import free_port
from tests.kafka_broker import SecureListener

ROOT = Path(__file__).resolve().parents[2]
DIALER = str(Path(sys.executable).with_name("dialer"))
TOKEN = "secure-test-token"
FAST = Scenario(speed=400.0, ring_time=(1.0, 2.0), talk_time=(2.0, 4.0), seed=7)


def secure_settings(sec: SecureListener, mechanism: str, prefix: str,
                    password: str | None = None) -> Settings:
    user, real = sec.users[mechanism]
    return Settings(
        bus="kafka", kafka_bootstrap=sec.bootstrap, topic_prefix=prefix,
        instance="secure-engine", kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=mechanism,  # type: ignore[arg-type]
        kafka_sasl_username=user, kafka_sasl_password=SecretStr(password or real),
        kafka_ssl_cafile=str(sec.cafile),
    )


def api_env(sec: SecureListener, prefix: str, password: str | None = None) -> dict[str, str]:
    user, real = sec.users["PLAIN"]
    return {
        **os.environ,
        "DIALER_BUS": "kafka",
        "DIALER_KAFKA_BOOTSTRAP": sec.bootstrap,
        "DIALER_TOPIC_PREFIX": prefix,
        "DIALER_INSTANCE": "secure-api",
        "DIALER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "DIALER_KAFKA_SASL_MECHANISM": "PLAIN",
        "DIALER_KAFKA_SASL_USERNAME": user,
        "DIALER_KAFKA_SASL_PASSWORD": password or real,
        "DIALER_KAFKA_SSL_CAFILE": str(sec.cafile),
        "DIALER_API_TOKENS": json.dumps([TOKEN]),
        "DIALER_WEBHOOK_SECRET": "secure-test-secret",
        "DIALER_HEALTH_HOST": "127.0.0.1",
        "DIALER_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
async def secure_api(kafka_secure: SecureListener, kafka_topic_prefix: str,
                     ) -> AsyncIterator[str]:
    """``dialer api`` over SASL_SSL (PLAIN); yields its base URL once /readyz says 200."""
    http_port, health_port = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="dialer-secure-")
    env = {**api_env(kafka_secure, kafka_topic_prefix), "DIALER_HTTP_PORT": str(http_port),
           "DIALER_HEALTH_PORT": str(health_port), "DIALER_DATA_DIR": data_dir}
    proc = await asyncio.create_subprocess_exec(DIALER, "api", cwd=ROOT, env=env)
    try:
        async with aiohttp.ClientSession() as http:
            async def ready() -> bool:
                assert proc.returncode is None, f"dialer api exited with {proc.returncode}"
                try:
                    async with http.get(f"http://127.0.0.1:{health_port}/readyz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            async with asyncio.timeout(60):
                while not await ready():  # noqa: ASYNC110 - a bounded poll of a process
                    await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{http_port}"
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def call(http: aiohttp.ClientSession, method: str, url: str,
               body: object = None) -> dict[str, Any]:
    async with http.request(method, url, json=body,
                            headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200, await resp.text()
        data: dict[str, Any] = await resp.json()
        return data


async def test_engine_and_api_dial_and_report_through_sasl_ssl(
    kafka_secure: SecureListener, kafka_topic_prefix: str, secure_api: str,
) -> None:
    engine = EngineApp(secure_settings(kafka_secure, "SCRAM-SHA-512", kafka_topic_prefix),
                       scenario=FAST)
    await engine.start()
    try:
        async with aiohttp.ClientSession() as http:
            created = await call(http, "POST", f"{secure_api}/v3/campaign", {
                "campaign_name": "secure", "type": "autocall", "concurrent_call": 1,
                "type_autocall": "autocall_voice_tts", "template_text": "Chào bạn {{ten}}"})
            cid = created["campaign_uuid"]
            await call(http, "POST", f"{secure_api}/v3/autocall/import", {
                "campaign_uuid": cid, "phone_number": "0911234567", "param": {"ten": "An"}})
            await call(http, "POST", f"{secure_api}/v1/campaign/{cid}/run/start", {})
            report: dict[str, Any] = {}

            async def reported() -> bool:
                nonlocal report
                report = await call(http, "GET",
                                    f"{secure_api}/v1/autocall/report?campaign_uuid={cid}")
                return bool(report["data"]["total_calls"] == 1)

            async with asyncio.timeout(60):
                while not await reported():  # noqa: ASYNC110 - polling the API's report
                    await asyncio.sleep(0.1)
        print(f"\nSASL_SSL: engine SCRAM-SHA-512, api PLAIN; report {report['data']}")
        assert engine.parts.simulator is not None
        assert engine.parts.simulator.originate_count == 1
    finally:
        await engine.stop()


async def test_scram_sha_256_clients_connect(
    kafka_secure: SecureListener, kafka_topic_prefix: str,
) -> None:
    """The third mechanism: a bus round trip (topic creation, produce, group consume)."""
    app = EngineApp(secure_settings(kafka_secure, "SCRAM-SHA-256", kafka_topic_prefix))
    bus = app.make_bus()
    await bus.start()
    try:
        await bus.publish(app.topics.cdr, b'{"x": 1}', key=b"k")
        sub = await bus.subscribe([app.topics.cdr], f"{kafka_topic_prefix}g")
        got = []
        async with asyncio.timeout(30):
            while not got:
                got = await sub.fetch(max_wait=0.5)
        await sub.close()
        assert [(m.key, m.value) for m in got] == [(b"k", b'{"x": 1}')]
    finally:
        await bus.close()


async def test_a_wrong_password_is_a_clear_error(
    kafka_secure: SecureListener, kafka_topic_prefix: str,
) -> None:
    wrong = "not-the-password-123"
    engine = EngineApp(secure_settings(kafka_secure, "SCRAM-SHA-512", kafka_topic_prefix,
                                       password=wrong))
    with pytest.raises(KafkaSecurityError) as caught:
        await engine.start()
    message = str(caught.value)
    print(f"\nengine: {message}")
    assert "SCRAM-SHA-512" in message and "Authentication failed" in message
    assert kafka_secure.bootstrap in message
    assert wrong not in message
    assert not engine.started

    # The API role started by its variables: exit code 2 and one line that says why.
    done = await asyncio.to_thread(
        subprocess.run, [DIALER, "api"], cwd=ROOT,
        env={**api_env(kafka_secure, kafka_topic_prefix, password=wrong),
             "DIALER_HEALTH_PORT": str(free_port()), "DIALER_HTTP_PORT": str(free_port())},
        capture_output=True, timeout=60, check=False)
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    (line,) = [x for x in stderr.splitlines() if "KafkaSecurityError" in x]
    print(f"api: {line}")
    assert "PLAIN" in line and "Authentication failed" in line
    assert wrong not in stderr
    assert "Traceback" not in stderr


async def test_tls_verification_failure_is_a_clear_error(
    kafka_secure: SecureListener, kafka_topic_prefix: str, tmp_path: Path,
) -> None:
    """A CA that did not sign the broker's certificate: refused, and said so."""
    other_ca = tmp_path / "other-ca.pem"
    await asyncio.to_thread(
        subprocess.run, ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                         str(tmp_path / "k"), "-out", str(other_ca), "-days", "1", "-subj",
                         "/CN=other"], check=True, capture_output=True, timeout=60)
    settings = secure_settings(kafka_secure, "PLAIN", kafka_topic_prefix).model_copy(
        update={"kafka_ssl_cafile": str(other_ca)})
    bus = EngineApp(settings).make_bus()
    with pytest.raises(KafkaSecurityError, match="CERTIFICATE_VERIFY_FAILED"):
        await bus.start()
