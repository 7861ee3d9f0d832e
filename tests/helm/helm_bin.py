"""A ``helm`` binary for the chart tests, built from source once and cached.

No helm package is installed on the project's machines and only package registries are
reachable, but the Go module proxy is one of them: ``go install helm.sh/helm/v3/cmd/helm@V``
builds the pinned release. The binary lands in a cache directory outside the repository
(``~/.cache/autocall-dialer/bin/helm-<V>``); Go's module and build caches (``~/go/pkg/mod``,
``~/.cache/go-build``) make a rebuild after a cache wipe fast.

Order of preference:

1. ``DIALER_HELM``: an explicit binary (CI images that ship helm).
2. The cached ``helm-<V>`` from an earlier build.
3. A fresh build, under an exclusive file lock so parallel test runs build it once; the
   binary is installed by an atomic rename, so nobody ever runs a half-written file.

``python -m tests.helm.helm_bin`` builds it (if needed) and prints the path and the time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from tests.cache_lock import file_lock

__all__ = ["HELM_VERSION", "HelmUnavailable", "helm_path"]

HELM_VERSION: Final = "v3.21.4"
HELM_MODULE: Final = "helm.sh/helm/v3"
HELM_ENV: Final = "DIALER_HELM"
CACHE_ENV: Final = "DIALER_HELM_CACHE"
BUILD_TIMEOUT_S: Final = 1800.0


class HelmUnavailable(RuntimeError):
    """No helm binary: none given or cached, and no Go toolchain, or the build failed."""


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autocall-dialer" / "bin"


def helm_path(version: str = HELM_VERSION) -> Path:
    """The path of a working helm binary, building ``version`` once if none is cached."""
    explicit = os.environ.get(HELM_ENV)
    if explicit:
        path = Path(explicit)
        if not os.access(path, os.X_OK):
            raise HelmUnavailable(f"{HELM_ENV}={explicit} is not an executable file")
        return path
    target = cache_dir() / f"helm-{version}"
    if _works(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.with_name(target.name + ".lock")):
        if not _works(target):  # another process may have built it while we waited
            _build(version, target)
    return target


def _works(path: Path) -> bool:
    if not os.access(path, os.X_OK):
        return False
    try:
        run = subprocess.run([str(path), "version", "--short"], capture_output=True,
                             text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0 and run.stdout.startswith("v3.")


def _build(version: str, target: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise HelmUnavailable(
            f"no helm: set {HELM_ENV}, or install Go so that {HELM_MODULE} {version} "
            "can be built from the module proxy")
    with tempfile.TemporaryDirectory(prefix=".helm-build-", dir=target.parent) as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
        cmd = [go, "install", "-trimpath", f"-ldflags={_ldflags(go, version, env)}",
               f"{HELM_MODULE}/cmd/helm@{version}"]
        built = Path(gobin) / "helm"
        run = _go(cmd, env)
        if run.returncode != 0 or not built.exists():
            raise HelmUnavailable(
                f"`{' '.join(cmd)}` failed ({run.returncode}):\n{run.stderr[-4000:]}")
        os.replace(built, target)  # atomic: readers see no file or the whole binary


def _ldflags(go: str, version: str, env: dict[str, str]) -> str:
    """What helm's Makefile sets: the version, and the Kubernetes version that
    ``helm template``/``lint`` assume (without it 1.20, which fails any chart with a
    newer ``kubeVersion``), derived like the Makefile from the client-go it is built with.
    """
    run = _go([go, "mod", "download", "-json", f"{HELM_MODULE}@{version}"], env)
    if run.returncode != 0:
        raise HelmUnavailable(f"go mod download {HELM_MODULE}@{version} failed:\n"
                              f"{run.stdout[-2000:]}{run.stderr[-2000:]}")
    gomod = Path(json.loads(run.stdout)["GoMod"]).read_text()
    found = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.", gomod, re.MULTILINE)
    if found is None:
        raise HelmUnavailable(f"no k8s.io/client-go requirement in {HELM_MODULE} {version}")
    minor = found.group(1)
    flags = ["-s", "-w", f"-X {HELM_MODULE}/internal/version.version={version}"]
    for pkg in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [f"-X {HELM_MODULE}/{pkg}.k8sVersionMajor=1",
                  f"-X {HELM_MODULE}/{pkg}.k8sVersionMinor={minor}"]
    return " ".join(flags)


def _go(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as err:
        raise HelmUnavailable(
            f"`{' '.join(cmd[:3])}` took more than {BUILD_TIMEOUT_S:.0f} s") from err


def main() -> int:
    started = time.monotonic()
    path = helm_path()
    print(f"{path} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
