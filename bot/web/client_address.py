"""The real client behind a trusted reverse proxy: X-Forwarded-For and -Proto, believed only
when the connection itself comes from an address in `trusted_proxies`.

Every rate limit keys on `request.remote`, so without this one client behind the proxy
would block all others. The X-Forwarded-For list is read from the right (each proxy appends
the address it saw) and the first address that is not itself a trusted proxy is the client.
aiohttp-remotes was the first choice; its XForwardedFiltered believes the header from any
peer and XForwardedStrict refuses every request that did not pass exactly the configured
chain of proxies (a health check straight to the port gets 400), so neither fits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR ranges; ValueError names the one that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Iterable[Network]
) -> bool:
    return any(address.version == net.version and address in net for net in nets)


def forwarded_client(
    peer: str | None, forwarded_for: list[str], nets: tuple[Network, ...]
) -> str | None:
    """The client's address, or None to keep the peer's: the peer is no trusted proxy, or
    the header holds nothing usable."""
    peer_address = _address(peer or "")
    if peer_address is None or not _trusted(peer_address, nets):
        return None
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    client = None
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # not written by a proxy we trust: stop at what they did write
            break
        client = address
        if not _trusted(address, nets):
            break
    return None if client is None else str(client)


def real_client(networks: tuple[Network, ...]) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not networks:
            return await handler(request)
        client = forwarded_client(
            request.remote, request.headers.getall("X-Forwarded-For", []), networks
        )
        if client is None:
            return await handler(request)
        overrides: dict[str, str] = {"remote": client}
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        if proto in {"http", "https"}:
            overrides["scheme"] = proto
        return await handler(request.clone(**overrides))  # type: ignore[arg-type]

    return middleware
