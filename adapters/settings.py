"""One settings object for every role, from environment variables prefixed ``DIALER_``.

Nested values are JSON (``DIALER_FS_NODES='[{"name":"fs1","host":"10.0.0.5"}]'``).
Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FsNode(BaseModel):
    name: str = Field(default="fs1", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    host: str = "127.0.0.1"
    port: int = 8021
    password: SecretStr = SecretStr("ClueCon")
    max_sessions: int = Field(default=1000, ge=1)
    # Below the switch's own sessions-per-second (FreeSWITCH default 30, and it lets
    # through one fewer than configured): a refused session is a wasted attempt.
    cps: float = Field(default=25.0, gt=0)


class TemplateSetting(BaseModel):
    text: str = Field(default="", max_length=4096)
    audio_file: str = Field(default="", max_length=256)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIALER_", env_nested_delimiter="__")

    bus: Literal["memory", "kafka"] = "memory"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = 3
    topic_prefix: str = "autocall."
    instance: str = Field(default="dialer", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Consumer group of the engine role, shared by all its instances so that Kafka splits
    # the campaigns (partitions) between them. Default: "<topic_prefix>engine".
    engine_group: str = ""
    # Static group membership (Kubernetes: the pod name): a restarted engine gets its
    # partitions back without a rebalance. Empty: dynamic membership.
    kafka_group_instance_id: str = ""
    # How long a silent engine keeps its partitions before the group gives them away.
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    # Engine on Kafka: lead state in the compacted lead-state changelog, written in one
    # transaction with the input offsets and the outputs; a call is placed only once its
    # attempt is durable. false: the PR-era at-least-once path (benchmarks compare both).
    durable_state: bool = True
    # Embedded mode starts the FreeSWITCH simulator and points fs_nodes at it.
    simulator: bool = True
    fs_nodes: list[FsNode] = Field(default_factory=lambda: [FsNode()])
    gateway: str = Field(default="carrier", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    dialplan_extension: str = "autocall"
    dialplan_context: str = "autocall"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    api_tokens: list[SecretStr] = Field(default_factory=lambda: [SecretStr("dev-token")])
    data_dir: str = "./var"
    webhook_secret: SecretStr = SecretStr("change-me")
    drain_seconds: float = 30.0
    # The template registry: template_uuid (seed 001) or queue template code (seed 002) →
    # the TTS text with {{key}} placeholders, or the audio file to play. A campaign with
    # neither an inline script nor a known template does not dial (explain: script_missing).
    templates: dict[str, TemplateSetting] = Field(default_factory=dict)
    # How long a lead may wait for its campaign's upsert before it is dead-lettered.
    park_seconds: float = 30.0
    log_level: str = "INFO"
    # /livez and /readyz for the engine and api roles (Kubernetes probes).
    health_host: str = "0.0.0.0"
    health_port: int = 8081
