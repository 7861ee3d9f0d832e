"""The seed documents' examples, parsed from the files themselves (the contract).

Each ``Example`` is one curl command (or, for seed 003, the documented request body) with
the success body and the error bodies that follow it in the document.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest


def seeds_dir() -> Path:
    env = os.environ.get("DIALER_SEEDS_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "seeds")
    for path in candidates:
        if path.is_dir():
            return path
    pytest.fail(f"seed documents not found (set DIALER_SEEDS_DIR); looked in {candidates}")


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


_BLOCK = re.compile(r"```\s*(\w*)[^\n]*\n(.*?)```", re.S)


def _curl(text: str) -> Example:
    url = re.search(r"'(https?://[^']+)'", text)
    assert url, text
    parts = urlsplit(url.group(1).replace("{{API_HOST}}", "api.example"))
    data = re.search(r"--data(?:-raw)?\s+'(.*?)'", text, re.S)
    method = re.search(r"(?:--request|-X)\s+(\w+)", text)
    verb = method.group(1) if method else ("POST" if data else "GET")
    return Example(verb, parts.path, parts.query, json.loads(data.group(1)) if data else None)


def examples(prefix: str) -> list[Example]:
    """Every curl example of seed ``prefix`` ("000"…), in document order."""
    (path,) = seeds_dir().glob(f"{prefix}_*.txt")
    text = path.read_text(encoding="utf-8")
    out: list[Example] = []
    mode = ""
    last_end = 0
    for block in _BLOCK.finditer(text):
        lang, content = block.group(1).lower(), block.group(2)
        between = text[last_end : block.start()]
        last_end = block.end()
        if lang == "shell" and "curl" in content:
            out.append(_curl(content))
            mode = ""
            continue
        if "Error Response" in between:
            mode = "error"
        elif "Response trả về" in between:
            mode = "success"
        elif between.strip():
            mode = ""
        if lang != "json" or not out or not mode:
            continue
        value = json.loads(content)
        if mode == "success" and out[-1].success is None:
            out[-1].success = value
        elif mode == "error":
            out[-1].errors.append(value)
    return out


def json_blocks(prefix: str) -> list[Any]:
    (path,) = seeds_dir().glob(f"{prefix}_*.txt")
    text = path.read_text(encoding="utf-8")
    return [json.loads(b.group(2)) for b in _BLOCK.finditer(text) if b.group(1).lower() == "json"]


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
