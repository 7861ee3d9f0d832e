"""`python -m adapters.fssim --port 8021`: run the simulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence

from adapters.fssim.calllog import CALL_LOG_ENV
from adapters.fssim.scenario import Outcome, Range, Scenario
from adapters.fssim.server import serve_forever

__all__ = ["build_parser", "main", "scenario_from_args"]


def _range(text: str) -> Range:
    low, _, high = text.partition(",")
    return (float(low), float(high or low))


def _outcomes(text: str) -> dict[Outcome, float]:
    table: dict[Outcome, float] = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        table[Outcome(name.strip())] = float(weight or 1)
    return table


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fssim", description="FreeSWITCH ESL simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8021)
    parser.add_argument("--password", default="ClueCon")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sps", type=int, default=30, help="sessions per second")
    parser.add_argument("--max-sessions", type=int, default=1000)
    parser.add_argument(
        "--outcomes",
        type=_outcomes,
        default={Outcome.ANSWERED: 1.0},
        help="weights, e.g. answered=0.6,busy=0.1,no_answer=0.2,voicemail=0.1",
    )
    parser.add_argument("--ring-time", type=_range, default=(2.0, 8.0), help="low,high seconds")
    parser.add_argument("--talk-time", type=_range, default=(10.0, 60.0), help="low,high")
    parser.add_argument("--no-state-events", action="store_true")
    parser.add_argument("--acl", action="append", help="allowed network (repeatable)")
    parser.add_argument(
        "--call-log",
        default=os.environ.get(CALL_LOG_ENV) or None,
        metavar="PATH",
        help=f"append a JSON line per channel create/answer/hangup (env {CALL_LOG_ENV})",
    )
    return parser


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    return Scenario(
        outcomes=args.outcomes,
        ring_time=args.ring_time,
        talk_time=args.talk_time,
        speed=args.speed,
        seed=args.seed,
        state_events=not args.no_state_events,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scenario = scenario_from_args(args)
    options: dict[str, object] = {"sps": args.sps, "max_sessions": args.max_sessions,
                                  "acl": args.acl}
    if args.call_log:
        options["call_log"] = args.call_log

    async def run() -> None:
        # SIGTERM stops like Ctrl-C does: the simulator closes (and flushes its call log).
        task = asyncio.ensure_future(
            serve_forever(args.host, args.port, args.password, scenario, **options))
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
