"""The API side of a process, wired: campaign view, report aggregator, webhook sender and
the gateway's HTTP server. The embedded ``dialer up`` and the production gateway role
both run one; the caller owns the bus (started before, closed after).

Start order: views (they begin catching up at once), webhook sender (it waits for the
campaign view to reach the end of the control topic), HTTP server last, so the API never
answers from a view that was not opened. Stop order is the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from adapters.http.common import DEFAULT_BODY_TIMEOUT_S
from adapters.http.deps import Explain
from adapters.http.edges import EdgeRunner
from adapters.http.gateway import build_gateway
from consumers.reports import CampaignView, ReportAggregator
from consumers.webhooks import WebhookSender
from engine.ports import Bus, Topics


class ApiStack:
    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        *,
        data_dir: str | Path,
        tokens: Sequence[str],
        webhook_secret: str,
        host: str = "127.0.0.1",
        port: int = 8080,
        explain: Explain | None = None,
        webhooks: bool = True,
        webhook_group: str = "dialer-webhooks",
        domain_uuid: str = "",
        webhook_allow: Sequence[str] = (),
        webhook_retry_s: float = 3600.0,
        webhook_max_delay_s: float = 300.0,
        body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    ) -> None:
        data = Path(data_dir)
        self.campaigns = CampaignView(bus, topics, data / "campaigns.db")
        self.reports = ReportAggregator(bus, topics, data / "reports.db")
        self.webhooks = (
            WebhookSender(bus, topics, self.campaigns, webhook_secret, group=webhook_group,
                          allow=webhook_allow, retry_for_s=webhook_retry_s,
                          max_delay_s=webhook_max_delay_s)
            if webhooks else None
        )
        self.app = build_gateway(bus=bus, topics=topics, campaigns=self.campaigns,
                                 reports=self.reports, tokens=tokens, explain=explain,
                                 domain_uuid=domain_uuid, body_timeout_s=body_timeout_s)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` once started (the real port when 0 was asked for)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("ApiStack.start() was not awaited")
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    @property
    def healthy(self) -> bool:
        """Readiness: serving, both views reading, the webhook reader not crashed."""
        return (self._runner is not None and self.campaigns.healthy and self.reports.healthy
                and (self.webhooks is None or self.webhooks.healthy))

    async def start(self) -> None:
        await self.campaigns.start()
        await self.reports.start()
        if self.webhooks is not None:
            await self.webhooks.start()
        runner = EdgeRunner(self.app)
        await runner.setup()
        await web.TCPSite(runner, self._host, self._port).start()
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.webhooks is not None:
            await self.webhooks.stop()
        await self.reports.stop()
        await self.campaigns.stop()
