"""One settings object for every role, from environment variables prefixed ``DIALER_``.

Nested values are JSON (``DIALER_FS_NODES='[{"name":"fs1","host":"10.0.0.5"}]'``).
Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from proto.messages import check_audio_file


class FsNode(BaseModel):
    name: str = Field(default="fs1", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    host: str = "127.0.0.1"
    port: int = Field(default=8021, ge=1, le=65535)
    password: SecretStr = SecretStr("ClueCon")
    max_sessions: int = Field(default=1000, ge=1)
    # Below the switch's own sessions-per-second (FreeSWITCH default 30, and it lets
    # through one fewer than configured): a refused session is a wasted attempt.
    cps: float = Field(default=25.0, gt=0)


class TemplateSetting(BaseModel):
    text: str = Field(default="", max_length=4096)
    # A plain file name under DIALER_SOUND_DIR, like a campaign's audio_file.
    audio_file: Annotated[str, Field(max_length=256), AfterValidator(check_audio_file)] = ""


# The development credentials: only `dialer up` may run with them (issue 11).
DEV_TOKEN = "dev-token"
DEV_WEBHOOK_SECRET = "change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIALER_", env_nested_delimiter="__")

    bus: Literal["memory", "kafka"] = "memory"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = 3
    # Topic creation (ensure_topics): replication factor and min.insync.replicas of every
    # topic the dialer creates (3 and 2 on a production cluster).
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_min_insync_replicas: int = Field(default=1, ge=1)
    # Security of every Kafka client (producer, consumers, admin) of every role; the
    # translation to aiokafka arguments is adapters/kafka/security.py.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    # PEM files: the CA that signed the brokers' certificates (default: the system CAs),
    # and for mutual TLS the client's certificate and key.
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_ssl_check_hostname: bool = True
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
    http_port: int = Field(default=8080, ge=0, le=65535)
    api_tokens: list[SecretStr] = Field(default_factory=lambda: [SecretStr("dev-token")])
    data_dir: str = "./var"
    webhook_secret: SecretStr = SecretStr("change-me")
    drain_seconds: float = Field(default=30.0, ge=0)
    # The template registry: template_uuid (seed 001) or queue template code (seed 002) →
    # the TTS text with {{key}} placeholders, or the audio file to play. A campaign with
    # neither an inline script nor a known template does not dial (explain: script_missing).
    templates: dict[str, TemplateSetting] = Field(default_factory=dict)
    # How long a lead may wait for its campaign's upsert before it is dead-lettered.
    park_seconds: float = 30.0
    log_level: str = "INFO"
    # /livez and /readyz for the engine and api roles (Kubernetes probes).
    health_host: str = "0.0.0.0"
    health_port: int = Field(default=8081, ge=0, le=65535)
    # ---- hardening (issue 11) ----
    # Webhook receivers allowed although their address is internal (loopback, private,
    # link-local, ...): host names and CIDRs, e.g. '["hooks.internal", "10.1.0.0/16"]'.
    # Empty: webhooks reach public addresses only.
    webhook_allow: list[str] = Field(default_factory=list)
    # How long a failing webhook is retried (capped exponential backoff) before its CDR is
    # dead-lettered; `dialer webhooks redeliver` sends dead-lettered ones again.
    webhook_retry_hours: float = Field(default=1.0, gt=0, le=168)
    webhook_max_delay_s: float = Field(default=300.0, gt=0)
    # The directory on the FreeSWITCH nodes that audio_file names are resolved under.
    sound_dir: str = Field(default="/usr/share/freeswitch/sounds/autocall",
                           pattern=r"^/[A-Za-z0-9_./-]{0,255}$")
    # The TTS module and voice the dialplan passes to `speak` (never the lead's text).
    tts_engine: str = Field(default="flite", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    tts_voice: str = Field(default="kal", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Every shutdown wait ends within this many seconds (besides the drain of live calls).
    stop_seconds: float = Field(default=10.0, gt=0)
