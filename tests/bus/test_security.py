"""DIALER_KAFKA_* security settings → aiokafka client arguments (adapters/kafka/security.py).
The handshakes themselves run against the real SASL_SSL broker in
tests/e2e/test_kafka_security.py; here: the translation, and refusals of settings that
cannot work, with TLS files made by openssl."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.kafka.security import KafkaSecurityError, client_options, describe
from dialer.settings import Settings
from tests.kafka_broker import make_tls_material


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA PEM, a certificate it signed, that certificate's key)."""
    directory = tmp_path_factory.mktemp("tls") / "m"
    ca, _keystore, _password = make_tls_material(directory)
    return ca, directory / "broker.pem", directory / "broker.key"


def test_plaintext_by_default() -> None:
    assert client_options(Settings()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_plaintext_scram() -> None:
    s = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="SCRAM-SHA-256",
                 kafka_sasl_username="u", kafka_sasl_password=SecretStr("p4ss"))
    assert client_options(s) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "u", "sasl_plain_password": "p4ss"}
    assert "p4ss" not in describe(client_options(s)) and "p4ss" not in repr(s)


def test_sasl_ssl_with_a_ca(tls: tuple[Path, Path, Path]) -> None:
    ca, _, _ = tls
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                 kafka_sasl_username="u", kafka_sasl_password=SecretStr("p"),
                 kafka_ssl_cafile=str(ca))
    options = client_options(s)
    context = options.pop("ssl_context")
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    issuers = {dict(x[0] for x in c["issuer"])["commonName"] for c in context.get_ca_certs()}
    assert issuers == {"autocall-dialer test CA"}


def test_mutual_tls_and_no_hostname_check(tls: tuple[Path, Path, Path]) -> None:
    ca, cert, key = tls
    s = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(ca),
                 kafka_ssl_certfile=str(cert), kafka_ssl_keyfile=str(key),
                 kafka_ssl_check_hostname=False)
    context = client_options(s)["ssl_context"]
    # The chain is still verified; only the name check is off.
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname


@pytest.mark.parametrize(("fields", "says"), [
    ({"kafka_security_protocol": "SASL_SSL"}, "DIALER_KAFKA_SASL_USERNAME"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "u"},
     "DIALER_KAFKA_SASL_PASSWORD"),
    ({"kafka_ssl_cafile": "/etc/ssl/ca.pem"}, "does not use TLS"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "/c.pem"},
     "both DIALER_KAFKA_SSL_CERTFILE and DIALER_KAFKA_SSL_KEYFILE"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.pem"},
     "no such file"),
])
def test_settings_that_cannot_work_are_refused(fields: dict[str, str], says: str) -> None:
    with pytest.raises(KafkaSecurityError, match=says):
        client_options(Settings(**fields))  # type: ignore[arg-type]


def test_a_file_that_is_not_a_certificate_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(KafkaSecurityError, match="cannot load the Kafka TLS files"):
        client_options(Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(junk)))
