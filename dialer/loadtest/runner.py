"""``dialer loadtest``: simulated call volume through the real path.

N FreeSWITCH simulators (each with its own cps and max sessions) on loopback; the engine
(EngineApp) on the in-memory bus or on Kafka, connected to them through greenswitch like to
real switches; M campaigns created and fed through the control and leads topics like an
upstream system does; CDRs read back from the cdr topic. The run ends when every lead has
its CDR, or at ``duration``: then dialing stops and live calls finish (up to
``LoadConfig.drain_window``) so that every origination still yields its CDR.

Leads are fed while the run goes on, kept a few seconds of dialing ahead of the engine, so
the input path (decode, validate, apply) is loaded as in production, not before the clock
starts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import orjson

from adapters.fssim import FsSimulator, Scenario
from dialer.app import EngineApp
from dialer.loadtest.config import LoadConfig
from dialer.loadtest.progress import Progress
from dialer.loadtest.recorder import Recorder
from dialer.observe import embedded_health
from dialer.settings import FsNode, Settings
from engine.ports import Subscription
from proto import messages as m

PREFIXES = ("090", "091", "093", "096", "097", "098", "088", "086", "070", "081", "032")
SAMPLE_S = 0.1


def lead_number(i: int) -> str:
    """Distinct valid Vietnamese mobile numbers for lead i (i < 99 million)."""
    return f"{PREFIXES[i % len(PREFIXES)]}{1_000_000 + i // len(PREFIXES):07d}"


@dataclass(frozen=True, slots=True)
class NodeCounts:
    """What each simulator itself counted (the switch's side of the books)."""

    name: str
    cps: float
    max_sessions: int
    originated: int
    refused: int
    peak_live: int


@dataclass(slots=True)
class LoadResult:
    config: LoadConfig
    recorder: Recorder
    campaigns: list[str]
    nodes: list[NodeCounts]
    elapsed: float = 0.0
    dialing_seconds: float = 0.0
    leads_fed: int = 0
    dlq_records: int = 0
    metrics_url: str = ""
    caps: dict[str, int] = field(default_factory=dict)


class LoadRun:
    def __init__(self, config: LoadConfig, *, interactive: bool | None = None) -> None:
        self.config = config
        self.recorder = Recorder()
        self.run_id = uuid.uuid4().hex[:8]
        self.campaigns = [f"lt-{self.run_id}-{i + 1:02d}" for i in range(config.campaigns)]
        self.sims: list[FsSimulator] = []
        self.app: EngineApp | None = None
        self.fed = 0
        self._stop_feeding = asyncio.Event()
        self._progress = Progress(self, interactive=interactive)

    def _settings(self) -> Settings:
        c = self.config
        nodes = [FsNode(name=n.name, host="127.0.0.1", port=sim.port, cps=n.cps,
                        max_sessions=n.max_sessions) for n, sim in zip(c.nodes, self.sims,
                                                                        strict=True)]
        return Settings(
            bus="kafka" if c.bus == "kafka" else "memory",
            kafka_bootstrap=c.kafka_bootstrap or "127.0.0.1:9092",
            topic_prefix=f"loadtest.{self.run_id}." if c.bus == "kafka" else "autocall.",
            instance=f"loadtest-{self.run_id}", simulator=False, fs_nodes=nodes,
            drain_seconds=c.drain_window, http_port=0, log_level="WARNING",
        )

    async def run(self) -> LoadResult:
        c = self.config
        scenario = Scenario(outcomes=c.outcomes, speed=c.speed, seed=c.seed,
                            ring_time=c.ring_time, talk_time=c.talk_time, state_events=False)
        for n in c.nodes:
            sim = FsSimulator(scenario=scenario, host="127.0.0.1", port=0,
                              max_sessions=n.max_sessions, sps=n.switch_sps, hostname=n.name)
            await sim.start()
            self.sims.append(sim)
        app = self.app = EngineApp(self._settings(), hooks=self.recorder)
        result = LoadResult(c, self.recorder, self.campaigns, [])
        try:
            await app.start()
            health = await embedded_health(app, port=c.metrics_port)
            if health.running:
                result.metrics_url = f"http://127.0.0.1:{health.port}/metrics"
            try:
                await self._drive(app, result)
            finally:
                await health.stop()
        finally:
            await app.stop()
            for sim in self.sims:
                await sim.stop()
        result.nodes = [NodeCounts(n.name, n.cps, n.max_sessions, s.originate_count,
                                   s.refused_count, s.max_live_channels)
                        for n, s in zip(c.nodes, self.sims, strict=True)]
        result.elapsed = self.recorder.elapsed()
        result.leads_fed = self.fed
        result.dlq_records = int(sum(
            s.value for fam in app.metrics.dlq.collect() for s in fam.samples
            if s.name.endswith("_total")))
        return result

    async def _drive(self, app: EngineApp, result: LoadResult) -> None:
        c, p = self.config, app.parts
        cdrs = await p.bus.subscribe([p.topics.cdr], group=f"loadtest-{self.run_id}")
        for campaign_uuid in self.campaigns:
            spec = m.CampaignSpec(
                campaign_uuid=campaign_uuid, campaign_name=campaign_uuid, status="start",
                concurrent_call=c.concurrency, call_timeout=30, recall_times=0,
                template_text="Chào bạn {{ten}}, đây là cuộc gọi thử tải")
            await p.bus.publish(p.topics.control, m.dumps(m.UpsertCampaign(campaign=spec)),
                                key=campaign_uuid.encode())
            result.caps[campaign_uuid] = c.concurrency
        await app.wait_for(lambda: all(k in p.dialer.campaigns for k in self.campaigns), 60)
        self.recorder.t0 = time.monotonic()  # the report's clock starts with the dialing
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._feed(app), name="loadtest-feed"),
                 loop.create_task(self._read_cdrs(cdrs), name="loadtest-cdrs"),
                 loop.create_task(self._sample(app), name="loadtest-sample"),
                 loop.create_task(self._progress.run(), name="loadtest-progress")]
        try:
            await self._until_done(app)
            result.dialing_seconds = self.recorder.elapsed()
            self._stop_feeding.set()
            p.service.stop_originating()
            # Every origination yields one CDR: wait for them (live calls finish first).
            await app.wait_for(lambda: len(self.recorder.calls) >= self.recorder.originations,
                               c.drain_window)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await cdrs.close()
            self._progress.finish()

    async def _until_done(self, app: EngineApp) -> None:
        c = self.config
        deadline = c.duration if c.duration > 0 else float("inf")

        def done() -> bool:
            return (len(self.recorder.calls) >= c.leads
                    or self.recorder.elapsed() >= deadline)

        # A condition over the CDR reader's progress, checked as the loop turns.
        while not done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    def _ahead(self) -> int:
        """Leads kept published ahead of the dialing: ten seconds of the nodes' cps."""
        return max(200, int(self.config.total_cps * 10))

    async def _feed(self, app: EngineApp) -> None:
        c, p = self.config, app.parts
        n_camp = len(self.campaigns)
        while self.fed < c.leads and not self._stop_feeding.is_set():
            room = self._ahead() - (self.fed - self.recorder.originations)
            if room <= 0:
                await asyncio.sleep(0.05)  # pacing the feeder against the dialing
                continue
            batch = []
            for _ in range(min(room, c.leads - self.fed, 500)):
                i = self.fed
                campaign_uuid = self.campaigns[i % n_camp]
                lead = m.LeadImport(campaign_uuid=campaign_uuid,
                                    lead_uuid=f"{campaign_uuid}-{i}",
                                    phone_number=lead_number(i),
                                    param={"ten": f"Khách {i}"})
                batch.append(p.bus.publish(p.topics.leads, m.dumps(lead),
                                           key=campaign_uuid.encode()))
                self.fed += 1
            await asyncio.gather(*batch)

    async def _read_cdrs(self, sub: Subscription) -> None:
        while True:
            for msg in await sub.fetch(max_wait=0.5):
                if msg.value is not None:
                    self.recorder.cdr(orjson.loads(msg.value))

    async def _sample(self, app: EngineApp) -> None:
        p = app.parts
        names = [n.name for n in self.config.nodes]
        while True:
            live = {k: len(run.live) for k, run in p.dialer.campaigns.items()
                    if k in set(self.campaigns)}
            depth = sum(len(run.queue) for run in p.dialer.campaigns.values())
            nodes = {name: sim.live_channels for name, sim in zip(names, self.sims,
                                                                   strict=True)}
            self.recorder.sample(live, nodes, depth)
            await asyncio.sleep(SAMPLE_S)  # a periodic sample, not a wait for a condition


async def run(config: LoadConfig, *, interactive: bool | None = None) -> LoadResult:
    return await LoadRun(config, interactive=interactive).run()
