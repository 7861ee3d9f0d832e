"""What the engine's durable state on Kafka costs (issue 10, items 4 and 10).

One real broker (tests/kafka_broker.py) for the whole run; every measurement gets fresh
topics (its own prefix), so no run sees another's data or consumer group. The engine runs
in this process (EngineApp, with the FreeSWITCH simulator embedded), so the process CPU
below is engine + simulator + the benchmark's own producer and reader, the same on both
sides of a ratio; the broker's CPU is read from /proc/<pid>/stat of its JVM.

Rows (ratios are medians over order-balanced pairs measured in this run, A B then B A):

1. Originations/s end to end: N leads published onto ``leads`` of running campaigns →
   time until all N CDRs are readable (read_committed) on ``cdr``. B: ``durable_state``
   on; A: the same with ``durable_state=False`` (at-least-once publisher).
2. Lead ingest: N leads already on ``leads`` for stopped campaigns (nothing dials); an
   engine starts: time from its partitions being assigned and restored until its input
   offsets are committed at the end of ``leads`` (each commit is in the transaction that
   holds the leads' snapshots; the run then checks ``lead-state`` holds N leads). A: a
   bare aiokafka consumer reading the same topic; A2: the same plus pydantic decode; C:
   the engine with ``durable_state=False`` (offsets committed by the consumer group).
3. CDR latency: leads fed at a fixed rate to running campaigns (durable engine); per CDR,
   arrival at a read_committed consumer minus its CreateTime (set when the engine staged
   it, right after the hangup). p50/p99 per offered rate.

    .venv/bin/python -m benchmarks.bench_durable            # full (several minutes)
    .venv/bin/python -m benchmarks.bench_durable --quick    # a smoke-sized run
    .venv/bin/python -m benchmarks.bench_durable --rows 1 --profile /tmp/row1.prof
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import os
import pstats
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402
from aiokafka.errors import KafkaError  # noqa: E402

from benchmarks.durable_kit import (  # noqa: E402
    FAST_ARGS,
    PARTITIONS,
    CdrReader,
    Meter,
    TxnTimer,
    balanced,
    campaign_ids,
    campaign_record,
    create_topics,
    engine,
    fmt,
    lead_records,
    loadavg,
    med,
    median_ratio,
    produce,
    run_ids,
    wait_for,
)
from benchmarks.sim import Simulator  # noqa: E402
from engine.ports import Topics  # noqa: E402
from proto import messages as m  # noqa: E402


# ---- arguments ----------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_durable",
                                description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="small sizes, 2 pairs")
    p.add_argument("--rows", default="1,2,3", help="which rows to run (e.g. 1,3)")
    p.add_argument("--pairs", type=int, help="A/B pairs per ratio (default 6, quick 2)")
    p.add_argument("--leads", type=int, help="row 1 leads per run (default 3000)")
    p.add_argument("--ingest", type=int, help="row 2 leads per run (default 30000)")
    p.add_argument("--campaigns", type=int, default=6, help="row 1/3 campaigns")
    p.add_argument("--cap", type=int, default=100, help="row 1/3 concurrent_call per campaign")
    p.add_argument("--rates", help="row 3 offered calls/s, comma separated")
    p.add_argument("--seconds", type=float, help="row 3 seconds per rate")
    p.add_argument("--profile", metavar="FILE",
                   help="cProfile the durable (B) runs of rows 1, 2 and 3 into FILE")
    p.add_argument("--sim-process", action="store_true",
                   help="row 3: the simulator in its own process (its CPU reported apart)")
    a = p.parse_args(argv)
    quick = a.quick
    a.pairs = a.pairs or (2 if quick else 6)
    a.leads = a.leads or (600 if quick else 3000)
    a.ingest = a.ingest or (5000 if quick else 30_000)
    a.rates = [float(r) for r in (a.rates or ("100,200" if quick else "100,200,300,500"))
               .split(",")]
    a.seconds = a.seconds or (5.0 if quick else 20.0)
    a.rows = {int(r) for r in str(a.rows).split(",") if r.strip()}
    return a


# ---- row 1: originations ------------------------------------------------------------
async def originations(bootstrap: str, broker_pid: int | None, durable: bool, n: int,
                       campaigns: int, cap: int,
                       profiler: cProfile.Profile | None) -> dict[str, float]:
    prefix = f"b{next(run_ids)}-{os.getpid()}."
    topics = Topics(prefix)
    app = engine(bootstrap, prefix, durable)
    await app.start()
    reader = CdrReader(bootstrap, topics.cdr)
    try:
        cids = campaign_ids(campaigns)
        await produce(bootstrap, topics.control,
                      [campaign_record(c, "start", cap) for c in cids])
        await wait_for(lambda: app.caught_up and all(c in app.parts.dialer.campaigns
                                                     for c in cids), 60, "campaigns")
        await reader.start()
        leads = lead_records(cids, n)
        meter = Meter(broker_pid)
        if profiler is not None:
            profiler.enable()
        meter.start()
        await produce(bootstrap, topics.leads, leads)
        await wait_for(lambda: len(reader.seen) >= n, 300, f"{n} CDRs")
        result = meter.stop(n, "calls_per_s")
        if profiler is not None:
            profiler.disable()
        lat = sorted(x for _, x in reader.latency)
        result["cdr_p50_ms"] = 1000 * lat[len(lat) // 2]
        return result
    finally:
        await reader.stop()
        await app.stop()


# ---- row 2: ingest ------------------------------------------------------------------
async def prefill(bootstrap: str, n: int) -> tuple[Topics, list[str]]:
    topics = Topics(f"i{next(run_ids)}-{os.getpid()}.")
    await create_topics(bootstrap, topics)
    cids = campaign_ids(PARTITIONS)
    await produce(bootstrap, topics.control, [campaign_record(c, "stop") for c in cids])
    await produce(bootstrap, topics.leads, lead_records(cids, n))
    return topics, cids


async def raw_consumer(bootstrap: str, broker_pid: int | None, topic: str, n: int,
                       decode: bool) -> dict[str, float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        meter = Meter(broker_pid)
        meter.start()
        got = 0
        while got < n:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                got += len(records)
                if decode:
                    for r in records:
                        m.LeadImport.model_validate(m.loads(r.value))
        return meter.stop(n, "leads_per_s")
    finally:
        await consumer.stop()


async def committed_total(admin: AIOKafkaAdminClient, group: str, topic: str,
                          coordinator: int) -> int:
    try:
        offsets = await admin.list_consumer_group_offsets(
            group, group_coordinator_id=coordinator)
    except KafkaError:  # the coordinator is still loading: not there yet
        return -1
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)


async def find_coordinator(admin: AIOKafkaAdminClient, group: str) -> int:
    for _ in range(200):
        try:
            return int(await admin.find_coordinator(group))
        except KafkaError:  # a new group's coordinator is being elected: ask again
            await asyncio.sleep(0.05)
    raise TimeoutError(f"no coordinator for {group}")


async def engine_ingest(bootstrap: str, broker_pid: int | None, topics: Topics, n: int,
                        profiler: cProfile.Profile | None,
                        durable: bool = True) -> dict[str, float]:
    app = engine(bootstrap, topics.prefix, durable=durable)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await app.start()  # returns once the global tables (campaigns) are read
        await wait_for(lambda: app.caught_up, 60, "partitions assigned and restored")
        coordinator = await find_coordinator(admin, app.group)
        meter = Meter(broker_pid)
        if profiler is not None:
            profiler.enable()
        meter.start()
        # Offsets are the next offset to read: at the end, their sum is n (the leads
        # topic holds only the n leads, no transaction markers).
        while True:  # polled: the broker has no notification for a committed offset
            if await committed_total(admin, app.group, topics.leads, coordinator) >= n:
                break
            await asyncio.sleep(0.02)  # each poll is a broker round trip in this process
        result = meter.stop(n, "leads_per_s")
        if profiler is not None:
            profiler.disable()
        result["txns"] = float(sum(p.transactions for p in app.parts.state._parts.values())
                               if app.parts.state is not None else 0)
    finally:
        await app.stop()
        await admin.close()
    if not durable:
        return result
    stored = await lead_state_count(bootstrap, topics.lead_state)
    if stored != n:
        raise AssertionError(f"lead-state holds {stored} leads, expected {n}")
    return result


async def lead_state_count(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    keys: set[bytes] = set()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                keys.update(r.key for r in records if r.key and r.key.startswith(b"lead/"))
    finally:
        await consumer.stop()
    return len(keys)


# ---- row 3: latency at a paced rate -------------------------------------------------
async def latency_at(bootstrap: str, broker_pid: int | None, rate: float, seconds: float,
                     campaigns: int, cap: int,
                     profiler: cProfile.Profile | None = None,
                     sim_process: bool = False) -> dict[str, float]:
    prefix = f"l{next(run_ids)}-{os.getpid()}."
    topics = Topics(prefix)
    sim = Simulator(**FAST_ARGS) if sim_process else None  # type: ignore[arg-type]
    app = engine(bootstrap, prefix, durable=True, sim_port=sim.port if sim else None)
    try:
        await app.start()
    except BaseException:
        if sim is not None:
            sim.stop()
        raise
    reader = CdrReader(bootstrap, topics.cdr)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all")
    await producer.start()
    try:
        cids = campaign_ids(campaigns)
        await produce(bootstrap, topics.control,
                      [campaign_record(c, "start", cap) for c in cids])
        await wait_for(lambda: app.caught_up and all(c in app.parts.dialer.campaigns
                                                     for c in cids), 60, "campaigns")
        await reader.start()
        total = int(rate * seconds)
        leads = lead_records(cids, total)
        meter = Meter(broker_pid)
        if profiler is not None:
            profiler.enable()
        meter.start()
        sim_cpu0 = sim.cpu() if sim is not None else 0.0
        t0 = time.perf_counter()
        sent = 0
        while sent < total:  # paced: every 10 ms, the leads due by now
            due = min(total, int((time.perf_counter() - t0) * rate) + 1)
            for key, value in leads[sent:due]:
                await producer.send(topics.leads, value, key=key)
            sent = due
            await asyncio.sleep(0.01)
        fed = time.perf_counter() - t0
        await wait_for(lambda: len(reader.seen) >= total, 120 + seconds, f"{total} CDRs")
        result = meter.stop(total, "cdr_per_s")
        if sim is not None:
            result["sim_cpu_ms_per_item"] = 1000 * (sim.cpu() - sim_cpu0) / total
        if profiler is not None:
            profiler.disable()
        # Steady state only: leave out the first 20 % (warm-up, pool growth).
        start = min(c for c, _ in reader.latency)
        lat = sorted(x for c, x in reader.latency if c >= start + 0.2 * fed)
        result.update({
            "offered_per_s": rate, "fed_s": fed,
            "tail_s": result["wall_s"] - fed,  # how long after the last lead the last CDR
            "p50_ms": 1000 * lat[len(lat) // 2],
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "max_ms": 1000 * lat[-1],
        })
        return result
    finally:
        await producer.stop()
        await reader.stop()
        await app.stop()
        if sim is not None:
            sim.stop()


# ---- main ---------------------------------------------------------------------------
async def run(a: argparse.Namespace, bootstrap: str, broker_pid: int | None) -> dict[str, Any]:
    profiler = cProfile.Profile() if a.profile else None
    report: dict[str, Any] = {}
    if 1 in a.rows:
        print(f"row 1: {a.leads} leads over {a.campaigns} campaigns (concurrent_call "
              f"{a.cap}), A = durable_state off, "
              "B = on", file=sys.stderr)
        runs = await balanced({
            "A": lambda: originations(bootstrap, broker_pid, False, a.leads, a.campaigns, a.cap,
                                      None),
            "B": lambda: originations(bootstrap, broker_pid, True, a.leads, a.campaigns, a.cap,
                                      profiler),
        }, a.pairs)
        report["row1"] = {
            "A_calls_per_s": med(runs["A"], "calls_per_s"),
            "B_calls_per_s": med(runs["B"], "calls_per_s"),
            "ratio_B_to_A": median_ratio(runs["B"], runs["A"], "calls_per_s"),
            "A_cpu_ms_per_call": med(runs["A"], "cpu_ms_per_item"),
            "B_cpu_ms_per_call": med(runs["B"], "cpu_ms_per_item"),
            "A_broker_cpu_ms_per_call": med(runs["A"], "broker_cpu_ms_per_item"),
            "B_broker_cpu_ms_per_call": med(runs["B"], "broker_cpu_ms_per_item"),
            "A_cdr_p50_ms": med(runs["A"], "cdr_p50_ms"),
            "B_cdr_p50_ms": med(runs["B"], "cdr_p50_ms"),
        }
    if 2 in a.rows:
        print(f"row 2: {a.ingest} leads, A = raw consumer, A2 = raw + pydantic, "
              "C = engine with durable_state off, B = durable engine", file=sys.stderr)
        topics_for: dict[int, Topics] = {}

        async def fresh_engine_run(durable: bool) -> dict[str, float]:
            topics, _ = await prefill(bootstrap, a.ingest)
            topics_for[0] = topics  # the baselines read the latest filled topic
            return await engine_ingest(bootstrap, broker_pid, topics, a.ingest,
                                       profiler if durable else None, durable)

        async def raw(decode: bool) -> dict[str, float]:
            if 0 not in topics_for:
                topics_for[0], _ = await prefill(bootstrap, a.ingest)
            return await raw_consumer(bootstrap, broker_pid, topics_for[0].leads, a.ingest,
                                      decode)

        runs = await balanced({"A": lambda: raw(False), "A2": lambda: raw(True),
                               "C": lambda: fresh_engine_run(False),
                               "B": lambda: fresh_engine_run(True)}, a.pairs)
        report["row2"] = {
            "A_leads_per_s": med(runs["A"], "leads_per_s"),
            "A2_leads_per_s": med(runs["A2"], "leads_per_s"),
            "B_leads_per_s": med(runs["B"], "leads_per_s"),
            "C_leads_per_s": med(runs["C"], "leads_per_s"),
            "ratio_B_to_A": median_ratio(runs["B"], runs["A"], "leads_per_s"),
            "ratio_B_to_A2": median_ratio(runs["B"], runs["A2"], "leads_per_s"),
            "ratio_B_to_C": median_ratio(runs["B"], runs["C"], "leads_per_s"),
            "C_cpu_ms_per_lead": med(runs["C"], "cpu_ms_per_item"),
            "C_broker_cpu_ms_per_lead": med(runs["C"], "broker_cpu_ms_per_item"),
            "A_cpu_ms_per_lead": med(runs["A"], "cpu_ms_per_item"),
            "A2_cpu_ms_per_lead": med(runs["A2"], "cpu_ms_per_item"),
            "B_cpu_ms_per_lead": med(runs["B"], "cpu_ms_per_item"),
            "B_broker_cpu_ms_per_lead": med(runs["B"], "broker_cpu_ms_per_item"),
            "B_transactions": med(runs["B"], "txns"),
        }
    if 3 in a.rows:
        print(f"row 3: durable engine, {a.seconds:.0f} s per offered rate", file=sys.stderr)
        rows = []
        for rate in a.rates:
            gc.collect()
            with TxnTimer() as timer:
                r = await latency_at(bootstrap, broker_pid, rate, a.seconds, a.campaigns,
                                     a.cap, profiler, a.sim_process)
            r.update(timer.summary())
            print(f"  {fmt(r)}", file=sys.stderr, flush=True)
            rows.append(r)
        report["row3"] = rows
    if profiler is not None:
        profiler.dump_stats(a.profile)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(30)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    import uvloop

    from tests.kafka_broker import KafkaBroker

    # Topic creation races (NotLeaderForPartition while a new topic's leader is elected)
    # and coordinator moves are logged by the client at ERROR and retried: noise here.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    print(f"load average before: {loadavg()} (cores: {os.cpu_count()})", file=sys.stderr)
    broker = KafkaBroker()
    broker.start()
    proc = getattr(broker, "_proc", None)
    broker_pid = proc.pid if proc is not None else None
    try:
        report = uvloop.run(run(a, broker.bootstrap, broker_pid))
    finally:
        broker.stop()
    report["load_average_after"] = loadavg()
    print(f"load average after: {loadavg()}", file=sys.stderr)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
