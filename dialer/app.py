"""Process wiring: the one place that knows every adapter. The CLI builds an ``EngineApp``.

Start order: bus → switch connections (after the simulator in embedded mode) → engine →
record publisher → input consumer. Stop order (style.md §11): stop consuming, stop
originating, let live calls finish within ``drain_seconds``, flush records, close ESL,
close the bus, stop the simulator.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

from adapters.clock import SystemClock
from adapters.freeswitch import DialPlan, FreeSwitchPool, NodeConfig
from adapters.fssim import FsSimulator, Scenario
from adapters.http.stack import ApiStack
from adapters.kafka import KafkaBus
from adapters.kafka.ownership import PartitionOwner
from adapters.kafka.security import client_options
from adapters.kafka.state import KafkaState
from adapters.kafka.topics import TopicLayout
from adapters.memory_bus import MemoryBus
from adapters.publisher import RecordPublisher
from consumers.convert import Template
from consumers.inputs import GlobalTables, InputConsumer
from dialer import gctune
from dialer.metrics import Metrics
from dialer.reachability import BusWatch
from dialer.settings import Settings
from engine.core import Dialer
from engine.hooks import EngineHooks, FanOut
from engine.pacing import SwitchNode
from engine.ports import Bus, BusMessage, Topics
from engine.service import DialerService

log = logging.getLogger(__name__)


def webhook_options(s: Settings) -> dict[str, Any]:
    """ApiStack's webhook policy from the settings (egress allow-list, retry horizon)."""
    return {"webhook_allow": s.webhook_allow, "webhook_retry_s": s.webhook_retry_hours * 3600,
            "webhook_max_delay_s": s.webhook_max_delay_s}


async def bounded(step: Awaitable[object], seconds: float, what: str) -> bool:
    """Await one shutdown step for at most ``seconds``; False (and a warning) when it did
    not finish, or failed: shutdown goes on with the next step either way."""
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        log.warning("stop: %s did not finish within %.1f s", what, seconds)
        return False
    except Exception:  # a shutdown step is a boundary: the next steps still run
        log.exception("stop: %s failed", what)
        return False
    return True


@dataclass
class Parts:
    bus: Bus
    topics: Topics
    switch: FreeSwitchPool
    dialer: Dialer
    service: DialerService
    publisher: RecordPublisher
    inputs: InputConsumer
    simulator: FsSimulator | None
    api: ApiStack | None = None
    state: KafkaState | None = None  # durable engine state (Kafka)
    owner: PartitionOwner | None = None


class EngineApp:
    def __init__(
        self,
        settings: Settings,
        *,
        bus: Bus | None = None,
        scenario: Scenario | None = None,
        simulator_limits: dict[str, float] | None = None,
        api: bool = False,
        hooks: EngineHooks | None = None,
    ) -> None:
        self.settings = settings
        # Every role's /metrics (dialer/metrics.py); ``hooks`` adds an observer (loadtest).
        self.metrics = Metrics()
        self._hooks: EngineHooks = self.metrics if hooks is None else FanOut([self.metrics, hooks])
        self.bus_watch: BusWatch | None = None
        self.topics = Topics(settings.topic_prefix, settings.kafka_partitions)
        self._bus = bus
        self._scenario = scenario
        self._sim_limits = simulator_limits or {}
        self._parts: Parts | None = None
        self._consumer_task: asyncio.Task[None] | None = None
        self._with_api = api
        self._tables_task: asyncio.Task[None] | None = None
        self._tables: GlobalTables | None = None
        self._stall_task: asyncio.Task[None] | None = None
        self._temp_dir: str | None = None

    @property
    def parts(self) -> Parts:
        if self._parts is None:
            raise RuntimeError("EngineApp.start() was not awaited")
        return self._parts

    def make_bus(self) -> Bus:
        s = self.settings
        if self._bus is not None:
            return self._bus
        if s.bus == "kafka":
            t = self.topics
            layout = TopicLayout(
                partitions=s.kafka_partitions,
                replication_factor=s.kafka_replication_factor,
                min_insync_replicas=s.kafka_min_insync_replicas,
                tables=frozenset(t.tables),
                copartitioned=frozenset((t.leads,)),
            )
            return KafkaBus(s.kafka_bootstrap, topics=t.all, client_id=s.instance,
                            options=client_options(s), layout=layout,
                            group_instance_id=s.kafka_group_instance_id,
                            session_timeout_ms=s.kafka_session_timeout_ms)
        return MemoryBus()

    @property
    def group(self) -> str:
        return self.settings.engine_group or f"{self.settings.topic_prefix}engine"

    async def start(self) -> None:
        """Start everything, in order; a start that fails closes what it had opened (in
        reverse order, each within ``stop_seconds``) before it raises."""
        opened: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        try:
            await self._start(opened)
        except BaseException:
            for what, close in reversed(opened):
                await bounded(close(), self.settings.stop_seconds, what)
            for task in (self._consumer_task, self._tables_task):
                if task is not None and not task.done():
                    task.cancel()
            self._parts = None
            raise

    async def _start(self, opened: list[tuple[str, Callable[[], Awaitable[object]]]]) -> None:
        s = self.settings
        gctune.tune()  # see dialer/gctune.py: millions of long-lived leads
        bus = self.make_bus()
        await bus.start()
        opened.append(("bus", bus.close))
        self.bus_watch = BusWatch(bus)
        self.bus_watch.start()
        opened.append(("bus watch", self.bus_watch.stop))
        self.metrics.watch_bus(bus, self.topics.dlq, self.bus_watch)
        simulator: FsSimulator | None = None
        nodes = s.fs_nodes
        if s.simulator:
            node = nodes[0]
            simulator = FsSimulator(
                scenario=self._scenario or Scenario(),
                password=node.password.get_secret_value(),
                host="127.0.0.1",
                port=0,
                max_sessions=int(self._sim_limits.get("max_sessions", node.max_sessions)),
                sps=int(self._sim_limits.get("sps", max(node.cps * 2, 1000))),
            )
            await simulator.start()
            opened.append(("simulator", simulator.stop))
            nodes = [node.model_copy(update={"host": "127.0.0.1", "port": simulator.port})]
        switch = FreeSwitchPool(
            [NodeConfig(n.name, n.host, n.port, n.password.get_secret_value()) for n in nodes],
            plan=DialPlan(gateway=s.gateway, extension=s.dialplan_extension,
                          context=s.dialplan_context, sound_dir=s.sound_dir,
                          tts_engine=s.tts_engine, tts_voice=s.tts_voice),
            instance=s.instance,
        )
        opened.append(("switch", switch.close))
        await switch.start()
        dialer = Dialer(
            [SwitchNode(n.name, max_sessions=n.max_sessions, cps=n.cps) for n in nodes],
            instance=s.instance,
        )
        publisher = RecordPublisher(bus, self.topics)
        t = self.topics
        state: KafkaState | None = None
        owner: PartitionOwner | None = None
        if isinstance(bus, KafkaBus) and s.durable_state:
            partition_of = await campaign_partitioner(bus, t.leads)
            state = KafkaState(s.kafka_bootstrap, t, self.group, partition_of,
                               options=client_options(s), client_id=s.instance)
            service = DialerService(dialer, switch, state, SystemClock(), ownership=switch,
                                    hooks=self._hooks)
            owner = PartitionOwner(state, service, t.leads,
                                   stall_s=s.kafka_session_timeout_ms / 2000)
            opened.append(("durable state", state.close_all))
        else:
            service = DialerService(dialer, switch, publisher, SystemClock(),
                                    hooks=self._hooks)
        self.metrics.watch_engine(dialer, switch)
        switch.on_health = lambda name, ok: self._on_health(dialer, service, name, ok)
        # Nodes still connecting in the background take no calls until they are up.
        for name, sw_node in dialer.pool.nodes.items():
            sw_node.healthy = switch.connected(name)
        publisher.start()
        opened.append(("publisher", publisher.close))
        templates = {k: Template(t.text, t.audio_file) for k, t in s.templates.items()}
        durable_io: dict[str, Any] = {}
        if state is not None and owner is not None:
            durable_io = {"listener": owner, "commit": _staged_commit(state),
                          "settle": service.step, "partition_of": state.partition_of,
                          "before_close": owner.close}
        inputs = InputConsumer(bus, t, service.apply, group=self.group,
                               park_seconds=s.park_seconds, templates=templates,
                               tables_elsewhere=True, sync=lambda: tables.sync(),
                               **durable_io)
        if state is not None:
            state.may_own = lambda p: (t.leads, p) in inputs.assignment()
            state.on_fenced = lambda _p: inputs.rejoin()
        if owner is not None:
            owner.rejoin = inputs.rejoin
        tables = GlobalTables(bus, t, service.apply, templates=templates,
                              on_campaign=inputs.campaign_appeared)
        loop = asyncio.get_running_loop()
        self._tables_task = loop.create_task(tables.run(), name="global-tables")
        self._tables_task.add_done_callback(self._task_ended)
        await asyncio.wait_for(tables.ready.wait(), 120)
        opened.append(("global tables", lambda: self._stop_task(tables.stop, self._tables_task)))
        if owner is not None:
            stall_task = loop.create_task(owner.watch_stalls(), name="stall-watch")
            self._stall_task = stall_task
            opened.append(("stall watch", lambda: _cancelled(stall_task)))
        self._consumer_task = loop.create_task(inputs.run(), name="inputs")
        self._consumer_task.add_done_callback(self._task_ended)
        opened.append(("inputs", lambda: self._stop_task(inputs.stop, self._consumer_task)))
        self._tables = tables
        self._parts = Parts(bus, self.topics, switch, dialer, service, publisher, inputs,
                            simulator, state=state, owner=owner)
        if self._with_api:
            api = self._parts.api = self._make_api(bus, dialer)
            opened.append(("api", api.stop))  # before start: a half-started API is closed
            await api.start()
            self.metrics.watch_webhooks(api.webhooks)
        log.info("engine started: bus=%s nodes=%d", s.bus, len(nodes))

    def _make_api(self, bus: Bus, dialer: Dialer) -> ApiStack:
        """The seed API in the same process. Its SQLite views follow the bus: with the
        in-memory bus (which starts empty) they live in a fresh temporary directory."""
        s = self.settings
        data_dir = s.data_dir
        if s.bus == "memory":
            self._temp_dir = data_dir = tempfile.mkdtemp(prefix="dialer-")
        clock = SystemClock()

        def explain(lead_uuid: str) -> dict[str, Any] | None:
            found = dialer.explain(lead_uuid, clock.now())
            return dataclasses.asdict(found) if found is not None else None

        api = ApiStack(
            bus, self.topics, data_dir=data_dir,
            tokens=[t.get_secret_value() for t in s.api_tokens],
            webhook_secret=s.webhook_secret.get_secret_value(),
            host=s.http_host, port=s.http_port, explain=explain,
            **webhook_options(s),
        )
        return api

    @property
    def started(self) -> bool:
        return self._parts is not None

    @property
    def caught_up(self) -> bool:
        """Readiness: the global tables were read to their end offsets and every assigned
        partition's state is restored (no lead is taken before that)."""
        p = self._parts
        if p is None or self._tables is None or not self._tables.ready.is_set():
            return False
        return p.owner is None or p.owner.ready

    @property
    def consuming(self) -> bool:
        """False once the input consumer has died (the readiness probe then fails)."""
        return self._consumer_task is not None and not self._consumer_task.done()

    @staticmethod
    def _task_ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.critical("task %s died", task.get_name(), exc_info=task.exception())

    @staticmethod
    def _on_health(dialer: Dialer, service: DialerService, name: str, ok: bool) -> None:
        node = dialer.pool.nodes.get(name)
        if node is not None:
            node.healthy = ok
            service.kick()

    @staticmethod
    async def _stop_task(stop: Callable[[], None], task: asyncio.Task[None] | None) -> None:
        stop()
        if task is not None:
            await task

    async def stop(self) -> None:
        """Every wait has a deadline (``stop_seconds``; live calls ``drain_seconds``), so a
        bus that went away cannot keep SIGTERM from ending the process. The last log line
        counts the records that could not be flushed."""
        p = self._parts
        if p is None:
            return
        s = self.settings
        limit = s.stop_seconds
        if p.api is not None:
            await bounded(p.api.stop(), limit, "api")
        p.service.stop_originating()
        if self._stall_task is not None:
            await _cancelled(self._stall_task)
            self._stall_task = None
        # The consumer hands every partition over before leaving: it gets the drain time too.
        await bounded(self._stop_task(p.inputs.stop, self._consumer_task),
                      limit + s.drain_seconds, "inputs")
        if self._tables is not None:
            await bounded(self._stop_task(self._tables.stop, self._tables_task), limit,
                          "global tables")
        if p.state is None:  # alone: let live calls end; durable: their next owner adopts them
            await self.wait_for(lambda: p.service.live_calls() == 0, s.drain_seconds)
        p.service.step()  # flush the last records the core produced
        left = await p.publisher.close(s.drain_seconds)
        if p.state is not None:
            left += p.state.pending() + p.state.dropped
        await bounded(p.switch.close(limit), limit + 1, "switch")
        if self.bus_watch is not None:
            await bounded(self.bus_watch.stop(), limit, "bus watch")
        await bounded(p.bus.close(), limit, "bus")
        if p.simulator is not None:
            await bounded(p.simulator.stop(), limit, "simulator")
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
        self._parts = None
        log.info("engine stopped: %d records could not be flushed", left)

    @staticmethod
    async def wait_for(condition: object, seconds: float) -> bool:
        """Wait on a condition with a deadline, woken by the loop, not a fixed sleep."""
        check = condition if callable(condition) else (lambda: bool(condition))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not check():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True


async def campaign_partitioner(bus: KafkaBus, leads_topic: str) -> Callable[[str], int]:
    """A campaign's partition: the Java default partitioner's choice for its id as the key
    (murmur2), over the leads topic's actual partition count."""
    count = len(await bus.partitions_of(leads_topic))

    @functools.lru_cache(maxsize=65_536)  # murmur2 is pure Python; campaigns are few
    def partition_of(campaign_uuid: str) -> int:
        return int(murmur2(campaign_uuid.encode()) & 0x7FFFFFFF) % count

    return partition_of


def _staged_commit(state: KafkaState) -> Callable[[Sequence[BusMessage]], Awaitable[None]]:
    """Input offsets go into their partition's next transaction, after its state."""

    async def commit(marks: Sequence[BusMessage]) -> None:
        by_partition: dict[int, dict[tuple[str, int], int]] = {}
        for m in marks:
            by_partition.setdefault(m.partition, {})[(m.topic, m.partition)] = m.offset + 1
        for partition, offsets in by_partition.items():
            state.stage_offsets(partition, offsets)

    return commit


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
