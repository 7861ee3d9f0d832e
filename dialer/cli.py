"""The ``dialer`` command. One entrypoint owns the event loop (uvloop) and shutdown.

- ``dialer up``: the embedded default: in-memory bus, the FreeSWITCH simulator, the engine,
  the HTTP API on localhost. ``--demo N`` creates a demo campaign, imports N leads through
  the bus, prints calls as they finish and a summary, then exits.
- ``dialer engine``: the engine role for production (Kafka + real FreeSWITCH nodes, from
  ``DIALER_*`` settings).
- ``dialer fssim``: the FreeSWITCH ESL simulator on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import time
from collections import Counter
from importlib import metadata
from typing import Any

import aiohttp
import orjson
import uvloop
from pydantic import ValidationError
from pydantic_settings import SettingsError

from adapters.fssim import Outcome, Scenario
from adapters.http.stack import ApiStack
from consumers.webhooks import redeliver
from dialer import loadtest, publish
from dialer import status as status_cmd
from dialer.app import EngineApp, bounded, webhook_options
from dialer.health import HealthServer
from dialer.logs import configure_logging
from dialer.observe import embedded_health, readiness_checks
from dialer.reachability import BusWatch
from dialer.settings import DEV_TOKEN, DEV_WEBHOOK_SECRET, Settings
from dialer.settings_doc import help_text
from engine.errors import DialerError
from engine.phone import mask
from engine.ports import Subscription

DEMO_TEMPLATE = (
    "Chào bạn {{ten}} vui lòng thanh toán khoản nợ {{due_amount}} trước ngày {{due_date}}"
)
DEMO_MIX = {
    Outcome.ANSWERED: 0.55, Outcome.BUSY: 0.15, Outcome.NO_ANSWER: 0.15,
    Outcome.UNREACHABLE: 0.07, Outcome.VOICEMAIL: 0.05, Outcome.REJECTED: 0.03,
}


def version() -> str:
    try:
        return metadata.version("autocall-dialer")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dialer", description="Outbound autocall engine")
    p.add_argument("--version", action="version", version=f"dialer {version()}")
    sub = p.add_subparsers(dest="cmd", required=True)
    # Each role's -h ends with every setting it reads (all roles share one Settings).
    role: dict[str, Any] = {"epilog": help_text(),
                            "formatter_class": argparse.RawDescriptionHelpFormatter}
    up = sub.add_parser("up", help="embedded: memory bus + simulator + engine + HTTP API",
                        **role)
    up.add_argument("--demo", type=int, default=0, metavar="N",
                    help="dial N demo leads, print each call and a summary, then exit")
    up.add_argument("--concurrency", type=int, default=10)
    up.add_argument("--speed", type=float, default=20.0,
                    help="simulated seconds per real second (demo calls are fast)")
    up.add_argument("--seed", type=int, default=7)
    sub.add_parser("engine", help="the engine role (settings from DIALER_* variables)", **role)
    loadtest.add_arguments(sub.add_parser(
        "loadtest", help="drive simulated call volume end to end; live display and a report"))
    status_cmd.add_arguments(sub.add_parser(
        "status", help="live campaign progress from the engines' /metrics"))
    publish.add_arguments(sub.add_parser(
        "publish", help="send leads, DNC entries or control commands from a CSV / JSON-lines "
                        "file to the topics, validated"))
    sub.add_parser("api", help="the API role: seed gateway, report aggregator, webhooks",
                   **role)
    hooks = sub.add_parser("webhooks", help="webhook maintenance (settings as `dialer api`)")
    hooks.add_argument("action", choices=["redeliver"],
                       help="redeliver: send dead-lettered webhooks again")
    sub.add_parser("fssim", help="run the FreeSWITCH ESL simulator (see `dialer fssim -h`)",
                   add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fssim"]:
        from adapters.fssim.__main__ import main as fssim_main

        return fssim_main(argv[1:])
    args = _parser().parse_args(argv)
    # Validated before anything connects: a bad value is one line naming the variable.
    settings, problems = load_settings(args.cmd)
    if settings is None or problems:
        for line in problems:
            print(f"dialer: {line}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level if args.cmd not in ("up", "loadtest") else "WARNING")
    try:
        return _run(args, settings)
    except DialerError as err:
        # A refusal at start (unsafe topics, Kafka security settings, bad credentials):
        # one line that says why, no traceback.
        log.critical("%s: %s", type(err).__name__, err)
        return EXIT_CONFIG


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.cmd == "up":
        return uvloop.run(_up(settings, args))
    if args.cmd == "api":
        return uvloop.run(_api(settings))
    if args.cmd == "status":
        return uvloop.run(status_cmd.main(args, settings))
    if args.cmd == "publish":
        return uvloop.run(publish.main(args, settings))
    if args.cmd == "loadtest":
        return uvloop.run(loadtest.main(loadtest.from_args(args)))
    if args.cmd == "webhooks":
        return uvloop.run(_redeliver(settings))
    return uvloop.run(_engine(settings.model_copy(update={"simulator": False})))


EXIT_CONFIG = 2  # bad configuration (like argparse's usage errors)
EXIT_FORCED = 130  # a second signal: out at once, shutdown unfinished
SIGNALS = (signal.SIGINT, signal.SIGTERM)
log = logging.getLogger("dialer")


def _variable(loc: tuple[int | str, ...]) -> str:
    """pydantic's location → the environment variable (and the place inside its JSON)."""
    name = f"DIALER_{str(loc[0]).upper()}" if loc else "DIALER_*"
    inner = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
    return name + inner


def load_settings(role: str) -> tuple[Settings | None, list[str]]:
    """Settings from DIALER_* variables, or one line per problem (never the value: it may
    be a secret). The production roles refuse the development credentials."""
    try:
        settings = Settings()
    except ValidationError as err:
        return None, [f"{_variable(e['loc'])}: {e['msg']}" for e in err.errors()]
    except SettingsError as err:
        found = re.search(r'field "([a-z_]+)"', str(err))
        name = f"DIALER_{found.group(1).upper()}" if found else "a DIALER_* variable"
        return None, [f"{name}: not valid JSON for this setting"]
    problems: list[str] = []

    def checked(field: str) -> bool:
        # The api role serves with both; the engine uses neither, and refuses them only
        # when they were set for it (a copied development configuration).
        return role in ("api", "webhooks") or (role == "engine"
                                               and field in settings.model_fields_set)

    if checked("api_tokens") and any(t.get_secret_value() == DEV_TOKEN
                                     for t in settings.api_tokens):
        problems.append(f"DIALER_API_TOKENS: the development token {DEV_TOKEN!r} is "
                        f"for `dialer up` only; set your own tokens")
    if (checked("webhook_secret")
            and settings.webhook_secret.get_secret_value() == DEV_WEBHOOK_SECRET):
        problems.append(f"DIALER_WEBHOOK_SECRET: the development secret "
                        f"{DEV_WEBHOOK_SECRET!r} is for `dialer up` only; set your own")
    if role == "engine" and not settings.fs_nodes:
        problems.append("DIALER_FS_NODES: expected at least one FreeSWITCH node")
    return settings, problems


def _force_exit() -> None:
    log.error("second signal: exiting now, shutdown not finished")
    os._exit(EXIT_FORCED)


async def _until_signal() -> None:
    """The first SIGINT/SIGTERM starts the shutdown; a second one exits at once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first() -> None:
        stop.set()
        for sig in SIGNALS:
            loop.add_signal_handler(sig, _force_exit)

    for sig in SIGNALS:
        loop.add_signal_handler(sig, first)
    await stop.wait()


async def _engine(settings: Settings) -> int:
    app = EngineApp(settings)
    # Up before start(): starting may wait on Kafka while the kubelet already probes /livez.
    health = HealthServer(readiness_checks(app), host=settings.health_host,
                          port=settings.health_port, metrics=app.metrics.render)
    await health.start()
    try:
        await app.start()
        await _until_signal()
    finally:
        await app.stop()
        await health.stop()
    return 0


async def _api(settings: Settings) -> int:
    """Gateway + report aggregator + webhooks on the Kafka bus (production role)."""
    app = EngineApp(settings)
    bus = app.make_bus()
    watch = BusWatch(bus)
    api = ApiStack(
        bus, app.topics, data_dir=settings.data_dir,
        tokens=[t.get_secret_value() for t in settings.api_tokens],
        webhook_secret=settings.webhook_secret.get_secret_value(),
        host=settings.http_host, port=settings.http_port,
        webhook_group=f"{settings.instance}-webhooks", **webhook_options(settings),
    )
    # Readiness follows the role's tasks (views reading, webhook reader alive).
    health = HealthServer({"api serving": lambda: api.healthy, "bus reachable": watch},
                          host=settings.health_host, port=settings.health_port,
                          metrics=app.metrics.render)
    await health.start()
    limit = settings.stop_seconds
    try:
        await bus.start()
        watch.start()
        app.metrics.watch_bus(bus, app.topics.dlq, watch)
        try:
            await api.start()
            app.metrics.watch_webhooks(api.webhooks)
            await _until_signal()
        finally:
            await bounded(api.stop(), limit, "api")
            await bounded(watch.stop(), limit, "bus watch")
            await bounded(bus.close(), limit, "bus")
    finally:
        await health.stop()
    return 0


async def _redeliver(settings: Settings) -> int:
    """Dead-lettered webhooks → their campaign's current callback_url, once each."""
    app = EngineApp(settings)
    bus = app.make_bus()
    await bus.start()
    try:
        delivered, failed = await redeliver(
            bus, app.topics, settings.webhook_secret.get_secret_value(),
            allow=settings.webhook_allow, data_dir=settings.data_dir,
            group=f"{settings.instance}-webhooks-redeliver")
    finally:
        await bounded(bus.close(), settings.stop_seconds, "bus")
    print(orjson.dumps({"redelivered": delivered, "dead_lettered_again": failed}).decode())
    return 0 if failed == 0 else 1


def _demo_numbers(n: int) -> list[str]:
    prefixes = ("090", "091", "093", "096", "097", "098", "088", "086", "070", "081", "032")
    return [f"{prefixes[i % len(prefixes)]}{1_000_000 + i * 7919 % 9_000_000:07d}"
            for i in range(n)]


async def _up(settings: Settings, args: argparse.Namespace) -> int:
    scenario = Scenario(outcomes=DEMO_MIX, speed=args.speed, seed=args.seed,
                        ring_time=(3.0, 15.0), talk_time=(8.0, 45.0))
    app = EngineApp(settings, scenario=scenario, api=True)
    await app.start()
    health = await embedded_health(app)
    try:
        p = app.parts
        sim_port = p.simulator.port if p.simulator else "-"
        api_url = p.api.url if p.api else "-"
        metrics = f"http://{health.host}:{health.port}/metrics" if health.running else "off"
        print(f"dialer up: engine running (bus={settings.bus}, FreeSWITCH simulator on "
              f"127.0.0.1:{sim_port}, seed API on {api_url}, bearer token from "
              f"DIALER_API_TOKENS, metrics {metrics}).", flush=True)
        if not args.demo:
            print("Ctrl-C to stop.", flush=True)
            await _until_signal()
            return 0
        return await _demo(app, args)
    finally:
        await app.stop()
        await health.stop()


async def _demo(app: EngineApp, args: argparse.Namespace) -> int:
    """The seed 000/001 flow over the HTTP API, as a customer's integration would do it:
    create a campaign, import leads, run it, then read the v1 report."""
    p = app.parts
    assert p.api is not None
    token = app.settings.api_tokens[0].get_secret_value()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(p.api.url, headers=headers) as http:
        created = await _post(http, "/v3/campaign", {
            "campaign_name": "Demo nhắc nợ", "type": "autocall",
            "type_autocall": "autocall_voice_tts", "concurrent_call": args.concurrency,
            "template_text": DEMO_TEMPLATE, "call_timeout": 30,
        })
        campaign_uuid = str(created["campaign_uuid"])
        cdrs = await p.bus.subscribe([p.topics.cdr], group=f"demo-{campaign_uuid}")
        for i, number in enumerate(_demo_numbers(args.demo)):
            await _post(http, "/v3/autocall/import", {
                "campaign_uuid": campaign_uuid, "phone_number": number,
                "param": {"ten": f"Khách hàng {i + 1}", "due_amount": str(1_500_000 + 250_000 * i),
                          "due_date": "30/01/2027"},
            })
        await _post(http, f"/v1/campaign/{campaign_uuid}/run/start", {})
        print(f"Demo campaign {campaign_uuid}: {args.demo} leads imported through "
              f"POST /v3/autocall/import, concurrent_call {args.concurrency}, simulator speed "
              f"x{args.speed:g}\n", flush=True)
        started = time.monotonic()
        seen = await _print_cdrs(cdrs, args.demo)
        if seen is None:
            return 1
        report = await _report(app, http, campaign_uuid, args.demo)
    sim = p.simulator
    print("\nSummary")
    print(f"  calls: {sum(seen.values())} in {time.monotonic() - started:.1f} s")
    for status, n in seen.most_common():
        print(f"  {status:<14} {n}")
    if sim is not None:
        print(f"  peak live channels on the switch: {sim.max_live_channels} "
              f"(concurrent_call {args.concurrency})")
    print(f"\nGET /v1/autocall/report?campaign_uuid={campaign_uuid}\n"
          f"{orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()}")
    return 0


async def _post(http: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(path, json=body) as resp:
        data: dict[str, Any] = await resp.json()
        if resp.status != 200:
            raise SystemExit(f"{path}: HTTP {resp.status} {data}")
        return data


async def _print_cdrs(cdrs: Subscription, expected: int) -> Counter[str] | None:
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + 600
    while sum(seen.values()) < expected:
        for msg in await cdrs.fetch(max_wait=1.0):
            if msg.value is None:
                continue
            cdr = orjson.loads(msg.value)
            seen[cdr["status"]] += 1
            print(f"  {cdr['end_stamp'] or cdr['start_stamp']}  {mask(cdr['phone_number'])}  "
                  f"{cdr['status']:<13} billsec={cdr['billsec']:<3} {cdr['hangup_cause']}",
                  flush=True)
        if time.monotonic() > deadline:
            print("demo: timed out waiting for CDRs", file=sys.stderr)
            return None
    await cdrs.close()
    return seen


async def _report(app: EngineApp, http: aiohttp.ClientSession, campaign_uuid: str,
                  calls: int) -> dict[str, Any]:
    """The v1 report once the aggregator has caught up with every call."""
    report: dict[str, Any] = {}

    async def fetch() -> bool:
        nonlocal report
        async with http.get("/v1/autocall/report",
                            params={"campaign_uuid": campaign_uuid}) as resp:
            report = await resp.json()
        return int(report.get("data", {}).get("total_calls", 0)) >= calls

    deadline = time.monotonic() + 30
    # The aggregator is another consumer of the cdr topic: poll its view, with a deadline.
    while not await fetch() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return report


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
