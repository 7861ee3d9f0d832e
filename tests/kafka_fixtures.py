"""Pytest plugin: a real Kafka broker for tests that ask for one.

Fixtures:

* ``kafka_bootstrap`` (``str``): ``"127.0.0.1:<port>"`` of a real
  single-node KRaft broker (one per session), started the first time a test requests it (tests
  that do not need Kafka never pay for it) and stopped at session end. When
  ``DIALER_TEST_KAFKA_BOOTSTRAP`` is set, that broker is used instead and no
  process is started.
* ``kafka_secure`` (session, ``SecureListener``): a second broker, started only for the
  tests that ask for it, with a ``SASL_SSL`` listener (TLS from a CA generated at start;
  PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 users with random passwords). Its address, CA
  file and users are in the returned ``SecureListener``; all of it lives in the broker's
  temp dir and goes with it.
* ``kafka_topic_prefix`` (function, ``str``): a unique ``t<8 hex>.`` prefix;
  name every topic and consumer group of a test with it so tests never share
  state on the session-wide broker.

Tests that use ``kafka_bootstrap`` get the ``kafka`` marker automatically, so
``pytest -m "not kafka"`` skips them all.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Final

import pytest

from adapters.kafka import KafkaBus
from engine.ports import Topics
from tests.kafka_broker import KafkaBroker, SecureListener

BOOTSTRAP_ENV: Final = "DIALER_TEST_KAFKA_BOOTSTRAP"


@pytest.fixture(scope="session")
def _kafka_broker() -> Iterator[str]:
    """Bootstrap address of the session's Kafka broker (started lazily)."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        yield external
        return
    broker = KafkaBroker()
    try:
        broker.start()
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_secure() -> Iterator[SecureListener]:
    """A broker with a SASL_SSL listener; the plaintext session broker is not touched."""
    broker = KafkaBroker(secure=True)
    try:
        broker.start()
        assert broker.secure is not None
        yield broker.secure
    finally:
        broker.stop()


@pytest.fixture
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap address of the session's broker, for a test marked ``kafka``.

    Requested by name, the marker is added at collection (below). A test that reaches it
    only at run time (``request.getfixturevalue``, e.g. a parametrized bus fixture) is not
    seen at collection: it fails here until it is marked, so ``-m "not kafka"`` never
    runs a broker test.
    """
    if request.node.get_closest_marker("kafka") is None:
        pytest.fail(f"{request.node.nodeid} uses the Kafka broker but is not marked kafka "
                    "(pytest.param(..., marks=pytest.mark.kafka))")
    bootstrap: str = request.getfixturevalue("_kafka_broker")  # checked first: no broker
    return bootstrap


@pytest.fixture
def kafka_topic_prefix() -> str:
    """A per-test prefix for topic and group names, e.g. ``t1a2b3c4d.``."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
async def kafka(kafka_bootstrap: str,
                kafka_topic_prefix: str) -> AsyncIterator[tuple[KafkaBus, Topics]]:
    """A bus on the test's topics (3 partitions), as upstream systems publish to them."""
    topics = Topics(kafka_topic_prefix)
    bus = KafkaBus(kafka_bootstrap, topics=topics.all, partitions=3,
                   compacted=(topics.control, topics.dnc, topics.lead_state))
    await bus.start()
    yield bus, topics
    await bus.close()


def pytest_configure(config: pytest.Config) -> None:
    # Declared in pyproject.toml; registered here too when the plugin is used elsewhere.
    if not any(str(line).startswith("kafka:") for line in config.getini("markers")):
        config.addinivalue_line(
            "markers", "kafka: needs the real Kafka broker (started by the session fixture)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "kafka_bootstrap" in names or "kafka_secure" in names:
            item.add_marker(pytest.mark.kafka)
