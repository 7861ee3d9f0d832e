"""The gateway's OpenAPI 3.1 document, generated from the request/response models.

``python -m adapters.http.openapi`` writes proto/openapi.json; ``--check`` exits 1 when
the file differs. tests/http/test_openapi.py fails on drift and when the document's
operations differ from the application's routes. Examples are the seeds' own values.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from adapters.http import bodies as b
from adapters.http import replies as r

TARGET = Path(__file__).resolve().parents[2] / "proto" / "openapi.json"
REF = "#/components/schemas/{model}"

SEED_CAMPAIGN = "c2da23c0-9739-4287-828a-7b15cf0fb19e"
SEED_LEAD = "2f8b1c0f-da79-4dfb-959d-1b611cf0cd6a"
STAMP_EXAMPLE = "2023-03-07 00:00:00"


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    required: bool = False
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string",
                                                               "maxLength": 128})
    example: Any = None


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    ok: type[BaseModel] | None
    body: type[BaseModel] | None = None
    query: tuple[Query, ...] = ()
    errors: Mapping[int, tuple[type[BaseModel], ...]] = field(default_factory=dict)
    public: bool = False


def _window(lo: str, hi: str) -> tuple[Query, Query]:
    fmt = "YYYY-MM-DD HH:MM:SS, Asia/Ho_Chi_Minh, inclusive, on the call's start"
    schema = {"type": "string", "maxLength": 64}
    return (Query(lo, f"from ({fmt})", schema=schema, example=STAMP_EXAMPLE),
            Query(hi, f"until ({fmt})", schema=schema, example="2023-03-07 23:59:59"))


CAMPAIGN_Q = Query("campaign_uuid", "campaign", example=SEED_CAMPAIGN)
LIST_Q = Query("list_uuid", "only leads of this list",
               schema={"type": "string", "maxLength": 256})
PAGE_Q = (
    Query("limit", "page size", schema={"type": "integer", "minimum": 1, "maximum": 1000},
          example=10),
    Query("offset", "first row", schema={"type": "integer", "minimum": 0,
                                         "maximum": 1_000_000_000}, example=0),
)
SEED_ERR = (r.ErrorList, r.ErrorText)

OPERATIONS: tuple[Op, ...] = (
    Op("post", "/v3/autocall/import", "importLead", "Import a lead and call it", "seed 000",
       r.ImportReply, b.ImportBody, errors={400: (r.ErrorList,), 404: (r.ErrorText,)}),
    Op("post", "/v1/campaign/{campaign_uuid}/run/start", "runCampaign",
       "Move a campaign from pause/stop to start", "seed 000", r.CampaignRef,
       errors={404: (r.ErrorText,)}),
    Op("get", "/v1/autocall/report", "campaignReportV1", "Campaign call report (v1)",
       "seed 000", r.V1Report,
       query=(Query("campaign_uuid", "campaign", True, example=SEED_CAMPAIGN),
              *_window("start_date", "end_date")),
       errors={400: (r.ErrorList,), 404: (r.ErrorText,)}),
    Op("post", "/v3/campaign", "createCampaign", "Create a campaign", "seed 001",
       r.CampaignCreated, b.CampaignBody, errors={400: SEED_ERR}),
    Op("get", "/v3/campaign", "listCampaigns", "List campaigns, newest first", "seed 001",
       r.CampaignList,
       query=(Query("type", "campaign type", schema={"type": "string", "maxLength": 32},
                    example="autocall"), *PAGE_Q),
       errors={400: (r.ErrorList,)}),
    Op("get", "/v3/campaign/{campaign_uuid}", "getCampaign", "One campaign", "seed 001",
       r.CampaignObject, errors={404: (r.ErrorText,)}),
    Op("put", "/v3/campaign/{campaign_uuid}", "updateCampaign",
       "Update a campaign with the full campaign object", "seed 001", r.CampaignRef,
       b.CampaignBody, errors={400: SEED_ERR, 404: (r.ErrorText,)}),
    Op("delete", "/v3/campaign/{campaign_uuid}", "deleteCampaign",
       "Delete a deactivated campaign", "seed 001", r.CampaignRef,
       errors={400: (r.ErrorText,), 404: (r.ErrorText,)}),
    Op("patch", "/v3/campaign/{campaign_uuid}/active", "setCampaignActive",
       "Activate or deactivate a campaign", "seed 001", r.ActiveReply, b.ActiveBody,
       errors={400: SEED_ERR, 404: (r.ErrorText,)}),
    Op("post", "/v2/autocall/queue", "importQueue", "Create/update a queue and import "
       "its customers", "seed 002", r.QueueImportReply, b.QueueBody,
       errors={400: (r.QueueImportReply,)}),
    Op("post", "/v2/autocall/queue/dnc", "queueDnc", "Do-not-call by customer id",
       "seed 002", r.QueueReply, b.QueueDncBody,
       errors={400: (r.QueueReply,), 404: (r.QueueReply,)}),
    Op("post", "/v2/autocall/queue/stop", "stopQueue", "Pause a queue", "seed 002",
       r.QueueReply, b.QueueRefBody, errors={400: (r.QueueReply,), 404: (r.QueueReply,)}),
    Op("post", "/v2/autocall/queue/start", "startQueue", "Resume a queue", "seed 002",
       r.QueueReply, b.QueueRefBody, errors={400: (r.QueueReply,), 404: (r.QueueReply,)}),
    Op("post", "/v2/autocall/queue/delete", "deleteQueue", "Revoke a queue", "seed 002",
       r.QueueReply, b.QueueRefBody, errors={400: (r.QueueReply,), 404: (r.QueueReply,)}),
    Op("post", "/api/campaign/create", "vbotCreateCampaign",
       "Clone a template campaign, load phones, run it", "seed 003", r.VbotReply,
       b.VbotCreateBody, errors={500: (r.VbotReply,)}),
    Op("get", "/v3/report/call/campaign", "campaignReportV3", "Call counts per campaign",
       "seed 004", r.V3CampaignReport,
       query=(CAMPAIGN_Q, *_window("start_time", "end_time"), LIST_Q),
       errors={400: (r.ErrorList,), 404: (r.ErrorText,)}),
    Op("get", "/v3/report/call/lead", "leadReport", "Leads of campaigns with their last call",
       "seed 004", r.LeadReport,
       query=(CAMPAIGN_Q, *_window("start_time", "end_time"), LIST_Q, *PAGE_Q),
       errors={400: (r.ErrorList,), 404: (r.ErrorText,)}),
    Op("get", "/v3/lead/{lead_uuid}/state", "leadState",
       "A lead's state and what holds it (extension)", "extension", r.LeadStateReply,
       errors={404: (r.ErrorText,)}),
    Op("get", "/openapi.json", "openapi", "This document", "extension", None, public=True),
)


def _models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    for op in OPERATIONS:
        for model in (op.body, op.ok, *(x for ms in op.errors.values() for x in ms)):
            if model is not None and model not in seen:
                seen.append(model)
    return seen


def _content(models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    refs = [{"$ref": REF.format(model=m.__name__)} for m in models]
    schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
    return {"application/json": {"schema": schema}}


def _operation(op: Op) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                           "tags": [op.tag]}
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 128},
         "example": SEED_LEAD if name == "lead_uuid" else SEED_CAMPAIGN}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    for q in op.query:
        item: dict[str, Any] = {"name": q.name, "in": "query", "required": q.required,
                                "description": q.description, "schema": dict(q.schema)}
        if q.example is not None:
            item["example"] = q.example
        params.append(item)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": _content((op.body,))}
    ok: dict[str, Any] = {"description": "success"}
    ok["content"] = (_content((op.ok,)) if op.ok is not None
                     else {"application/json": {"schema": {"type": "object"}}})
    responses: dict[str, Any] = {"200": ok}
    for status, models in sorted(op.errors.items()):
        responses[str(status)] = {"description": "refused", "content": _content(models)}
    if op.public:
        out["security"] = []
    else:
        responses["401"] = {"description": "no valid bearer token",
                            "content": _content((r.ErrorText,))}
    if op.body is not None:
        responses["413"] = {"description": "body too large",
                            "content": _content((r.ErrorText,))}
    if op.method != "get":
        responses["503"] = {"description": "the bus is unavailable",
                             "content": _content((r.ErrorText,))}
    out["responses"] = responses
    return out


def document() -> dict[str, Any]:
    _, top = models_json_schema([(m, "validation") for m in _models()], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Autocall dialer API",
            "version": "1.0.0",
            "description": "The seed providers' autocall API (seeds 000-004) served by this "
                           "project, plus a lead state endpoint.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"stale: {TARGET} (run: python -m adapters.http.openapi)")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
