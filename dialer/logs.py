"""Structured JSON logs (orjson) on stderr, one record per line. Phone numbers are masked
before they get here (engine.phone.mask); secrets are SecretStr and never formatted into
messages.

Fields. A record carries ``campaign``, ``lead`` and ``call`` (the uuids) where they are
known, from two sources: ``extra={"campaign": …}`` on the call (what engine/ and
consumers/ do: they know the ids and need nothing from here), and ``log_fields(…)``
(engine/logfields.py), a context manager that binds them for everything logged inside it,
in the same task and in the tasks it spawns (a contextvar: asyncio copies the context into
new tasks).

Errors. An exception is one record: ``exc_type``, ``exc`` (the message) and ``traceback``
(the formatted traceback as one string, newlines escaped by JSON), never lines of text on
stderr: ``configure_logging`` routes uncaught exceptions (main thread, other threads),
gevent's hub errors (the greenswitch thread) and warnings through the same formatter.

Volume. ``RateLimit`` lets a few records of each kind through per window and counts the
rest (a Kafka client logs every retry during an outage).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import TracebackType
from typing import Any

import orjson

from engine.logfields import FIELDS, bound


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(bound())
        for name in FIELDS:
            value = getattr(record, name, None)
            if value:
                doc[name] = str(value)
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            doc["exc_type"] = type(err).__name__
            doc["exc"] = str(err)[:2000]
            doc["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["traceback"] = record.exc_text
        if record.stack_info:
            doc["stack"] = record.stack_info
        return orjson.dumps(doc).decode()


class RateLimit(logging.Filter):
    """At most ``burst`` records per message template (logger + format string) every
    ``window`` seconds; the next record after a window says how many were suppressed.

    A Kafka client retries every few milliseconds while the broker is down, and logs each
    retry: without this an outage writes thousands of lines a second."""

    def __init__(self, burst: int = 5, window: float = 10.0) -> None:
        super().__init__()
        self._burst = burst
        self._window = window
        self._seen: dict[tuple[str, str], list[float]] = {}  # [window start, count, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        slot = self._seen.get(key)
        if slot is None or now - slot[0] >= self._window:
            dropped = int(slot[2]) if slot is not None else 0
            self._seen[key] = [now, 1, 0]
            if len(self._seen) > 10_000:  # templates are few; never grow without bound
                self._seen = {key: self._seen[key]}
            if dropped:
                record.msg = f"{record.msg} ({dropped} like this suppressed)"
            return True
        slot[1] += 1
        if slot[1] <= self._burst:
            return True
        slot[2] += 1
        return False


def _uncaught(kind: type[BaseException], err: BaseException,
              tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, err, tb)
        return
    logging.getLogger("dialer").critical("uncaught %s", kind.__name__,
                                         exc_info=(kind, err, tb))


def _thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("dialer").error("uncaught %s in thread %s", args.exc_type.__name__,
                                      name, exc_info=(args.exc_type, args.exc_value,
                                                      args.exc_traceback))


def _gevent_errors() -> None:
    """gevent prints a greenlet's uncaught error to ``hub.exception_stream`` (stderr) as
    lines of text; log it as one record instead. Only when gevent is already in use (the
    greenswitch thread imports it); this never imports it."""
    gevent_hub = sys.modules.get("gevent.hub")
    if gevent_hub is None:
        return
    hub_class: Any = gevent_hub.Hub

    def print_exception(self: Any, context: Any, kind: Any, value: Any, tb: Any) -> None:
        logging.getLogger("dialer.gevent").error(
            "greenlet %s failed", type(context).__name__,
            exc_info=(kind, value, tb) if value is not None else None)

    hub_class.print_exception = print_exception


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _thread_uncaught
    _gevent_errors()
