"""The client's real address: the TCP peer, or, when the peer is a trusted proxy (Envoy), the
address that proxy appended to ``X-Forwarded-For``.

Envoy (``use_remote_address: true``) appends the address it received the request from as the
last entry of ``X-Forwarded-For``; entries before it are whatever the client sent and are never
believed. ``FORWARDED_ALLOW_IPS`` names the trusted hops (addresses or networks, ``*`` for any
peer: only where nothing but Envoy can reach the gateway), as uvicorn's variable of that name did.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Where the edge middleware leaves the client's address in the ASGI scope.
CLIENT_KEY = "udb.client"


class ClientAddress:
    """Finds a request's client address from its ASGI scope."""

    def __init__(self, trusted: Iterable[str]) -> None:
        entries = [entry.strip() for entry in trusted if entry.strip()]
        self._any = "*" in entries
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"
        )

    def trusts(self, host: str) -> bool:
        if self._any:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def __call__(self, scope: Scope) -> str:
        """The client's host: the forwarded one behind a trusted hop, else the TCP peer's."""
        peer = scope.get("client")
        host = str(peer[0]) if peer else ""
        if not host or not self.trusts(host):
            return host
        forwarded = b",".join(value for key, value in scope.get("headers", ()) if key == b"x-forwarded-for")
        if not forwarded:
            return host
        last = forwarded.decode("latin-1").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return host
