"""The HTTP server's edges (issue 11): what happens before a handler runs.

- a request that fails to parse (an oversized header line, a malformed request line) gets
  the gateway's JSON error shape, ``{"error": "<reason phrase>"}``, and is logged with its
  status and exception type only: aiohttp's default logs the parser's message, which can
  quote the offending header (a token, a cookie);
- the access log names method, path (never the query string: seed 004 puts identifiers
  and sometimes tokens there), status, size and duration;
- no ``Server`` header with the versions of Python and aiohttp (``SERVER_NAME`` instead);
- the body must arrive within ``body_timeout_s`` (``common.json_object``): a client that
  trickles it in gets a 408 instead of holding the handler for ever.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

log = logging.getLogger(__name__)
access = logging.getLogger("adapters.http.access")

SERVER_NAME = "autocall-dialer"


class AccessLog(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        access.info("%s %s %d %d %.3f", request.method, request.path, response.status,
                    response.body_length, time)


class _Handler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        log.warning("refused a request before routing: HTTP %d (%s)", status,
                    type(exc).__name__ if exc is not None else "-")
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        resp = web.Response(status=status, body=orjson.dumps({"error": reason}),
                            content_type="application/json",
                            headers={hdrs.SERVER: SERVER_NAME})
        resp.force_close()
        return resp


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """``web.AppRunner`` with the edges above."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("access_log_class", AccessLog)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # same state, our request handler
        return server


async def _no_banner(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[hdrs.SERVER] = SERVER_NAME


def harden(app: web.Application) -> None:
    """Hook the banner removal into an application (before it is frozen)."""
    app.on_response_prepare.append(_no_banner)
