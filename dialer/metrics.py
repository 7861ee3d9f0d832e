"""Prometheus metrics for every role, served at ``/metrics`` by the health server.

Three sources, so that nothing on the dialing path pays for a metric it does not move:
- the engine's hooks (engine/hooks.py): originations, CDRs by status, originate-to-answer
  and refill latency, counted as they happen;
- the bus's publish observer: DLQ records by reason (input rejections and webhook
  dead letters alike, whichever role wrote them);
- collectors read state at scrape time: live calls per campaign and per node, queue depth
  and concurrency cap per campaign, leads per campaign and state, consumer lag per group and
  topic, ESL connection state per node, bus reachability, webhook counters.

Each ``Metrics`` owns its registry (several apps in one test process never collide).
Labels carry campaign uuids, node names, statuses, topics and reason codes; never a phone
number, a lead's data or a peer address. Every metric name is listed in ``METRIC_NAMES``
(the dashboard test checks the dashboard against a scrape, not against this list).
"""

from __future__ import annotations

import re
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeGuard

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.core import Dialer
from engine.records import Cdr, LeadEvent

__all__ = ["CONTENT_TYPE", "Metrics", "reason_code"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
ANSWER_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 45.0, 60.0)
MAX_REASONS = 50  # distinct DLQ reason codes before the rest count as "other"


class _Switch(Protocol):
    def connected(self, node: str) -> bool: ...


class _Lagging(Protocol):
    @property
    def group(self) -> str: ...

    def lag_by_topic(self) -> dict[str, int]: ...


class _ObservedBus(Protocol):
    on_publish: Callable[[str, bytes], None]

    @property
    def subscriptions(self) -> Iterable[_Lagging]: ...


class _Webhooks(Protocol):
    delivered: int
    dead_lettered: int
    attempts: int
    retries: int


_REASON_CHARS = re.compile(r"[^A-Za-z0-9]+")


def reason_code(record: bytes) -> str:
    """A DLQ record's reason as a bounded label: its ``error_code`` when it has one, else
    the reason's head (the text before the first ':'; "webhook" for webhook dead letters,
    whose reason names the host)."""
    try:
        data = orjson.loads(record)
    except orjson.JSONDecodeError:
        return "unreadable"
    if not isinstance(data, dict):
        return "unreadable"
    code = data.get("error_code")
    if isinstance(code, str | int) and str(code):
        head = str(code)
    else:
        reason = str(data.get("reason", ""))
        head = "webhook" if reason.startswith("webhook") else reason.split(":", 1)[0]
    return _REASON_CHARS.sub("_", head).strip("_")[:40] or "unknown"


class Metrics:
    """The engine hooks, the bus observer and the scrape-time collectors of one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.originations = Counter(
            "dialer_originations", "Call legs handed to a switch", ["campaign", "node"],
            registry=r)
        self.cdrs = Counter("dialer_cdrs", "CDRs produced, by status", ["campaign", "status"],
                            registry=r)
        self.answer_latency = Histogram(
            "dialer_originate_to_answer_seconds", "Origination to answer, answered legs",
            buckets=ANSWER_BUCKETS, registry=r)
        self.refill_latency = Histogram(
            "dialer_refill_latency_seconds",
            "A slot freed while its campaign had queued work, to its next origination",
            buckets=LATENCY_BUCKETS, registry=r)
        self.dlq = Counter("dialer_dlq_records", "Records written to the DLQ, by reason",
                           ["reason"], registry=r)
        self._reasons: set[str] = set()
        self._state = _StateCollector()
        r.register(self._state)

    # ---- engine hooks (engine/hooks.py) ---------------------------------------------
    def originated(self, campaign_uuid: str, node: str) -> None:
        self.originations.labels(campaign_uuid, node).inc()

    def answered(self, campaign_uuid: str, node: str, seconds: float) -> None:
        self.answer_latency.observe(max(0.0, seconds))

    def refilled(self, campaign_uuid: str, seconds: float) -> None:
        self.refill_latency.observe(seconds)

    def recorded(self, record: Cdr | LeadEvent) -> None:
        if isinstance(record, Cdr):
            self.cdrs.labels(record.campaign_uuid, record.status).inc()
            return
        # Leads per state, kept from the transitions (every state change is one LeadEvent,
        # engine/core.py), so a scrape costs O(campaigns x states), not O(leads). A lead
        # enters at "new", which is transient and not counted.
        states = self._state.lead_states
        states[(record.campaign_uuid, record.state)] += 1
        if record.previous != "new":
            states[(record.campaign_uuid, record.previous)] -= 1

    # ---- wiring ---------------------------------------------------------------------
    def watch_bus(self, bus: object, topics_dlq: str,
                  reachable: Callable[[], bool] = lambda: True) -> None:
        """Count DLQ writes and report consumer lag of every subscription of ``bus``."""
        if not _is_observed(bus):
            return
        observed = bus
        previous = observed.on_publish

        def on_publish(topic: str, value: bytes) -> None:
            previous(topic, value)
            if topic == topics_dlq:
                self._count_dlq(value)

        observed.on_publish = on_publish
        self._state.buses.append(observed)
        self._state.reachable = reachable

    def watch_engine(self, dialer: Dialer, switch: _Switch) -> None:
        self._state.dialer = dialer
        self._state.switch = switch

    def watch_webhooks(self, sender: _Webhooks | None) -> None:
        if sender is not None:
            self._state.webhooks.append(sender)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _count_dlq(self, value: bytes) -> None:
        code = reason_code(value)
        if code not in self._reasons:
            if len(self._reasons) >= MAX_REASONS:
                code = "other"
            else:
                self._reasons.add(code)
        self.dlq.labels(code).inc()


def _is_observed(bus: object) -> TypeGuard[_ObservedBus]:
    return hasattr(bus, "on_publish") and hasattr(bus, "subscriptions")


class _StateCollector(Collector):
    """Reads the engine, the switches and the bus at scrape time (on the event loop: the
    health server's handler runs there, so the state cannot change under the read)."""

    def __init__(self) -> None:
        self.dialer: Dialer | None = None
        self.switch: _Switch | None = None
        self.buses: list[_ObservedBus] = []
        self.webhooks: list[_Webhooks] = []
        self.reachable: Callable[[], bool] = lambda: True
        self.lead_states: Tally[tuple[str, str]] = Tally()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._engine()
        yield from self._lag()
        yield from self._webhooks()
        up = GaugeMetricFamily("dialer_bus_reachable", "1 while the bus (Kafka) answers")
        up.add_metric([], 1.0 if self.reachable() else 0.0)
        yield up

    def _engine(self) -> Iterator[GaugeMetricFamily]:
        d = self.dialer
        if d is None:
            return
        live = GaugeMetricFamily("dialer_live_calls", "Live call legs per campaign",
                                 labels=["campaign"])
        cap = GaugeMetricFamily("dialer_campaign_concurrency",
                                "The campaign's concurrent_call cap", labels=["campaign"])
        depth = GaugeMetricFamily("dialer_queue_depth", "Queued entries per campaign",
                                  labels=["campaign"])
        for uuid, run in d.campaigns.items():
            if run.deleted:
                continue
            live.add_metric([uuid], len(run.live))
            cap.add_metric([uuid], run.spec.concurrent_call)
            depth.add_metric([uuid], len(run.queue))
        leads = GaugeMetricFamily("dialer_leads", "Leads per campaign and state",
                                  labels=["campaign", "state"])
        for (campaign, state), n in sorted(self.lead_states.items()):
            leads.add_metric([campaign, state], n)
        node_live = GaugeMetricFamily("dialer_node_live_calls", "Live call legs per node",
                                      labels=["node"])
        node_max = GaugeMetricFamily("dialer_node_max_sessions", "Node's max sessions",
                                     labels=["node"])
        esl = GaugeMetricFamily("dialer_esl_connected",
                                "1 while the node's Event Socket is connected and set up",
                                labels=["node"])
        for name, node in d.pool.nodes.items():
            node_live.add_metric([name], node.live)
            node_max.add_metric([name], node.max_sessions)
            up = self.switch is not None and self.switch.connected(name)
            esl.add_metric([name], 1.0 if up else 0.0)
        yield from (live, cap, depth, leads, node_live, node_max, esl)

    def _lag(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily("dialer_consumer_lag",
                                "Messages behind the end of the topic, per consumer group",
                                labels=["group", "topic"])
        worst: dict[tuple[str, str], int] = {}
        for bus in self.buses:
            for sub in list(bus.subscriptions):
                group = sub.group or "(reader)"
                for topic, n in sub.lag_by_topic().items():
                    worst[(group, topic)] = max(worst.get((group, topic), 0), n)
        for (group, topic), n in sorted(worst.items()):
            lag.add_metric([group, topic], n)
        yield lag

    def _webhooks(self) -> Iterator[CounterMetricFamily]:
        if not self.webhooks:
            return
        delivered = sum(w.delivered for w in self.webhooks)
        dead = sum(w.dead_lettered for w in self.webhooks)
        attempts = sum(w.attempts for w in self.webhooks)
        retries = sum(w.retries for w in self.webhooks)
        yield CounterMetricFamily("dialer_webhook_deliveries", "CDR webhooks delivered (2xx)",
                                  value=delivered)
        yield CounterMetricFamily("dialer_webhook_attempts", "CDR webhook POSTs made",
                                  value=attempts)
        yield CounterMetricFamily("dialer_webhook_retries",
                                  "CDR webhook POSTs that failed and will be retried",
                                  value=retries)
        yield CounterMetricFamily("dialer_webhook_dead_letters",
                                  "CDR webhooks dead-lettered after the last attempt",
                                  value=dead)
