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
_MAX_REMEMBERED_PEERS = 4096


class ClientAddress:
    """Finds a request's client address from its ASGI scope."""

    def __init__(self, trusted: Iterable[str]) -> None:
        entries = [entry.strip() for entry in trusted if entry.strip()]
        self._any = "*" in entries
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"
        )
        # The answer by peer: parsing an address costs more than the rest of the request's edge
        # work, and a gateway sees few peers (Envoy, a handful of hosts). Bounded all the same.
        self._trusted: dict[str, bool] = {}
        self._normalized: dict[str, str] = {}

    def trusts(self, host: str) -> bool:
        if self._any:
            return True
        known = self._trusted.get(host)
        if known is None:
            if len(self._trusted) >= _MAX_REMEMBERED_PEERS:
                self._trusted.clear()
            known = self._trusted[host] = self._check(host)
        return known

    def _check(self, host: str) -> bool:
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
        return self._normal_form(last) or host

    def _normal_form(self, text: str) -> str:
        """``text`` as an address in its normal form, "" when it is not one (remembered as peers are)."""
        known = self._normalized.get(text)
        if known is None:
            if len(self._normalized) >= _MAX_REMEMBERED_PEERS:
                self._normalized.clear()
            try:
                known = str(ipaddress.ip_address(text))
            except ValueError:
                known = ""
            self._normalized[text] = known
        return known
