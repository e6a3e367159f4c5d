"""Dialling a tenant's host: resolve it, check every address with the network policy, and
connect to exactly the addresses checked.

Each engine dials through here, for every address its driver dials (see each engine's
``clients.py``): the address that was checked is the address connected to, so a name that
resolves to something else a moment later (DNS rebinding) cannot switch it. TLS keeps
presenting and verifying the name the tenant gave (:func:`server_name_context`), not the
address dialled.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from udb.errors import InvalidArgument
from udb.netpolicy import (
    DENIED_MESSAGE,
    DENIED_NETWORK,
    NOT_A_HOST,
    REASONS,
    IPAddress,
    IPNetwork,
    NetworkPolicy,
    clean_host,
    is_path,
    parse_ip,
)

log = logging.getLogger("udb.dialing")

T = TypeVar("T")

#: The loopback and unspecified networks, which reach a listener bound to every interface.
_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("127.0.0.0/8", "0.0.0.0/8", "::1/128", "::/128"))


class AddressDenied(ConnectionRefusedError):
    """A dial the policy refuses. An OSError, so that drivers treat it as a failed connection
    (and report it where they report those); engines turn it into the API's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{DENIED_MESSAGE}: {reason}")
        self.reason = reason


def denial_of(exc: BaseException | None) -> AddressDenied | None:
    """The :class:`AddressDenied` behind a driver's exception (drivers wrap it), or None."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, AddressDenied):
            return exc
        text = str(exc)
        if DENIED_MESSAGE in text:
            # A driver that folds its errors into one message (PyMongo's server selection).
            rest = text.split(DENIED_MESSAGE, 1)[1]
            found = sorted((rest.find(reason), reason) for reason in REASONS if reason in rest)
            return AddressDenied(found[0][1] if found else DENIED_NETWORK)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


@dataclass
class _Resolved:
    addresses: tuple[tuple[IPNetwork, int | None], ...] = ()
    at: float = field(default=-1e9)


class DialGuard:
    """Resolves a host the way the drivers would, checks every address with the policy, and
    returns the addresses to dial (refusing the whole host if any of them is denied: a name that
    mixes a public and a denied address is an attack on whoever checks only one)."""

    def __init__(self, policy: NetworkPolicy, *, resolve_timeout_s: float = 5.0, endpoint_ttl_s: float = 30.0) -> None:
        self.policy = policy
        self._timeout = resolve_timeout_s
        self._endpoint_ttl = endpoint_ttl_s
        self._endpoints = _Resolved()
        self._refreshing: asyncio.Lock | None = None

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses ``host``:``port`` resolves to, all allowed; :class:`AddressDenied` when
        any is denied or the host is a path. Dial these and nothing else."""
        resolved = await self._resolve(host, port)
        endpoints = await self._endpoint_addresses()
        for address in resolved:
            reason = self.policy.refusal(address, port, endpoints)
            if reason is not None:
                raise AddressDenied(reason)
        return [str(address) for address in resolved]

    async def dial(self, host: str, port: int, connect: Callable[[str], Awaitable[T]]) -> T:
        """``connect(address)`` for each allowed address of ``host`` in turn, until one answers:
        :class:`AddressDenied` at once when any address is denied, else the last failure."""
        failure: OSError | None = None
        for address in await self.addresses(host, port):
            try:
                return await connect(address)
            except AddressDenied:
                raise
            except OSError as exc:  # this address does not answer: the next one may
                failure = exc
        assert failure is not None  # addresses() returns one at least
        raise failure

    async def check(self, host: str, port: int) -> None:
        """Like :meth:`addresses`, but a name that does not resolve here passes (the registry's
        check: it may resolve only where the engines run, which check again when they dial)."""
        try:
            await self.addresses(host, port)
        except AddressDenied:
            raise
        except OSError:
            return

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        if not host or is_path(host) or not host.isprintable():
            raise AddressDenied(NOT_A_HOST)
        literal = parse_ip(host)
        if literal is not None:
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(clean_host(host), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
                self._timeout,
            )
        except TimeoutError:
            raise OSError(f"resolving the host timed out after {self._timeout:g}s") from None
        except socket.gaierror as exc:
            raise OSError(f"the host does not resolve: {exc.strerror}") from None
        seen: dict[IPAddress, None] = {}
        for info in infos:
            address = parse_ip(str(info[4][0]))
            if address is not None:
                seen.setdefault(address)
        if not seen:
            raise OSError("the host resolves to no address")
        return list(seen)

    async def _endpoint_addresses(self) -> tuple[tuple[IPNetwork, int | None], ...]:
        """The platform endpoints given by name or as wildcard listeners, resolved (cached for a
        while: they are the platform's own names)."""
        if time.monotonic() - self._endpoints.at < self._endpoint_ttl:
            return self._endpoints.addresses
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if time.monotonic() - self._endpoints.at < self._endpoint_ttl:
                return self._endpoints.addresses
            resolved: list[tuple[IPNetwork, int | None]] = []
            for endpoint in self.policy.endpoints:
                if endpoint.network is not None and not endpoint.wildcard:
                    continue
                if endpoint.wildcard:
                    # Every address of this host reaches a listener on all interfaces.
                    resolved.extend((network, endpoint.port) for network in _LOCAL_NETWORKS)
                names = [socket.gethostname()] if endpoint.wildcard else [endpoint.host]
                for name in names:
                    addresses = await self._quiet_resolve(name)
                    resolved.extend((ipaddress.ip_network(address), endpoint.port) for address in addresses)
            self._endpoints = _Resolved(tuple(resolved), time.monotonic())
            return self._endpoints.addresses

    async def _quiet_resolve(self, name: str) -> list[IPAddress]:
        try:
            return await self._resolve(name, 0)
        except OSError:
            log.warning("a platform endpoint does not resolve", extra={"endpoint": name})
            return []


def denied_error(exc: BaseException | None) -> InvalidArgument | None:
    """The API's error for a dial the policy refused, wherever a driver wrapped it; None when
    ``exc`` is no such refusal."""
    denial = denial_of(exc)
    if denial is None:
        return None
    return InvalidArgument(DENIED_MESSAGE, details={"field": "host", "reason": denial.reason})


class ServerNameContext(ssl.SSLContext):
    """A client TLS context that presents (SNI) and verifies ``server_name`` whatever address
    the connection goes to: the address is the one the policy checked, the name the one the
    tenant gave. Every TLS connection of asyncio and uvloop goes through ``wrap_bio``."""

    server_name: str | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side, self.server_name or server_hostname, session)


def server_name_context(
    server_name: str, *, verify: bool, check_hostname: bool = True, cafile: str | None = None
) -> ServerNameContext:
    """A :class:`ServerNameContext` for ``server_name``: certificates checked against the CA
    bundle (``cafile``, else the system's) when ``verify``, and the name too when
    ``check_hostname``; without ``verify``, encryption only (libpq's sslmode=require)."""
    context = ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
    # An address needs no name to present: Python verifies the dialled address itself.
    context.server_name = None if parse_ip(server_name) is not None else clean_host(server_name)
    context.check_hostname = verify and check_hostname
    if verify:
        context.verify_mode = ssl.CERT_REQUIRED
        if cafile:
            context.load_verify_locations(cafile=cafile)
        else:
            context.load_default_certs()
    else:
        context.verify_mode = ssl.CERT_NONE
    return context
