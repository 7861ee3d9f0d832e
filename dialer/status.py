"""``dialer status``: live campaign progress, read from the engines' ``/metrics``.

No token and no API needed: the engine's probe port already serves every number (live
calls and cap, queue, leads by state, originations, CDRs by status), so this works against
``dialer up``, ``dialer loadtest`` and each engine pod alike. Several ``--url`` (one per
engine pod) are summed: each pod owns its campaigns' partitions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from dialer.settings import Settings

TERMINAL = ("completed", "exhausted", "skipped", "invalid", "removed")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", action="append", default=[],
                   help="an engine's metrics URL (repeat for several pods; default "
                        "http://127.0.0.1:<DIALER_HEALTH_PORT>/metrics)")
    p.add_argument("--watch", type=float, default=0.0, metavar="SECONDS",
                   help="refresh every SECONDS until interrupted")


@dataclass(slots=True)
class CampaignRow:
    live: float = 0.0
    cap: float = 0.0
    queued: float = 0.0
    originations: float = 0.0
    answered: float = 0.0
    leads: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def total(self) -> float:
        return sum(self.leads.values())

    @property
    def done(self) -> float:
        return sum(self.leads.get(s, 0.0) for s in TERMINAL)


@dataclass(slots=True)
class Status:
    campaigns: dict[str, CampaignRow] = field(default_factory=lambda: defaultdict(CampaignRow))
    nodes: dict[str, list[float]] = field(default_factory=dict)  # live, max, esl
    lag: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    reachable: list[float] = field(default_factory=list)


def parse(text: str, into: Status) -> None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            c = s.labels.get("campaign", "")
            node = s.labels.get("node", "")
            if s.name == "dialer_live_calls":
                into.campaigns[c].live += s.value
            elif s.name == "dialer_campaign_concurrency":
                into.campaigns[c].cap = max(into.campaigns[c].cap, s.value)
            elif s.name == "dialer_queue_depth":
                into.campaigns[c].queued += s.value
            elif s.name == "dialer_leads":
                into.campaigns[c].leads[s.labels["state"]] += s.value
            elif s.name == "dialer_originations_total":
                into.campaigns[c].originations += s.value
            elif s.name == "dialer_cdrs_total" and s.labels.get("status") == "answered":
                into.campaigns[c].answered += s.value
            elif s.name in ("dialer_node_live_calls", "dialer_node_max_sessions",
                            "dialer_esl_connected"):
                row = into.nodes.setdefault(node, [0.0, 0.0, 0.0])
                i = ("dialer_node_live_calls", "dialer_node_max_sessions",
                     "dialer_esl_connected").index(s.name)
                row[i] = row[i] + s.value if i == 0 else max(row[i], s.value)
            elif s.name == "dialer_consumer_lag":
                into.lag[f"{s.labels['group']} {s.labels['topic']}"] += s.value
            elif s.name == "dialer_bus_reachable":
                into.reachable.append(s.value)


def render(status: Status) -> str:
    lines = [f"{'campaign':<38} {'live/cap':>11} {'queued':>8} {'leads done':>17} "
             f"{'originated':>10} {'answered':>8}"]
    for k, row in sorted(status.campaigns.items()):
        if not k or (row.total == 0 and row.cap == 0):
            continue
        pct = 100.0 * row.done / row.total if row.total else 0.0
        lines.append(f"{k:<38} {row.live:>5.0f}/{row.cap:<5.0f} {row.queued:>8.0f} "
                     f"{row.done:>7.0f}/{row.total:<6.0f}{pct:>3.0f}% "
                     f"{row.originations:>10.0f} {row.answered:>8.0f}")
    if len(lines) == 1:
        lines.append("(no campaigns)")
    lines.append("")
    for name, (live, most, esl) in sorted(status.nodes.items()):
        lines.append(f"node {name}: {live:.0f}/{most:.0f} live, ESL "
                     f"{'connected' if esl >= 1 else 'DOWN'}")
    if status.reachable:
        lines.append("bus: " + ("reachable" if min(status.reachable) >= 1 else "UNREACHABLE"))
    for key, lag in sorted(status.lag.items()):
        lines.append(f"lag {key}: {lag:.0f}")
    return "\n".join(lines)


async def collect(urls: list[str]) -> Status:
    status = Status()
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for url in urls:
            async with http.get(url) as resp:
                if resp.status != 200:
                    raise SystemExit(f"{url}: HTTP {resp.status}")
                parse(await resp.text(), status)
    return status


async def main(args: argparse.Namespace, settings: Settings) -> int:
    urls = args.url or [f"http://127.0.0.1:{settings.health_port}/metrics"]
    while True:
        try:
            status = await collect(urls)
        except (aiohttp.ClientError, TimeoutError) as err:
            print(f"cannot read {', '.join(urls)}: {type(err).__name__}", file=sys.stderr)
            return 2
        text = render(status)
        if args.watch > 0 and sys.stdout.isatty():
            text = "\x1b[H\x1b[J" + text
        print(text, flush=True)
        if args.watch <= 0:
            return 0
        await asyncio.sleep(args.watch)  # the refresh period the user asked for
