"""Issue 11, webhook egress: no delivery to internal addresses by default (checked on the
address connected to), an operator allow-list, a signature with a timestamp, retries that
cover a receiver down for an hour, and re-delivery of dead letters."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from consumers.egress import EgressPolicy, EgressRefused, GuardedResolver
from consumers.webhooks import (
    REPLAY_WINDOW_S,
    SIGNATURE_HEADER,
    WebhookSender,
    redeliver_dead_letters,
    retry_delays,
    sign,
    verify,
)
from dialer.settings import Settings
from proto import messages as m
from tests.http.rig import collect, until
from tests.webhooks.test_sender import Receiver, Rig, receivers, rig  # noqa: F401

SECRET = b"per-deployment-secret"


class FixedResolver(AbstractResolver):
    """A resolver with scripted answers (one list per call; the last one repeats)."""

    def __init__(self, *answers: list[str] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return [ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET,
                              proto=0, flags=0) for a in answer]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(("address", "ok"), [
    ("127.0.0.1", False), ("127.1.2.3", False), ("10.0.0.5", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.100.100.200", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("255.255.255.255", False), ("::1", False),
    ("::", False), ("fd00:ec2::254", False), ("fe80::1", False), ("::ffff:127.0.0.1", False),
    ("ff02::1", False), ("8.8.8.8", True), ("2001:4860:4860::8888", True),
])
def test_only_public_addresses_pass_by_default(address: str, ok: bool) -> None:
    assert EgressPolicy().permits(address) is ok


def test_the_allow_list_takes_hosts_and_cidrs() -> None:
    policy = EgressPolicy(["10.1.0.0/16", "Hooks.Internal", "127.0.0.1"])
    assert policy.permits("10.1.2.3") and policy.permits("127.0.0.1")
    assert not policy.permits("10.2.0.1") and not policy.permits("127.0.0.2")
    assert policy.host_allowed("hooks.internal.")


async def test_the_resolved_address_is_checked_so_rebinding_fails() -> None:
    inner = FixedResolver(["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1", "93.184.216.34"])
    guarded = GuardedResolver(EgressPolicy(), inner)
    first = await guarded.resolve("hooks.example.com", 443)
    assert [r["host"] for r in first] == ["93.184.216.34"]
    with pytest.raises(EgressRefused):
        await guarded.resolve("hooks.example.com", 443)  # the name now points inside
    mixed = await guarded.resolve("hooks.example.com", 443)
    assert [r["host"] for r in mixed] == ["93.184.216.34"]


async def test_internal_destinations_are_refused_and_never_contacted(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]],  # noqa: F811
) -> None:
    receiver = await receivers()
    port = receiver.server.port  # type: ignore[union-attr]
    urls = [f"http://{host}:{port}/hook" for host in (
        "127.0.0.1", "localhost", "0.0.0.0", "[::1]", "2130706433", "127.1", "0x7f.1",
        "[::ffff:127.0.0.1]")] + ["http://169.254.169.254/latest/meta-data/"]
    r = await rig(allow=[], max_attempts=5)
    for i, url in enumerate(urls):
        await r.campaign(f"c{i}", url)
        await r.cdrs(f"c{i}", i, 1)
    letters = await collect(r.bus, r.topics.dlq, len(urls))
    reasons = [m.DlqRecord.model_validate_json(x.value).reason for x in letters]
    # Refused by the policy, or (decimal and short forms) by the HTTP client's URL parser
    # before any connection; either way final at once.
    assert all(("egress refused" in x or "invalid URL" in x) and "after 1 attempt(s)" in x
               for x in reasons), reasons
    assert receiver.seen == [], "an internal receiver was contacted"
    assert r.sender.delivered == 0


def test_the_signature_carries_a_timestamp_and_a_replay_fails() -> None:
    body = b'{"cdr_uuid":"x"}'
    header = sign(SECRET, body, 1_800_000_000.4)
    assert header.startswith("t=1800000000,v1=")
    assert verify(SECRET, body, header, 1_800_000_000 + REPLAY_WINDOW_S)
    assert not verify(SECRET, body, header, 1_800_000_000 + REPLAY_WINDOW_S + 1)  # replayed
    assert not verify(SECRET, body + b" ", header, 1_800_000_000)
    assert not verify(b"other", body, header, 1_800_000_000)


def test_the_default_retries_cover_a_receiver_down_for_an_hour() -> None:
    s = Settings()
    delays = retry_delays(0.5, s.webhook_max_delay_s, s.webhook_retry_hours * 3600)
    assert sum(delays) >= 3600 - s.webhook_max_delay_s
    assert max(delays) == s.webhook_max_delay_s  # capped
    assert len(delays) < 40  # a handful of requests an hour, not a flood


async def test_a_receiver_down_longer_than_the_attempts_of_old_still_gets_its_cdr(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]],  # noqa: F811
) -> None:
    receiver = await receivers(failures=12, status=503)
    r = await rig(retry_for_s=30.0, max_delay_s=0.05)  # no attempt cap: the horizon decides
    await r.campaign("c1", receiver.url)
    await r.cdrs("c1", 0, 1)
    await until(lambda: len(receiver.accepted) == 1)
    assert r.sender.dead_lettered == 0 and len(receiver.seen) == 13
    for _, headers, body in receiver.seen:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER], time.time())


async def test_after_the_horizon_the_cdr_is_dead_lettered_then_redelivered(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]],  # noqa: F811
) -> None:
    receiver = await receivers(failures=10**6, status=503)
    r = await rig(retry_for_s=0.5, max_delay_s=0.05)
    await r.campaign("c1", receiver.url)
    await r.cdrs("c1", 0, 2)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await collect(r.bus, r.topics.dlq, 2)
    assert 0.3 <= loop.time() - t0 < 10 and len(receiver.seen) > 4
    receiver.failures = 0  # the receiver is back
    delivered, failed = await redeliver_dead_letters(r.sender, r.bus, r.topics, group="re",
                                                     max_wait=0.3)
    assert (delivered, failed) == (2, 0)
    assert set(receiver.accepted) == {"cdr-0", "cdr-1"}
    again = await redeliver_dead_letters(r.sender, r.bus, r.topics, group="re", max_wait=0.3)
    assert again == (0, 0), "a dead letter is redelivered once"


async def test_an_exception_in_the_post_is_a_failed_attempt_and_delivery_goes_on(
    rig: Callable[..., Awaitable[Rig]], receivers: Callable[..., Awaitable[Receiver]],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = await receivers()
    port = receiver.server.port  # type: ignore[union-attr]
    inner = FixedResolver(RuntimeError("resolver bug"), ["127.0.0.1"])
    policy = EgressPolicy(["receiver.test"])
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        resolver=GuardedResolver(policy, inner), use_dns_cache=False))
    try:
        with caplog.at_level(logging.ERROR, logger="consumers.webhooks"):
            r = await rig(session=session, allow=["receiver.test"], max_attempts=3)
            await r.campaign("c1", f"http://receiver.test:{port}/hook")
            await r.cdrs("c1", 0, 1)
            await until(lambda: len(receiver.accepted) == 1)
        assert r.sender.attempts == 2 and r.sender.dead_lettered == 0
        crashed = [x for x in caplog.records if "webhook post crashed" in x.getMessage()]
        assert len(crashed) == 1 and crashed[0].exc_info is not None
    finally:
        await session.close()


def test_the_sender_needs_a_limit() -> None:
    with pytest.raises(ValueError, match="max_attempts or retry_for_s"):
        WebhookSender(None, None, None, b"s", retry_for_s=None)  # type: ignore[arg-type]
