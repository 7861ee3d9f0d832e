"""Measuring and test data for ``benchmarks/bench_durable.py``: order-balanced pairs, CPU of
this process and of the broker, fresh topics, leads and campaigns, an engine on the real
broker, a read_committed CDR tail, and a timer on the engine's transactions."""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.partitioner import murmur2  # noqa: E402

from adapters.fssim import Scenario  # noqa: E402
from adapters.kafka import KafkaBus  # noqa: E402
from dialer.app import EngineApp  # noqa: E402
from dialer.settings import Settings  # noqa: E402
from engine.ports import Topics  # noqa: E402
from proto import messages as m  # noqa: E402

PARTITIONS = 3
# Ring 10-30 ms, talk 20-50 ms of real time, every call answered, no AMD, no state
# events: the switch costs little, so the engine and Kafka are what is measured.
FAST = Scenario(speed=100.0, ring_time=(1.0, 3.0), talk_time=(2.0, 5.0), amd=False,
                state_events=False, seed=7)
# The same scenario for a simulator in its own process (benchmarks.sim.Simulator).
FAST_ARGS = dict(speed=100.0, ring="1.0,3.0", talk="2.0,5.0", extra=("--no-state-events",))

run_ids = itertools.count()


# ---- measuring ----------------------------------------------------------------------
def proc_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a live process has used so far; 0 if unreadable."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Meter:
    """Wall time, this process's CPU and the broker's CPU over one measured interval."""

    broker_pid: int | None
    wall0: float = 0.0
    cpu0: float = 0.0
    broker0: float = 0.0
    result: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.broker0 = proc_cpu(self.broker_pid)

    def stop(self, items: int, rate_key: str) -> dict[str, float]:
        wall = time.perf_counter() - self.wall0
        cpu = time.process_time() - self.cpu0
        broker = proc_cpu(self.broker_pid) - self.broker0
        self.result = {rate_key: items / wall, "wall_s": wall,
                       "cpu_ms_per_item": 1000 * cpu / items,
                       "broker_cpu_ms_per_item": 1000 * broker / items}
        return self.result


def fmt(result: dict[str, float]) -> str:
    return " ".join(f"{k}={v:,.4g}" for k, v in result.items())


async def balanced(sides: dict[str, Callable[[], Awaitable[dict[str, float]]]],
                   pairs: int) -> dict[str, list[dict[str, float]]]:
    """Pairs in alternating order (A.. B, then B .. A): a machine that gets busier or
    quieter during the run favours no side."""
    out: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    names = list(sides)
    for i in range(pairs):
        for name in names if i % 2 == 0 else reversed(names):
            gc.collect()
            result = await sides[name]()
            out[name].append(result)
            print(f"  pair {i + 1} {name}: {fmt(result)}", file=sys.stderr, flush=True)
    return out


def median_ratio(b: list[dict[str, float]], a: list[dict[str, float]], key: str) -> float:
    return statistics.median(y[key] / x[key] for x, y in zip(a, b, strict=True))


def med(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


# ---- data ---------------------------------------------------------------------------
def campaign_ids(count: int) -> list[str]:
    """Campaign ids spread evenly over the partitions (murmur2 of the key, as Kafka's
    default partitioner and the engine's ``campaign_partitioner`` do)."""
    ids: list[str] = []
    per = [0] * PARTITIONS
    for i in itertools.count():
        cid = f"bench-c{i}"
        p = (murmur2(cid.encode()) & 0x7FFFFFFF) % PARTITIONS
        if per[p] < -(-count // PARTITIONS):
            per[p] += 1
            ids.append(cid)
        if len(ids) == count:
            return ids
    raise AssertionError("unreachable")


def campaign_record(cid: str, status: str, cap: int = 100) -> tuple[bytes, bytes]:
    spec = m.CampaignSpec(campaign_uuid=cid, campaign_name=cid, status=status,
                          concurrent_call=cap, call_timeout=30, recall_times=0,
                          template_text="Chào bạn {{ten}}")
    return cid.encode(), m.dumps(m.UpsertCampaign(campaign=spec))


def lead_records(campaigns: Sequence[str], n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(start, start + n):
        cid = campaigns[i % len(campaigns)]
        lead = m.LeadImport(
            campaign_uuid=cid, lead_uuid=f"bench-lead-{i}", phone_number=f"090{i:07d}",
            param={"ten": "Nguyễn Văn An", "due_amount": str(1_000_000 + i),
                   "due_date": "30/01/2027"},
            call_id=f"CALL-{i:010d}", customer_id=f"KH{i:08d}", list_uuid="bench-list",
            list_name="Nhắc nợ tháng 1", created_at="2026-11-30 08:00:00")
        out.append((cid.encode(), m.dumps(lead)))
    return out


async def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def create_topics(bootstrap: str, topics: Topics) -> None:
    bus = KafkaBus(bootstrap, topics=topics.all, partitions=PARTITIONS,
                   compacted=(topics.control, topics.dnc, topics.lead_state))
    await bus.start()
    await bus.close()


def engine(bootstrap: str, prefix: str, durable: bool, sim_port: int | None = None) -> EngineApp:
    """The engine with the simulator embedded, or (``sim_port``) connected over loopback
    to a simulator in its own process (``benchmarks.sim.Simulator``, same scenario)."""
    node: dict[str, Any] = {"name": "fs1", "cps": 100_000, "max_sessions": 100_000}
    if sim_port is not None:
        node.update(host="127.0.0.1", port=sim_port)
    settings = Settings(
        bus="kafka", kafka_bootstrap=bootstrap, topic_prefix=prefix,
        kafka_partitions=PARTITIONS, instance="bench", durable_state=durable,
        simulator=sim_port is None, drain_seconds=5.0, log_level="WARNING",
        fs_nodes=[node],
    )
    return EngineApp(settings, scenario=FAST,
                     simulator_limits={"max_sessions": 100_000, "sps": 1_000_000})


async def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise TimeoutError(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(0.002)


class CdrReader:
    """Tails ``cdr`` (read_committed) in the background: distinct CDRs, and for each its
    arrival time minus its CreateTime."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            isolation_level="read_committed", fetch_max_wait_ms=20)
        self._topic = topic
        self.seen: set[str] = set()
        self.latency: list[tuple[float, float]] = []  # (create time s, latency s)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        tps = [TopicPartition(self._topic, p) for p in range(PARTITIONS)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=50, max_records=10_000)
            now = time.time()
            for records in batches.values():
                for r in records:
                    cdr = orjson.loads(r.value)
                    if cdr["cdr_uuid"] not in self.seen:
                        self.seen.add(cdr["cdr_uuid"])
                        self.latency.append((r.timestamp / 1000, now - r.timestamp / 1000))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


class TxnTimer:
    """Times every partition transaction of the durable engine (wraps
    ``KafkaState._transaction`` as a whole while installed): its duration and records."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._saved: Any = None

    def __enter__(self) -> TxnTimer:
        from adapters.kafka import state

        self._saved = original = state.KafkaState._transaction
        samples = self.samples

        async def timed(self: Any, part: Any, staged: Any, offsets: Any) -> None:
            started = time.perf_counter()
            await original(self, part, staged, offsets)
            samples.append((time.perf_counter() - started, len(staged)))

        state.KafkaState._transaction = timed
        return self

    def __exit__(self, *exc: object) -> None:
        from adapters.kafka import state

        state.KafkaState._transaction = self._saved

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        d = sorted(x for x, _ in self.samples)
        return {"txns": len(d), "txn_p50_ms": 1000 * d[len(d) // 2],
                "txn_p90_ms": 1000 * d[int(len(d) * 0.9)],
                "records_per_txn": statistics.mean(n for _, n in self.samples)}


