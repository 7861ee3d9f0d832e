"""The HTTP gateway: the seed providers' API on aiohttp."""

from adapters.http.gateway import build_gateway

__all__ = ["build_gateway"]
