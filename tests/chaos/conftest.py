"""Chaos suite plumbing: the ``chaos`` marker on every test here, a per-test time limit
that grows with ``CHAOS_LEADS``, and a dedicated broker for the tests that stop it or need
retention checked every second (the session broker is shared by every other test)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import Size
from tests.kafka_broker import KafkaBroker

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    limit = int(180 + 4 * Size().expected_seconds)
    for item in items:
        if Path(str(item.fspath)).resolve().parent == HERE:
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.kafka)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(limit))


@pytest.fixture
def size() -> Size:
    return Size()


@pytest.fixture
def chaos_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a run keeps its call log and process logs: `tmp_path`, or
    `$CHAOS_ARTIFACTS/<test name>` to keep them (pytest prunes old tmp dirs)."""
    keep = os.environ.get("CHAOS_ARTIFACTS", "").strip()
    if not keep:
        return tmp_path
    path = Path(keep) / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def own_broker() -> Iterator[KafkaBroker]:
    """A broker only this module's tests use: they stop and restart it, and retention is
    enforced every second (the broker default checks every 5 minutes)."""
    if os.environ.get("DIALER_TEST_KAFKA_BOOTSTRAP"):
        pytest.skip("an external broker cannot be stopped by the test")
    broker = KafkaBroker(extra_properties={
        "log.retention.check.interval.ms": "1000",
        "log.initial.task.delay.ms": "0",
        "log.cleaner.backoff.ms": "1000",
    })
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
