"""Where webhooks may go: public addresses only, unless the operator allows more.

A campaign's callback_url is chosen by whoever can create campaigns; without a policy the
webhook sender would POST CDRs (and its signature) to the deployment's own network: the
cloud metadata service (169.254.169.254), the Kafka brokers, an admin port on localhost.

Rules (``EgressPolicy.permits``):
- an address is refused unless it is globally routable: loopback, RFC 1918 and ULA
  private, link-local (metadata services live there), shared (100.64/10), reserved,
  documentation, unspecified (0.0.0.0, ::) and multicast addresses are all refused, IPv4
  mapped into IPv6 judged as the IPv4 address;
- ``DIALER_WEBHOOK_ALLOW`` lists host names (exact, case-insensitive) and CIDRs the
  operator trusts (an internal receiver): an allowed name skips the address check, an
  allowed network admits its addresses.

The check runs on the address actually connected to: ``GuardedResolver`` is the HTTP
client's resolver and drops every refused address a name resolves to (so a name that
resolves to 127.0.0.1, DNS rebinding between create and delivery, and the decimal or short
forms of an address, "2130706433" and "127.1", which the system resolver turns into
127.0.0.1, all fail). An address literal in the URL never reaches a resolver (aiohttp
connects to it directly) and is checked by ``check_url`` before the request.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from engine.errors import DialerError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(DialerError, OSError):
    """The webhook's destination is not allowed (an OSError: aiohttp reports it as a
    connection error). Final: retrying cannot change a policy."""


class EgressPolicy:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.hosts: frozenset[str] = frozenset()
        self.networks: tuple[Network, ...] = ()
        hosts: set[str] = set()
        networks: list[Network] = []
        for item in allow:
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        self.hosts, self.networks = frozenset(hosts), tuple(networks)

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def permits(self, address: str) -> bool:
        try:
            ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.networks):
            return True
        return ip.is_global and not ip.is_multicast

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is an address literal the policy refuses."""
        host = URL(url).host or ""
        if self.host_allowed(host):
            return
        literal = host.strip("[]")
        try:
            ipaddress.ip_address(literal.split("%", 1)[0])
        except ValueError:
            return  # a name: the resolver checks what it resolves to
        if not self.permits(literal):
            raise EgressRefused(f"{host} is not a public address")


class GuardedResolver(AbstractResolver):
    """The default resolver, minus every address the policy refuses."""

    def __init__(self, policy: EgressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if self._policy.host_allowed(host):
            return found
        kept = [r for r in found if self._policy.permits(str(r["host"]))]
        if not kept:
            raise EgressRefused(f"{host} resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def connector_options(policy: EgressPolicy) -> dict[str, Any]:
    """Keyword arguments for ``aiohttp.TCPConnector`` that enforce the policy."""
    return {"resolver": GuardedResolver(policy), "use_dns_cache": False}
