"""proto/openapi.json is generated, committed, served, and matches the routes."""

from __future__ import annotations

import json

from aiohttp import web

from adapters.http import openapi
from tests.http.rig import Stack


def test_the_committed_document_is_up_to_date() -> None:
    assert openapi.TARGET.read_text(encoding="utf-8") == openapi.render(), (
        "run: python -m adapters.http.openapi")


def routes(app: web.Application) -> set[tuple[str, str]]:
    return {(r.method.lower(), r.resource.canonical)
            for r in app.router.routes() if r.resource is not None}


def documented() -> set[tuple[str, str]]:
    doc = json.loads(openapi.TARGET.read_text(encoding="utf-8"))
    return {(method, path) for path, ops in doc["paths"].items() for method in ops}


async def test_the_document_lists_exactly_the_routes(mstack: Stack) -> None:
    assert mstack.client.app is not None
    assert routes(mstack.client.app) == documented()


async def test_the_document_is_served_without_a_token(mstack: Stack) -> None:
    resp = await mstack.client.get("/openapi.json")
    assert resp.status == 200
    assert await resp.json() == json.loads(openapi.TARGET.read_text(encoding="utf-8"))


def test_every_operation_documents_auth_and_its_errors() -> None:
    doc = json.loads(openapi.TARGET.read_text(encoding="utf-8"))
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "200" in op["responses"], (method, path)
            if path != "/openapi.json":
                assert "401" in op["responses"], (method, path)
