"""The address policy of tenant connections: every spelling of an address reduced to what it
reaches, the built-in denials, the operator's networks and the platform endpoints (udb.netpolicy,
udb.dialing; names resolve through the system resolver only: localhost)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from udb.config import ConfigError, Env, database_endpoints, network_policy_from_env
from udb.dialing import AddressDenied, DialGuard, denial_of, denied_error
from udb.netpolicy import (
    BUILTIN_DENIED,
    DENIED_MESSAGE,
    Endpoint,
    NetworkPolicy,
    is_path,
    parse_ip,
    parse_networks,
    reached_addresses,
)

DEFAULT = NetworkPolicy()
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("017700000001", "127.0.0.1"),  # one octal number
        ("0x7f000001", "127.0.0.1"),  # one hex number
        ("0x7f.1", "127.0.0.1"),  # a.b, hex
        ("127.1", "127.0.0.1"),  # a.b
        ("127.0.1", "127.0.0.1"),  # a.b.c
        ("0177.0.0.1", "127.0.0.1"),  # octal part
        ("0x7F.0.0.0x1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),  # a trailing dot
        (" 127.0.0.1 ", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("fe80::1%eth0", "fe80::1"),  # a zone id
        ("[fe80::1%25eth0]", "fe80::1"),
        ("FD00:EC2::254", "fd00:ec2::254"),
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("0", "0.0.0.0"),
    ],
)
def test_every_spelling_of_an_address_is_reduced_to_it(spelling: str, address: str) -> None:
    """Decimal, octal, hex and short IPv4 forms, brackets, trailing dots and zone ids all give the address."""
    assert parse_ip(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "name", ["db.example.com", "localhost", "127.0.0.1.nip.io", "256.1.1.1", "1.2.3.4.5", "0x", "0x.1", "08", ""]
)
def test_names_and_malformed_numbers_are_no_address(name: str) -> None:
    """A host name, or numbers no resolver reads as an address, is left to resolution."""
    assert parse_ip(name) is None


@pytest.mark.parametrize(
    ("address", "reaches"),
    [
        ("::ffff:127.0.0.1", ["127.0.0.1"]),  # IPv4-mapped: only the IPv4 address
        ("::ffff:0:7f00:1", ["127.0.0.1"]),  # SIIT
        ("::127.0.0.1", ["127.0.0.1"]),  # IPv4-compatible
        ("64:ff9b::a9fe:a9fe", ["64:ff9b::a9fe:a9fe", "169.254.169.254"]),  # NAT64
        ("64:ff9b:1::7f00:1", ["64:ff9b:1::7f00:1", "127.0.0.1"]),  # local-use NAT64
        ("2002:a9fe:a9fe::1", ["2002:a9fe:a9fe::1", "169.254.169.254"]),  # 6to4
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "65.54.227.120", "192.0.2.45"],
        ),
        ("::1", ["::1"]),
        ("::", ["::"]),
        ("8.8.8.8", ["8.8.8.8"]),
    ],
)
def test_ipv4_inside_ipv6_is_checked_as_the_ipv4_address(address: str, reaches: list[str]) -> None:
    """Mapped, SIIT and compatible forms reduce to their IPv4 address; NAT64, 6to4 and Teredo add theirs."""
    assert reached_addresses(ipaddress.ip_address(address)) == [ipaddress.ip_address(a) for a in reaches]


@pytest.mark.parametrize(
    ("spelling", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("2130706433", "loopback"),
        ("0x7f.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link-local or metadata"),
        ("169.254.169.254.", "link-local or metadata"),
        ("::ffff:a9fe:a9fe", "link-local or metadata"),
        ("64:ff9b:1::a9fe:a9fe", "link-local or metadata"),
        ("fe80::1%eth0", "link-local"),
        ("[fe80::abcd]", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("168.63.129.16", "metadata"),
        ("192.0.0.192", "reserved"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("fec0::1", "site-local"),
    ],
)
def test_the_production_default_refuses_local_metadata_and_reserved_addresses(spelling: str, reason: str) -> None:
    """Loopback, unspecified, link-local, metadata, multicast, broadcast and reserved, in every spelling."""
    address = parse_ip(spelling)
    assert address is not None
    assert DEFAULT.refusal(address, 5432) == reason


@pytest.mark.parametrize("spelling", ["8.8.8.8", "10.1.2.3", "192.168.0.7", "172.16.5.4", "2001:db8::1", "fd12::1"])
def test_the_default_allows_other_addresses(spelling: str) -> None:
    """Public and private addresses are allowed unless the operator denies their network."""
    address = parse_ip(spelling)
    assert address is not None
    assert DEFAULT.refusal(address, 5432) is None


def test_operator_networks_and_platform_endpoints() -> None:
    """DENIED_NETWORKS adds ranges; ALLOWED_NETWORKS makes exceptions to both; a platform endpoint is
    refused on its port (or every port) even inside an allowed network, in any spelling."""
    policy = NetworkPolicy(
        denied=parse_networks(["10.0.0.0/8"]),
        allowed=parse_networks(["127.0.0.0/8", "10.9.0.0/16", "::1"]),
        endpoints=(Endpoint.parse("127.0.0.1:5432"), Endpoint.parse("10.9.9.9")),
    )

    def refusal(spelling: str, port: int) -> str | None:
        address = parse_ip(spelling)
        assert address is not None
        return policy.refusal(address, port)

    assert refusal("10.1.1.1", 5432) == "a denied network"
    assert refusal("10.9.1.1", 5432) is None
    assert refusal("127.0.0.1", 6379) is None
    assert refusal("::1", 6379) is None
    for spelling in ("127.0.0.1", "2130706433", "::ffff:127.0.0.1", "0x7f.1"):
        assert refusal(spelling, 5432) == "a platform endpoint", spelling
    assert refusal("10.9.9.9", 1) == "a platform endpoint"


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("db.internal:5432", Endpoint("db.internal", 5432)),
        ("[fd00::7]:5432", Endpoint("fd00::7", 5432)),
        ("10.0.0.7", Endpoint("10.0.0.7", None)),
        ("10.0.0.0/24", Endpoint("10.0.0.0/24", None)),
        ("fd00::7", Endpoint("fd00::7", None)),
    ],
)
def test_endpoints_parse(text: str, endpoint: Endpoint) -> None:
    """host:port, [v6]:port, a host alone (every port) and a network."""
    assert Endpoint.parse(text) == endpoint


@pytest.mark.parametrize("text", ["", "h:x", "h:70000", ":5432", "10.0.0.0/99"])
def test_bad_endpoints_are_refused(text: str) -> None:
    """An endpoint without host, with a bad port or network is a ValueError."""
    with pytest.raises(ValueError):
        Endpoint.parse(text)


def test_the_platform_database_and_every_listener_are_endpoints() -> None:
    """The registry's database URL (hosts, ports, ?host= of a TCP host; socket folders left out), the
    services' addresses, metrics, the rate limits' Redis and PLATFORM_ENDPOINTS all become endpoints."""
    assert database_endpoints("postgresql://u:p%40ss@db1:5433,db2/udb?host=/var/run/postgresql") == [
        Endpoint("db1", 5433),
        Endpoint("db2", 5432),
    ]
    assert database_endpoints("postgresql:///udb?host=10.0.0.5&port=6000") == [Endpoint("10.0.0.5", 6000)]
    env = Env(
        environ={
            "REGISTRY_DATABASE_URL": "postgresql://u:pw@10.0.0.5:5432/udb",
            "PG_SVC_ADDR": "0.0.0.0:50054",
            "PLATFORM_ENDPOINTS": "envoy:8443",
            "GATEWAY_METRICS_ADDR": "off",
            "RATE_LIMIT_REDIS_URL": "rediss://:pw@platform-redis/0",
        },
        env_file=None,
    )
    endpoints = network_policy_from_env(env).endpoints
    for expected in (
        Endpoint("10.0.0.5", 5432),
        Endpoint("platform-redis", 6379),
        Endpoint("0.0.0.0", 50054),
        Endpoint("envoy", 8443),
        Endpoint("127.0.0.1", 50051),
        Endpoint("127.0.0.1", 8080),
    ):
        assert expected in endpoints
    assert Endpoint("127.0.0.1", 9100) not in endpoints
    for variable in ("REGISTRY_DATABASE_URL", "RATE_LIMIT_REDIS_URL"):
        with pytest.raises(ConfigError) as caught:
            network_policy_from_env(Env(environ={variable: "not a url :pw"}, env_file=None))
        assert "pw" not in str(caught.value)


async def test_the_guard_resolves_checks_and_pins() -> None:
    """The guard returns the checked addresses of a name, refuses a host with any denied address, a path or
    a wildcard listener's port on this host's own addresses."""
    open_policy = NetworkPolicy(allowed=parse_networks(["127.0.0.0/8", "::1"]), endpoints=(Endpoint("0.0.0.0", 7000),))
    guard = DialGuard(open_policy)
    assert set(await guard.addresses("localhost", 6379)) <= {"127.0.0.1", "::1"}
    assert await guard.addresses("0x7f.1", 6379) == ["127.0.0.1"]
    for host, port in (("127.0.0.1", 7000), ("127.3.4.5", 7000), ("localhost", 7000)):
        with pytest.raises(AddressDenied) as caught:
            await guard.addresses(host, port)
        assert caught.value.reason == "a platform endpoint"
    for path in ("/var/run/postgresql", "/tmp/mongodb-27017.sock", "mongodb-27017.sock", "..\\pipe"):
        assert is_path(path)
        with pytest.raises(AddressDenied):
            await guard.addresses(path, 5432)
    with pytest.raises(AddressDenied):
        await DialGuard(DEFAULT).addresses("localhost", 6379)
    await DialGuard(DEFAULT).check("db.example.invalid", 5432)  # does not resolve here: the engines check
    with pytest.raises(OSError):
        await DialGuard(DEFAULT).addresses("db.example.invalid", 5432)


def test_a_refusal_is_found_behind_a_driver_error() -> None:
    """A refusal wrapped by a driver (as cause, as context, or folded into a message) is the API's 400 with its
    reason; other errors are not refusals."""
    denied = AddressDenied("a platform endpoint")
    wrapped = ConnectionError("Error connecting")
    wrapped.__cause__ = denied
    assert denial_of(wrapped) is denied
    context = ConnectionError("Error connecting")
    context.__context__ = wrapped
    assert denial_of(context) is denied
    folded = RuntimeError(f"h:1: {DENIED_MESSAGE}: loopback (configured timeouts), Timeout: 2s")
    found = denial_of(folded)
    assert found is not None and found.reason == "loopback"
    error = denied_error(folded)
    assert error is not None and error.http_status == 400 and error.details == {"field": "host", "reason": "loopback"}
    assert denial_of(OSError("refused")) is None


def test_the_engines_egress_policy_walls_off_what_the_engines_refuse() -> None:
    """deploy/k8s's engines-egress lets engine pods reach the registry, DNS and addresses outside every range
    the engines refuse by default and the cluster's networks the ConfigMap denies: the two walls agree."""
    documents = list(yaml.safe_load_all((REPO / "deploy/k8s/networkpolicy.yaml").read_text()))
    (policy,) = [d for d in documents if d and d["metadata"]["name"] == "engines-egress"]
    assert policy["spec"]["policyTypes"] == ["Egress"]
    excepted = [
        ipaddress.ip_network(network)
        for rule in policy["spec"]["egress"]
        for peer in rule["to"]
        if "ipBlock" in peer
        for network in peer["ipBlock"].get("except", [])
    ]
    config = yaml.safe_load((REPO / "deploy/k8s/config.yaml").read_text())["data"]
    refused = [
        *(ipaddress.ip_network(n) for n, _ in BUILTIN_DENIED),
        *parse_networks(config["DENIED_NETWORKS"].split(",")),
    ]
    for network in refused:
        assert any(
            network.version == wall.version and network.subnet_of(wall)  # type: ignore[arg-type]
            for wall in excepted
        ), network
    assert "PLATFORM_ENDPOINTS" in config
