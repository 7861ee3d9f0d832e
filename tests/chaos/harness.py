"""The chaos rig: the roles as production runs them, each its own OS process, on a real broker.

* one ``dialer fssim`` writing its call log (``--call-log``, adapters/fssim/calllog.py);
* N ``dialer engine`` processes configured only by ``DIALER_*`` variables (one consumer
  group, distinct instance and static group instance id, their own /readyz port);
* a workload of campaigns and leads with campaign-scoped and global do-not-call entries
  mixed in, published the way upstream systems do (control, dnc, leads topics);
* fault actions on those processes (SIGKILL, SIGTERM, SIGSTOP/SIGCONT, restart) that record
  when they happened, for the analysis (tests/chaos/analysis.py).

Size: ``CHAOS_LEADS`` (total leads over the 10 campaigns; ``full`` = 20,000, the issue's
size). The default keeps the chaos suite at a few minutes on two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from proto import messages as m
from tests.e2e.harness import phone

ROOT = Path(__file__).resolve().parents[2]
DIALER = str(Path(sys.executable).with_name("dialer"))
FULL_LEADS = 20_000
DEFAULT_LEADS = 1_000
# One lead in DNC_EVERY is on the global list (by number), another on its campaign's list
# (by customer id): 2 / DNC_EVERY of the leads must never be called.
DNC_EVERY = 40


def leads_from_env() -> int:
    raw = os.environ.get("CHAOS_LEADS", "").strip().lower()
    if raw == "full":
        return FULL_LEADS
    return int(raw) if raw else DEFAULT_LEADS


@dataclass(frozen=True, slots=True)
class Size:
    """The issue's shape: 3 engines, 10 campaigns at concurrent_call 20, short talk times."""

    leads: int = field(default_factory=leads_from_env)
    campaigns: int = 10
    concurrent_call: int = 20
    engines: int = 3
    partitions: int = 12
    # Real seconds (the simulator runs at speed 1 so CDR stamps are wall time).
    ring_time: tuple[float, float] = (0.2, 1.0)
    talk_time: tuple[float, float] = (1.0, 3.0)
    call_timeout: int = 4
    # Per engine and switch node; the simulator admits far more (it must never refuse).
    cps: int = 40

    @property
    def per_campaign(self) -> int:
        return max(self.leads // self.campaigns, 1)

    @property
    def expected_seconds(self) -> float:
        """A fault-free run, bounded by concurrency (mean hold time ≈ ring + talk)."""
        hold = sum(self.ring_time) / 2 + sum(self.talk_time) / 2
        rate = min(self.campaigns * self.concurrent_call / hold, self.engines * self.cps)
        return self.leads / rate


@dataclass(frozen=True, slots=True)
class LeadPlan:
    lead_uuid: str
    campaign: str
    number: str
    customer_id: str
    dnc: str  # "" (dialable), "global" (number listed) or "campaign" (customer listed)


@dataclass(frozen=True, slots=True)
class Workload:
    campaigns: tuple[str, ...]
    leads: dict[str, LeadPlan]
    global_numbers: frozenset[str]
    campaign_customers: dict[str, frozenset[str]]
    concurrent_call: int

    @property
    def dialable(self) -> int:
        return sum(1 for lead in self.leads.values() if not lead.dnc)


def make_workload(size: Size, tag: str) -> Workload:
    """Campaign ``c`` lead ``j`` calls its own number; every DNC_EVERY-th lead is listed."""
    campaigns = tuple(f"{tag}camp-{c}" for c in range(size.campaigns))
    leads: dict[str, LeadPlan] = {}
    global_numbers: set[str] = set()
    customers: dict[str, set[str]] = {cid: set() for cid in campaigns}
    for c, cid in enumerate(campaigns):
        for j in range(size.per_campaign):
            number = phone(c * 100_000 + j)
            customer = f"cust-{c}-{j}"
            dnc = ""
            if j % DNC_EVERY == 1:
                dnc = "global"
                global_numbers.add(number)
            elif j % DNC_EVERY == DNC_EVERY // 2:
                dnc = "campaign"
                customers[cid].add(customer)
            uid = f"{cid}-lead-{j}"
            leads[uid] = LeadPlan(uid, cid, number, customer, dnc)
    return Workload(campaigns, leads, frozenset(global_numbers),
                    {k: frozenset(v) for k, v in customers.items()}, size.concurrent_call)


def campaign_spec(cid: str, size: Size) -> m.CampaignSpec:
    return m.CampaignSpec(campaign_uuid=cid, campaign_name=cid, status="start",
                          concurrent_call=size.concurrent_call, call_timeout=size.call_timeout,
                          recall_times=0, template_text="Chào bạn {{ten}}")


async def publish_setup(bootstrap: str, prefix: str, work: Workload, size: Size) -> None:
    """Campaigns, then the global and campaign DNC lists, all acknowledged."""
    async with _producer(bootstrap) as producer:
        sends = [await producer.send(f"{prefix}control", m.dumps(m.UpsertCampaign(
            campaign=campaign_spec(cid, size))), key=cid.encode()) for cid in work.campaigns]
        numbers = sorted(work.global_numbers)
        for i in range(0, len(numbers), 1000):
            sends.append(await producer.send(f"{prefix}dnc", m.dumps(m.DncEntry(
                phone_numbers=numbers[i:i + 1000])), key=b"global"))
        for cid, listed in work.campaign_customers.items():
            if listed:
                sends.append(await producer.send(f"{prefix}dnc", m.dumps(m.DncEntry(
                    campaign_uuid=cid, customer_ids=sorted(listed))), key=cid.encode()))
        await asyncio.gather(*sends)


async def publish_leads(bootstrap: str, prefix: str, work: Workload) -> None:
    """Every lead, campaigns interleaved (as several upstream systems would)."""
    by_campaign: dict[str, list[LeadPlan]] = {cid: [] for cid in work.campaigns}
    for lead in work.leads.values():
        by_campaign[lead.campaign].append(lead)
    order = [lead for row in zip(*by_campaign.values(), strict=False) for lead in row]
    async with _producer(bootstrap) as producer:
        sends = []
        for lead in order:
            value = m.dumps(m.LeadImport(campaign_uuid=lead.campaign, lead_uuid=lead.lead_uuid,
                                         phone_number=lead.number, customer_id=lead.customer_id,
                                         param={"ten": "Khách"}))
            sends.append(await producer.send(f"{prefix}leads", value,
                                             key=lead.campaign.encode()))
        await asyncio.gather(*sends)


@contextlib.asynccontextmanager
async def _producer(bootstrap: str) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=10)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


# --------------------------------------------------------------------------- processes


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


class Role:
    """One OS process of a role, restartable with the same command and environment."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.log_path = log
        self.proc: asyncio.subprocess.Process | None = None
        self.stopped = False  # SIGSTOPped

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"--- start {time.time():.3f}\n".encode())
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, cwd=ROOT, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def signal(self, sig: signal.Signals) -> float:
        assert self.proc is not None and self.proc.returncode is None, f"{self.name} not running"
        self.proc.send_signal(sig)
        if sig is signal.SIGSTOP:
            self.stopped = True
        elif sig is signal.SIGCONT:
            self.stopped = False
        return time.time()

    async def wait_exit(self, seconds: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), seconds)

    async def stop(self, seconds: float = 40.0) -> None:
        """SIGTERM (SIGCONT first if stopped), SIGKILL after ``seconds``."""
        if not self.running:
            return
        assert self.proc is not None
        if self.stopped:
            self.signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), seconds)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Engine(Role):
    def __init__(self, index: int, env: dict[str, str], log: Path, health_port: int) -> None:
        super().__init__(f"engine-{index}", [DIALER, "engine"], env, log)
        self.index = index
        self.health_port = health_port

    async def ready(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.health_port)
        except OSError:
            return False
        try:
            writer.write(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), 2)
            return b" 200 " in status
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    async def wait_ready(self, seconds: float = 90.0) -> float:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not await self.ready():
            if not self.running:
                raise AssertionError(f"{self.name} exited:\n{self.log_tail()}")
            if loop.time() > deadline:
                raise AssertionError(f"{self.name} not ready in {seconds}s:\n{self.log_tail()}")
            await asyncio.sleep(0.1)
        return time.time()


class Cluster:
    """fssim + engines on one broker and one topic prefix; faults are logged in `events`."""

    def __init__(self, bootstrap: str, prefix: str, workdir: Path, size: Size,
                 *, engines: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.size = size
        self.workdir = workdir
        self.call_log = workdir / "calls.jsonl"
        self.group = f"{prefix}engine"
        count = size.engines if engines is None else engines
        ports = free_ports(1 + count)
        self.fs_port = ports[0]
        base = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        fs_argv = [DIALER, "fssim", "--port", str(self.fs_port), "--sps", "5000",
                   "--max-sessions", "10000", "--no-state-events",
                   "--outcomes", "answered=0.85,busy=0.1,no_answer=0.05",
                   "--ring-time", ",".join(map(str, size.ring_time)),
                   "--talk-time", ",".join(map(str, size.talk_time)),
                   "--call-log", str(self.call_log)]
        self.fssim = Role("fssim", fs_argv, base, workdir / "fssim.log")
        node = {"name": "fs1", "host": "127.0.0.1", "port": self.fs_port,
                "max_sessions": 10_000, "cps": size.cps}
        self.engines: list[Engine] = []
        for i in range(count):
            env = {**base,
                   "DIALER_BUS": "kafka",
                   "DIALER_KAFKA_BOOTSTRAP": bootstrap,
                   "DIALER_TOPIC_PREFIX": prefix,
                   "DIALER_KAFKA_PARTITIONS": str(size.partitions),
                   "DIALER_SIMULATOR": "false",
                   "DIALER_FS_NODES": json.dumps([node]),
                   "DIALER_INSTANCE": f"engine-{i}",
                   "DIALER_KAFKA_GROUP_INSTANCE_ID": f"engine-{i}",
                   "DIALER_HEALTH_HOST": "127.0.0.1",
                   "DIALER_HEALTH_PORT": str(ports[1 + i]),
                   "DIALER_LOG_LEVEL": "WARNING",
                   **(extra_env or {})}
            self.engines.append(Engine(i, env, workdir / f"engine-{i}.log", ports[1 + i]))
        self.events: list[tuple[float, str]] = []

    def note(self, what: str) -> float:
        now = time.time()
        self.events.append((now, what))
        print(f"[chaos {time.strftime('%H:%M:%S')}] {what}", flush=True)
        return now

    async def start(self) -> None:
        await self.fssim.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.fs_port)
                writer.close()
                break
            assert self.fssim.running, f"fssim exited:\n{self.fssim.log_tail()}"
            assert loop.time() < deadline, "fssim did not listen"
            await asyncio.sleep(0.05)
        # The first engine creates the topics with the partition count; then the others.
        await self.engines[0].start()
        await self.engines[0].wait_ready()
        for engine in self.engines[1:]:
            await engine.start()
        await asyncio.gather(*(e.wait_ready() for e in self.engines[1:]))
        self.note(f"{len(self.engines)} engines ready")

    async def close(self) -> None:
        await asyncio.gather(*(e.stop() for e in self.engines))
        await self.fssim.stop(10)

    # ------------------------------------------------------------------ faults

    async def kill9(self, engine: Engine) -> float:
        at = engine.signal(signal.SIGKILL)
        self.events.append((at, f"SIGKILL {engine.name}"))
        await engine.wait_exit(10)
        return at

    async def restart(self, engine: Engine, *, wait_ready: bool = True) -> float:
        await engine.start()
        self.note(f"restarted {engine.name}")
        return await engine.wait_ready() if wait_ready else time.time()

    async def rolling_restart(self) -> list[tuple[str, float, float]]:
        """SIGTERM one engine, wait for its clean exit, restart it, wait ready; next one."""
        windows = []
        for engine in self.engines:
            at = engine.signal(signal.SIGTERM)
            self.events.append((at, f"SIGTERM {engine.name}"))
            code = await engine.wait_exit(60)
            assert code == 0, f"{engine.name} exited {code} on SIGTERM:\n{engine.log_tail()}"
            await engine.start()
            ready = await engine.wait_ready()
            self.note(f"{engine.name} back and ready ({ready - at:.1f}s after SIGTERM)")
            windows.append((engine.name, at, ready))
        return windows


# --------------------------------------------------------------------------- group view


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    t: float
    state: str
    members: frozenset[str]  # instance names (group instance id or client id)
    owners: dict[int, str]  # leads-topic partition → client id


class GroupWatcher:
    """Polls the engine group's description (membership and assignment) from outside."""

    def __init__(self, bootstrap: str, group: str, leads_topic: str, every: float = 0.25):
        self.bootstrap = bootstrap
        self.group = group
        self.leads_topic = leads_topic
        self.every = every
        self.snapshots: list[GroupSnapshot] = []
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GroupWatcher:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        admin: AIOKafkaAdminClient | None = None
        while True:
            try:
                if admin is None:
                    admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                                request_timeout_ms=3000)
                    await admin.start()
                (response,) = await admin.describe_consumer_groups([self.group])
                self.snapshots.append(self._snapshot(response.to_object()))
            except asyncio.CancelledError:
                if admin is not None:
                    await admin.close()
                raise
            except Exception:  # noqa: BLE001 - a broker outage: count it, keep watching
                self.errors += 1
                if admin is not None:
                    with contextlib.suppress(Exception):
                        await admin.close()
                admin = None
            await asyncio.sleep(self.every)

    def _snapshot(self, obj: dict[str, Any]) -> GroupSnapshot:
        (group,) = obj["groups"]
        members: set[str] = set()
        owners: dict[int, str] = {}
        for member in group["members"]:
            # The static group instance id (DIALER_KAFKA_GROUP_INSTANCE_ID) when the protocol
            # version reports it, else the client id; both are the engine's instance name.
            client = str(member.get("group_instance_id") or member["client_id"])
            members.add(client)
            raw = member.get("member_assignment") or b""
            if not raw:
                continue
            with contextlib.suppress(Exception):
                assignment = ConsumerProtocolMemberAssignment.decode(raw)
                for topic, partitions in assignment.assignment:
                    if topic == self.leads_topic:
                        for p in partitions:
                            owners[int(p)] = client
        return GroupSnapshot(time.time(), str(group["state"]), frozenset(members), owners)

    async def wait_for(self, condition: Any, seconds: float, what: str) -> GroupSnapshot:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        seen = len(self.snapshots)
        while True:
            for snap in self.snapshots[seen:]:
                if condition(snap):
                    return snap
            seen = len(self.snapshots)
            if loop.time() > deadline:
                last = self.snapshots[-1] if self.snapshots else None
                raise AssertionError(f"group never {what} in {seconds}s (last: {last})")
            await asyncio.sleep(0.05)


def partition_of(campaign: str, partitions: int) -> int:
    """The default partitioner's choice for a campaign key (murmur2, as Java and aiokafka)."""
    from aiokafka.partitioner import murmur2

    return (murmur2(campaign.encode()) & 0x7FFFFFFF) % partitions

