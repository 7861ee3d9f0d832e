"""The optional objects of the chart: the KEDA ScaledObject, the NetworkPolicies, the
``helm test`` hook (its script run here against real health servers) and NOTES.txt.
Every render is done by the real helm binary."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialer.health import HealthServer
from tests.helm.chart import (
    CHART,
    HA_VALUES,
    RELEASE,
    Rendered,
    chart_secrets,
    container,
    pod_env,
    port_named,
    render,
    run_helm,
)
from tests.helm.helm_bin import BUILD_TIMEOUT_S

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 300)

SASL_SSL = ("--set", "kafkaSecurity.protocol=SASL_SSL",
            "--set", "kafkaSecurity.sasl.username=dialer",
            "--set", "secrets.kafkaSaslPassword=kafka-SENTINEL")


# ---- KEDA ---------------------------------------------------------------------------


def test_keda_scales_the_engine_on_the_leads_lag_of_its_group(helm: Path) -> None:
    r = render(helm, "--set", "engine.keda.enabled=true", "--set", "engine.keda.maxReplicas=6",
               "--set", "engine.consumerGroup=dialers", "--set", "config.topicPrefix=p.")
    sts = r.sts("engine")
    assert "replicas" not in sts["spec"]  # the HPA owns the count
    (so,) = r.of("ScaledObject")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                            "name": sts["metadata"]["name"]}
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (1, 6)
    (trigger,) = so["spec"]["triggers"]
    env = pod_env(r, sts, 0, chart_secrets(r))
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert meta["consumerGroup"] == env["DIALER_ENGINE_GROUP"] == "dialers"
    assert meta["topic"] == f"{env['DIALER_TOPIC_PREFIX']}leads" == "p.leads"
    assert meta["bootstrapServers"] == env["DIALER_KAFKA_BOOTSTRAP"]
    assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata is strings
    assert "authenticationRef" not in trigger
    assert r.of("TriggerAuthentication") == []
    default_group = render(helm, "--set", "engine.keda.enabled=true")
    (so,) = default_group.of("ScaledObject")
    assert so["spec"]["triggers"][0]["metadata"]["consumerGroup"] == "autocall.engine"
    assert render(helm).of("ScaledObject") == []


def test_keda_authenticates_like_the_dialer(helm: Path) -> None:
    r = render(helm, "--set", "engine.keda.enabled=true", *SASL_SSL,
               "--set", "kafkaSecurity.tls.caSecret=kafka-ca")
    (so,) = r.of("ScaledObject")
    (trigger,) = so["spec"]["triggers"]
    assert trigger["metadata"]["sasl"] == "scram_sha512"
    assert trigger["metadata"]["tls"] == "enable"
    (auth,) = r.of("TriggerAuthentication")
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    refs = {t["parameter"]: (t["name"], t["key"]) for t in auth["spec"]["secretTargetRef"]}
    secrets = chart_secrets(r)
    assert secrets[refs["username"][0]][refs["username"][1]] == "dialer"
    assert secrets[refs["password"][0]][refs["password"][1]] == "kafka-SENTINEL"
    assert refs["ca"] == ("kafka-ca", "ca.crt")


# ---- NetworkPolicy ------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return bool(selector["matchLabels"].items() <= labels.items())


def test_network_policies(ha: Rendered) -> None:
    policies = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p
                for p in ha.of("NetworkPolicy")}
    assert set(policies) == {"engine", "api"}
    (test_pod,) = ha.of("Pod")
    for component, policy in policies.items():
        pod_labels = ha.sts(component)["spec"]["template"]["metadata"]["labels"]
        selected = [c for c in ("engine", "api") if _selects(
            policy["spec"]["podSelector"], ha.sts(c)["spec"]["template"]["metadata"]["labels"])]
        assert selected == [component]
        assert _selects(policy["spec"]["podSelector"], pod_labels)
        c = container(ha.sts(component))
        named = {p["name"] for p in c["ports"]}
        ingress = policy["spec"]["ingress"]
        for rule in ingress:
            assert {p["port"] for p in rule["ports"]} <= named
        (health,) = [r for r in ingress if r["ports"][0]["port"] == "health"]
        # monitoring and the helm test pod may reach /readyz and /metrics
        assert any("namespaceSelector" in p for p in health["from"])
        assert any(_selects(p["podSelector"], test_pod["metadata"]["labels"])
                   for p in health["from"] if "podSelector" in p)
        egress = policy["spec"]["egress"]
        kafka = [r for r in egress if {p["port"] for p in r["ports"]} == {9093}]
        assert kafka and kafka[0]["to"] == [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "kafka"}}}]
        assert any(p["port"] == 53 for r in egress for p in r["ports"])
    engine_ports = {p["port"] for r in policies["engine"]["spec"]["egress"] for p in r["ports"]}
    assert {8021, 8022} <= engine_ports  # both FreeSWITCH event sockets
    api_in = policies["api"]["spec"]["ingress"]
    (http,) = [r for r in api_in if r["ports"][0]["port"] == "http"]
    assert http["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-nginx"}}}]


def test_network_policy_pins_freeswitch_nodes_given_as_addresses(helm: Path) -> None:
    r = render(helm, "--set", "networkPolicy.enabled=true",
               "--set", "engine.fsNodes[0].name=fs1", "--set", "engine.fsNodes[0].host=10.0.0.5",
               "--set", "config.kafkaBootstrap=k1:9092\\,k2:9094")
    engine = next(p for p in r.of("NetworkPolicy")
                  if p["metadata"]["labels"]["app.kubernetes.io/component"] == "engine")
    egress = engine["spec"]["egress"]
    (fs,) = [e for e in egress if e["ports"][0]["port"] == 8021]
    assert fs["to"] == [{"ipBlock": {"cidr": "10.0.0.5/32"}}]
    (kafka,) = [e for e in egress if e["ports"][0]["port"] == 9092]
    assert [p["port"] for p in kafka["ports"]] == [9092, 9094]
    assert render(helm).of("NetworkPolicy") == []


# ---- helm test ----------------------------------------------------------------------


def _test_pod(r: Rendered) -> dict[str, Any]:
    (pod,) = r.of("Pod")
    return pod


def test_helm_test_hook_checks_readyz_of_every_pod(ha: Rendered) -> None:
    pod = _test_pod(ha)
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (c,) = pod["spec"]["containers"]
    assert c["image"] == container(ha.sts("engine"))["image"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e["value"] for e in c["env"]}
    urls = json.loads(env["READYZ_URLS"])
    expected = []
    for component, replicas in (("api", 1), ("engine", 3)):
        sts = ha.sts(component)
        svc = ha.get("Service", sts["spec"]["serviceName"])
        assert svc["spec"]["clusterIP"] == "None"
        assert svc["spec"]["publishNotReadyAddresses"] is True
        health = port_named(container(sts), "health")
        expected += [f"http://{sts['metadata']['name']}-{i}.{svc['metadata']['name']}."
                     f"autocall.svc:{health}/readyz" for i in range(replicas)]
    assert urls == expected


def _run_readyz(pod: dict[str, Any], urls: list[str], timeout: float) -> subprocess.Popen[str]:
    (c,) = pod["spec"]["containers"]
    assert c["command"] == ["python", "-c"]
    env = {**os.environ, "READYZ_URLS": json.dumps(urls), "READYZ_TIMEOUT": str(timeout)}
    return subprocess.Popen([sys.executable, "-c", c["args"][0]], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def test_helm_test_script_waits_for_readiness_and_fails_on_a_pod_never_ready(
    default: Rendered,
) -> None:
    pod = _test_pod(default)
    ready = {"a": True, "b": False}
    late = HealthServer({"started": lambda: ready["b"]}, host="127.0.0.1", port=0)
    now = HealthServer({"started": lambda: ready["a"]}, host="127.0.0.1", port=0)
    never = HealthServer({"started": lambda: False}, host="127.0.0.1", port=0)
    for server in (late, now, never):
        await server.start()
    try:
        urls = [f"http://127.0.0.1:{s.port}/readyz" for s in (now, late)]
        proc = _run_readyz(pod, urls, timeout=30)
        await asyncio.sleep(0)  # the script polls; make one pod ready while it does
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline and proc.poll() is None:
            ready["b"] = True
            await asyncio.sleep(0.05)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 0, out
        assert out.count("ready http") == 2

        urls = [f"http://127.0.0.1:{s.port}/readyz" for s in (now, never)]
        proc = _run_readyz(pod, urls, timeout=2)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 1, out
        assert f"NOT READY http://127.0.0.1:{never.port}/readyz HTTPError 503" in out
    finally:
        for server in (late, now, never):
            await server.stop()


def test_helm_test_can_be_turned_off(helm: Path) -> None:
    assert render(helm, "--set", "tests.enabled=false").of("Pod") == []


# ---- NOTES --------------------------------------------------------------------------


def notes(helm: Path, tmp_path: Path, *args: str) -> str:
    """NOTES.txt as `helm install` prints it: `helm template` renders NOTES.txt but does
    not print it, so a copy of the chart renders it (tpl) into a ConfigMap."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    shutil.copy(CHART / "templates" / "NOTES.txt", chart / "notes.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n')
    run = run_helm(helm, "template", RELEASE, str(chart), "--namespace", "autocall",
                   "--show-only", "templates/zz-notes.yaml", *args)
    assert run.returncode == 0, run.stderr
    notes_text: str = yaml.safe_load(run.stdout)["data"]["notes"]
    return notes_text


def test_notes_give_the_switch_totals_and_the_test_command(helm: Path, tmp_path: Path) -> None:
    text = notes(helm, tmp_path)
    assert "3 pod(s)" in text
    assert "fs1: 900 sessions, 24 calls/s" in text  # 3 pods x 300 sessions, 8 calls/s
    assert "helm test dialer -n autocall" in text
    assert 'stock ESL password "ClueCon"' in text
    ha = notes(helm, tmp_path / "ha", "-f", str(HA_VALUES))
    assert "fs-a: 780 sessions, 27 calls/s; fs-b: 1200 sessions, 28.5 calls/s" in ha
    assert "ClueCon" not in ha
    keda = notes(helm, tmp_path / "keda", "--set", "engine.keda.enabled=true")
    assert "up to 12 pod(s)" in keda and "scaled by KEDA" in keda
