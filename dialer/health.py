"""Liveness and readiness over HTTP, for Kubernetes probes.

- ``GET /livez``: 200 whenever the handler runs. The handler runs on the process's event
  loop, so an answer proves the loop is turning; a wedged loop times the probe out.
- ``GET /readyz``: 200 when every check returns ``True``, 503 otherwise. The body is
  ``{"status": "ready" | "not ready", "checks": {name: bool}}`` and nothing else: check
  names come from the wiring, results are booleans, and a check that raises is reported as
  false with only its exception type logged, so no secret, phone number or peer address a
  message might carry ever reaches a probe, a log aggregator or an unauthenticated caller.

Checks are synchronous and must be cheap (they read a flag the component keeps, e.g. "bus
started", "switch node connected"); the server never awaits anything of the component's.
No authentication: the port is meant for the kubelet, not for a Service or an Ingress.

- ``GET /metrics``: Prometheus text exposition, when the wiring gives a ``metrics``
  renderer (dialer/metrics.py); 404 otherwise. Labels carry no secret or phone number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Final

import orjson
from aiohttp import web

__all__ = ["HealthServer"]

log = logging.getLogger(__name__)

_NO_STORE: Final = {"Cache-Control": "no-store"}


class HealthServer:
    def __init__(
        self,
        checks: Mapping[str, Callable[[], bool]],
        host: str = "0.0.0.0",  # all interfaces: the kubelet probes the pod IP
        port: int = 8081,
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        self.checks = checks
        self._metrics = metrics
        self.host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        app = web.Application()
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        if metrics is not None:
            app.router.add_get("/metrics", self._serve_metrics)
        self._app = app

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("HealthServer.start() was not awaited")
        port: int = self._runner.addresses[0][1]
        return port

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("HealthServer is already started")
        # No access log: the kubelet probes every few seconds.
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("health server on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def results(self) -> dict[str, bool]:
        """Every check's result. Only ``True`` passes: a check that raises, or returns
        anything else (a coroutine from an ``async def`` passed by mistake is truthy),
        fails."""
        out: dict[str, bool] = {}
        for name, check in self.checks.items():
            try:
                out[name] = check() is True
            # A probe handler is a task boundary: a broken check means "not ready", and
            # its message (which may carry data) stays out of the log and the reply.
            except Exception as err:  # noqa: BLE001
                log.warning("readiness check %r raised %s", name, type(err).__name__)
                out[name] = False
        return out

    async def _livez(self, request: web.Request) -> web.Response:
        return _json(200, {"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        results = self.results()
        ready = all(results.values())
        return _json(200 if ready else 503,
                     {"status": "ready" if ready else "not ready", "checks": results})


    async def _serve_metrics(self, request: web.Request) -> web.Response:
        assert self._metrics is not None
        return web.Response(body=self._metrics(), headers={
            **_NO_STORE, "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body),
                        content_type="application/json", headers=_NO_STORE)
