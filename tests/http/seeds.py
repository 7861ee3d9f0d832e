"""The seed documents' examples, transcribed into tests/fixtures/seeds/<seed>.json.

Each ``Example`` is one curl command of a seed document (method, path, query, body) with
the success body and the error bodies that follow it in the document; ``json_blocks`` are
the document's JSON blocks in order. Seed 003 has no curl command: its fixture also holds
its tables (request/response fields in the table's spellings, HTTP statuses, error codes,
webhook fields and status codes), read with ``seed``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"


@dataclass
class Example:
    method: str
    path: str
    query: str
    body: Any
    success: Any = None
    errors: list[Any] = field(default_factory=list)

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


@cache
def _load(prefix: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{prefix}.json").read_text(encoding="utf-8"))
    return doc


def seed(prefix: str) -> dict[str, Any]:
    """The whole fixture of seed ``prefix`` ("000"…); a fresh copy, callers may mutate it."""
    copied: dict[str, Any] = json.loads(json.dumps(_load(prefix)))
    return copied


def examples(prefix: str) -> list[Example]:
    """Every curl example of seed ``prefix`` ("000"…), in document order."""
    return [Example(**e) for e in seed(prefix)["examples"]]


def json_blocks(prefix: str) -> list[Any]:
    blocks: list[Any] = seed(prefix)["json_blocks"]
    return blocks


def same_shape(actual: Any, expected: Any, where: str = "$") -> None:
    """``actual`` has every key of ``expected`` with a value of the same JSON type."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing"
            if value is not None and actual[key] is not None:
                same_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), where
        if expected and actual:
            same_shape(actual[0], expected[0], f"{where}[0]")
    elif isinstance(expected, bool):
        assert isinstance(actual, bool), where
    elif isinstance(expected, int | float):
        assert isinstance(actual, int | float) and not isinstance(actual, bool), where
    else:
        assert isinstance(actual, type(expected)), f"{where}: {actual!r} vs {expected!r}"
