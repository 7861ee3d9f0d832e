"""The Helm chart (helm/autocall-dialer), rendered by a real helm binary.

``helm lint --strict`` and ``helm template`` run with the default values and with
``ci/ha-values.yaml`` (existingSecret, three engine pods, two FreeSWITCH nodes, Kafka over
SASL_SSL). The rendered objects are parsed and checked for what a deployment depends on;
the pods' environment is resolved the way the kubelet does it and loaded into
``dialer.settings.Settings``, so a chart that would start a mis-configured dialer fails
here.

helm comes from ``tests/helm/helm_bin.py`` (built from the Go module proxy on first use).
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialer.cli import _parser
from dialer.settings import Settings
from tests.helm.chart import (
    CHART,
    DOCKERFILE,
    EXISTING_SECRET,
    HA_VALUES,
    PROPOSED_SETTINGS,
    RELEASE,
    ROOT,
    SENTINEL_VALUES,
    Rendered,
    all_dialer_env_names,
    chart_secrets,
    container,
    pod_env,
    port_named,
    render,
    run_helm,
    values_file,
)
from tests.helm.helm_bin import BUILD_TIMEOUT_S

# The first run may build helm (about a minute or two); the global 120 s would cut it.
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 300)


# ---- lint ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, HA_VALUES], ids=["default", "ha"])
def test_helm_lint_strict(helm: Path, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
    run = run_helm(helm, *args)
    assert run.returncode == 0, run.stdout + run.stderr


# ---- engine -------------------------------------------------------------------------


@pytest.mark.parametrize(("which", "replicas"), [("default", 3), ("ha", 3)])
def test_engine_is_a_statefulset_named_by_its_pods(
    request: pytest.FixtureRequest, which: str, replicas: int
) -> None:
    r: Rendered = request.getfixturevalue(which)
    sts = r.sts("engine")
    assert sts["spec"]["replicas"] == replicas
    assert r.of("Deployment") == []
    # the governing headless Service exists
    svc = r.get("Service", sts["spec"]["serviceName"])
    assert svc["spec"]["clusterIP"] == "None"
    c = container(sts)
    assert c["args"] == ["engine"]
    (instance,) = [v for v in c["env"] if v["name"] == "DIALER_INSTANCE"]
    assert instance["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_engine_settings_default(default: Rendered, load_settings: Any) -> None:
    sts = default.sts("engine")
    s: Settings = load_settings(pod_env(default, sts, 0, chart_secrets(default)))
    assert s.bus == "kafka"
    assert s.simulator is False
    assert s.kafka_bootstrap == "kafka:9092"
    assert s.topic_prefix == "autocall."
    assert s.instance == f"{sts['metadata']['name']}-0"
    (node,) = s.fs_nodes
    assert (node.name, node.host, node.port, node.max_sessions, node.cps) == (
        "fs1", "freeswitch", 8021, 300, 8.0)
    assert node.password.get_secret_value() == "ClueCon"
    assert (s.gateway, s.dialplan_extension, s.dialplan_context) == (
        "carrier", "autocall", "autocall")
    assert s.drain_seconds == 30.0


def test_engine_settings_ha(ha: Rendered, load_settings: Any) -> None:
    assert ha.of("Secret") == [], "existingSecret: the chart must not create one"
    sts = ha.sts("engine")
    for ordinal in range(3):
        s: Settings = load_settings(
            pod_env(ha, sts, ordinal, {"dialer-prod-secrets": EXISTING_SECRET}))
        assert s.instance == f"{RELEASE}-autocall-dialer-engine-{ordinal}"
        assert s.bus == "kafka"
        assert s.topic_prefix == "prod.autocall."
        assert s.kafka_bootstrap.count(",") == 2
        assert s.kafka_partitions == 12
        assert [(n.name, n.host, n.port, n.max_sessions, n.cps) for n in s.fs_nodes] == [
            ("fs-a", "10.20.0.5", 8021, 260, 9.0),
            ("fs-b", "fs-b.voice.svc.cluster.local", 8022, 400, 9.5),
        ]
        assert [n.password.get_secret_value() for n in s.fs_nodes] == [
            "esl-a-pass", "esl-b-pass"]
        assert (s.gateway, s.dialplan_extension, s.dialplan_context) == (
            "viettel-trunk", "autocall_prod", "outbound")
        assert s.drain_seconds == 120.0
        assert s.log_level == "WARNING"


def test_every_dialer_variable_is_a_setting(default: Rendered, ha: Rendered) -> None:
    fields = set(Settings.model_fields)
    for r in (default, ha):
        for name in all_dialer_env_names(r):
            field = name.removeprefix("DIALER_").lower()
            assert field in fields | PROPOSED_SETTINGS, (
                f"{name} is read by no setting (typo?)")


def test_engine_consumer_group_is_shared_by_all_pods(ha: Rendered) -> None:
    data = ha.get("ConfigMap", ha.sts("engine")["spec"]["template"]["spec"]["containers"][0]
                  ["envFrom"][0]["configMapRef"]["name"])["data"]
    # one group for every pod (partition assignment splits campaigns between them)
    assert data["DIALER_ENGINE_GROUP"] == "prod.autocall.engine"


@pytest.mark.parametrize(("which", "extra"), [
    ("default", ()), ("ha", ()), ("default", ("--set-json", "engine.drainSeconds=45.5")),
    ("default", ("--set", "engine.drainSeconds=600",
                 "--set", "engine.terminationGraceMarginSeconds=5")),
])
def test_termination_grace_outlasts_the_drain(
    request: pytest.FixtureRequest, helm: Path, load_settings: Any,
    which: str, extra: tuple[str, ...],
) -> None:
    base = ("-f", str(HA_VALUES)) if which == "ha" else ()
    r = render(helm, *base, *extra)
    sts = r.sts("engine")
    secrets = chart_secrets(r) or {"dialer-prod-secrets": EXISTING_SECRET}
    s: Settings = load_settings(pod_env(r, sts, 0, secrets))
    grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert isinstance(grace, int)
    assert grace > s.drain_seconds
    assert grace >= math.ceil(s.drain_seconds) + 5


# ---- probes -------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [(), ("--set", "config.healthPort=9102")])
def test_probes_point_at_the_health_port(
    helm: Path, load_settings: Any, extra: tuple[str, ...]
) -> None:
    r = render(helm, *extra)
    for component in ("engine", "api"):
        sts = r.sts(component)
        c = container(sts)
        env = pod_env(r, sts, 0, chart_secrets(r))
        health = port_named(c, "health")
        assert int(env["DIALER_HEALTH_PORT"]) == health
        if "health_port" in Settings.model_fields:
            assert load_settings(env).health_port == health
        expected = {"startupProbe": "/livez", "livenessProbe": "/livez",
                    "readinessProbe": "/readyz"}
        for probe, path in expected.items():
            get = c[probe]["httpGet"]
            assert get["path"] == path, (component, probe)
            assert get["port"] in ("health", health), (component, probe)
        if component == "api":
            assert health != port_named(c, "http")


# ---- secrets ------------------------------------------------------------------------


def test_secrets_appear_only_in_the_secret(
    helm: Path, tmp_path: Path, load_settings: Any
) -> None:
    r = render(helm, "-f", values_file(tmp_path, SENTINEL_VALUES))
    (secret,) = r.of("Secret")
    secret_name = secret["metadata"]["name"]
    encoded = list(secret["data"].values())
    for doc in r.docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert "SENTINEL" not in text, where
        for value in encoded:
            assert value not in text, where
    for cm in r.of("ConfigMap"):
        assert not any("SENTINEL" in v for v in cm["data"].values())

    secrets = chart_secrets(r)
    engine: Settings = load_settings(pod_env(r, r.sts("engine"), 0, secrets))
    assert [n.password.get_secret_value() for n in engine.fs_nodes] == [
        n["password"] for n in SENTINEL_VALUES["engine"]["fsNodes"]]
    assert [n.port for n in engine.fs_nodes] == [8021, 8022]
    api: Settings = load_settings(pod_env(r, r.sts("api"), 0, secrets))
    assert [t.get_secret_value() for t in api.api_tokens] == ["tok-SENTINEL-one",
                                                             "tok-SENTINEL-two"]
    assert api.webhook_secret.get_secret_value() == "whk-SENTINEL"
    refs = [v["valueFrom"]["secretKeyRef"]["name"]
            for sts in r.of("StatefulSet") for v in container(sts)["env"]
            if "secretKeyRef" in v.get("valueFrom", {})]
    assert refs and set(refs) == {secret_name}


def test_generated_secrets_are_valid(default: Rendered, load_settings: Any) -> None:
    api: Settings = load_settings(
        pod_env(default, default.sts("api"), 0, chart_secrets(default)))
    (token,) = api.api_tokens
    assert len(token.get_secret_value()) >= 32
    assert len(api.webhook_secret.get_secret_value()) >= 32
    assert api.webhook_secret.get_secret_value() != "change-me"


def test_existing_secret_is_referenced_not_created(ha: Rendered) -> None:
    assert ha.of("Secret") == []
    refs = {(v["valueFrom"]["secretKeyRef"]["name"], v["valueFrom"]["secretKeyRef"]["key"])
            for sts in ha.of("StatefulSet") for v in container(sts)["env"]
            if "secretKeyRef" in v.get("valueFrom", {})}
    assert refs == {("dialer-prod-secrets", k) for k in EXISTING_SECRET}


# ---- api ----------------------------------------------------------------------------


def test_api_role(ha: Rendered, load_settings: Any) -> None:
    sts = ha.sts("api")
    assert sts["spec"]["replicas"] == 1
    c = container(sts)
    assert c["args"] == ["api"]
    s: Settings = load_settings(pod_env(ha, sts, 0, {"dialer-prod-secrets": EXISTING_SECRET}))
    assert s.bus == "kafka"
    assert s.topic_prefix == "prod.autocall."
    assert s.instance == f"{sts['metadata']['name']}-0"  # stable webhook consumer group
    assert s.http_host == "0.0.0.0"
    assert s.http_port == port_named(c, "http")
    assert [t.get_secret_value() for t in s.api_tokens] == ["prod-token-1", "prod-token-2"]
    assert s.webhook_secret.get_secret_value() == "prod-webhook-hmac"
    # the SQLite views live on the claim of the volumeClaimTemplate
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    assert mount["mountPath"] == s.data_dir
    # Service → named container port; Ingress → Service
    svc = ha.get("Service", sts["metadata"]["name"])
    (port,) = svc["spec"]["ports"]
    assert port["targetPort"] == "http"
    assert svc["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"][
        "labels"].items()
    (ingress,) = ha.of("Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": svc["metadata"]["name"], "port": {"number": port["port"]}}
    assert ingress["spec"]["tls"][0]["hosts"] == ["autocall.example.vn"]


def test_api_without_persistence_uses_an_empty_dir(helm: Path) -> None:
    r = render(helm, "--set", "api.persistence.enabled=false")
    sts = r.sts("api")
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["data"]
    assert r.of("Ingress") == []


# ---- rollouts -----------------------------------------------------------------------


def checksums(r: Rendered) -> dict[str, str]:
    return {c: r.sts(c)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for c in ("engine", "api")}


def test_config_checksum_rolls_the_pods_of_the_changed_role(helm: Path) -> None:
    base = checksums(render(helm))
    assert checksums(render(helm, "--set", "config.logLevel=INFO")) == base  # same values
    shared = checksums(render(helm, "--set", "config.topicPrefix=other."))
    assert shared["engine"] != base["engine"]
    assert shared["api"] != base["api"]
    engine_only = checksums(render(helm, "--set", "engine.drainSeconds=45"))
    assert engine_only["engine"] != base["engine"]
    assert engine_only["api"] == base["api"]  # restarting the API does not drain calls
    api_only = checksums(render(helm, "--set", "api.dataDir=/data"))
    assert api_only["api"] != base["api"]
    assert api_only["engine"] == base["engine"]


# ---- pods ---------------------------------------------------------------------------


def dockerfile_user() -> tuple[int, int]:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    uid, _, gid = users[-1].partition(":")
    return int(uid), int(gid or uid)


@pytest.mark.parametrize("which", ["default", "ha"])
def test_pods_are_locked_down(request: pytest.FixtureRequest, which: str) -> None:
    r: Rendered = request.getfixturevalue(which)
    uid, gid = dockerfile_user()
    (account,) = r.of("ServiceAccount")
    for sts in r.of("StatefulSet"):
        spec = sts["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert (spec["securityContext"]["runAsUser"],
                spec["securityContext"]["runAsGroup"]) == (uid, gid)
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == account["metadata"]["name"]
        c = container(sts)
        assert "command" not in c  # the image's ENTRYPOINT ["dialer"] stays
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        (tmp,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert "emptyDir" in volumes[tmp["name"]]
        assert c["resources"]["requests"] and c["resources"]["limits"]
        assert c["image"] == (
            "autocall-dialer:0.1.0" if which == "default" else
            "registry.example.com/autocall-dialer:0.1.0@sha256:"
            "0f4c2d7e9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d")
        _parser().parse_args(c["args"])  # a role the dialer CLI knows


def test_disruption_budgets_select_exactly_their_role(ha: Rendered) -> None:
    pdbs = ha.of("PodDisruptionBudget")
    assert len(pdbs) == 2
    for pdb in pdbs:
        selector = pdb["spec"]["selector"]["matchLabels"].items()
        selected = [sts["metadata"]["labels"]["app.kubernetes.io/component"]
                    for sts in ha.of("StatefulSet")
                    if selector <= sts["spec"]["template"]["metadata"]["labels"].items()]
        assert selected == [pdb["metadata"]["labels"]["app.kubernetes.io/component"]]
        assert pdb["spec"]["maxUnavailable"] == 1
    engine = ha.get("PodDisruptionBudget", ha.sts("engine")["metadata"]["name"])
    assert engine["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_long_release_names_still_give_valid_instance_names(
    helm: Path, load_settings: Any
) -> None:
    release = "a-very-long-release-name-for-the-autocall-dialer-x"
    r = render(helm, "--set", "engine.replicas=12", release=release)
    for sts in r.of("StatefulSet"):
        name = sts["metadata"]["name"]
        assert len(name) <= 52, name  # room for the controller-revision-hash label
        last = sts["spec"]["replicas"] - 1
        s: Settings = load_settings(pod_env(r, sts, last, chart_secrets(r)))
        assert s.instance == f"{name}-{last}"
    for doc in r.docs:
        assert len(doc["metadata"]["name"]) <= 63


# ---- values that must not install ---------------------------------------------------


@pytest.mark.parametrize(("values", "message"), [
    ({"existingSecret": "mine",
      "engine": {"fsNodes": [{"name": "fs1", "host": "h", "password": "p"}]}},
     "put the password into the existing Secret"),
    ({"existingSecret": "mine", "secrets": {"apiTokens": ["t"]}},
     "put them into the existing Secret"),
    ({"engine": {"fsNodes": [{"name": "fs1", "host": "a"}, {"name": "fs1", "host": "b"}]}},
     "used twice"),
    ({"engine": {"fsNodes": [{"name": "fs 1", "host": "a"}]}}, "does not match pattern"),
    ({"engine": {"fsNodes": [{"name": "fs1", "host": "a", "maxSession": 5}]}},
     "additional properties"),
    ({"engine": {"fsNodes": []}}, "minItems"),
    ({"engine": {"drainSeconds": "30"}}, "got string"),
    ({"config": {"healthPort": 8080}}, "the probes need their own port"),
    ({"api": {"replicas": 2}}, "additional properties 'replicas' not allowed"),
])
def test_bad_values_fail_to_render(
    helm: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    run = run_helm(helm, "template", RELEASE, str(CHART),
                   "-f", values_file(tmp_path, values))
    assert run.returncode != 0
    assert message in run.stderr, run.stderr


# ---- the image ----------------------------------------------------------------------


def test_dockerfile_builds_what_the_chart_runs() -> None:
    text = DOCKERFILE.read_text()
    assert re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)[-1] == "python:3.11-slim"
    assert 'ENTRYPOINT ["dialer"]' in text
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert dockerfile_user() == (values["podSecurityContext"]["runAsUser"],
                                 values["podSecurityContext"]["runAsGroup"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY\s+{package}\s", text, re.MULTILINE), (
            f"package {package} is not copied into the image")
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == pyproject["project"]["version"]
