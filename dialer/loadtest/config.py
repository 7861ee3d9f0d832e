"""What a load run does: switch nodes, campaigns, leads, the far end's behaviour, limits.

Parsed from the ``dialer loadtest`` arguments; a frozen value the runner reads. Each node
is one FreeSWITCH simulator with its own calls-per-second (the engine paces below it and
the simulator refuses above its sessions-per-second) and max sessions.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

from adapters.fssim import Outcome

DEFAULT_MIX = {
    Outcome.ANSWERED: 0.55, Outcome.BUSY: 0.15, Outcome.NO_ANSWER: 0.15,
    Outcome.UNREACHABLE: 0.07, Outcome.VOICEMAIL: 0.05, Outcome.REJECTED: 0.03,
}


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    cps: float = 50.0
    max_sessions: int = 1000
    # The simulator's own sessions-per-second (FreeSWITCH refuses sessions beyond it, and
    # lets through one fewer than configured). The engine's bucket starts full (one
    # second's worth) and refills at cps, so its first second may carry 2 x cps: the
    # default admits that; a lower sps shows the refusals in the report's errors.
    sps: int = 0

    @property
    def switch_sps(self) -> int:
        return self.sps or math.ceil(self.cps * 2) + 2


@dataclass(frozen=True, slots=True)
class LoadConfig:
    nodes: tuple[NodeSpec, ...] = (NodeSpec("fs1"),)
    campaigns: int = 2
    concurrency: int = 50  # concurrent_call of each campaign
    leads: int = 1000  # the lead budget, split evenly over the campaigns
    duration: float = 0.0  # seconds; 0 = until every lead is done
    speed: float = 10.0  # simulated seconds per real second
    ring_time: tuple[float, float] = (3.0, 15.0)
    talk_time: tuple[float, float] = (8.0, 45.0)
    outcomes: dict[Outcome, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    seed: int = 7
    bus: str = "memory"
    kafka_bootstrap: str = ""
    out: str = "loadtest-report"
    metrics_port: int = 0  # /metrics during the run; 0 picks a free port
    drain_seconds: float = 60.0  # after the duration: how long live calls may finish

    @property
    def drain_window(self) -> float:
        """How long live calls may finish after the duration: ``drain_seconds``, and never
        less than the longest call the far end can make (ring + talk, in real seconds) plus
        30 s for its CDR: a call originated in the last second still yields its CDR."""
        longest = (self.ring_time[1] + self.talk_time[1]) / self.speed
        return max(self.drain_seconds, longest + 30.0)

    @property
    def total_cps(self) -> float:
        return sum(n.cps for n in self.nodes)


def _range(text: str) -> tuple[float, float]:
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LOW,HIGH seconds") from err
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or parts[0] < 0 or parts[1] < parts[0]:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LOW,HIGH with 0 <= LOW <= HIGH")
    return parts[0], parts[1]


def _mix(text: str) -> dict[Outcome, float]:
    out: dict[Outcome, float] = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        try:
            out[Outcome(name.strip())] = float(weight)
        except ValueError as err:
            names = ", ".join(o.value for o in Outcome)
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected OUTCOME=WEIGHT, outcomes: {names}") from err
    if not any(w > 0 for w in out.values()):
        raise argparse.ArgumentTypeError("the outcome mix needs a positive weight")
    return out


def _node(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key not in ("cps", "max_sessions", "sps"):
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected cps=N,max_sessions=N[,sps=N]")
        try:
            out[key] = float(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{item!r}: not a number") from err
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=int, default=1, help="simulator nodes (default 1)")
    p.add_argument("--node-cps", type=float, default=50.0,
                   help="calls per second of each node (default 50)")
    p.add_argument("--node-max-sessions", type=int, default=1000,
                   help="max sessions of each node (default 1000)")
    p.add_argument("--node", action="append", type=_node, default=[], metavar="SPEC",
                   help="one node with its own limits, e.g. cps=60,max_sessions=500 "
                        "(repeat; replaces --nodes/--node-cps/--node-max-sessions)")
    p.add_argument("--campaigns", type=int, default=2, help="campaigns (default 2)")
    p.add_argument("--concurrency", type=int, default=50,
                   help="concurrent_call of each campaign (default 50)")
    p.add_argument("--leads", type=int, default=1000,
                   help="lead budget over all campaigns (default 1000)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="stop dialing after this many seconds (default: when the leads "
                        "are done)")
    p.add_argument("--speed", type=float, default=10.0,
                   help="simulated seconds per real second (default 10)")
    p.add_argument("--ring-time", type=_range, default=(3.0, 15.0), metavar="LOW,HIGH",
                   help="simulated ring time range, seconds (default 3,15)")
    p.add_argument("--talk-time", type=_range, default=(8.0, 45.0), metavar="LOW,HIGH",
                   help="simulated talk time range, seconds (default 8,45)")
    p.add_argument("--outcomes", type=_mix, default=None, metavar="MIX",
                   help="far-end outcome weights, e.g. answered=0.6,busy=0.2,no_answer=0.2")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--kafka", default="", metavar="BOOTSTRAP",
                   help="run over Kafka at BOOTSTRAP (default: the in-memory bus)")
    p.add_argument("--out", default="loadtest-report", help="report folder")
    p.add_argument("--metrics-port", type=int, default=0,
                   help="serve /metrics on 127.0.0.1 during the run (default: a free port)")


def from_args(args: argparse.Namespace) -> LoadConfig:
    if args.node:
        nodes = tuple(
            NodeSpec(f"fs{i + 1}", cps=spec.get("cps", 50.0),
                     max_sessions=int(spec.get("max_sessions", 1000)),
                     sps=int(spec.get("sps", 0)))
            for i, spec in enumerate(args.node))
    else:
        nodes = tuple(NodeSpec(f"fs{i + 1}", cps=args.node_cps,
                               max_sessions=args.node_max_sessions)
                      for i in range(max(1, args.nodes)))
    for n in nodes:
        if n.cps <= 0 or n.max_sessions < 1:
            raise SystemExit(f"node {n.name}: cps must be > 0 and max_sessions >= 1")
    if args.campaigns < 1 or args.concurrency < 1 or args.leads < 1 or args.speed <= 0:
        raise SystemExit("campaigns, concurrency, leads and speed must be positive")
    return LoadConfig(
        nodes=nodes, campaigns=args.campaigns, concurrency=args.concurrency,
        leads=args.leads, duration=max(0.0, args.duration), speed=args.speed,
        ring_time=args.ring_time, talk_time=args.talk_time,
        outcomes=args.outcomes or dict(DEFAULT_MIX), seed=args.seed,
        bus="kafka" if args.kafka else "memory", kafka_bootstrap=args.kafka,
        out=args.out, metrics_port=args.metrics_port,
    )
