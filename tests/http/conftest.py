from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.ports import Topics
from tests.http.rig import Stack, kafka_bus, memory_stack, stack


@pytest.fixture
async def kstack(
    kafka_bootstrap: str, kafka_topic_prefix: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    """The gateway on the real Kafka broker (topics under a per-test prefix)."""
    topics = Topics(kafka_topic_prefix)
    async with stack(kafka_bus(kafka_bootstrap, topics), topics, tmp_path) as s:
        yield s


@pytest.fixture
async def mstack(tmp_path: Path) -> AsyncIterator[Stack]:
    """The gateway on the in-memory bus (embedded mode)."""
    async with memory_stack(Topics("t."), tmp_path) as s:
        yield s
