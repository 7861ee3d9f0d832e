"""The engine's ``CallControl`` over one or more FreeSWITCH nodes.

Per node: one ``EslBridge``; on every (re)connect it subscribes to only the events a dialer
needs, filtered to this engine's calls (``variable_autocall_engine``) plus job results,
then reconciles: a call this adapter tracks that the switch no longer has ended while we
were away, and gets its one ``CallEnded`` with cause ``LOST_WHILE_DISCONNECTED`` (an
attempt whose outcome is unknown counts as made).

Partitions: every channel also carries ``autocall_partition`` (its partition's tag, set by
the durability layer); ``follow``/``unfollow`` add and remove a filter per tag on every
node, so a call's events reach whichever engine owns its partition now, and a new owner
adopts the calls it restored as live.

Exactly one ``CallEnded`` per originate: from CHANNEL_HANGUP_COMPLETE, or from a failed
BACKGROUND_JOB when no channel was ever created (a refused session), or from
reconciliation. Whichever comes first wins; later ones find no tracked call and are
dropped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import orjson

from adapters.esl import Event, KeepHeaders
from adapters.freeswitch.bridge import EslBridge, Reply
from adapters.freeswitch.dialstring import DialPlan, originate_command
from engine.errors import CallControlError, NotConnected, UnsafeDialValue
from engine.model import CallResult
from engine.ports import CallAnswered, CallDtmf, CallEnded, CallEvent
from engine.records import Originate
from engine.tasks import TaskSet

log = logging.getLogger(__name__)

EVENTS = ("CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB DTMF "
          "CUSTOM avmd::beep")
LOST = "LOST_WHILE_DISCONNECTED"
PARTITION_VARIABLE = "autocall_partition"
FILTER_HEADER = "variable_" + PARTITION_VARIABLE
# Every event header this module reads (``_on_event``, ``_on_job``, ``result_from_hangup``):
# the bridge decodes only these. A header read here and missing from this set would read
# as absent, so tests/freeswitch checks the set against the code.
HEADERS = frozenset({
    "Event-Name", "Event-Subclass", "Unique-ID", "Job-UUID", "DTMF-Digit", "Hangup-Cause",
    "variable_hangup_cause", "variable_hangup_cause_q850", "variable_answer_uepoch",
    "variable_billsec", "variable_duration", "variable_waitsec", "variable_progresssec",
    "variable_start_uepoch", "variable_end_uepoch", "variable_sip_term_status",
    "variable_amd_result", "variable_avmd_detect", "variable_record_name",
    "variable_recording_url", "variable_record_path",
})
# The events of which ``_on_event``/``_on_job`` read only a header or two: those are
# looked up directly instead of scanning every line (a CHANNEL_CREATE carries every
# channel variable too). Each set is part of HEADERS (tests/freeswitch checks it).
BRIEF = {
    "CHANNEL_CREATE": frozenset({"Unique-ID"}),
    "CHANNEL_ANSWER": frozenset({"Unique-ID"}),
    "DTMF": frozenset({"Unique-ID", "DTMF-Digit"}),
    "BACKGROUND_JOB": frozenset({"Job-UUID"}),
}


@dataclass(frozen=True, slots=True)
class NodeConfig:
    name: str
    host: str
    port: int = 8021
    password: str = "ClueCon"


@dataclass(slots=True)
class _Tracked:
    call_uuid: str
    node: str
    sent_at: float = 0.0  # loop time the bgapi went out
    created: bool = False
    answered: bool = False
    amd_machine: bool = False


@dataclass(slots=True)
class _Node:
    config: NodeConfig
    bridge: EslBridge
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _float(value: str | None) -> float:
    try:
        return int(value or 0) / 1_000_000
    except ValueError:
        return 0.0


def result_from_hangup(ev: Event) -> CallResult:
    """CHANNEL_HANGUP_COMPLETE → CallResult (timing variables per esl-protocol.md)."""
    h = ev.headers
    cause = h.get("variable_hangup_cause") or h.get("Hangup-Cause") or "NORMAL_CLEARING"
    answer_us = _float(h.get("variable_answer_uepoch"))
    return CallResult(
        call_uuid=h.get("Unique-ID", ""),
        hangup_cause=cause,
        q850=_int(h.get("variable_hangup_cause_q850")),
        answered=answer_us > 0 or _int(h.get("variable_billsec")) > 0,
        duration=_int(h.get("variable_duration")),
        billsec=_int(h.get("variable_billsec")),
        waitsec=_int(h.get("variable_waitsec")),
        progresssec=_int(h.get("variable_progresssec")),
        start_epoch=_float(h.get("variable_start_uepoch")),
        answer_epoch=answer_us,
        end_epoch=_float(h.get("variable_end_uepoch")),
        sip_term_status=h.get("variable_sip_term_status", ""),
        amd_result=h.get("variable_amd_result", "") or (
            "MACHINE" if h.get("variable_avmd_detect", "").upper() == "TRUE" else ""
        ),
        record_name=h.get("variable_record_name", ""),
        recording_url=h.get("variable_recording_url", "") or h.get("variable_record_path", ""),
    )


class FreeSwitchPool:
    """CallControl for the engine; ``Originate.node`` picks the node."""

    def __init__(
        self,
        nodes: list[NodeConfig],
        *,
        plan: DialPlan | None = None,
        instance: str = "dialer",
        command_timeout: float = 10.0,
        sweep_after: float = 120.0,
    ) -> None:
        self._plan = plan or DialPlan()
        self._instance = instance
        self._timeout = command_timeout
        self._sweep_after = sweep_after
        self._sweeper: asyncio.Task[None] | None = None  # supervised: restarted if it dies
        self._listener: Callable[[CallEvent], None] = lambda _e: None
        self._tracked: dict[str, _Tracked] = {}
        self._by_job: dict[str, str] = {}
        self._nodes: dict[str, _Node] = {}
        self._tags: set[str] = set()  # partitions whose channels' events we receive
        self._tasks = TaskSet("switch")
        for cfg in nodes:
            self._nodes[cfg.name] = _Node(cfg, self._bridge_for(cfg))
        self.on_health: Callable[[str, bool], None] = lambda _n, _ok: None

    def _bridge_for(self, cfg: NodeConfig) -> EslBridge:
        return EslBridge(
            cfg.host, cfg.port, cfg.password,
            on_event=self._on_event,
            on_connected=lambda: self._spawn_setup(cfg.name),
            on_disconnected=lambda: self._on_disconnected(cfg.name),
            name=f"esl-{cfg.name}",
            keep_headers=KeepHeaders(HEADERS, BRIEF),
        )

    def _spawn_setup(self, name: str) -> None:
        self._tasks.spawn(self._after_connect(name), name=f"esl-setup-{name}")

    # ---- lifecycle -----------------------------------------------------------------
    async def start(self, wait: float | None = 10.0) -> None:
        """Connect every node; return once one is ready (or ``wait`` passed). The others
        keep connecting in the background: one FreeSWITCH down must not keep the engine
        from dialing through the rest (readiness: at least one node connected)."""
        for node in self._nodes.values():
            node.bridge.start()
        self._sweeper = self._tasks.supervise("sweeper", self._sweep_forever)
        if not wait:
            return
        waits = [asyncio.ensure_future(n.ready.wait()) for n in self._nodes.values()]
        try:
            await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        for name, node in self._nodes.items():
            if node.ready.is_set():
                continue
            if node.bridge.auth_failed:
                log.error("node %s: ESL authentication failed (wrong password); "
                          "retrying in the background", name)
            else:
                log.warning("node %s: not connected yet; connecting in the background", name)

    def auth_failed(self, node: str) -> bool:
        return self._nodes[node].bridge.auth_failed

    async def close(self, deadline_s: float = 10.0) -> None:
        """Stop every task and connection, within ``deadline_s`` (a bridge thread left
        behind is a daemon: it cannot keep the process alive)."""
        try:
            async with asyncio.timeout(deadline_s):
                await self._tasks.close(deadline_s)
                await asyncio.gather(*(n.bridge.stop() for n in self._nodes.values()))
        except TimeoutError:
            log.warning("switch connections not closed within %.0f s", deadline_s)

    def set_listener(self, listener: Callable[[CallEvent], None]) -> None:
        self._listener = listener

    @property
    def tracked(self) -> int:
        return len(self._tracked)

    def connected(self, node: str) -> bool:
        return self._nodes[node].ready.is_set()

    # ---- CallControl ---------------------------------------------------------------
    def originate(self, request: Originate) -> asyncio.Future[None]:
        """Place one call. Synchronous up to the hand-over: when this returns the command
        is queued for its node's thread (no task and no loop turn in between, which is
        most of a slot's refill time); the future settles with the bgapi reply. It fails
        (``NotConnected``, ``UnsafeDialValue``, ``CallControlError`` for a refusal) when
        the switch never took the call; after a lost reply the call stays tracked."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            reply = self._send_originate(request)
        except (CallControlError, UnsafeDialValue) as err:
            done.set_exception(err)
            return done
        reply.add_done_callback(functools.partial(self._originate_replied, request, done))
        return done

    def _send_originate(self, request: Originate) -> asyncio.Future[Reply]:
        node = self._nodes.get(request.node) or next(iter(self._nodes.values()))
        command = originate_command(
            call_uuid=request.call_uuid,
            destination=request.destination,
            caller_id=request.caller_id,
            timeout_s=request.timeout_s,
            variables=request.variables,
            plan=self._plan,
        )
        if not node.ready.is_set():
            raise NotConnected(f"node {node.config.name} is down")
        job_uuid = request.call_uuid  # one job per call: the call uuid names the job too
        self._tracked[request.call_uuid] = _Tracked(
            request.call_uuid, node.config.name, asyncio.get_running_loop().time()
        )
        self._by_job[job_uuid] = request.call_uuid
        try:
            return node.bridge.submit_nowait(
                f"bgapi {command}\nJob-UUID: {job_uuid}", self._timeout, request.not_after
            )
        except NotConnected:
            self._forget(request.call_uuid)  # never reached the switch
            raise

    def _originate_replied(self, request: Originate, done: asyncio.Future[None],
                           reply: asyncio.Future[Reply]) -> None:
        if done.done():
            return
        if reply.cancelled():
            done.cancel()
            return
        err = reply.exception()
        if isinstance(err, NotConnected):
            # Never reached the switch: the caller ends the leg itself.
            self._forget(request.call_uuid)
            done.set_exception(err)
        elif isinstance(err, CallControlError):
            # Sent, no reply in time. Measured cause (benchmarks/RESULTS.md, "10,000 concurrent
            # calls"): a process stalled past the command timeout (SIGSTOP, a starved host),
            # whose timers fire before the gevent thread reads the replies waiting in the
            # socket. The outcome is unknown, so the call stays tracked: its channel's events
            # settle it, or the sweep ends it when the switch never created one.
            log.warning("originate reply lost on node %s (%s); the call stays tracked until "
                        "its events or the sweep settle it", request.node, err,
                        extra={"campaign": request.campaign_uuid, "lead": request.lead_uuid,
                               "call": request.call_uuid})
            done.set_result(None)
        elif err is not None:
            done.set_exception(err)
        elif not reply.result().text.startswith("+OK"):
            self._forget(request.call_uuid)
            done.set_exception(CallControlError(f"bgapi refused: {reply.result().text[:80]}"))
        else:
            done.set_result(None)

    async def hangup(self, call_uuid: str, cause: str) -> None:
        tracked = self._tracked.get(call_uuid)
        if tracked is None:
            return
        node = self._nodes[tracked.node]
        await node.bridge.submit(f"api uuid_kill {call_uuid} {cause}", self._timeout)

    # ---- CallOwnership -------------------------------------------------------------
    async def follow(self, tag: str, calls: Mapping[str, str]) -> set[str]:
        """Receive ``tag``'s events, track ``calls`` (call_uuid → node) and return those no
        switch has any more. A node that is down is asked when it is back (its reconnect
        reconciles every tracked call of it); a node no longer configured has none."""
        now = asyncio.get_running_loop().time()
        for call_uuid, node_name in calls.items():
            self._tracked[call_uuid] = _Tracked(call_uuid, node_name, now, created=True)
        self._tags.add(tag)
        gone = {c for c, n in calls.items() if n not in self._nodes}
        for name, node in self._nodes.items():
            if not node.ready.is_set():
                continue
            try:
                await node.bridge.submit(f"filter {FILTER_HEADER} {tag}", self._timeout)
                mine = [c for c, n in calls.items() if n == name]
                if mine:
                    reply = await node.bridge.submit("api show channels as json", self._timeout)
                    live = _channel_uuids(reply.text)
                    gone.update(c for c in mine if c not in live)
            except CallControlError as err:
                # The connection is going down: its reconnect subscribes and reconciles.
                log.warning("node %s: follow %s deferred: %s", name, tag, err)
        for call_uuid in gone:
            self._forget(call_uuid)
        return gone

    def unfollow(self, tag: str, calls: Sequence[str]) -> None:
        self._tags.discard(tag)
        for call_uuid in calls:
            self._forget(call_uuid)
        for node in self._nodes.values():
            if node.ready.is_set():
                self._tasks.spawn(self._unfilter(node, tag))

    async def _unfilter(self, node: _Node, tag: str) -> None:
        try:
            await node.bridge.submit(f"filter delete {FILTER_HEADER} {tag}", self._timeout)
        except CallControlError as err:
            log.warning("node %s: filter delete failed: %s", node.config.name, err)

    async def api(self, node: str, command: str) -> str:
        reply = await self._nodes[node].bridge.submit(f"api {command}", self._timeout)
        return reply.text

    # ---- events (asyncio thread) ---------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        name = ev.name
        if name == "BACKGROUND_JOB":
            self._on_job(ev)
            return
        call_uuid = ev.headers.get("Unique-ID", "")
        tracked = self._tracked.get(call_uuid)
        if tracked is None:
            return
        if name == "CHANNEL_CREATE":
            tracked.created = True
        elif name == "CHANNEL_ANSWER":
            if not tracked.answered:
                tracked.answered = True
                self._listener(CallAnswered(call_uuid))
        elif name == "DTMF":
            digit = ev.headers.get("DTMF-Digit", "")
            if digit:
                self._listener(CallDtmf(call_uuid, digit))
        elif name == "CUSTOM" and ev.subclass == "avmd::beep":
            tracked.amd_machine = True
        elif name == "CHANNEL_HANGUP_COMPLETE":
            result = result_from_hangup(ev)
            if tracked.amd_machine and not result.amd_result:
                result = replace(result, amd_result="MACHINE")
            self._end(result)

    def _on_job(self, ev: Event) -> None:
        call_uuid = self._by_job.pop(ev.headers.get("Job-UUID", ""), None)
        if call_uuid is None:
            return
        tracked = self._tracked.get(call_uuid)
        body = (ev.body or "").strip()
        if tracked is None or body.startswith("+OK") or tracked.created:
            return  # success, or a created channel whose HANGUP_COMPLETE will settle it
        cause = body.removeprefix("-ERR").strip().split(" ")[0] or "NORMAL_TEMPORARY_FAILURE"
        self._end(CallResult(call_uuid=call_uuid, hangup_cause=cause, refused=True))

    def _end(self, result: CallResult) -> None:
        if self._forget(result.call_uuid):
            self._listener(CallEnded(result))

    def _forget(self, call_uuid: str) -> bool:
        self._by_job.pop(call_uuid, None)
        return self._tracked.pop(call_uuid, None) is not None

    # ---- connection lifecycle ------------------------------------------------------
    async def _after_connect(self, name: str) -> None:
        node = self._nodes[name]
        bridge = node.bridge
        try:
            await bridge.submit(f"event plain {EVENTS}", self._timeout)
            await bridge.submit(f"filter variable_autocall_engine {self._instance}",
                                self._timeout)
            # Job results and DTMF carry no channel variables: let them through by name
            # (matched to our calls by Job-UUID / Unique-ID), as well as avmd's beep.
            for header, value in (("Event-Name", "BACKGROUND_JOB"), ("Event-Name", "DTMF"),
                                  ("Event-Subclass", "avmd::beep")):
                await bridge.submit(f"filter {header} {value}", self._timeout)
            for tag in sorted(self._tags):
                await bridge.submit(f"filter {FILTER_HEADER} {tag}", self._timeout)
            await self._reconcile(name)
        except CallControlError as err:
            log.warning("node %s: setup after connect failed: %s", name, err)
            return
        node.ready.set()
        self.on_health(name, True)

    async def _reconcile(self, name: str) -> None:
        """Calls we track on this node that the switch no longer has are over."""
        reply = await self._nodes[name].bridge.submit("api show channels as json", self._timeout)
        live = _channel_uuids(reply.text)
        for call_uuid, tracked in list(self._tracked.items()):
            if tracked.node == name and call_uuid not in live:
                self._end(CallResult(call_uuid=call_uuid, hangup_cause=LOST, answered=False))

    async def _sweep_forever(self) -> None:
        interval = max(1.0, self._sweep_after / 4)
        while True:
            await asyncio.sleep(interval)  # a periodic audit, not a wait for a condition
            await self.sweep()

    async def sweep(self) -> None:
        """End calls whose channel never showed up: the bgapi reply or the job's events
        were lost while the connection stayed up. Only calls older than ``sweep_after``
        without a CHANNEL_CREATE are asked about, so a call being set up is never touched."""
        cutoff = asyncio.get_running_loop().time() - self._sweep_after
        for name, node in self._nodes.items():
            stale = [t.call_uuid for t in self._tracked.values()
                     if t.node == name and not t.created and t.sent_at <= cutoff]
            if not stale or not node.ready.is_set():
                continue
            try:
                reply = await node.bridge.submit("api show channels as json", self._timeout)
                live = _channel_uuids(reply.text)
            except CallControlError as err:
                log.warning("node %s: sweep skipped: %s", name, err)
                continue
            for call_uuid in stale:
                if call_uuid not in live:
                    self._end(CallResult(call_uuid=call_uuid, hangup_cause=LOST))

    def _on_disconnected(self, name: str) -> None:
        self._nodes[name].ready.clear()
        self.on_health(name, False)


def _channel_uuids(text: str) -> set[str]:
    """uuids from ``show channels as json`` ({"row_count": N, "rows": [{"uuid": …}]}).

    An unreadable answer raises: reconciling against it would end every tracked call.
    """
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise CallControlError(f"show channels: unreadable answer {text[:60]!r}") from err
    if not isinstance(data, dict):
        raise CallControlError("show channels: not an object")
    rows = data.get("rows") or []
    return {str(r.get("uuid", "")) for r in rows if isinstance(r, dict)}
