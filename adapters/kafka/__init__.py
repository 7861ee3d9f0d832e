"""Kafka adapter (aiokafka): the production bus."""

from adapters.kafka.bus import KafkaBus, KafkaSubscription

__all__ = ["KafkaBus", "KafkaSubscription"]
