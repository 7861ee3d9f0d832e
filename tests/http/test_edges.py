"""Issue 11, the HTTP server's edges, over a real socket: a body that never arrives, an
oversized header, the access log and the Server banner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from adapters.http.stack import ApiStack
from adapters.memory_bus import MemoryBus
from engine.ports import Topics
from tests.e2e.harness import wait_until
from tests.http.rig import TOKEN


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiStack]:
    bus = MemoryBus()
    await bus.start()
    stack = ApiStack(bus, Topics("t."), data_dir=tmp_path, tokens=[TOKEN], webhook_secret="s",
                     port=0, body_timeout_s=0.3, webhooks=False)
    await stack.start()
    yield stack
    await stack.stop()
    await bus.close()


async def exchange(stack: ApiStack, raw: bytes, seconds: float = 10.0) -> tuple[bytes, bytes]:
    host, port = stack.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(seconds):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            body = await reader.readexactly(length)
        return head, body
    finally:
        writer.close()


async def test_a_body_that_does_not_arrive_in_time_is_a_408(api: ApiStack) -> None:
    raw = (b"POST /v3/campaign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
           + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"camp")
    head, body = await exchange(api, raw)
    assert head.startswith(b"HTTP/1.1 408")
    assert orjson.loads(body) == {"error": "Request Timeout"}


async def test_an_oversized_header_gets_the_json_shape_and_is_never_logged(
    api: ApiStack, caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "s3cr3t-" + "x" * 20_000
    raw = (b"GET /v3/campaign HTTP/1.1\r\nHost: x\r\nX-Token: " + secret.encode()
           + b"\r\n\r\n")
    with caplog.at_level(logging.DEBUG):
        head, body = await exchange(api, raw)
    assert head.split(b"\r\n")[0].split(b" ")[1] in (b"400", b"431")
    assert b"content-type: application/json" in head.lower()
    assert "error" in orjson.loads(body)
    assert not any("s3cr3t" in r.getMessage() or "s3cr3t" in str(r.exc_info)
                   or "s3cr3t" in (r.exc_text or "") for r in caplog.records)


async def test_no_query_string_in_the_log_and_no_version_banner(
    api: ApiStack, caplog: pytest.LogCaptureFixture,
) -> None:
    raw = (b"GET /v3/campaign?token=query-secret&limit=5 HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer " + TOKEN.encode() + b"\r\nConnection: close\r\n\r\n")
    with caplog.at_level(logging.DEBUG):
        head, _ = await exchange(api, raw)
        # The access log line is written after the response went out.
        await wait_until(lambda: any("/v3/campaign" in r.getMessage() for r in caplog.records))
    assert head.startswith(b"HTTP/1.1 200")
    server = [line for line in head.split(b"\r\n") if line.lower().startswith(b"server:")]
    assert server == [b"Server: autocall-dialer"]
    lines = [r.getMessage() for r in caplog.records]
    assert any("GET /v3/campaign 200" in x for x in lines), lines
    assert not any("query-secret" in x for x in lines)
