"""``lookup`` against a cluster: generated secrets kept across upgrades, rotations of an
existing Secret rolling the pods that read it.

No Kubernetes runs here, so helm talks to a minimal stand-in API server on loopback that
serves what ``lookup`` asks for (API discovery of ``v1`` and ``GET`` of a Secret) from a
dict the test fills. helm itself is the real binary: ``helm template --dry-run=server``
renders the chart with cluster access, as ``helm upgrade`` does.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.chart import (
    CHART,
    EXISTING_SECRET,
    HA_VALUES,
    NAMESPACE,
    RELEASE,
    Rendered,
    run_helm,
)
from tests.helm.helm_bin import BUILD_TIMEOUT_S

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 300)


class FakeApi:
    """Secrets by (namespace, name); every request path is recorded."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                api.requests.append(self.path)

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.split("?")[0].strip("/").split("/")
                if path == ["api", "v1"]:
                    return self._send(200, {
                        "kind": "APIResourceList", "groupVersion": "v1",
                        "resources": [{"name": "secrets", "singularName": "secret",
                                       "namespaced": True, "kind": "Secret",
                                       "verbs": ["get", "list"]}]})
                if len(path) == 6 and path[:3] == ["api", "v1", "namespaces"] and \
                        path[4] == "secrets" and (path[3], path[5]) in api.secrets:
                    data = api.secrets[(path[3], path[5])]
                    return self._send(200, {
                        "apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": path[5], "namespace": path[3]},
                        "data": {k: base64.b64encode(v.encode()).decode()
                                 for k, v in data.items()}})
                return self._send(404, {"kind": "Status", "apiVersion": "v1",
                                        "status": "Failure", "reason": "NotFound",
                                        "code": 404})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def kubeconfig(self, path: Path) -> Path:
        host, port = self.server.server_address[:2]
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://{host!s}:{port}"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake",
                                                     "namespace": NAMESPACE}}],
            "users": [{"name": "fake", "user": {}}]}))
        return path


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    api.thread.start()
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()
        api.thread.join(timeout=10)


def render_on_cluster(helm: Path, api: FakeApi, tmp_path: Path, *args: str) -> Rendered:
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    run = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                   "--dry-run=server", "--is-upgrade", "--kubeconfig", str(kubeconfig), *args)
    assert run.returncode == 0, run.stderr
    return Rendered(tuple(d for d in yaml.safe_load_all(run.stdout) if d))


def secret_checksums(r: Rendered) -> dict[str, str]:
    return {c: r.sts(c)["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
            for c in ("engine", "api")}


def test_generated_secrets_survive_an_upgrade(
    helm: Path, fake_api: FakeApi, tmp_path: Path
) -> None:
    # install: nothing in the cluster, values generated
    installed = render_on_cluster(helm, fake_api, tmp_path)
    name = installed.sts("api")["metadata"]["name"].removesuffix("-api") + "-secrets"
    stored = installed.secret_data(name)
    assert json.loads(stored["api-tokens"])[0]
    # the Secret is now in the cluster; an upgrade reads it back
    fake_api.secrets[(NAMESPACE, name)] = stored
    upgraded = render_on_cluster(helm, fake_api, tmp_path)
    assert upgraded.secret_data(name) == stored
    assert secret_checksums(upgraded) == secret_checksums(installed)  # nothing rolls
    assert any(f"/namespaces/{NAMESPACE}/secrets/{name}" in p for p in fake_api.requests)
    # a value given later replaces the generated one, and rolls the API only
    given = render_on_cluster(helm, fake_api, tmp_path, "--set", "secrets.webhookSecret=new")
    assert given.secret_data(name)["webhook-secret"] == "new"
    assert given.secret_data(name)["api-tokens"] == stored["api-tokens"]
    after = secret_checksums(given)
    assert after["api"] != secret_checksums(installed)["api"]
    assert after["engine"] == secret_checksums(installed)["engine"]


def test_rotating_an_existing_secret_rolls_the_pods_that_read_it(
    helm: Path, fake_api: FakeApi, tmp_path: Path
) -> None:
    fake_api.secrets[(NAMESPACE, "dialer-prod-secrets")] = dict(EXISTING_SECRET)
    fake_api.secrets[(NAMESPACE, "prod-kafka-cluster-ca-cert")] = {"ca.crt": "CA-1"}
    base = secret_checksums(render_on_cluster(helm, fake_api, tmp_path, "-f", str(HA_VALUES)))
    assert base == secret_checksums(
        render_on_cluster(helm, fake_api, tmp_path, "-f", str(HA_VALUES)))

    def rotated(secret: str, key: str, value: str) -> dict[str, str]:
        saved = dict(fake_api.secrets[(NAMESPACE, secret)])
        fake_api.secrets[(NAMESPACE, secret)][key] = value
        try:
            return secret_checksums(
                render_on_cluster(helm, fake_api, tmp_path, "-f", str(HA_VALUES)))
        finally:
            fake_api.secrets[(NAMESPACE, secret)] = saved

    tokens = rotated("dialer-prod-secrets", "api-tokens", '["rotated"]')
    assert tokens["api"] != base["api"] and tokens["engine"] == base["engine"]
    esl = rotated("dialer-prod-secrets", "esl-fs-b", "rotated")
    assert esl["engine"] != base["engine"] and esl["api"] == base["api"]
    kafka = rotated("dialer-prod-secrets", "kafka-sasl-password", "rotated")
    assert kafka["engine"] != base["engine"] and kafka["api"] != base["api"]
    ca = rotated("prod-kafka-cluster-ca-cert", "ca.crt", "CA-2")
    assert ca["engine"] != base["engine"] and ca["api"] != base["api"]
