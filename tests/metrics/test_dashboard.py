"""The Grafana dashboard queries only metrics a running dialer exports, and the chart's
ServiceMonitor is off by default and scrapes /metrics on the health port when on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from dialer.app import EngineApp
from dialer.health import HealthServer
from tests.e2e.harness import campaign, collect, create_campaign, publish_leads, wait_until
from tests.metrics.scrape import names, scrape

CHART = Path(__file__).resolve().parents[2] / "helm" / "autocall-dialer"
DASHBOARD = CHART / "dashboards" / "dialer.json"
METRIC = re.compile(r"\b(dialer_[a-z0-9_]+)\b")


def queried() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs, "the dashboard has queries"
    return {name for e in exprs for name in METRIC.findall(e)}


def test_the_dashboard_covers_what_operators_asked_for() -> None:
    wanted = {"dialer_originations_total", "dialer_cdrs_total", "dialer_live_calls",
              "dialer_node_live_calls", "dialer_queue_depth", "dialer_consumer_lag",
              "dialer_esl_connected", "dialer_originate_to_answer_seconds_bucket",
              "dialer_refill_latency_seconds_bucket", "dialer_webhook_deliveries_total",
              "dialer_webhook_retries_total", "dialer_webhook_dead_letters_total",
              "dialer_dlq_records_total", "dialer_bus_reachable"}
    assert wanted <= queried()


async def test_every_metric_the_dashboard_queries_is_exported(
        running: tuple[EngineApp, HealthServer]) -> None:
    app, health = running
    p = app.parts
    await create_campaign(app, campaign("d1", concurrent_call=4, recall_times=0))
    await publish_leads(p.bus, p.topics, "d1", 12)
    await collect(p.bus, p.topics.cdr, 12, seconds=60)
    await p.bus.publish(p.topics.leads, b"[]", key=b"d1")  # one DLQ record
    await wait_until(lambda: p.inputs.rejected == 1, 30)
    exported = names(await scrape(f"http://127.0.0.1:{health.port}/metrics"))
    missing = queried() - exported
    assert not missing, f"the dashboard queries metrics nobody exports: {sorted(missing)}"


def _helm() -> str:
    from tests.helm.helm_bin import HelmUnavailable, helm_path

    try:
        return str(helm_path())
    except HelmUnavailable as err:
        pytest.skip(f"no helm: {err}")


def _render(*args: str) -> list[dict[str, object]]:
    out = subprocess.run([_helm(), "template", "dialer", str(CHART), "--namespace", "autocall",
                          *args], capture_output=True, text=True, timeout=120, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_service_monitor_is_off_by_default_and_scrapes_the_health_port() -> None:
    assert not [d for d in _render() if d["kind"] == "ServiceMonitor"]
    docs = _render("--set", "metrics.serviceMonitor.enabled=true",
                   "--set", "metrics.serviceMonitor.labels.release=prom")
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    services = [d for d in docs if d["kind"] == "Service"]
    spec = monitor["spec"]
    assert isinstance(spec, dict)
    (endpoint,) = spec["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["port"] == "health"
    assert monitor["metadata"]["labels"]["release"] == "prom"  # type: ignore[index]
    selected = [s for s in services
                if spec["selector"]["matchLabels"].items()
                <= s["metadata"]["labels"].items()]  # type: ignore[index]
    assert len(selected) == 1, "exactly one Service behind the monitor"
    (svc,) = selected
    ports = svc["spec"]["ports"]  # type: ignore[index]
    assert [pt["name"] for pt in ports] == ["health"] and ports[0]["port"] == 8081
    # It selects the pods of both roles: no component in its selector.
    assert "app.kubernetes.io/component" not in svc["spec"]["selector"]  # type: ignore[index]
    pods = [d for d in docs if d["kind"] == "StatefulSet"]
    assert len(pods) == 2
    for sts in pods:
        labels = sts["spec"]["template"]["metadata"]["labels"]  # type: ignore[index]
        assert svc["spec"]["selector"].items() <= labels.items()  # type: ignore[index]
        containers = sts["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
        assert any(pt["name"] == "health" for c in containers for pt in c["ports"])
