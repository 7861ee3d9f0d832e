"""What every handler shares: JSON in and out, the seeds' error bodies, query parameters.

Error bodies follow the seeds: seed 000/001 validation errors are a list of one-key objects
``{"error": [{"(root)": "campaign_uuid is required"}]}`` (the shape of gojsonschema, which
the providers evidently run: the key is the parent path of the field, "(root)" at the top,
and the message names the field); plain errors are ``{"error": "Not Found"}``. Handlers
raise ``HttpError`` with the body; the error middleware turns it into the response.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from engine.errors import DialerError

M = TypeVar("M", bound=BaseModel)

INT64 = 2**63 - 1
BODY_TIMEOUT = web.AppKey("body_timeout_s", float)
DEFAULT_BODY_TIMEOUT_S = 30.0
MAX_DEPTH = 32
ErrorItems = list[dict[str, str]]


class HttpError(DialerError):
    """A refusal with a seed-shaped body; never logged with the body (it may hold phones)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


def reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def not_found() -> HttpError:
    return HttpError(404, {"error": "Not Found"})


def bad_request(items: ErrorItems) -> HttpError:
    return HttpError(400, {"error": items})


def required(name: str, parent: str = "(root)") -> dict[str, str]:
    return {parent: f"{name} is required"}


# ---- bodies ------------------------------------------------------------------------------
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _sane(value: Any, depth: int = 0) -> str | None:
    """Why a decoded JSON value cannot be stored as is (numbers beyond 64 bits, absurd
    nesting), or None. orjson parses such numbers; SQLite and orjson.dumps do not take them."""
    if depth > MAX_DEPTH:
        return "nesting is too deep"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int | float):
        return None if -INT64 <= value <= INT64 else "number out of range"
    if isinstance(value, list):
        return next((r for v in value if (r := _sane(v, depth + 1))), None)
    if isinstance(value, dict):
        return next((r for v in value.values() if (r := _sane(v, depth + 1))), None)
    return None


def parse_json(raw: bytes) -> Any:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise bad_request([{"(root)": "body is not valid JSON"}]) from err
    problem = _sane(value)
    if problem:
        raise bad_request([{"(root)": problem}])
    return value


async def json_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 in the seeds' error-list form."""
    try:
        async with asyncio.timeout(request.config_dict.get(BODY_TIMEOUT,
                                                           DEFAULT_BODY_TIMEOUT_S)):
            raw = await request.read()
    except TimeoutError as err:
        raise HttpError(408, {"error": "Request Timeout"}) from err
    if not raw.strip() and empty_ok:
        return {}
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise bad_request(
            [{"(root)": f"Invalid type. Expected: object, given: {_json_type(value)}"}]
        )
    return value


_EXPECTED = {
    "string_type": "string", "int_type": "integer", "int_parsing": "integer",
    "int_from_float": "integer", "float_type": "number", "float_parsing": "number",
    "bool_type": "boolean", "bool_parsing": "boolean", "dict_type": "object",
    "list_type": "array", "model_type": "object", "model_attributes_type": "object",
}


def _message(field: str, err: Mapping[str, Any]) -> str:
    kind, ctx = str(err["type"]), err.get("ctx") or {}
    if kind == "missing":
        return f"{field} is required"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{field} must be one of the following: " + ", ".join(f'"{a}"' for a in allowed)
    if kind in _EXPECTED:
        return f"Invalid type. Expected: {_EXPECTED[kind]}, given: {_json_type(err['input'])}"
    if kind == "string_too_long":
        return f"String length must be less than or equal to {ctx.get('max_length')}"
    if kind == "string_too_short":
        return f"String length must be greater than or equal to {ctx.get('min_length')}"
    if kind == "too_long":
        return f"Array must have at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return f"Array must have at least {ctx.get('min_length')} items"
    if kind == "greater_than_equal":
        return f"Must be greater than or equal to {ctx.get('ge')}"
    if kind == "greater_than":
        return f"Must be greater than {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"Must be less than or equal to {ctx.get('le')}"
    if kind == "string_pattern_mismatch":
        return f"Does not match pattern '{ctx.get('pattern')}'"
    return str(err["msg"]).removeprefix("Value error, ")


def seed_errors(err: ValidationError) -> ErrorItems:
    """pydantic errors → ``[{"<parent path>": "<message>"}]``, one item per field."""
    items: ErrorItems = []
    seen: set[tuple[str, ...]] = set()
    for e in err.errors():
        loc = tuple(str(p) for p in e["loc"])
        if loc in seen:
            continue
        seen.add(loc)
        if e["type"] == "missing":
            parent = ".".join(loc[:-1]) or "(root)"
            items.append({parent: _message(loc[-1] if loc else "(root)", e)})
        else:
            path = ".".join(loc) or "(root)"
            items.append({path: _message(path, e)})
    return items


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise bad_request(seed_errors(err)) from err


# ---- query parameters ---------------------------------------------------------------------
def query_text(request: web.Request, name: str, max_length: int = 128) -> str | None:
    """A query parameter as text; absent or empty → None. Unencodable text (lone
    surrogates from a bad percent-escape) or over-long text is a 400."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise bad_request([{name: f"{name} is not valid UTF-8"}]) from err
    if len(value) > max_length:
        raise bad_request([{name: f"String length must be less than or equal to {max_length}"}])
    return value


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    text = query_text(request, name, 20)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError as err:
        raise bad_request(
            [{name: "Invalid type. Expected: integer, given: string"}]
        ) from err
    if not lo <= value <= hi:
        raise bad_request([{name: f"{name} must be between {lo} and {hi}"}])
    return value


def path_id(request: web.Request, name: str) -> str:
    """A path identifier; one no stored id can equal (too long, unencodable) is a 404."""
    value = request.match_info.get(name, "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise not_found() from err
    if not value or len(value) > 128:
        raise not_found()
    return value
