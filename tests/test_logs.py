"""Logs during an outage: a Kafka client logs every retry; the handler lets a few records
of each kind through per window and says how many it suppressed."""

from __future__ import annotations

import io
import logging

import orjson

from dialer.logs import JsonFormatter, RateLimit


def test_a_retry_storm_is_cut_to_a_few_lines_and_the_suppressed_are_counted() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    limit = RateLimit(burst=3, window=3600.0)
    handler.addFilter(limit)
    log = logging.getLogger("test.storm")
    log.addHandler(handler)
    log.propagate = False
    try:
        for i in range(4000):
            log.warning("Got error produce response on %s, retrying", f"p{i % 3}")
        log.warning("another message")
        assert len(out.getvalue().splitlines()) == 4
        # A new window lets the kind through again, with the count of what was dropped.
        for slot in limit._seen.values():
            slot[0] -= 3600.0
        log.warning("Got error produce response on %s, retrying", "p0")
    finally:
        log.removeHandler(handler)
    lines = [orjson.loads(line)["msg"] for line in out.getvalue().splitlines()]
    assert len(lines) == 5
    assert lines[-1].endswith("(3997 like this suppressed)")
