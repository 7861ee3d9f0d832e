"""CDR webhooks: POST every CDR of a campaign that has a callback_url.

A separate consumer of the cdr topic with its own group, so a slow or failing receiver can
only delay other webhooks, never the engine (which publishes CDRs and moves on).

Delivery:
- body: the CDR record as on the topic (``callback_format`` "seed"), or seed 003's VBot
  call-history object ("vbot", status codes in ``VBOT_STATUS``);
- headers: ``X-Autocall-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + the
  raw body>`` with the deployment's secret (receivers recompute it and refuse a ``t``
  more than ``REPLAY_WINDOW_S`` from their clock: a captured request cannot be replayed
  later), and ``Idempotency-Key: <cdr_uuid>``: delivery is at-least-once (a restart
  re-sends what was not acknowledged), so receivers dedupe on it;
- where: public addresses only unless DIALER_WEBHOOK_ALLOW says otherwise, checked on the
  address connected to (consumers.egress); a refused destination is final at once;
- retries: connection errors, timeouts, 408, 425, 429 and 5xx are retried with
  exponential backoff (``base_delay_s`` · 2^(n-1), capped at ``max_delay_s``) and equal
  jitter for ``retry_for_s`` (an hour by default: a receiver down for an hour still gets
  its CDRs), or ``max_attempts`` when given; another status (4xx, 3xx) is final at once;
- then a DlqRecord (reason "webhook …" + the original CDR bytes) goes to the dlq topic,
  keyed as the CDR; ``redeliver_dead_letters`` (``dialer webhooks redeliver``) sends
  them again.

Isolation and order: at most ``per_campaign`` requests in flight per campaign (one slow
receiver holds its own slots only) and ``max_in_flight`` CDRs in flight overall (beyond
that, reading pauses). A waiting retry holds no slot. CDRs of one campaign may arrive out
of order; receivers order by start_stamp.

Offsets: a partition's offset is committed up to its oldest CDR still in flight, so a
crash re-sends only unfinished deliveries. A CDR whose dead-letter write failed stays
uncommitted (the partition's commits stall, the process goes on) and is re-sent after a
restart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
from pydantic import ValidationError
from yarl import URL

from consumers.egress import EgressPolicy, EgressRefused, connector_options
from consumers.inputs import dlq_record
from consumers.reports.campaigns import CallbackTarget
from consumers.reports.view import PublishFailed, publish
from engine.ports import Bus, BusMessage, Subscription, Topics
from engine.tasks import TaskSet
from proto import messages as m

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Autocall-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRIABLE_STATUS = frozenset({408, 425, 429})
REPLAY_WINDOW_S = 300  # receivers refuse a signature whose t is further from their clock
DLQ_REASON_PREFIX = "webhook"

# Seed 003 call-history status codes, by CDR status.
VBOT_STATUS: Mapping[str, int] = {
    "answered": 200, "voicemail": 200, "no_answer": 2, "not_available": 2, "busy": 3,
    "phone_block": 3, "cancel": 4, "invalid": 101, "congestion": 100, "failed": 104,
    "unknown": 104,
}
VBOT_DISPOSITION: Mapping[str, str] = {
    "answered": "ANSWER", "voicemail": "ANSWER", "no_answer": "NOANSWER",
    "not_available": "CHANUNAVAIL", "busy": "BUSY", "phone_block": "BUSY",
    "cancel": "CANCEL", "invalid": "CHANUNAVAIL", "congestion": "CONGESTION",
    "failed": "CHANUNAVAIL", "unknown": "CHANUNAVAIL",
}


class CallbackDirectory(Protocol):
    """Where each campaign's CDRs go (``consumers.reports.CampaignView`` is one)."""

    @property
    def ready(self) -> asyncio.Event: ...

    async def callback(self, campaign_uuid: str) -> CallbackTarget | None: ...


def vbot_body(cdr: m.CdrRecord, target: CallbackTarget) -> dict[str, Any]:
    extra = cdr.additional
    return {
        "campaign_id": target.campaign_id,  # seed 003: an Int
        "create_at": cdr.start_stamp,
        "hotline": target.hotline,
        "phone": cdr.phone_number,
        "name": cdr.lead_name or str(extra.get("name") or ""),
        "description": str(extra.get("description") or ""),
        "status": VBOT_STATUS.get(cdr.status, 104),
        "time_call": cdr.billsec,
        "postage": 0.0,
        "service_charge": 0.0,
        "action_log": cdr.press_key,
        "event_data": "autocall",
        "disposition": VBOT_DISPOSITION.get(cdr.status, "CHANUNAVAIL"),
        "cdr_uuid": cdr.cdr_uuid,
    }


def render(cdr: m.CdrRecord, target: CallbackTarget) -> bytes:
    if target.format == "vbot":
        return orjson.dumps(vbot_body(cdr, target))
    return m.dumps(cdr)


def _fields(msg: BusMessage) -> dict[str, str]:
    """Log fields of a CDR message: its campaign, lead and call (dialer/logs.py)."""
    try:
        cdr = orjson.loads(msg.value or b"null")
    except orjson.JSONDecodeError:
        cdr = None
    if not isinstance(cdr, dict):
        return {"campaign": msg.key.decode("utf-8", "replace")} if msg.key else {}
    return {"campaign": str(cdr.get("campaign_uuid", ""))[:128],
            "lead": str(cdr.get("lead_uuid", ""))[:128],
            "call": str(cdr.get("cdr_uuid", ""))[:128]}


def sign(secret: bytes, body: bytes, at: float) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of b"<t>." + body>``."""
    t = int(at)
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, now: float,
           window_s: float = REPLAY_WINDOW_S) -> bool:
    """What a receiver does: the signature matches and ``t`` is within the window."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(now - t) <= window_s and hmac.compare_digest(expected, parts.get("v1", ""))


def retry_delays(base_s: float, cap_s: float, horizon_s: float) -> list[float]:
    """The (jitter-free) waits between attempts within ``horizon_s``."""
    out: list[float] = []
    n = 1
    while sum(out) + min(cap_s, base_s * 2.0 ** (n - 1)) <= horizon_s:
        out.append(min(cap_s, base_s * 2.0 ** (n - 1)))
        n += 1
    return out


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    retriable: bool
    reason: str


class OffsetTracker:
    """Per partition: the offsets in flight, and the next offset after all taken ones."""

    def __init__(self) -> None:
        self._in_flight: dict[tuple[str, int], set[int]] = defaultdict(set)
        self._taken: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}

    def begin(self, msg: BusMessage) -> None:
        tp = (msg.topic, msg.partition)
        self._in_flight[tp].add(msg.offset)
        self._taken[tp] = max(self._taken.get(tp, 0), msg.offset + 1)

    def done(self, msg: BusMessage) -> None:
        self._in_flight[(msg.topic, msg.partition)].discard(msg.offset)

    def to_commit(self) -> list[BusMessage]:
        """One marker per partition whose committable offset moved (commit is inclusive)."""
        out = []
        for tp, taken in self._taken.items():
            pending = self._in_flight.get(tp)
            upto = min(pending) if pending else taken
            if upto > self._committed.get(tp, 0):
                self._committed[tp] = upto
                out.append(BusMessage(tp[0], tp[1], upto - 1, None, b""))
        return out


class WebhookSender:
    def __init__(
        self,
        bus: Bus,
        topics: Topics,
        directory: CallbackDirectory,
        secret: bytes | str,
        *,
        group: str = "dialer-webhooks",
        max_attempts: int | None = None,
        retry_for_s: float | None = 3600.0,
        allow: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        base_delay_s: float = 0.5,
        max_delay_s: float = 300.0,
        timeout_s: float = 10.0,
        per_campaign: int = 4,
        max_in_flight: int = 10_000,
        poll_s: float = 0.5,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._bus = bus
        self._topics = topics
        self._directory = directory
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._group = group
        if max_attempts is None and retry_for_s is None:
            raise ValueError("webhook retries need max_attempts or retry_for_s")
        self._max_attempts = max(1, max_attempts) if max_attempts is not None else None
        self._retry_for_s = retry_for_s
        self._policy = EgressPolicy(allow)
        self._clock = clock
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._per_campaign = per_campaign
        self._slots = asyncio.Semaphore(max_in_flight)
        self._poll_s = poll_s
        self._session = session
        self._own_session = session is None
        self._rng = rng or random.Random()
        self._campaign_slots: dict[str, asyncio.Semaphore] = {}
        self._tracker = OffsetTracker()
        self._tasks = TaskSet("webhooks")
        self._stopping = asyncio.Event()
        self.delivered = 0
        self.dead_lettered = 0
        self.skipped = 0
        self.attempts = 0
        self.retries = 0

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self, *, read: bool = True) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(**connector_options(self._policy))
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        self._stopping.clear()
        if read:  # the reader is supervised: a crash restarts it from the committed offsets
            self._tasks.supervise("webhook-reader", self._run)

    @property
    def healthy(self) -> bool:
        """False while the reader waits to be restarted after a crash (readiness)."""
        return self._tasks.healthy

    async def stop(self, deadline_s: float = 10.0) -> None:
        """Stop reading; unfinished deliveries are abandoned uncommitted (re-sent later)."""
        self._stopping.set()
        await self._tasks.close(deadline_s)
        self._tasks = TaskSet("webhooks")
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        # Campaigns must be known before their CDRs are judged (else a CDR read during
        # the view's catch-up would be skipped as "no callback_url").
        await self._directory.ready.wait()
        sub = await self._bus.subscribe([self._topics.cdr], self._group)
        try:
            while not self._stopping.is_set():
                for msg in await sub.fetch(max_wait=self._poll_s):
                    await self._slots.acquire()
                    self._tracker.begin(msg)
                    self._tasks.spawn(self._deliver(msg), name="webhook")
                await self._commit(sub)
        finally:
            with contextlib.suppress(Exception):
                await self._commit(sub)
            await sub.close()

    async def _commit(self, sub: Subscription) -> None:
        markers = self._tracker.to_commit()
        if markers:
            await sub.commit(markers)

    # ---- one CDR -----------------------------------------------------------------------
    async def _deliver(self, msg: BusMessage) -> None:
        settled = False
        try:
            settled = await self._deliver_one(msg)
        except Exception:  # task boundary: the CDR stays uncommitted, re-sent after restart
            log.exception("webhook delivery crashed", extra=_fields(msg))
        finally:
            self._slots.release()
            if settled:
                self._tracker.done(msg)

    async def deliver(self, msg: BusMessage) -> bool:
        """Deliver one CDR message now (re-delivery); True once settled."""
        return await self._deliver_one(msg)

    async def _deliver_one(self, msg: BusMessage) -> bool:
        """True once the CDR is settled: delivered, skipped or dead-lettered."""
        try:
            cdr = m.CdrRecord.model_validate_json(msg.value or b"")
        except ValidationError:
            self.skipped += 1
            return True
        target = await self._directory.callback(cdr.campaign_uuid)
        if target is None:
            self.skipped += 1
            return True
        body = render(cdr, target)
        slots = self._campaign_slots.setdefault(
            cdr.campaign_uuid, asyncio.Semaphore(self._per_campaign)
        )
        loop = asyncio.get_running_loop()
        first = loop.time()
        outcome = Outcome(False, False, "not attempted")
        attempt = 0
        while True:
            attempt += 1
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self._secret, body, self._clock()),  # fresh t each try
                IDEMPOTENCY_HEADER: cdr.cdr_uuid,
                "User-Agent": "autocall-dialer-webhooks",
            }
            async with slots:
                outcome = await self._post(target.url, body, headers)
            if outcome.ok:
                self.delivered += 1
                return True
            if not outcome.retriable:
                break
            if self._max_attempts is not None and attempt >= self._max_attempts:
                break
            delay = self._backoff(attempt)
            if (self._retry_for_s is not None
                    and loop.time() - first + delay > self._retry_for_s):
                break
            self.retries += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return False
        return await self._dead_letter(msg, target, outcome, attempt)

    def _backoff(self, attempt: int) -> float:
        delay = min(self._max_delay_s, self._base_delay_s * 2.0 ** (attempt - 1))
        return delay / 2 + self._rng.uniform(0, delay / 2)

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        assert self._session is not None
        self.attempts += 1
        try:
            self._policy.check_url(url)
            async with self._session.post(url, data=body, headers=dict(headers),
                                          timeout=self._timeout,
                                          allow_redirects=False) as resp:
                await resp.content.read(65_536)
                if 200 <= resp.status < 300:
                    return Outcome(True, False, "")
                retriable = resp.status >= 500 or resp.status in RETRIABLE_STATUS
                return Outcome(False, retriable, f"HTTP {resp.status}")
        except EgressRefused as err:
            return Outcome(False, False, f"egress refused: {err}")
        except aiohttp.InvalidURL as err:  # "http://2130706433/": final, like a 4xx
            return Outcome(False, False, f"invalid URL ({type(err).__name__})")
        except aiohttp.ClientConnectorError as err:
            if isinstance(err.os_error, EgressRefused):
                return Outcome(False, False, f"egress refused: {err.os_error}")
            return Outcome(False, True, type(err).__name__)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            return Outcome(False, True, type(err).__name__)
        except Exception as err:  # the port's boundary: a bug here is a failed attempt
            log.error("webhook post crashed: %s", type(err).__name__, exc_info=err)
            return Outcome(False, True, type(err).__name__)

    async def _dead_letter(
        self, msg: BusMessage, target: CallbackTarget, outcome: Outcome, attempts: int
    ) -> bool:
        # The host only: a callback URL may carry a token in its path or query.
        host = URL(target.url).host or "?"
        reason = (f"{DLQ_REASON_PREFIX} to {host} failed after {attempts} attempt(s): "
                  f"{outcome.reason}")
        log.warning("webhook dead-lettered cdr offset=%d: %s", msg.offset, reason,
                    extra=_fields(msg))
        try:
            await publish(self._bus, self._topics.dlq, dlq_record(msg, reason), msg.key)
        except PublishFailed as err:
            log.error("dead-letter write failed (%s); the CDR stays uncommitted",
                      type(err).__name__)
            return False
        self.dead_lettered += 1
        return True


# ---- re-delivery of dead letters (`dialer webhooks redeliver`) ---------------------------
def _original(msg: BusMessage, topics: Topics) -> BusMessage | None:
    """The CDR a webhook dead letter carries, as it was read from the cdr topic."""
    try:
        record = m.DlqRecord.model_validate_json(msg.value or b"")
    except ValidationError:
        return None
    if record.source_topic != topics.cdr or not record.reason.startswith(DLQ_REASON_PREFIX):
        return None
    value = (base64.b64decode(record.value) if record.value_encoding == "base64"
             else record.value.encode("utf-8"))
    key = record.key.encode("utf-8") if record.key is not None else None
    return BusMessage(record.source_topic, record.partition, record.offset, key, value)


async def redeliver_dead_letters(
    sender: WebhookSender, bus: Bus, topics: Topics, *, group: str, max_wait: float = 2.0
) -> tuple[int, int]:
    """Send again every webhook dead letter this ``group`` has not taken yet, to the
    campaign's current callback_url (one full retry budget each). Those that fail again
    are dead-lettered again (a later run takes them). Returns (delivered, failed)."""
    sub = await bus.subscribe([topics.dlq], group)
    try:
        batch: list[BusMessage] = []
        while got := await sub.fetch(max_wait=max_wait):
            batch.extend(got)
        todo = [cdr for msg in batch if (cdr := _original(msg, topics)) is not None]
        delivered, failed = sender.delivered, sender.dead_lettered
        settled = await asyncio.gather(*(sender.deliver(cdr) for cdr in todo))
        if all(settled) and batch:
            await sub.commit(batch)
        return sender.delivered - delivered, sender.dead_lettered - failed
    finally:
        await sub.close()


async def redeliver(
    bus: Bus, topics: Topics, secret: str, *, allow: Iterable[str], data_dir: str,
    group: str, retry_for_s: float = 60.0,
) -> tuple[int, int]:
    """The `dialer webhooks redeliver` command: campaigns from the control topic (a view
    of its own under ``data_dir``), then ``redeliver_dead_letters``."""
    from pathlib import Path

    from consumers.reports import CampaignView

    view = CampaignView(bus, topics, Path(data_dir) / "redeliver-campaigns.db")
    await view.start()
    sender = WebhookSender(bus, topics, view, secret, allow=allow, retry_for_s=retry_for_s)
    try:
        async with asyncio.timeout(120):
            await view.ready.wait()
        await sender.start(read=False)
        return await redeliver_dead_letters(sender, bus, topics, group=group)
    finally:
        await sender.stop()
        await view.stop()
