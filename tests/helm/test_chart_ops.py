"""The chart as operators use it (issue 12 item 4, issue 10 items 8 and 9).

Strict values schema, version-gated fields, secrets whose checksums roll exactly the pods
that read them, Kafka security and static membership reaching Settings, settings and
templates values, configurable probes, the image digest. Every render is done by the real
helm binary (the optional objects: test_chart_objects.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialer.settings import Settings
from tests.helm.chart import (
    CHART,
    EXISTING_SECRET,
    HA_VALUES,
    RELEASE,
    Rendered,
    chart_secrets,
    container,
    mounted_files,
    pod_env,
    render,
    run_helm,
    values_file,
)
from tests.helm.helm_bin import BUILD_TIMEOUT_S

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 300)

SASL_SSL = ("--set", "kafkaSecurity.protocol=SASL_SSL",
            "--set", "kafkaSecurity.sasl.username=dialer",
            "--set", "secrets.kafkaSaslPassword=kafka-SENTINEL")


def fails(helm: Path, tmp_path: Path, values: dict[str, Any], *extra: str) -> str:
    run = run_helm(helm, "template", RELEASE, str(CHART),
                   "-f", values_file(tmp_path, values), *extra)
    assert run.returncode != 0, f"{values} rendered"
    return run.stderr


def annotations(r: Rendered, component: str) -> dict[str, str]:
    found: dict[str, str] = r.sts(component)["spec"]["template"]["metadata"]["annotations"]
    return found


# ---- the schema ---------------------------------------------------------------------


def _objects(schema: dict[str, Any], where: str, defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        yield from _objects(defs[schema["$ref"].rsplit("/", 1)[1]], where, defs)
        return
    if "properties" in schema:
        yield where, schema
        for name, sub in schema["properties"].items():
            yield from _objects(sub, f"{where}.{name}", defs)
    if isinstance(schema.get("items"), dict):
        yield from _objects(schema["items"], f"{where}[]", defs)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _objects(schema["additionalProperties"], f"{where}.*", defs)


def test_schema_refuses_unknown_keys_at_every_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    seen = 0
    for where, obj in _objects(schema, "values", schema["definitions"]):
        assert obj.get("additionalProperties") is False, f"{where} accepts unknown keys"
        seen += 1
    assert seen > 25


@pytest.mark.parametrize(("values", "message"), [
    ({"engine": {"replica": 2}}, "additional properties 'replica' not allowed"),
    ({"enigne": {"replicas": 2}}, "additional properties 'enigne' not allowed"),
    ({"config": {"kafkaBootstap": "a:1"}}, "additional properties 'kafkaBootstap'"),
    ({"engine": {"probes": {"readiness": {"periodSecond": 5}}}}, "'periodSecond' not allowed"),
    ({"networkPolicy": {"enable": True}}, "additional properties 'enable' not allowed"),
    ({"engine": {"keda": {"minReplica": 1}}}, "additional properties 'minReplica'"),
    ({"api": {"ingress": {"hosts": [{"host": "h", "path": [{"path": "/"}]}]}}},
     "additional properties 'path' not allowed"),
    ({"kafkaSecurity": {"protocol": "SASL_TLS"}}, "/kafkaSecurity/protocol"),
    ({"kafkaSecurity": {"sasl": {"mechanism": "GSSAPI"}}}, "mechanism"),
    ({"image": {"digest": "sha256:abc"}}, "does not match pattern"),
    ({"config": {"kafkaBootstrap": "a:9092,b"}}, "does not match pattern"),
    ({"config": {"templates": {"T": {"txt": "hi"}}}}, "additional properties 'txt'"),
    ({"config": {"settings": {"webhook_timeout": 5}}}, "does not match pattern"),
])
def test_typos_and_bad_values_are_refused(
    helm: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    assert message in fails(helm, tmp_path, values)


@pytest.mark.parametrize(("values", "message"), [
    ({"kafkaSecurity": {"protocol": "SASL_SSL"}}, "needs kafkaSecurity.sasl.username"),
    ({"kafkaSecurity": {"protocol": "SASL_PLAINTEXT", "sasl": {"username": "u"}}},
     "needs secrets.kafkaSaslPassword"),
    ({"kafkaSecurity": {"protocol": "PLAINTEXT", "tls": {"caSecret": "ca"}}},
     "need kafkaSecurity.protocol SSL or SASL_SSL"),
    ({"config": {"kafkaReplicationFactor": 1, "kafkaMinInsyncReplicas": 2}},
     "no write could ever be acknowledged"),
    ({"config": {"settings": {"KAFKA_BOOTSTRAP": "x:1"}}}, "is set by the chart"),
    ({"engine": {"settings": {"INSTANCE": "x"}}}, "is set by the chart"),
    ({"existingSecret": "mine", "secrets": {"kafkaSaslPassword": "p"}},
     "put it into the existing Secret"),
    ({"engine": {"keda": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
     "minReplicas is above"),
])
def test_inconsistent_values_are_refused(
    helm: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    assert message in fails(helm, tmp_path, values)


# ---- Kubernetes versions ------------------------------------------------------------


@pytest.mark.parametrize(("kube", "field"), [("1.25.0", False), ("1.26.9", False),
                                             ("1.27.0", True), ("1.31.2", True)])
def test_unhealthy_pod_eviction_policy_only_where_the_api_has_it(
    helm: Path, kube: str, field: bool
) -> None:
    r = render(helm, "--kube-version", kube)
    pdb = r.get("PodDisruptionBudget", r.sts("engine")["metadata"]["name"])
    assert ("unhealthyPodEvictionPolicy" in pdb["spec"]) is field
    lint = run_helm(helm, "lint", "--strict", str(CHART), "--kube-version", kube)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_clusters_older_than_the_chart_claims_are_refused(helm: Path) -> None:
    run = run_helm(helm, "template", RELEASE, str(CHART), "--kube-version", "1.24.9")
    assert run.returncode != 0
    assert "kubeVersion" in run.stderr or "incompatible" in run.stderr, run.stderr


# ---- secrets: stable, and rolling what reads them -----------------------------------


def _checksum_of(secret_data: dict[str, str], keys: list[str]) -> str:
    """What dialer.secretChecksum computes: sha256 of Go's toJson of [picked, certs]."""
    picked = {k: secret_data.get(k, "") for k in keys}
    text = json.dumps([picked, []], separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def test_secret_checksum_is_that_of_the_secret_the_pods_read(default: Rendered) -> None:
    """Generated values are computed once per render: the Secret and the annotations
    agree (with lookup, an upgrade reads the same values back, so nothing rolls)."""
    (secret,) = default.of("Secret")
    data = secret["data"]
    engine = annotations(default, "engine")["checksum/secret"]
    api = annotations(default, "api")["checksum/secret"]
    assert engine == _checksum_of(data, ["esl-password-fs1"])
    assert api == _checksum_of(data, ["api-tokens", "webhook-secret"])


def test_renders_with_given_secrets_are_identical(helm: Path, tmp_path: Path) -> None:
    """GitOps: with the secret values given (or existingSecret) two renders are equal."""
    values = values_file(tmp_path, {"secrets": {"apiTokens": ["t1"], "webhookSecret": "w"}})
    first = run_helm(helm, "template", RELEASE, str(CHART), "-f", values)
    second = run_helm(helm, "template", RELEASE, str(CHART), "-f", values)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    ha1 = run_helm(helm, "template", RELEASE, str(CHART), "-f", str(HA_VALUES))
    ha2 = run_helm(helm, "template", RELEASE, str(CHART), "-f", str(HA_VALUES))
    assert ha1.stdout == ha2.stdout


def test_rotating_a_secret_rolls_exactly_the_pods_that_read_it(helm: Path) -> None:
    def sums(*extra: str) -> dict[str, str]:
        r = render(helm, "--set", "secrets.apiTokens[0]=t1", "--set", "secrets.webhookSecret=w",
                   "--set", "engine.fsNodes[0].name=fs1", "--set", "engine.fsNodes[0].host=h",
                   *extra)
        return {c: annotations(r, c)["checksum/secret"] for c in ("engine", "api")}

    base = sums()
    webhook = sums("--set", "secrets.webhookSecret=w2")
    assert webhook["api"] != base["api"]
    assert webhook["engine"] == base["engine"]  # an engine restart drains live calls
    esl = sums("--set", "engine.fsNodes[0].password=new-esl")
    assert esl["engine"] != base["engine"]
    assert esl["api"] == base["api"]
    kafka = sums(*SASL_SSL)
    assert kafka["engine"] != base["engine"] and kafka["api"] != base["api"]
    # the config checksum is not what changed: it is the secret one
    r1 = render(helm, "--set", "secrets.webhookSecret=w")
    r2 = render(helm, "--set", "secrets.webhookSecret=w2")
    assert (annotations(r1, "api")["checksum/config"]
            == annotations(r2, "api")["checksum/config"])


# ---- Kafka security and membership --------------------------------------------------


def test_kafka_security_reaches_every_role(ha: Rendered, load_settings: Any) -> None:
    secrets = {"dialer-prod-secrets": EXISTING_SECRET}
    for component in ("engine", "api"):
        sts = ha.sts(component)
        env = pod_env(ha, sts, 0, secrets)
        assert env["DIALER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["DIALER_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["DIALER_KAFKA_SASL_USERNAME"] == "autocall-dialer"
        assert env["DIALER_KAFKA_SASL_PASSWORD"] == "kafka-pass"  # from the Secret
        # the CA file the setting names is the CA key of the CA Secret
        files = mounted_files(sts)
        assert files[env["DIALER_KAFKA_SSL_CAFILE"]] == ("prod-kafka-cluster-ca-cert", "ca.crt")
        assert "DIALER_KAFKA_SSL_CERTFILE" not in env
        assert env["DIALER_KAFKA_REPLICATION_FACTOR"] == "3"
        assert env["DIALER_KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["DIALER_KAFKA_PARTITIONS"] == "12"
        load_settings(env)  # whatever of these Settings has, it accepts
    for cm in ha.of("ConfigMap"):
        assert "DIALER_KAFKA_SASL_PASSWORD" not in cm["data"]


def test_mutual_tls_mounts_the_client_certificate(helm: Path) -> None:
    r = render(helm, "--set", "kafkaSecurity.protocol=SSL",
               "--set", "kafkaSecurity.tls.caSecret=kafka-ca",
               "--set", "kafkaSecurity.tls.caKey=ca.pem",
               "--set", "kafkaSecurity.tls.clientSecret=dialer-kafka-user")
    for component in ("engine", "api"):
        sts = r.sts(component)
        env = pod_env(r, sts, 0, chart_secrets(r))
        files = mounted_files(sts)
        assert files[env["DIALER_KAFKA_SSL_CAFILE"]] == ("kafka-ca", "ca.pem")
        assert files[env["DIALER_KAFKA_SSL_CERTFILE"]] == ("dialer-kafka-user", "tls.crt")
        assert files[env["DIALER_KAFKA_SSL_KEYFILE"]] == ("dialer-kafka-user", "tls.key")
        assert "DIALER_KAFKA_SASL_USERNAME" not in env
        assert "DIALER_KAFKA_SASL_PASSWORD" not in env
        mounts = [m for m in container(sts)["volumeMounts"] if m["mountPath"].startswith(
            "/etc/dialer/")]
        assert mounts and all(m["readOnly"] for m in mounts)


def test_sasl_password_lives_only_in_the_secret(helm: Path) -> None:
    r = render(helm, *SASL_SSL)
    for doc in r.docs:
        if doc["kind"] != "Secret":
            assert "kafka-SENTINEL" not in yaml.safe_dump(doc), doc["kind"]
    env = pod_env(r, r.sts("api"), 0, chart_secrets(r))
    assert env["DIALER_KAFKA_SASL_PASSWORD"] == "kafka-SENTINEL"


def test_plaintext_sets_no_sasl_or_tls(default: Rendered) -> None:
    env = pod_env(default, default.sts("engine"), 0, chart_secrets(default))
    assert env["DIALER_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert not [k for k in env if k.startswith(("DIALER_KAFKA_SASL", "DIALER_KAFKA_SSL"))]
    assert mounted_files(default.sts("engine")) == {}


def test_static_membership_uses_each_pod_name(ha: Rendered, helm: Path) -> None:
    sts = ha.sts("engine")
    secrets = {"dialer-prod-secrets": EXISTING_SECRET}
    ids = [pod_env(ha, sts, i, secrets)["DIALER_KAFKA_GROUP_INSTANCE_ID"] for i in range(3)]
    assert ids == [f"{sts['metadata']['name']}-{i}" for i in range(3)]
    assert "DIALER_KAFKA_GROUP_INSTANCE_ID" not in pod_env(ha, ha.sts("api"), 0, secrets)
    off = render(helm, "--set", "engine.staticMembership=false")
    assert "DIALER_KAFKA_GROUP_INSTANCE_ID" not in pod_env(
        off, off.sts("engine"), 0, chart_secrets(off))


# ---- settings, templates, probes ----------------------------------------------------


def test_templates_reach_the_engine(ha: Rendered, load_settings: Any) -> None:
    s: Settings = load_settings(pod_env(ha, ha.sts("engine"), 0,
                                        {"dialer-prod-secrets": EXISTING_SECRET}))
    assert s.templates["IVR-1"].text.startswith("Chào bạn {{ten}}")
    assert s.templates["IVR-2"].audio_file == "reminder.wav"


def test_settings_values_reach_the_roles(helm: Path, tmp_path: Path,
                                         load_settings: Any) -> None:
    r = render(helm, "-f", values_file(tmp_path, {
        "config": {"settings": {"HEALTH_HOST": "::"}},
        "engine": {"settings": {"FUTURE_LIST": [1, 2], "FUTURE_FLAG": True}},
        "api": {"settings": {"HTTP_HOST_UNUSED": "x"}},
    }))
    engine_env = pod_env(r, r.sts("engine"), 0, chart_secrets(r))
    api_env = pod_env(r, r.sts("api"), 0, chart_secrets(r))
    assert load_settings(engine_env).health_host == "::"
    assert load_settings(api_env).health_host == "::"
    assert engine_env["DIALER_FUTURE_LIST"] == "[1,2]"
    assert engine_env["DIALER_FUTURE_FLAG"] == "true"
    assert "DIALER_FUTURE_LIST" not in api_env
    assert api_env["DIALER_HTTP_HOST_UNUSED"] == "x"
    assert "DIALER_HTTP_HOST_UNUSED" not in engine_env


def test_probes_are_configurable(helm: Path) -> None:
    r = render(helm, "--set", "engine.probes.startup.enabled=false",
               "--set", "engine.probes.liveness.initialDelaySeconds=15",
               "--set", "api.probes.readiness.periodSeconds=9")
    engine = container(r.sts("engine"))
    assert "startupProbe" not in engine
    assert engine["livenessProbe"]["initialDelaySeconds"] == 15
    assert "initialDelaySeconds" not in engine["readinessProbe"]
    api = container(r.sts("api"))
    assert api["readinessProbe"]["periodSeconds"] == 9
    assert api["startupProbe"]["httpGet"]["path"] == "/livez"


def test_image_digest_pins_every_container(ha: Rendered) -> None:
    images = {container(s)["image"] for s in ha.of("StatefulSet")}
    images |= {c["image"] for p in ha.of("Pod") for c in p["spec"]["containers"]}
    values = yaml.safe_load(HA_VALUES.read_text())["image"]
    assert images == {f"{values['repository']}:{values['tag']}@{values['digest']}"}


def test_ipv6_and_named_brokers_are_accepted(helm: Path, load_settings: Any) -> None:
    r = render(helm, "--set", "config.kafkaBootstrap=[fd00::5]:9092\\,kafka-1.kafka:9093")
    env = pod_env(r, r.sts("api"), 0, chart_secrets(r))
    assert load_settings(env).kafka_bootstrap == "[fd00::5]:9092,kafka-1.kafka:9093"
