"""The helm commands of the READMEs, run as written against the chart.

Every ``sh`` block of README.md, helm/README.md and helm/autocall-dialer/README.md that
calls helm runs in bash (``set -euo pipefail``) from the repository root, with
``tests/helm/readme_shims.py`` standing in for the cluster: ``helm install``/``upgrade``
render with the real helm (``template`` + ``lint --strict``, same arguments), ``kubectl
create secret`` records the Secret. The test then loads every rendered pod's environment
into ``dialer.settings.Settings`` and checks that each ``--set`` reached the objects as
its author meant it (``config.kafkaBootstrap`` with all its brokers).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.chart import EXISTING_SECRET, ROOT, Rendered, chart_secrets, pod_env
from tests.helm.helm_bin import BUILD_TIMEOUT_S
from tests.helm.readme_shims import install

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 300)

READMES = ["README.md", "helm/README.md", "helm/autocall-dialer/README.md"]
_FENCE = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def helm_blocks(readme: str) -> list[str]:
    text = (ROOT / readme).read_text()
    return [b for b in _FENCE.findall(text) if re.search(r"^\s*helm\s", b, re.MULTILINE)]


@dataclass(frozen=True)
class Ran:
    returncode: int
    output: str
    log: list[dict[str, Any]]
    out: Path

    def renders(self) -> list[tuple[dict[str, Any], Rendered]]:
        return [(e, Rendered(tuple(d for d in yaml.safe_load_all(
                    (self.out / e["render"]).read_text()) if d), e["release"]))
                for e in self.log if "render" in e]

    def secrets(self) -> dict[str, dict[str, str]]:
        found = {"dialer-prod-secrets": EXISTING_SECRET}  # ci/ha-values.yaml's
        for path in self.out.glob("secret-*.json"):
            found[path.stem.removeprefix("secret-")] = json.loads(path.read_text())
        return found


def run_block(helm: Path, tmp_path: Path, block: str) -> Ran:
    bin_dir, out = tmp_path / "bin", tmp_path / "out"
    bin_dir.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    install(bin_dir)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "REAL_HELM": str(helm), "SHIM_OUT": str(out),
           "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
           "HELM_DATA_HOME": str(tmp_path / "helm-data")}
    run = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    log_file = out / "log.jsonl"
    log = ([json.loads(line) for line in log_file.read_text().splitlines()]
           if log_file.exists() else [])
    return Ran(run.returncode, run.stdout + run.stderr, log, out)


def _sets(flags: list[list[Any]]) -> dict[str, str]:
    """--set assignments as helm reads them: split on unescaped commas, then unescape."""
    found: dict[str, str] = {}
    for name, value in flags:
        if name == "--set":
            for part in re.split(r"(?<!\\),", value):
                key, _, val = part.partition("=")
                found[key] = val.replace("\\,", ",")
    return found


@pytest.mark.parametrize("readme", READMES)
def test_readme_helm_commands_install_the_chart(
    helm: Path, tmp_path: Path, load_settings: Any, readme: str
) -> None:
    blocks = helm_blocks(readme)
    assert blocks, f"{readme} shows no helm command"
    installs = 0
    for number, block in enumerate(blocks):
        ran = run_block(helm, tmp_path / f"block-{number}", block)
        assert ran.returncode == 0, f"{readme} block {number} failed:\n{block}\n{ran.output}"
        secrets = ran.secrets()
        for entry, rendered in ran.renders():
            installs += 1
            chart_secret = chart_secrets(rendered)
            for sts in rendered.of("StatefulSet"):
                env = pod_env(rendered, sts, 0, {**secrets, **chart_secret})
                settings = load_settings(env)
                assert settings.bus == "kafka"
                sets = _sets(entry["flags"])
                if "config.kafkaBootstrap" in sets:
                    assert settings.kafka_bootstrap == sets["config.kafkaBootstrap"]
                    assert "," in settings.kafka_bootstrap  # every broker, not the first
                for name, value in entry["flags"]:
                    if name == "--set-json" and value.startswith("engine.fsNodes=") and \
                            sts["spec"]["template"]["spec"]["containers"][0]["args"] == [
                                "engine"]:
                        nodes = json.loads(value.partition("=")[2])
                        assert [(n.name, n.host) for n in settings.fs_nodes] == [
                            (n["name"], n["host"]) for n in nodes]
                if "image.repository" in sets:
                    assert container_image(sts).startswith(sets["image.repository"] + ":")
    assert installs, f"{readme}: no helm install/upgrade among its commands"


def container_image(sts: dict[str, Any]) -> str:
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    image: str = c["image"]
    return image


def test_the_harness_catches_the_unescaped_comma(helm: Path, tmp_path: Path) -> None:
    """The form issue 12 reported (a bare comma inside --set) fails here as it does on a
    real install."""
    block = ("helm install dialer helm/autocall-dialer -n autocall \\\n"
             "  --set config.kafkaBootstrap=kafka-0.kafka:9092,kafka-1.kafka:9092\n")
    ran = run_block(helm, tmp_path, block)
    assert ran.returncode != 0
    assert "failed parsing --set data" in ran.output


def test_the_harness_catches_a_helm_test_without_install(helm: Path, tmp_path: Path) -> None:
    ran = run_block(helm, tmp_path, "helm test nothing -n autocall\n")
    assert ran.returncode != 0
