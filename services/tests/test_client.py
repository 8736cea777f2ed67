"""The client behind the trusted proxy: X-Forwarded-For believed only from a trusted peer, the
right-most untrusted hop, networks cut at /24 and /48."""

from __future__ import annotations

import ipaddress

import pytest

from services.client import client_address, client_network, parse_networks

PROXIES = parse_networks(["127.0.0.1/32", "::1/128", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # Caddy on loopback replaced the header with the address it saw.
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
        # A client-sent value before it (cannot happen behind Caddy, which replaces it; an
        # appending proxy would): the right-most untrusted hop wins.
        ("127.0.0.1", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        # Two trusted proxies in a row (an ingress, then Caddy).
        ("10.1.2.3", "203.0.113.7, 10.9.9.9", "203.0.113.7"),
        # A peer that is not a trusted proxy: the header is its own claim, ignored.
        ("198.51.100.9", "203.0.113.7", "198.51.100.9"),
        # No header, or an unreadable hop: the last address believed.
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
        ("::1", "2001:db8:1234:5678::1", "2001:db8:1234:5678::1"),
        ("::ffff:127.0.0.1", "203.0.113.7", "203.0.113.7"),
    ],
)
def test_the_client_is_the_last_hop_a_trusted_proxy_vouches_for(
    peer: str, forwarded: str | None, client: str
) -> None:
    assert client_address(peer, forwarded, PROXIES) == ipaddress.ip_address(client)


def test_networks_are_cut_at_24_and_48_bits() -> None:
    assert client_network(ipaddress.ip_address("203.0.113.77")) == "203.0.113.0/24"
    assert client_network(ipaddress.ip_address("2001:db8:1234:5678::1")) == "2001:db8:1234::/48"
    assert client_network(None) == "unknown"
    assert client_address("testclient", "203.0.113.7", PROXIES) is None
