"""Broker-side helpers for the chaos suite: topic configs and log start offsets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

# DescribeConfigs config_source: a value set on the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1


async def topic_configs(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    """The configs set on `topic` itself (not broker defaults)."""
    (response,) = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)])
    (resource,) = response.to_object()["resources"]
    out: dict[str, str] = {}
    for entry in resource["config_entries"]:
        source = entry.get("config_source")
        is_default = entry.get("is_default")
        own = source == _DYNAMIC_TOPIC_CONFIG if source is not None else is_default is False
        if own and entry.get("config_value") is not None:
            out[str(entry["config_names"])] = str(entry["config_value"])
    return out


async def set_topic_configs(bootstrap: str, topics: Sequence[str],
                            configs: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Add `configs` to each topic, keeping what is set on it (AlterConfigs replaces the
    whole set: without the merge a compacted topic would fall back to delete)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        after: dict[str, dict[str, str]] = {}
        for topic in topics:
            merged = {**await topic_configs(admin, topic), **configs}
            (response,) = await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs=merged)])
            for res in response.to_object()["resources"]:
                assert res["error_code"] == 0, f"alter {topic}: {res}"
            after[topic] = await topic_configs(admin, topic)
        return after
    finally:
        await admin.close()


async def create_topic(bootstrap: str, topic: str, configs: Mapping[str, str]) -> None:
    from tests.kafka_broker import create_topics

    await create_topics(bootstrap, [topic], partitions=1, configs=configs)


async def log_extent(bootstrap: str, topics: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per topic: (records deleted from the head, records still readable) over partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    tps = [TopicPartition(str(t["topic"]), int(p["partition"]))
           for t in described if t["error_code"] == 0 for p in t["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        first = await consumer.beginning_offsets(tps)
        last = await consumer.end_offsets(tps)
        out: dict[str, tuple[int, int]] = {t: (0, 0) for t in topics}
        for tp in tps:
            gone, kept = out[tp.topic]
            out[tp.topic] = (gone + first[tp], kept + last[tp] - first[tp])
        return out
    finally:
        await consumer.stop()
