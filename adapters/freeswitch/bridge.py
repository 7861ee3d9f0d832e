"""greenswitch in its own OS thread with its own gevent hub, bridged to asyncio.

No monkey-patching: gevent runs only in this thread, which reads the socket. asyncio
writes its commands to the socket itself (``_Inbound.write``: non-blocking, ordered with
their reply slots under one lock); only a write the socket did not take whole, and stop,
go to the hub through a thread-safe queue and an ``async_`` watcher (the one gevent
primitive that may be poked from another thread). Replies and events come back to the
asyncio loop in the order they were read, through one ``call_soon_threadsafe`` per burst.
Nothing here is ever called from the asyncio thread except
``submit``/``submit_nowait``/``start``/``stop``.

What greenswitch 0.0.19 lacks and this module adds (esl-protocol.md):
- event bodies parsed by the project's codec (greenswitch glues BACKGROUND_JOB's body onto
  a header and mangles values holding encoded CR/LF), decoding only the headers the owner
  names (``keep_headers``): greenswitch URL-decodes the whole body of every event before
  splitting it, which is most of its per-event cost;
- writes under a lock, so concurrent writers (either thread) never interleave command
  bytes and replies pair with commands in write order;
- every pending command fails when the connection drops (greenswitch waits forever);
- a watchdog on connect and authentication;
- reconnection with capped exponential backoff, a new InboundESL each time, and a
  callback on every (re)connect so the owner can resubscribe and reconcile.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import gevent.lock
import greenswitch

from adapters.esl import Event, KeepHeaders, parse_plain_event
from engine.errors import CommandTimeout, NotConnected

log = logging.getLogger(__name__)


_FLUSH = "flush"


class IntentExpired(NotConnected):
    """An originate whose durable intent expired before it could be written."""


class _Inbound(greenswitch.InboundESL):  # type: ignore[misc]
    """greenswitch's client with correct event parsing, ordered writes from either thread
    and failure on drop.

    Writes: a command is written by the thread that issues it, the asyncio thread
    included, straight to the socket (a duplicate of its descriptor, non-blocking), under
    one lock that also queues the command's reply slot, so replies pair with commands in
    write order. Handing each command to the bridge thread first cost a thread switch
    that waits for the GIL until the engine's loop goes idle: most of a slot's refill
    time. What the socket does not take at once is kept, in order, and written by
    ``flush`` in the bridge thread (cooperatively, as greenswitch writes).
    """

    _commands_sent: list[Any]

    def __init__(self, host: str, port: int, password: str, timeout: float,
                 on_event: Callable[[Event], None],
                 keep: frozenset[str] | KeepHeaders | None = None) -> None:
        super().__init__(host, port, password, timeout=timeout)
        self._on_event = on_event
        self._keep = keep
        self._write_lock = threading.Lock()  # held only for non-blocking work
        self._wfd = -1  # our duplicate of the socket's descriptor (-1: not open yet)
        self._unsent = bytearray()  # written by nobody yet, in order
        self._flushing = False
        self._closed = False

    def handle_event(self, event: Any) -> None:
        ctype = event.headers.get("Content-Type")
        if ctype == "text/event-plain":
            length = int(event.headers["Content-Length"])
            raw = self.sock_file.read(length)  # a buffered read: all of it, or EOF
            if len(raw) == length:  # a short read is a connection dying mid-event
                self._on_event(parse_plain_event(raw, self._keep))
            return
        super().handle_event(event)

    def open_writer(self) -> None:
        """Bridge thread, once connected: from now on any thread may write."""
        with self._write_lock:
            if not self._closed:
                self._wfd = os.dup(self.sock.fileno())

    def write(self, data: bytes, reply_slot: Any) -> bool:
        """Queue ``reply_slot`` (``set``/``set_exception``, called in the bridge thread)
        for the reply and write ``data``; any thread. True when some of it waits for
        ``flush`` in the bridge thread. OSError when the connection is gone."""
        with self._write_lock:
            if self._closed:
                raise OSError(errno.ENOTCONN, "connection closed")
            self._commands_sent.append(reply_slot)
            if self._flushing or self._unsent or self._wfd < 0:
                self._unsent += data
                return not self._flushing
            try:
                written = os.write(self._wfd, data)
            except BlockingIOError:
                written = 0
            except OSError:
                if self._commands_sent and self._commands_sent[-1] is reply_slot:
                    self._commands_sent.pop()  # never sent: no reply will come
                raise
            if written < len(data):
                self._unsent += data[written:]
                return True
            return False

    def flush(self) -> None:
        """Bridge thread: write what waits, in order, until nothing does."""
        with self._write_lock:
            if self._flushing:
                return
            self._flushing = True
        try:
            while True:
                with self._write_lock:
                    chunk = bytes(self._unsent)
                    self._unsent.clear()
                    if not chunk or self._closed:
                        self._flushing = False
                        return
                self.sock.sendall(chunk)
        except OSError:
            # The connection is dying: end the receive loop so that fail_pending fails
            # every command still waiting for its reply.
            with self._write_lock:
                self._flushing = False
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def send(self, data: str) -> Any:
        if not self.connected:
            raise greenswitch.esl.NotConnectedError()
        result = gevent.event.AsyncResult()
        try:
            if self.write((data + "\n\n").encode("utf-8"), result):
                self.flush()
        except OSError as err:
            raise greenswitch.esl.NotConnectedError(str(err)) from err
        return result.get()

    def fail_pending(self) -> None:
        with self._write_lock:
            self._closed = True
            pending, self._commands_sent = self._commands_sent, []
            self._unsent.clear()
            if self._wfd >= 0:
                os.close(self._wfd)
                self._wfd = -1
        for result in pending:
            result.set_exception(greenswitch.esl.NotConnectedError("connection lost"))


class _Posted:
    """The reply slot of a command written from the asyncio thread: its reply (or the
    connection's loss) is handed back to the loop to settle the command's future."""

    __slots__ = ("_bridge", "_future")

    def __init__(self, bridge: EslBridge, future: asyncio.Future[Reply]) -> None:
        self._bridge = bridge
        self._future = future

    def set(self, response: Any) -> None:
        headers = {str(k): str(v) for k, v in response.headers.items()}
        text = getattr(response, "data", None) or headers.get("Reply-Text", "")
        self._bridge._to_loop(_settle, self._future, Reply(str(text), headers), None)

    def set_exception(self, err: BaseException) -> None:
        self._bridge._to_loop(_settle, self._future, None,
                              NotConnected(f"{self._bridge.name}: {err}"))


@dataclass(frozen=True, slots=True)
class Reply:
    """A command's answer: ``text`` is Reply-Text (command/reply) or the api body."""

    text: str
    headers: dict[str, str]


class EslBridge:
    """One ESL connection to one FreeSWITCH node, kept alive by its own thread."""

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        on_event: Callable[[Event], None],
        on_connected: Callable[[], None],
        on_disconnected: Callable[[], None],
        connect_timeout: float = 5.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 5.0,
        name: str = "esl",
        keep_headers: frozenset[str] | KeepHeaders | None = None,
    ) -> None:
        self.host, self.port, self._password = host, port, password
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._connect_timeout = connect_timeout
        self._backoff = (backoff_initial, backoff_max)
        self._name = name
        # Event headers the owner reads; the others are never decoded (None: all).
        self._keep = (keep_headers if keep_headers is None or isinstance(keep_headers, KeepHeaders)
                      else keep_headers | frozenset({"Content-Length"}))
        self._loop: asyncio.AbstractEventLoop | None = None
        # To the bridge thread: _FLUSH (finish a write), or None (stop).
        self._inbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._wakeup: Any = None
        self._poked = False  # a wake-up is on its way to the hub (see _poke)
        # Calls from the bridge thread to the asyncio loop, in order (see _to_loop).
        self._outbox: collections.deque[tuple[Callable[..., object], tuple[object, ...]]] = (
            collections.deque())
        self._outbox_posted = False
        self._wakeup_ready = threading.Event()
        self._stopping: Any = None  # a gevent Event, made in the bridge thread
        self._thread: threading.Thread | None = None
        self._running = False
        self._conn: _Inbound | None = None
        self.connected = False
        self.auth_failed = False  # the last attempt was refused for its password
        self.connects = 0

    @property
    def name(self) -> str:
        return self._name

    # ---- asyncio side ------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._thread = threading.Thread(target=self._thread_main, name=self._name, daemon=True)
        self._thread.start()
        self._wakeup_ready.wait(10)

    async def stop(self) -> None:
        self._running = False
        self._inbox.put(None)
        self._poke()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)

    async def submit(self, command: str, wait_s: float = 10.0, not_after: float = 0.0) -> Reply:
        """Send one command (``api …``/``bgapi …``, optional extra header lines); with
        ``not_after`` (monotonic), one that could not be written before then is not sent
        (``IntentExpired``): the check is made right before the socket write."""
        return await self.submit_nowait(command, wait_s, not_after)

    def submit_nowait(self, command: str, wait_s: float = 10.0,
                      not_after: float = 0.0) -> asyncio.Future[Reply]:
        """``submit`` without a coroutine: the command is on its way to the bridge thread
        when this returns (no task, no loop turn first); the future gets the reply, or
        ``CommandTimeout`` after ``wait_s``. Raises ``NotConnected`` at once when down."""
        conn = self._conn
        if conn is None or not self.connected:
            raise NotConnected(f"{self._name}: not connected")
        if not_after and time.monotonic() > not_after:
            # The process was paused (or starved) between the intent's commit and here:
            # its partition may be another engine's by now. Never sent.
            raise IntentExpired(f"{self._name}: intent expired")
        loop = self._loop
        assert loop is not None
        future: asyncio.Future[Reply] = loop.create_future()
        try:
            wait_for_flush = conn.write((command + "\n\n").encode("utf-8"),
                                        _Posted(self, future))
        except OSError as err:
            raise NotConnected(f"{self._name}: {err}") from err
        if wait_for_flush:
            self._inbox.put(_FLUSH)
            self._poke()
        timer = loop.call_later(wait_s, _expire, future, self._name, wait_s)
        future.add_done_callback(lambda _f: timer.cancel())
        return future

    def _poke(self) -> None:
        # One wake-up per drain, not per command: a burst of originates in one engine step
        # costs one eventfd write. Safe without a lock: the hub clears the flag *before*
        # it drains, so a command put while the flag still reads True is drained by that
        # pending drain, and one put after the clear sees False and pokes again.
        if self._wakeup is not None and not self._poked:
            self._poked = True
            self._wakeup.send()

    def _to_loop(self, fn: Callable[..., object], *args: object) -> None:
        """Hand a call to the asyncio loop (from the bridge thread): events and replies
        keep the order they were read in, and a burst of them costs one wake-up of the
        loop (``call_soon_threadsafe``), not one each."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        self._outbox.append((fn, args))
        if not self._outbox_posted:
            self._outbox_posted = True
            loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        # The flag is cleared before the drain (as in _poke): anything appended after the
        # clear either is drained here or posts a new _deliver; none is left behind.
        self._outbox_posted = False
        outbox = self._outbox
        # Only what is there now: the rest posted its own _deliver, so a bridge thread
        # that keeps reading never keeps the loop from its other work.
        for _ in range(len(outbox)):
            fn, args = outbox.popleft()
            try:
                fn(*args)
            except Exception:  # one bad handler must not drop the calls queued after it
                log.exception("%s: handler failed", self._name)

    # ---- gevent side (this thread only) ------------------------------------------------
    def _thread_main(self) -> None:
        self._stopping = gevent.event.Event()
        hub = gevent.get_hub()
        self._wakeup = hub.loop.async_()
        self._wakeup.start(self._drain_inbox)
        self._wakeup_ready.set()
        supervisor = gevent.spawn(self._supervise)
        supervisor.join()
        self._wakeup.close()

    def _supervise(self) -> None:
        delay = self._backoff[0]
        while self._running:
            conn = _Inbound(self.host, self.port, self._password, self._connect_timeout,
                            on_event=lambda ev: self._to_loop(self._on_event, ev),
                            keep=self._keep)
            self._conn = conn
            try:
                with gevent.Timeout(self._connect_timeout, NotConnected("connect watchdog")):
                    conn.connect()
            except (OSError, NotConnected, ValueError, greenswitch.esl.NotConnectedError) as err:
                # greenswitch says a refused "auth" with ValueError("Invalid password."):
                # that is a configuration error, said as such (and retried: the switch's
                # password may be the one that changes).
                self.auth_failed = isinstance(err, ValueError) and "password" in str(err)
                if self.auth_failed:
                    log.error("%s: ESL authentication failed at %s:%d: the switch refused "
                              "the password (DIALER_FS_NODES); retry in %.2fs", self._name,
                              self.host, self.port, delay)
                else:
                    log.warning("%s: connect failed (%s); retry in %.2fs", self._name,
                                type(err).__name__, delay)
                self._close_quietly(conn)
                self._conn = None
                self._stopping.wait(delay)  # backoff, cut short by stop()
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            self.auth_failed = False
            conn.open_writer()
            self.connected = True
            self.connects += 1
            self._to_loop(self._on_connected)
            conn._receive_events_greenlet.join()
            self.connected = False
            self._conn = None
            # The owner hears of the loss before its commands fail: a failed originate
            # must not be retried on this node as if it were still up.
            self._to_loop(self._on_disconnected)
            conn.fail_pending()
            self._close_quietly(conn)

    @staticmethod
    def _close_quietly(conn: _Inbound) -> None:
        """Shut the socket down first: that wakes a greenlet blocked reading it (a bare
        close() from the hub's callback does not), so the receive loop ends at once."""
        conn._run = False
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _drain_inbox(self) -> None:
        self._poked = False
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            conn = self._conn
            if item is None:
                self._stopping.set()
                if conn is not None:
                    gevent.spawn(self._close_quietly, conn)
            elif conn is not None:  # _FLUSH: a write the socket did not take whole
                gevent.spawn(conn.flush)


def _expire(future: asyncio.Future[Reply], name: str, wait_s: float) -> None:
    if not future.done():
        future.set_exception(CommandTimeout(f"{name}: no reply in {wait_s}s"))


def _settle(future: asyncio.Future[Reply], reply: Reply | None, err: Exception | None) -> None:
    if future.done():
        return
    if err is not None:
        future.set_exception(err)
    else:
        assert reply is not None
        future.set_result(reply)
