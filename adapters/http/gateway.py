"""The seed providers' HTTP API on aiohttp: ``build_gateway`` → ``web.Application``.

Writes become messages on the input topics (control through the campaign view, leads,
dnc); reads come from the materialised views (campaigns, reports). The gateway keeps no
state of its own.

Middlewares, outermost first:
1. errors: ``HttpError`` → its seed-shaped body; aiohttp's own HTTP errors (404 unknown
   path, 405, 413 body too large) → ``{"error": "<reason>"}``; ``PublishFailed`` → 503.
   Anything else is a bug: a JSON 500 ``{"error": "Internal Server Error"}``, logged with
   its traceback but without the request (the fuzz test hunts for those).
2. auth: every route but /openapi.json needs ``Authorization: Bearer <token>`` with one of
   the configured tokens (compared in constant time); otherwise 401
   ``{"error":"Unauthorized"}``. Tokens never reach a log line.

Routes (seed → path):
- 000: POST /v3/autocall/import, POST /v1/campaign/{campaign_uuid}/run/start,
  GET /v1/autocall/report
- 001: POST /v3/campaign, GET /v3/campaign, GET|PUT|DELETE /v3/campaign/{campaign_uuid},
  PATCH /v3/campaign/{campaign_uuid}/active
- 002: POST /v2/autocall/queue, /v2/autocall/queue/dnc, /stop, /start, /delete
- 003: POST /api/campaign/create
- 004: GET /v3/report/call/campaign, GET /v3/report/call/lead
- this project: GET /v3/lead/{lead_uuid}/state, GET /openapi.json
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import resources

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from adapters.http.campaign_api import CampaignApi
from adapters.http.common import BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT_S, HttpError, reply
from adapters.http.deps import Deps, Explain, now_local
from adapters.http.edges import harden
from adapters.http.lead_api import LeadApi
from adapters.http.queue_api import QueueApi
from adapters.http.report_api import ReportApi
from adapters.http.vbot_api import VbotApi
from consumers.reports import CampaignView, PublishFailed, ReportAggregator
from engine.ports import Bus, Topics

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024  # a seed 002 queue of 10 000 customers fits
PUBLIC_PATHS = frozenset({"/openapi.json"})


def _errors() -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except HttpError as err:
            return reply(err.body, err.status)
        except PublishFailed as err:
            log.warning("publish failed: %s", err)
            return reply({"error": "Service Unavailable"}, 503)
        except web.HTTPException as err:
            if err.status >= 500:
                raise
            return reply({"error": err.reason}, err.status)
        except Exception:  # a task boundary: the bug is logged, the caller gets JSON
            resource = request.match_info.route.resource
            log.exception("unexpected error in %s %s", request.method,
                          resource.canonical if resource is not None else "?")
            return reply({"error": "Internal Server Error"}, 500)

    return errors


def _auth(tokens: Sequence[str]) -> Middleware:
    secrets = [t.encode() for t in tokens if t]

    def allowed(header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        given = token.strip().encode("utf-8", "replace")
        # Compare against every token so the time taken does not tell which one matched.
        return sum(hmac.compare_digest(given, s) for s in secrets) > 0

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or allowed(request.headers.get("Authorization", "")):
            return await handler(request)
        return web.Response(
            body=b'{"error":"Unauthorized"}', status=401, content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="autocall"'},
        )

    return auth


def openapi_document() -> bytes:
    return (resources.files("proto") / "openapi.json").read_bytes()


def build_gateway(
    *,
    bus: Bus,
    topics: Topics,
    campaigns: CampaignView,
    reports: ReportAggregator,
    tokens: Sequence[str],
    explain: Explain | None = None,
    now: Callable[[], datetime] = now_local,
    domain_uuid: str = "",
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
) -> web.Application:
    """The gateway application. The views must be started (and stopped) by the caller:
    they are shared with other parts of a process (the webhook sender reads campaigns)."""
    deps = Deps(bus=bus, topics=topics, campaigns=campaigns, reports=reports,
                explain=explain, now=now, domain_uuid=domain_uuid)
    app = web.Application(middlewares=[_errors(), _auth(tokens)],
                          client_max_size=max_body_bytes)
    app[BODY_TIMEOUT] = body_timeout_s
    harden(app)
    leads, camps, queues = LeadApi(deps), CampaignApi(deps), QueueApi(deps)
    vbot, rep = VbotApi(deps), ReportApi(deps)
    spec = openapi_document()

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=spec, content_type="application/json")

    app.add_routes([
        # seed 000
        web.post("/v3/autocall/import", leads.import_lead),
        web.post("/v1/campaign/{campaign_uuid}/run/start", camps.run_start),
        web.get("/v1/autocall/report", rep.v1_report, allow_head=False),
        # seed 001
        web.post("/v3/campaign", camps.create),
        web.get("/v3/campaign", camps.list, allow_head=False),
        web.get("/v3/campaign/{campaign_uuid}", camps.get, allow_head=False),
        web.put("/v3/campaign/{campaign_uuid}", camps.update),
        web.delete("/v3/campaign/{campaign_uuid}", camps.delete),
        web.patch("/v3/campaign/{campaign_uuid}/active", camps.set_active),
        # seed 002
        web.post("/v2/autocall/queue", queues.import_queue),
        web.post("/v2/autocall/queue/dnc", queues.dnc),
        web.post("/v2/autocall/queue/stop", queues.stop),
        web.post("/v2/autocall/queue/start", queues.start),
        web.post("/v2/autocall/queue/delete", queues.delete),
        # seed 003
        web.post("/api/campaign/create", vbot.create),
        # seed 004
        web.get("/v3/report/call/campaign", rep.campaign_report, allow_head=False),
        web.get("/v3/report/call/lead", rep.lead_report, allow_head=False),
        # this project
        web.get("/v3/lead/{lead_uuid}/state", leads.state, allow_head=False),
        web.get("/openapi.json", openapi, allow_head=False),
    ])
    return app
