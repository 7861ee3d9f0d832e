"""Kafka client security: the DIALER_KAFKA_* settings → aiokafka keyword arguments.

Every Kafka client of every role (producer, group consumers, readers, admin) is built with
``client_options(settings)``, so one set of variables secures them all:

* ``DIALER_KAFKA_SECURITY_PROTOCOL``: PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL;
* ``DIALER_KAFKA_SASL_MECHANISM`` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with
  ``DIALER_KAFKA_SASL_USERNAME`` / ``DIALER_KAFKA_SASL_PASSWORD`` for the SASL protocols;
* ``DIALER_KAFKA_SSL_CAFILE`` (PEM; default: the system CAs), ``DIALER_KAFKA_SSL_CERTFILE``
  and ``DIALER_KAFKA_SSL_KEYFILE`` (mutual TLS, both or neither),
  ``DIALER_KAFKA_SSL_CHECK_HOSTNAME`` (default true) for the SSL protocols.

A setting the chosen protocol cannot use is a configuration error raised at start
(``KafkaSecurityError``), never a silent downgrade. The password stays a ``SecretStr``
until it is handed to aiokafka, and no message here contains it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed, UnsupportedSaslMechanismError
from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

from engine.errors import DialerError


class SecuritySettings(Protocol):
    """The DIALER_KAFKA_* settings this module reads (dialer.settings.Settings has them)."""

    @property
    def kafka_security_protocol(self) -> str: ...
    @property
    def kafka_sasl_mechanism(self) -> str: ...
    @property
    def kafka_sasl_username(self) -> str: ...
    @property
    def kafka_sasl_password(self) -> SecretStr: ...
    @property
    def kafka_ssl_cafile(self) -> str: ...
    @property
    def kafka_ssl_certfile(self) -> str: ...
    @property
    def kafka_ssl_keyfile(self) -> str: ...
    @property
    def kafka_ssl_check_hostname(self) -> bool: ...


class KafkaSecurityError(DialerError):
    """The Kafka security settings are incomplete or contradict each other, or the broker
    refused them (bad credentials, a certificate that does not verify)."""


class KafkaUnreachable(DialerError):
    """No broker of the bootstrap list answered."""

    retriable = True


def describe(options: Mapping[str, Any]) -> str:
    """The security options as one can log them: never the password."""
    parts = [f"security_protocol={options.get('security_protocol', 'PLAINTEXT')}"]
    if "sasl_mechanism" in options:
        parts += [f"sasl_mechanism={options['sasl_mechanism']}",
                  f"user={options.get('sasl_plain_username')}"]
    return " ".join(parts)


async def connect_failure(bootstrap: str, options: Mapping[str, Any]) -> DialerError:
    """Why a client could not bootstrap, as one clear error. aiokafka only says "Unable to
    bootstrap"; one direct connection to the first address, made the way the clients
    make theirs, gives the cause (refused, TLS verification, SASL authentication)."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    where = f"Kafka at {bootstrap} ({describe(options)})"
    try:
        conn = await create_conn(host, int(port), request_timeout_ms=10_000, **options)
    except (ssl.SSLError, SaslAuthenticationFailed, UnsupportedSaslMechanismError) as err:
        return KafkaSecurityError(f"{where} refused the connection: {err}")
    except (OSError, TimeoutError, KafkaError) as err:
        return KafkaUnreachable(f"{where} is unreachable: {type(err).__name__}: {err}")
    conn.close()
    return KafkaUnreachable(f"{where} did not answer the clients (it answers now)")


def client_options(settings: SecuritySettings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password.get_secret_value()
        if not settings.kafka_sasl_username or not password:
            raise KafkaSecurityError(
                f"DIALER_KAFKA_SECURITY_PROTOCOL={protocol} needs DIALER_KAFKA_SASL_USERNAME "
                "and DIALER_KAFKA_SASL_PASSWORD"
            )
        # aiokafka takes the SCRAM credentials through the same two arguments as PLAIN.
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=password,
        )
    if protocol.endswith("SSL"):
        options["ssl_context"] = ssl_context(settings)
    elif settings.kafka_ssl_cafile or settings.kafka_ssl_certfile or settings.kafka_ssl_keyfile:
        raise KafkaSecurityError(
            f"DIALER_KAFKA_SSL_* files are set but DIALER_KAFKA_SECURITY_PROTOCOL={protocol} "
            "does not use TLS (SSL or SASL_SSL)"
        )
    return options


def ssl_context(settings: SecuritySettings) -> ssl.SSLContext:
    """A client context that verifies the broker's certificate chain (always) and its host
    name (unless DIALER_KAFKA_SSL_CHECK_HOSTNAME=false, for brokers addressed by an IP
    their certificate does not name)."""
    cert, key = settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
    if bool(cert) != bool(key):
        raise KafkaSecurityError(
            "mutual TLS needs both DIALER_KAFKA_SSL_CERTFILE and DIALER_KAFKA_SSL_KEYFILE"
        )
    for name, path in (("CAFILE", settings.kafka_ssl_cafile), ("CERTFILE", cert),
                       ("KEYFILE", key)):
        if path and not Path(path).is_file():
            raise KafkaSecurityError(f"DIALER_KAFKA_SSL_{name}: no such file {path}")
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.kafka_ssl_cafile or None,
            certfile=cert or None,
            keyfile=key or None,
        )
    except (ssl.SSLError, OSError) as err:
        raise KafkaSecurityError(f"cannot load the Kafka TLS files: {err}") from err
    context.check_hostname = settings.kafka_ssl_check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context
