"""The official AsyncAPI parser (``@asyncapi/parser`` on npm), installed once and cached.

Like tests/helm/helm_bin.py for helm: the package is installed with the ordinary npm
client into a cache directory outside the repository
(``~/.cache/autocall-dialer/node/asyncapi-parser-<V>``, or ``DIALER_NODE_CACHE``), under
an exclusive file lock, into a temporary directory renamed into place when complete, so a
parallel run never sees half an install. CI installs it itself on its first run.

``python -m tests.asyncapi.parser FILE`` validates a document and prints the diagnostics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tests.cache_lock import file_lock

PARSER_VERSION: Final = "3.6.6"
CACHE_ENV: Final = "DIALER_NODE_CACHE"
INSTALL_TIMEOUT_S: Final = 600.0
SCRIPT: Final = Path(__file__).with_name("validate.cjs")


class ParserUnavailable(RuntimeError):
    """npm could not install the parser."""


@dataclass(frozen=True)
class Result:
    valid: bool
    diagnostics: list[dict[str, Any]]

    def errors(self, max_severity: int = 1) -> list[dict[str, Any]]:
        """Diagnostics at least as severe as ``max_severity`` (0 error, 1 warning)."""
        return [d for d in self.diagnostics if int(d["severity"]) <= max_severity]


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autocall-dialer" / "node"


def node() -> str | None:
    return shutil.which("node")


def parser_dir(version: str = PARSER_VERSION) -> Path:
    target = cache_dir() / f"asyncapi-parser-{version}"
    if _installed(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.with_name(target.name + ".lock")):
        if not _installed(target):
            _install(version, target)
    return target


def _installed(target: Path) -> bool:
    return (target / "node_modules" / "@asyncapi" / "parser" / "package.json").is_file()


def _install(version: str, target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ParserUnavailable("npm is not on the PATH")
    work = Path(tempfile.mkdtemp(prefix=".asyncapi-", dir=target.parent))
    try:
        cmd = [npm, "install", "--prefix", str(work), "--no-audit", "--no-fund",
               "--no-save", "--loglevel=error", f"@asyncapi/parser@{version}"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                             check=False)
        if run.returncode != 0 or not _installed(work):
            raise ParserUnavailable(f"`{' '.join(cmd)}` failed ({run.returncode}):\n"
                                    f"{run.stdout[-2000:]}{run.stderr[-2000:]}")
        if target.exists():
            shutil.rmtree(target)  # a partial install from an older, non-atomic attempt
        os.replace(work, target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def validate(document: Path, version: str = PARSER_VERSION) -> Result:
    exe = node()
    if exe is None:
        raise ParserUnavailable("node is not on the PATH")
    run = subprocess.run([exe, str(SCRIPT), str(parser_dir(version)), str(document)],
                         capture_output=True, text=True, timeout=120, check=False)
    if run.returncode != 0:
        raise ParserUnavailable(f"the parser crashed ({run.returncode}): {run.stderr[-3000:]}")
    out = json.loads(run.stdout.strip().splitlines()[-1])
    return Result(bool(out["valid"]), list(out["diagnostics"]))


def main(argv: list[str]) -> int:
    result = validate(Path(argv[0]))
    for d in result.diagnostics:
        print(f"{d['severity']} {d['code']} {'/'.join(map(str, d['path']))}: {d['message']}")
    print("valid" if result.valid else "INVALID")
    return 0 if result.valid and not result.errors() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
