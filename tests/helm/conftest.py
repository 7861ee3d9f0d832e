"""Fixtures of the chart tests: the helm binary, the two reference renders, Settings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from dialer.settings import Settings
from tests.helm.chart import HA_VALUES, Rendered, render
from tests.helm.helm_bin import HELM_ENV, HelmUnavailable, helm_path


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return helm_path()
    except HelmUnavailable as err:
        if shutil.which("go") is None and HELM_ENV not in os.environ:
            pytest.skip(f"no helm and no Go toolchain to build it: {err}")
        raise


@pytest.fixture(scope="module")
def default(helm: Path) -> Rendered:
    return render(helm)


@pytest.fixture(scope="module")
def ha(helm: Path) -> Rendered:
    return render(helm, "-f", str(HA_VALUES))


@pytest.fixture
def load_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    def load(env: dict[str, str]) -> Settings:
        for name in list(os.environ):
            if name.startswith("DIALER_"):
                monkeypatch.delenv(name)
        for name, value in env.items():
            if name.startswith("DIALER_"):
                monkeypatch.setenv(name, value)
        return Settings()
    return load
