"""Structured JSON logs (orjson) on stderr. Phone numbers are masked before they get here
(engine.phone.mask); secrets are SecretStr and never formatted into messages."""

from __future__ import annotations

import logging
import sys
import time

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
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


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
