"""The packages depend in one direction: dialer/ (process wiring) → adapters/, consumers/ →
engine/, proto/. Nothing imports the wiring, and the pure core imports no package of ours
but itself, so moving a file the wrong way fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("engine", "adapters", "consumers", "proto", "dialer")
ALLOWED = {
    "engine": {"engine"},
    "proto": {"proto", "engine"},
    "adapters": {"adapters", "consumers", "engine", "proto"},
    "consumers": {"consumers", "adapters", "engine", "proto"},
    "dialer": set(OURS),
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(OURS)


@pytest.mark.parametrize("package", OURS)
def test_package_imports_only_what_its_layer_may(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - ALLOWED[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    wrong = {path: names for path, names in wrong.items() if names}
    assert wrong == {}


def test_adapters_hold_no_process_wiring() -> None:
    """The wiring moved to dialer/ (issue 12 item 8); a module of that name back in adapters/
    would be a second copy."""
    wiring = {p.stem for p in (ROOT / "dialer").glob("*.py")} - {"__init__"}
    assert wiring, "dialer/ holds the wiring"
    assert sorted(p.name for p in (ROOT / "adapters").glob("*.py")
                  if p.stem in wiring) == []
