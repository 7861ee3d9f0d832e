"""Topic layout on the broker: creation with the deployment's durability settings, and the
start-up check that the tables (control, dnc, lead-state) cannot expire.

Tables are compacted topics: compaction keeps the latest record of every key forever and a
tombstone (a null value) deletes a key. A table on a topic with ``cleanup.policy=delete``
(or ``compact,delete`` with a finite retention) silently loses campaigns, DNC entries and
lead state once the retention passes, so a process refuses to run on one: that failure is
loud at start instead of silent a week later.

Co-partitioning: control, dnc, leads and lead-state must have the same partition count,
the one the writers compute partitions with (``DIALER_KAFKA_PARTITIONS``, see
``engine.partitioning``); the check refuses a table or the leads topic that differs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from engine.errors import DialerError

log = logging.getLogger(__name__)

UNLIMITED = "-1"


class UnsafeTopic(DialerError):
    """A table topic would expire its records, or is not co-partitioned with the leads."""


class TopicCreationFailed(DialerError):
    """The broker refused to create a topic (replication factor, policy, authorisation)."""


@dataclass(frozen=True, slots=True)
class TopicLayout:
    """How topics are created. ``tables`` are created compacted; ``table_configs`` adds
    topic configs to them (tests use a small segment.ms so the log cleaner runs soon)."""

    partitions: int = 3
    replication_factor: int = 1
    min_insync_replicas: int = 1
    tables: frozenset[str] = frozenset()
    # Topics that must have exactly ``partitions`` partitions (checked with the tables).
    copartitioned: frozenset[str] = frozenset()
    table_configs: Mapping[str, str] = field(default_factory=dict)

    def new_topic(self, name: str) -> NewTopic:
        configs = {"min.insync.replicas": str(self.min_insync_replicas)}
        if name in self.tables:
            configs |= {"cleanup.policy": "compact", **self.table_configs}
        return NewTopic(name, self.partitions, self.replication_factor, topic_configs=configs)


async def ensure_topics(admin: AIOKafkaAdminClient, names: Sequence[str],
                        layout: TopicLayout) -> None:
    """Create the missing topics of ``names``; existing ones are left as they are."""
    existing = set(await admin.list_topics())
    missing = [n for n in names if n not in existing]
    if not missing:
        return
    try:
        response = await admin.create_topics([layout.new_topic(n) for n in missing])
    except TopicAlreadyExistsError:
        log.debug("topics created concurrently")
        return
    failed = [f"{e['topic']}: {for_code(int(e['error_code'])).__name__} "
              f"{e.get('error_message') or ''}"
              for e in response.to_object()["topic_errors"]
              if int(e["error_code"]) not in (0, TopicAlreadyExistsError.errno)]
    if failed:  # e.g. a replication factor above the number of brokers
        raise TopicCreationFailed("cannot create Kafka topics: " + "; ".join(failed))


def expiry_reason(configs: Mapping[str, str]) -> str | None:
    """Why a topic with these configs would lose a key's latest record; None if it keeps it."""
    policy = {p.strip() for p in configs.get("cleanup.policy", "delete").split(",")}
    if "compact" not in policy:
        return f"cleanup.policy={configs.get('cleanup.policy', 'delete')} (not compacted)"
    if "delete" in policy:
        for bound in ("retention.ms", "retention.bytes"):
            if configs.get(bound, UNLIMITED) != UNLIMITED:
                return f"cleanup.policy=compact,delete with {bound}={configs[bound]}"
    return None


async def check_tables(admin: AIOKafkaAdminClient, layout: TopicLayout) -> None:
    """Refuse (``UnsafeTopic``, one line: the CLI logs it and exits) a table that would
    expire, or a table or co-partitioned topic whose partition count is not
    ``layout.partitions``."""
    tables = sorted(layout.tables)
    problems: list[str] = []
    if tables:
        for name, configs in (await describe_topic_configs(admin, tables)).items():
            reason = expiry_reason(configs)
            if reason is not None:
                problems.append(f"{name}: {reason}")
    names = sorted(layout.tables | layout.copartitioned)
    for topic in await admin.describe_topics(names):
        count = len(topic.get("partitions", ()))
        if int(topic["error_code"]) == 0 and count != layout.partitions:
            problems.append(
                f"{topic['topic']}: {count} partitions, DIALER_KAFKA_PARTITIONS={layout.partitions}"
            )
    if problems:
        raise UnsafeTopic(
            "refusing to run on Kafka topics that would lose state: " + "; ".join(problems)
            + " (tables must be cleanup.policy=compact with no retention limit, and "
            "co-partitioned; fix the topic configs or DIALER_KAFKA_PARTITIONS)")


async def describe_topic_configs(
    admin: AIOKafkaAdminClient, names: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Effective configs (defaults included) of ``names`` that exist."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in _resources(response):
            error_code, _message, _type, name, entries = resource[:5]
            if int(error_code) != 0:
                continue  # unknown topic: nothing to check yet
            out[str(name)] = {str(e[0]): str(e[1]) for e in entries if e[1] is not None}
    return out


def _resources(response: Any) -> list[Any]:
    resources: list[Any] = response.resources
    return resources
