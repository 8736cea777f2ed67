"""Who is on the other end of a request: the client's address behind the trusted proxy, its
network (``/24`` of IPv4, ``/48`` of IPv6) and its user agent.

The platform's one entry point is Caddy (deploy/local/Caddyfile, the ingress in k8s/), which
*replaces* any ``X-Forwarded-For`` a client sends with the address it saw. A service therefore
believes ``X-Forwarded-For`` only when the request's peer is one of ``trusted_proxies``
(:class:`services.config.ServiceSettings`, ``<PREFIX>TRUSTED_PROXIES``, loopback by default);
then the client is the right-most address in the header that is not itself a trusted proxy (the
left-most ones are whatever the client claimed). A request from any other peer is its own
client, whatever it says in the header.

Rate limits (services.ratelimit) key on the network rather than the address: one household, one
office NAT or one IPv6 customer (a /48 is a site's allocation) counts once, and an attacker with
a whole /64 gains nothing by hopping addresses. vote-svc's integrity signals store only a keyed
hash of the network (docs/integrity.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

__all__ = [
    "ClientDep",
    "ClientInfo",
    "client_address",
    "client_info",
    "client_network",
    "parse_networks",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The prefix lengths a client network is cut at.
IPV4_PREFIX = 24
IPV6_PREFIX = 48
#: The most of a ``User-Agent`` header anything keeps.
USER_AGENT_MAX = 512


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The client of one request: its network (``"203.0.113.0/24"``; ``"unknown"`` when the
    peer is not an IP address, as with some test transports) and its user agent (``""`` when
    absent, cut at 512 characters)."""

    network: str
    user_agent: str


def parse_networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    """The trusted proxies' networks (``ValueError`` on a malformed one)."""
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def _address(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    """The client's address: ``peer`` unless it is a trusted proxy, in which case the right-most
    untrusted address of ``forwarded_for`` (or the peer, when the header has none)."""
    address = _address(peer) if peer else None
    if address is None or not forwarded_for or not _trusted(address, proxies):
        return address
    for hop in reversed(forwarded_for.split(",")):
        forwarded = _address(hop)
        if forwarded is None:
            # A hop we cannot read: stop believing the header beyond it.
            return address
        if not _trusted(forwarded, proxies):
            return forwarded
        address = forwarded
    return address


def client_network(address: IPAddress | None) -> str:
    """``address``'s /24 (IPv4) or /48 (IPv6), as text; ``"unknown"`` for None."""
    if address is None:
        return "unknown"
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def client_info(request: Request) -> ClientInfo:
    """The request's :class:`ClientInfo`; the app keeps the trusted proxies' networks in
    ``app.state.trusted_proxies`` (``services.app``)."""
    proxies: Sequence[IPNetwork] = getattr(request.app.state, "trusted_proxies", ())
    peer = request.client.host if request.client is not None else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), proxies)
    user_agent = request.headers.get("user-agent", "")[:USER_AGENT_MAX]
    return ClientInfo(network=client_network(address), user_agent=user_agent)


async def _client(request: Request) -> ClientInfo:
    return client_info(request)


#: The request's client (network and user agent), as a route dependency.
ClientDep = Annotated[ClientInfo, Depends(_client)]
