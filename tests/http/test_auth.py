"""Every endpoint refuses a request without a valid bearer token (401), before it reads
anything; a valid token of the configured list is accepted."""

from __future__ import annotations

import json
import re

import pytest

from adapters.http import openapi
from tests.http.rig import TOKEN, Stack

DOC = json.loads(openapi.TARGET.read_text(encoding="utf-8"))
OPERATIONS = [(method.upper(), re.sub(r"{\w+}", "x", path))
              for path, ops in DOC["paths"].items() for method in ops
              if path != "/openapi.json"]
BAD_HEADERS = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": "Bearer tëst-tøken"},
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_refused_without_a_valid_token(mstack: Stack, method: str, path: str) -> None:
    for headers in BAD_HEADERS:
        resp = await mstack.client.request(method, path, headers=headers, data=b"{}")
        assert resp.status == 401, headers
        assert await resp.json() == {"error": "Unauthorized"}
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_any_configured_token_is_accepted(mstack: Stack) -> None:
    for token in (TOKEN, "second-token"):
        for scheme in ("Bearer", "bearer"):
            resp = await mstack.client.get(
                "/v3/campaign", headers={"Authorization": f"{scheme} {token}"})
            assert resp.status == 200


async def test_unknown_paths_are_refused_too(mstack: Stack) -> None:
    resp = await mstack.client.get("/v3/nothing")
    assert resp.status == 401
    resp = await mstack.client.get("/v3/nothing", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (resp.status, await resp.json()) == (404, {"error": "Not Found"})
