"""The chart under test, rendered by a real helm, and the kubelet's view of its pods.

Shared by the tests in this directory (fixtures in conftest.py). ``render`` runs
``helm template`` (cached per argument list); ``pod_env`` resolves a container's environment
the way the kubelet does it (envFrom, then env in order, with ``$(VAR)`` expansion,
fieldRef and secretKeyRef), so it can be loaded into ``dialer.settings.Settings``.
"""

from __future__ import annotations

import base64
import functools
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "autocall-dialer"
HA_VALUES = CHART / "ci" / "ha-values.yaml"
DOCKERFILE = ROOT / "helm" / "Dockerfile"
RELEASE, NAMESPACE = "dialer", "autocall"
HELM_TIMEOUT_S = 120

# DIALER_* variables the chart sets for settings other branches are adding (issue 10:
# static membership, Kafka security, topic settings): accepted while Settings lacks them,
# validated by Settings as soon as it has them.
PROPOSED_SETTINGS = {
    "health_port", "engine_group", "kafka_group_instance_id",
    "kafka_security_protocol", "kafka_sasl_mechanism", "kafka_sasl_username",
    "kafka_sasl_password", "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile",
    "kafka_replication_factor", "kafka_min_insync_replicas",
}

# The existing Secret ha-values.yaml points at, as an operator would create it.
EXISTING_SECRET = {
    "api-tokens": '["prod-token-1","prod-token-2"]',
    "webhook-secret": "prod-webhook-hmac",
    "esl-password-fs-a": "esl-a-pass",
    "esl-fs-b": "esl-b-pass",
    "kafka-sasl-password": "kafka-pass",
}

# Distinctive secret values: they must end up in the Secret and nowhere else, and reach
# Settings intact (quotes, backslashes, HTML-ish characters and a $(VAR) reference that
# the kubelet must not expand a second time).
SENTINEL_VALUES: dict[str, Any] = {
    "secrets": {
        "apiTokens": ["tok-SENTINEL-one", "tok-SENTINEL-two"],
        "webhookSecret": "whk-SENTINEL",
    },
    "engine": {
        "fsNodes": [
            {"name": "fs-a", "host": "10.0.0.5",
             "password": 'pw-SENTINEL-a"q\\b<&>$(FS_ESL_PASSWORD_1)'},
            {"name": "fs-b", "host": "10.0.0.6", "port": 8022, "password": "pw-SENTINEL-b"},
        ],
    },
}


# ---- helm ---------------------------------------------------------------------------


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True,
                          timeout=HELM_TIMEOUT_S, check=False)


@functools.cache
def _template(helm: Path, args: tuple[str, ...], release: str) -> tuple[dict[str, Any], ...]:
    run = run_helm(helm, "template", release, str(CHART), "--namespace", NAMESPACE, *args)
    if run.returncode != 0:
        raise AssertionError(f"helm template {' '.join(args)} failed:\n{run.stderr}")
    return tuple(d for d in yaml.safe_load_all(run.stdout) if d)


@dataclass(frozen=True)
class Rendered:
    docs: tuple[dict[str, Any], ...]
    release: str = RELEASE

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
        return found[0]

    def sts(self, component: str) -> dict[str, Any]:
        found = [d for d in self.of("StatefulSet")
                 if d["metadata"]["labels"]["app.kubernetes.io/component"] == component]
        assert len(found) == 1, f"one {component} StatefulSet expected, got {len(found)}"
        return found[0]

    def secret_data(self, name: str) -> dict[str, str]:
        doc = self.get("Secret", name)
        return {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}


def render(helm: Path, *args: str, release: str = RELEASE) -> Rendered:
    return Rendered(_template(helm, args, release), release)


def values_file(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


# ---- the kubelet's view of a pod ----------------------------------------------------

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(template: str, env: dict[str, str]) -> str:
    """Kubernetes' dependent-variable expansion: ``$(VAR)`` of an already defined
    variable is replaced (once, its value is not expanded again), ``$$`` is ``$``,
    references to unknown variables stay as written."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _REF.sub(sub, template)


def pod_env(r: Rendered, sts: dict[str, Any], ordinal: int,
            secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The environment of the StatefulSet's only container in pod ``ordinal``."""
    pod_name = f"{sts['metadata']['name']}-{ordinal}"
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(r.get("ConfigMap", source["configMapRef"]["name"])["data"])
        if "secretRef" in source:
            env.update(secrets[source["secretRef"]["name"]])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = expand(str(var["value"]), env)
            continue
        ref = var["valueFrom"]
        if "fieldRef" in ref:
            assert ref["fieldRef"]["fieldPath"] == "metadata.name", ref
            env[var["name"]] = pod_name
        elif "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            # a missing key is CreateContainerConfigError on a real cluster
            env[var["name"]] = secrets[key["name"]][key["key"]]
        else:
            raise AssertionError(f"unexpected valueFrom {ref}")
    return env


def chart_secrets(r: Rendered) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: r.secret_data(d["metadata"]["name"])
            for d in r.of("Secret")}


def container(sts: dict[str, Any]) -> dict[str, Any]:
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    return c


def port_named(c: dict[str, Any], name: str) -> int:
    (port,) = [p["containerPort"] for p in c["ports"] if p["name"] == name]
    return int(port)


def all_dialer_env_names(r: Rendered) -> Iterator[str]:
    for cm in r.of("ConfigMap"):
        yield from (k for k in cm["data"] if k.startswith("DIALER_"))
    for sts in r.of("StatefulSet"):
        yield from (v["name"] for v in container(sts).get("env", [])
                    if v["name"].startswith("DIALER_"))




def mounted_files(sts: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Files the container sees from Secret volumes: path -> (Secret name, key)."""
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    files: dict[str, tuple[str, str]] = {}
    for mount in container(sts).get("volumeMounts", []):
        secret = volumes.get(mount["name"], {}).get("secret")  # else a claim or emptyDir
        if secret is None:
            continue
        for item in secret["items"]:
            files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"], item["key"])
    return files
