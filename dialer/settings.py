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
    """Every field is ``DIALER_<NAME>``; its docstring is its description in ``-h`` and in
    the README's settings reference (``python -m dialer.settings_doc --write``)."""

    model_config = SettingsConfigDict(env_prefix="DIALER_", env_nested_delimiter="__",
                                      use_attribute_docstrings=True)

    bus: Literal["memory", "kafka"] = "memory"
    """Message bus: "memory" (one process, embedded) or "kafka"."""
    kafka_bootstrap: str = "127.0.0.1:9092"
    """Kafka bootstrap brokers, host:port[,host:port…]."""
    kafka_partitions: int = 3
    """Partition count of the topics the dialer creates (leads, dnc and control must match)."""
    kafka_replication_factor: int = Field(default=1, ge=1)
    """Replication factor of every topic the dialer creates (ensure_topics; 3 on a
    production cluster)."""
    kafka_min_insync_replicas: int = Field(default=1, ge=1)
    """min.insync.replicas of every topic the dialer creates (2 on a production cluster)."""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT"
    )
    """Security of every Kafka client (producer, consumers, admin) of every role; the
    translation to aiokafka arguments is adapters/kafka/security.py."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    """SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)."""
    kafka_sasl_username: str = ""
    """SASL user name."""
    kafka_sasl_password: SecretStr = SecretStr("")
    """SASL password."""
    kafka_ssl_cafile: str = ""
    """PEM file of the CA that signed the brokers' certificates (default: the system CAs)."""
    kafka_ssl_certfile: str = ""
    """PEM file of the client's certificate (mutual TLS)."""
    kafka_ssl_keyfile: str = ""
    """PEM file of the client's key (mutual TLS)."""
    kafka_ssl_check_hostname: bool = True
    """Check that the broker's certificate names the host connected to."""
    topic_prefix: str = "autocall."
    """Prefix of every topic name (leads, dnc, control, cdr, lead-events, dlq)."""
    instance: str = Field(default="dialer", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Name of this process (Kafka client id; the api role's webhook group is
    <instance>-webhooks)."""
    engine_group: str = ""
    """Consumer group of the engine role, shared by all its instances so that Kafka splits
    the campaigns (partitions) between them. Empty: "<topic_prefix>engine"."""
    kafka_group_instance_id: str = ""
    """Static group membership (Kubernetes: the pod name): a restarted engine gets its
    partitions back without a rebalance. Empty: dynamic membership."""
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    """How long a silent engine keeps its partitions before the group gives them away."""
    durable_state: bool = True
    """Engine on Kafka: lead state in the compacted lead-state changelog, written in one
    transaction with the input offsets and the outputs; a call is placed only once its
    attempt is durable. false: the PR-era at-least-once path (benchmarks compare both)."""
    simulator: bool = True
    """Start the FreeSWITCH simulator in process and point fs_nodes at it (embedded mode)."""
    fs_nodes: list[FsNode] = Field(default_factory=lambda: [FsNode()])
    """FreeSWITCH nodes, JSON: [{"name","host","port","password","max_sessions","cps"}]."""
    gateway: str = Field(default="carrier", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """SIP gateway the calls go out through (sofia/gateway/<gateway>/<number>)."""
    dialplan_extension: str = "autocall"
    """Dialplan extension an answered call runs (originate … <extension> XML <context>)."""
    dialplan_context: str = "autocall"
    """Dialplan context of that extension."""
    http_host: str = "127.0.0.1"
    """Address the seed HTTP API listens on."""
    http_port: int = Field(default=8080, ge=0, le=65535)
    """Port of the seed HTTP API."""
    api_tokens: list[SecretStr] = Field(default_factory=lambda: [SecretStr("dev-token")])
    """Bearer tokens the HTTP API accepts, JSON list (the default is for development)."""
    data_dir: str = "./var"
    """Directory of the api role's SQLite files (reports, campaign view, webhook state)."""
    webhook_secret: SecretStr = SecretStr("change-me")
    """HMAC-SHA256 key that signs CDR webhook bodies."""
    drain_seconds: float = Field(default=30.0, ge=0)
    """At shutdown, how long live calls may go on before the process stops anyway."""
    templates: dict[str, TemplateSetting] = Field(default_factory=dict)
    """The template registry: template_uuid (seed 001) or queue template code (seed 002) →
    {"text": TTS text with {{key}} placeholders} or {"audio_file": …}, JSON. A campaign with
    neither an inline script nor a known template does not dial (script_missing)."""
    park_seconds: float = 30.0
    """How long a lead may wait for its campaign's upsert before it is dead-lettered."""
    log_level: str = "INFO"
    """Log level of the JSON logs on stderr (DEBUG, INFO, WARNING, ERROR)."""
    health_host: str = "0.0.0.0"
    """Address of /livez and /readyz (Kubernetes probes) for the engine and api roles."""
    health_port: int = Field(default=8081, ge=0, le=65535)
    """Port of /livez and /readyz."""
    # ---- hardening (issue 11) ----
    webhook_allow: list[str] = Field(default_factory=list)
    """Webhook receivers allowed although their address is internal (loopback, private,
    link-local, ...): host names and CIDRs, e.g. '["hooks.internal", "10.1.0.0/16"]'.
    Empty: webhooks reach public addresses only."""
    webhook_retry_hours: float = Field(default=1.0, gt=0, le=168)
    """How long a failing webhook is retried (capped exponential backoff) before its CDR is
    dead-lettered; `dialer webhooks redeliver` sends dead-lettered ones again."""
    webhook_max_delay_s: float = Field(default=300.0, gt=0)
    """The longest wait between two attempts of one webhook (the backoff's cap)."""
    sound_dir: str = Field(default="/usr/share/freeswitch/sounds/autocall",
                           pattern=r"^/[A-Za-z0-9_./-]{0,255}$")
    """The directory on the FreeSWITCH nodes that audio_file names are resolved under."""
    tts_engine: str = Field(default="flite", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The TTS module the dialplan passes to `speak` (never the lead's text)."""
    tts_voice: str = Field(default="kal", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The TTS voice the dialplan passes to `speak`."""
    stop_seconds: float = Field(default=10.0, gt=0)
    """Every shutdown wait ends within this many seconds (besides the drain of live calls)."""
