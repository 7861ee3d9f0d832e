"""The probe server on a real loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import pytest

from dialer.health import HealthServer


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Mapping[str, Callable[[], bool]]], Any]]:
    started: list[HealthServer] = []

    async def make(checks: Mapping[str, Callable[[], bool]]) -> HealthServer:
        server = HealthServer(checks, host="127.0.0.1", port=0)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


async def get(server: HealthServer, path: str) -> tuple[int, str, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.port}{path}") as resp,
    ):
        text = await resp.text()
        body = await resp.json() if resp.content_type == "application/json" else {}
        return resp.status, text, body


def test_defaults_bind_all_interfaces_on_8081() -> None:
    server = HealthServer({})
    assert (server.host, server._requested_port) == ("0.0.0.0", 8081)
    assert not server.running
    with pytest.raises(RuntimeError):
        _ = server.port


async def test_port_zero_binds_a_real_port(serve: Any) -> None:
    server = await serve({})
    assert server.running
    assert 0 < server.port < 65536
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.close()
    await writer.wait_closed()


async def test_livez_answers_even_when_not_ready(serve: Any) -> None:
    server = await serve({"bus started": lambda: False})
    status, _, body = await get(server, "/livez")
    assert (status, body) == (200, {"status": "ok"})


async def test_readyz_200_with_every_result_when_all_pass(serve: Any) -> None:
    server = await serve({"bus started": lambda: True, "switch node connected": lambda: True})
    status, _, body = await get(server, "/readyz")
    assert status == 200
    assert body == {"status": "ready",
                    "checks": {"bus started": True, "switch node connected": True}}


async def test_readyz_503_names_the_failing_check(serve: Any) -> None:
    server = await serve({"bus started": lambda: True, "switch node connected": lambda: False})
    status, _, body = await get(server, "/readyz")
    assert status == 503
    assert body == {"status": "not ready",
                    "checks": {"bus started": True, "switch node connected": False}}


async def test_no_checks_is_ready(serve: Any) -> None:
    server = await serve({})
    status, _, body = await get(server, "/readyz")
    assert (status, body) == (200, {"status": "ready", "checks": {}})


async def test_readiness_follows_the_component_state(serve: Any) -> None:
    state = {"connected": False}
    server = await serve({"switch node connected": lambda: state["connected"]})
    assert (await get(server, "/readyz"))[0] == 503
    state["connected"] = True
    assert (await get(server, "/readyz"))[0] == 200
    state["connected"] = False  # a node lost later makes the pod unready again
    assert (await get(server, "/readyz"))[0] == 503


async def test_a_raising_check_fails_without_leaking_its_message(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> bool:
        raise ValueError("ESL auth failed for password=s3cr3t calling 0912345678")

    server = await serve({"bus started": lambda: True, "switch node connected": broken})
    status, text, body = await get(server, "/readyz")
    assert status == 503
    assert body["checks"] == {"bus started": True, "switch node connected": False}
    for leaked in ("s3cr3t", "0912345678", "ESL auth"):
        assert leaked not in text
        assert leaked not in caplog.text
    assert "ValueError" in caplog.text


async def test_only_true_passes(serve: Any) -> None:
    async def mistaken_async_check() -> bool:  # truthy coroutine, never awaited by design
        return True

    results: list[Any] = []

    def truthy_non_bool() -> bool:
        return 1  # type: ignore[return-value]

    def async_by_mistake() -> bool:
        coro = mistaken_async_check()
        results.append(coro)
        return coro  # type: ignore[return-value]

    server = await serve({"one": truthy_non_bool, "coroutine": async_by_mistake})
    status, _, body = await get(server, "/readyz")
    for coro in results:
        coro.close()
    assert status == 503
    assert body["checks"] == {"one": False, "coroutine": False}


async def test_metrics_are_served_when_wired(serve: Any) -> None:
    without = await serve({})
    assert (await get(without, "/metrics"))[0] == 404
    server = HealthServer({}, host="127.0.0.1", port=0,
                          metrics=lambda: b"# TYPE dialer_x counter\ndialer_x_total 3.0\n")
    await server.start()
    try:
        status, text, _ = await get(server, "/metrics")
    finally:
        await server.stop()
    assert status == 200
    assert "dialer_x_total 3.0" in text


async def test_unknown_paths_and_methods(serve: Any) -> None:
    server = await serve({})
    assert (await get(server, "/nope"))[0] == 404
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{server.port}/readyz") as resp:
            assert resp.status == 405
        async with http.head(f"http://127.0.0.1:{server.port}/livez") as resp:
            assert resp.status == 200


async def test_responses_are_not_cached(serve: Any) -> None:
    server = await serve({})
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.port}/readyz") as resp,
    ):
        assert resp.headers["Cache-Control"] == "no-store"


async def test_stop_closes_the_port_and_is_idempotent() -> None:
    server = HealthServer({}, host="127.0.0.1", port=0)
    await server.start()
    port = server.port
    with pytest.raises(RuntimeError):
        await server.start()
    await server.stop()
    await server.stop()
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_taken_port_fails_start_and_leaves_it_stopped(serve: Any) -> None:
    first = await serve({})
    second = HealthServer({}, host="127.0.0.1", port=first.port)
    with pytest.raises(OSError, match=r"(?i)in use"):
        await second.start()
    assert not second.running
    await second.stop()
