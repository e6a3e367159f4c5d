"""Where a tenant's connection may go: one address policy for the registry and every engine
(pure: :mod:`udb.dialing` resolves names and applies it at every dial).

A tenant names the host of a connection record, and a driver then dials that host and whatever
it is told to dial next (Sentinel masters, Cluster nodes, SRV targets, replica-set members). Each
of those addresses is checked here, after resolution, by the process about to dial it:

- **Built-in denials** (the production default): loopback, unspecified, link-local, cloud
  metadata endpoints, multicast, broadcast and reserved ranges, in IPv4 and IPv6.
- ``DENIED_NETWORKS``: networks the operator adds (the platform's own network).
- ``ALLOWED_NETWORKS``: exceptions to both (``make dev`` allows loopback for its local servers).
- **Platform endpoints**, refused even inside an allowed network: the platform database, the
  services' own listeners and anything named in ``PLATFORM_ENDPOINTS``.

Every spelling is reduced first: numeric IPv4 forms that resolvers accept (``2130706433``,
``0x7f.1``, ``127.1``, ``0177.0.0.1``), brackets, trailing dots and IPv6 zone ids; IPv4 inside
IPv6 (IPv4-mapped and -compatible, SIIT, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4
``2002::/16``, Teredo) is checked as the IPv4 address it reaches. A host that is a path (a Unix
socket) is never dialled.

:class:`NetworkPolicy` decides; :class:`udb.dialing.DialGuard` resolves names and returns the
addresses a driver may dial.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Refused unless ALLOWED_NETWORKS names them, each with the reason given in errors.
BUILTIN_DENIED: tuple[tuple[str, str], ...] = (
    # "This network": on Linux a connection to 0.0.0.0 reaches the local host.
    ("0.0.0.0/8", "unspecified"),
    ("127.0.0.0/8", "loopback"),
    # Link-local, and the metadata endpoint of AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle.
    ("169.254.0.0/16", "link-local or metadata"),
    ("100.100.100.200/32", "metadata"),  # Alibaba Cloud
    ("168.63.129.16/32", "metadata"),  # Azure's wire server
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments (Oracle's 192.0.0.192 metadata)
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # and the broadcast address 255.255.255.255
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("100::/64", "reserved"),  # discard-only
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("fd00:ec2::/32", "metadata"),  # AWS's IPv6 metadata endpoint
    ("ff00::/8", "multicast"),
)
_BUILTIN: tuple[tuple[IPNetwork, str], ...] = tuple((ipaddress.ip_network(n), r) for n, r in BUILTIN_DENIED)

#: IPv6 ranges that carry an IPv4 address in their last 32 bits, reduced to it (the IPv6
#: form only ever reaches that IPv4 address): IPv4-mapped, SIIT's IPv4-translated, and the
#: deprecated IPv4-compatible form.
_REDUCED_TO_IPV4 = tuple(ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96"))
#: IPv6 ranges that translate to an IPv4 address (NAT64's well-known and local-use prefixes):
#: the IPv6 address and the IPv4 one are both checked.
_NAT64 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))

#: The message of every refusal; the reason (a category, never the address) is in the details.
DENIED_MESSAGE = (
    "the connection's host resolves to an address this service does not connect to "
    "(loopback, link-local, cloud metadata, a denied network or a platform endpoint)"
)
#: The reasons a refusal gives, besides the built-in ranges'.
PLATFORM_ENDPOINT = "a platform endpoint"
DENIED_NETWORK = "a denied network"
NOT_A_HOST = "a Unix socket or a malformed host"
#: Every reason a refusal may give.
REASONS = (*dict.fromkeys(reason for _, reason in BUILTIN_DENIED), PLATFORM_ENDPOINT, DENIED_NETWORK, NOT_A_HOST)


# ---- spellings ------------------------------------------------------------------------------


def _ipv4_number(part: str) -> int | None:
    """One part of a numeric IPv4 address as inet_aton reads it: decimal, 0x hex or 0 octal."""
    if not part:
        return None
    try:
        if part[:2].lower() == "0x":
            return int(part[2:], 16) if part[2:] else None
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _numeric_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of inet_aton's forms (``a``, ``a.b``, ``a.b.c``, ``a.b.c.d``, each part
    decimal, hex or octal), which getaddrinfo accepts as addresses; None for anything else."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not text.isascii():
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 1 << (8 * (5 - len(values))):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def clean_host(text: str) -> str:
    """A host as written, without surrounding space, brackets, trailing dots or an IPv6 zone id."""
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.rstrip(".")
    if ":" in host:
        host = host.split("%", 1)[0]
    return host


def parse_ip(text: str) -> IPAddress | None:
    """The address a host names when it is one, in any spelling a resolver accepts; None for a
    name."""
    host = clean_host(text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _numeric_ipv4(host)
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(int(address))
    return address


def is_path(host: str) -> bool:
    """Whether a host names a Unix socket (drivers dial a path, or a name ending in ``.sock``)."""
    return "/" in host or "\\" in host or host.strip().lower().endswith(".sock")


def reached_addresses(address: IPAddress) -> list[IPAddress]:
    """The addresses a connection to ``address`` reaches: itself, or the IPv4 address an IPv6
    form stands for, plus the IPv4 endpoints of NAT64, 6to4 and Teredo addresses."""
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    for network in _REDUCED_TO_IPV4:
        if address in network and int(address) & 0xFFFFFFFF and address != ipaddress.IPv6Address("::1"):
            return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    reached: list[IPAddress] = [address]
    if any(address in network for network in _NAT64):
        reached.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        reached.append(address.sixtofour)
    if address.teredo is not None:
        reached.extend(address.teredo)
    return reached


# ---- the policy -----------------------------------------------------------------------------


def split_host_port(text: str) -> tuple[str, str]:
    """The host and the port's text ("" when none) of ``host:port``, ``[v6]:port``, a bare IPv6
    address or a host alone."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        return host, port_text
    return text, ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A platform endpoint: a host (an address, a network or a name) and a port (None: any)."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``host:port``, ``[v6]:port``, ``host`` or a CIDR network; ValueError when malformed."""
        text = text.strip()
        if not text:
            raise ValueError("an empty endpoint")
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
            return cls(text)
        host, port_text = split_host_port(text)
        if not host:
            raise ValueError(f"{text!r} has no host")
        if port_text and (not port_text.isdigit() or not 0 < int(port_text) < 65536):
            raise ValueError(f"{text!r} has a bad port")
        return cls(clean_host(host), int(port_text) if port_text else None)

    @property
    def network(self) -> IPNetwork | None:
        """The endpoint's addresses when it names addresses rather than a host name."""
        if "/" in self.host:
            return ipaddress.ip_network(self.host, strict=False)
        address = parse_ip(self.host)
        return None if address is None else ipaddress.ip_network(address)

    @property
    def wildcard(self) -> bool:
        """A listener on every interface (``0.0.0.0``, ``::``): it is reached on every address of
        this host."""
        address = parse_ip(self.host)
        return address is not None and address.is_unspecified


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from CIDR text (an address alone is a /32 or /128); ValueError when malformed."""
    networks = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        address = parse_ip(text) if "/" not in text else None
        networks.append(ipaddress.ip_network(address or text, strict=False))
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which addresses a tenant's connection may reach (see the module's docstring)."""

    denied: tuple[IPNetwork, ...] = ()
    allowed: tuple[IPNetwork, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()

    def refusal(
        self, address: IPAddress, port: int | None, endpoint_addresses: Iterable[tuple[IPNetwork, int | None]] = ()
    ) -> str | None:
        """Why ``address``:``port`` may not be dialled, or None when it may. ``endpoint_addresses``
        are the platform endpoints' resolved addresses (the static ones are checked here)."""
        reached = reached_addresses(address)
        endpoints = [*self._static_endpoints(), *endpoint_addresses]
        for candidate in reached:
            for network, endpoint_port in endpoints:
                same_port = endpoint_port is None or port is None or endpoint_port == port
                if same_port and candidate.version == network.version and candidate in network:
                    return PLATFORM_ENDPOINT
        for candidate in reached:
            if any(candidate.version == n.version and candidate in n for n in self.allowed):
                continue
            for network, reason in _BUILTIN:
                if candidate.version == network.version and candidate in network:
                    return reason
            if any(candidate.version == n.version and candidate in n for n in self.denied):
                return DENIED_NETWORK
        return None

    def _static_endpoints(self) -> Iterator[tuple[IPNetwork, int | None]]:
        for endpoint in self.endpoints:
            network = endpoint.network
            if network is not None and not endpoint.wildcard:
                yield network, endpoint.port
