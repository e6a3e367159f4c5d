"""Connection specs: engine URIs, field validation and the host guard (pure logic; the guard's
hostname checks resolve names through the system resolver only: localhost and numeric forms)."""

from __future__ import annotations

import ipaddress

import pytest
from registry import connspec
from registry.settings import DEFAULT_DENIED_NETWORKS, Settings

from udb.common.v1 import common_pb2
from udb.config import ConfigError, Env
from udb.errors import InvalidArgument
from udb.registry_client import plain_numbers

REDIS = common_pb2.DATABASE_TYPE_REDIS
MONGODB = common_pb2.DATABASE_TYPE_MONGODB
POSTGRES = common_pb2.DATABASE_TYPE_POSTGRES
DEFAULT_NETWORKS = tuple(ipaddress.ip_network(n) for n in DEFAULT_DENIED_NETWORKS)


def spec(database_type: common_pb2.DatabaseType = REDIS, **fields: object) -> connspec.ConnectionSpec:
    return connspec.ConnectionSpec(**{"database_type": database_type, "host": "db.internal", "port": 0, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("uri", "database_type", "expected"),
    [
        (
            "redis://user:pw@cache.internal:6380/2",
            REDIS,
            {"host": "cache.internal", "port": 6380, "username": "user", "password": "pw", "database": "2"},
        ),
        ("redis://cache.internal", REDIS, {"port": 6379, "username": "", "password": None, "database": "0"}),
        ("redis://:only-pw@cache.internal/0", REDIS, {"username": "", "password": "only-pw"}),
        ("rediss://cache.internal:6390", REDIS, {"tls": True, "port": 6390}),
        ("redis://[::1]:6381/3", REDIS, {"host": "::1", "port": 6381, "database": "3"}),
        ("redis://u:p%40ss%2Fword@h.internal/1", REDIS, {"password": "p@ss/word"}),
        (
            "postgresql://app:s3cret@pg.internal:5433/shop?sslmode=require&application_name=udb",
            POSTGRES,
            {
                "host": "pg.internal",
                "port": 5433,
                "username": "app",
                "password": "s3cret",
                "database": "shop",
                "tls": True,
                "options": {"sslmode": "require", "application_name": "udb"},
            },
        ),
        ("postgres://pg.internal/shop", POSTGRES, {"port": 5432, "database": "shop", "tls": False}),
        ("postgresql://pg.internal/shop?sslmode=disable", POSTGRES, {"tls": False}),
        (
            "mongodb://root:pw@m1.internal:27018,m2.internal/app?replicaSet=rs0&authSource=admin",
            MONGODB,
            {
                "host": "m1.internal",
                "port": 27018,
                "username": "root",
                "password": "pw",
                "database": "app",
                "options": {
                    "replicaSet": "rs0",
                    "authSource": "admin",
                    "hosts": ["m1.internal:27018", "m2.internal:27017"],
                },
            },
        ),
        ("mongodb://m.internal/?tls=true", MONGODB, {"port": 27017, "database": "", "tls": True, "options": {}}),
        (
            "mongodb+srv://u:p@cluster0.example.net/app",
            MONGODB,
            {"host": "cluster0.example.net", "tls": True, "options": {"srv": True}},
        ),
        ("mongodb://m.internal?appName=console", MONGODB, {"host": "m.internal", "options": {"appName": "console"}}),
    ],
)
def test_uris_of_each_engine_parse_into_fields(
    uri: str, database_type: common_pb2.DatabaseType, expected: dict[str, object]
) -> None:
    """Each engine's URI forms (auth, ports, db, TLS schemes, options, several hosts) give the right fields."""
    parsed = connspec.validate(connspec.parse_uri(uri, database_type))
    for name, value in expected.items():
        assert getattr(parsed, name) == value, name


@pytest.mark.parametrize(
    ("uri", "database_type", "message"),
    [
        ("http://h.internal", REDIS, "uri must start with"),
        ("h.internal:6379", REDIS, "uri must start with"),
        ("mongodb://h.internal", REDIS, "is not a redis connection"),
        ("redis://h.internal", POSTGRES, "is not a postgres connection"),
        ("redis://", REDIS, "no host"),
        ("redis://:pw@", REDIS, "no host"),
        ("redis://a.internal,b.internal", REDIS, "only mongodb"),
        ("mongodb+srv://a.internal:27017/", MONGODB, "mongodb+srv"),
        ("redis://h.internal:99999", REDIS, "port must be between"),
        ("redis://h.internal:0", REDIS, "port must be between"),
        ("redis://h.internal:abc", REDIS, "port is not a number"),
        ("redis://h.internal/x", REDIS, "db index"),
    ],
)
def test_bad_uris_are_refused_with_a_clear_message(
    uri: str, database_type: common_pb2.DatabaseType, message: str
) -> None:
    """A URI of another engine, without host, with a bad port or db is InvalidArgument saying what is wrong."""
    with pytest.raises(InvalidArgument) as caught:
        connspec.validate(connspec.parse_uri(uri, database_type))
    assert message in caught.value.message


@pytest.mark.parametrize(
    "uri",
    [
        "redis://user:Hunter2Secret/host:6379",  # an unescaped '/' in the password
        "redis://user:Hunter2Secret@@host:x",
        "postgresql://u:Hunter2Secret/x@host/db",
        "mongodb://u:Hunter2Secret/@h1,h2:bad",
        "redis://u:Hunter2Secret?@host",  # an unescaped '?'
    ],
)
def test_a_malformed_uri_is_never_quoted_in_the_error(uri: str) -> None:
    """Errors about a malformed URI do not echo any part of it (it may hold a password anywhere)."""
    database_type = connspec._SCHEMES[uri.partition("://")[0]][0]
    with pytest.raises(InvalidArgument) as caught:
        connspec.validate(connspec.parse_uri(uri, database_type))
    assert "Hunter2Secret" not in caught.value.message
    assert "Hunter2Secret" not in str(caught.value.details)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": ""}, "host is required"),
        ({"host": "bad host!"}, "not a valid hostname"),
        ({"host": "a" * 300}, "not a valid hostname"),
        ({"port": 70000}, "port must be between"),
        ({"port": -1}, "port must be between"),
        ({"database": "two"}, "db index"),
        ({"password": "x" * 5000}, "too long"),
        ({"options": {"": 1}}, "options keys"),
        ({"options": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}, "nest"),
    ],
)
def test_bad_fields_are_refused_naming_the_problem(fields: dict[str, object], message: str) -> None:
    """Field validation names the bad field: empty or invalid host, port out of range, bad db index, options."""
    with pytest.raises(InvalidArgument) as caught:
        connspec.validate(spec(**fields))
    assert message in caught.value.message


def test_engine_specific_database_rules() -> None:
    """Redis needs a db index, MongoDB a valid database name, Postgres one of at most 63 bytes."""
    assert connspec.validate(spec(REDIS, database="007")).database == "7"
    assert connspec.validate(spec(REDIS)).database == "0"
    with pytest.raises(InvalidArgument):
        connspec.validate(spec(MONGODB, database="a.b"))
    with pytest.raises(InvalidArgument):
        connspec.validate(spec(POSTGRES, database="x" * 64))
    assert connspec.validate(spec(POSTGRES, database="shop")).database == "shop"


def test_defaults_and_sslmode() -> None:
    """A missing port takes the engine's default; sslmode require turns TLS on; a bad sslmode is refused."""
    assert connspec.validate(spec(MONGODB)).port == 27017
    assert connspec.validate(spec(POSTGRES, options={"sslmode": "verify-full"})).tls is True
    with pytest.raises(InvalidArgument):
        connspec.validate(spec(POSTGRES, options={"sslmode": "sometimes"}))


def test_identifiers() -> None:
    """Identifiers are 1-63 letters, digits, '_', '.', '-', starting with a letter or digit."""
    assert connspec.validate_identifier("cache.eu-1_b") == "cache.eu-1_b"
    for bad in ("", "-x", "a b", "x" * 64, "a/b"):
        with pytest.raises(InvalidArgument):
            connspec.validate_identifier(bad)


def test_whole_numbers_stay_ints() -> None:
    """Options' whole numbers come out as ints (protobuf Struct makes them doubles), through dicts and lists."""
    assert plain_numbers({"a": 5.0, "b": [1.0, 2.5], "c": {"d": 3.0}, "e": "6"}) == {
        "a": 5,
        "b": [1, 2.5],
        "c": {"d": 3},
        "e": "6",
    }
    assert connspec.validate(spec(options={"maxPoolSize": 5.0})).options == {"maxPoolSize": 5}


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # AWS, GCP, Azure metadata
        "169.254.0.1",
        "fd00:ec2::254",  # AWS IPv6 metadata
        "[fd00:ec2::254]",
        "::ffff:169.254.169.254",  # IPv4-mapped IPv6
        "2852039166",  # 169.254.169.254 as one number: resolves to it
        "0xa9.0xfe.0xa9.0xfe",  # and in hex
    ],
)
async def test_the_default_guard_refuses_metadata_addresses(host: str) -> None:
    """Link-local 169.254.0.0/16 and fd00:ec2::/32, in any spelling that resolves to them, are refused."""
    with pytest.raises(InvalidArgument) as caught:
        await connspec.check_host_allowed(connspec.validate(spec(host=host)), DEFAULT_NETWORKS)
    assert "denied network" in caught.value.message


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "10.0.0.5", "db.example.invalid"])
async def test_the_default_guard_lets_loopback_and_private_hosts_through(host: str) -> None:
    """Loopback (for local use), private addresses and names that do not resolve here are allowed."""
    await connspec.check_host_allowed(connspec.validate(spec(host=host)), DEFAULT_NETWORKS)


async def test_the_guard_checks_every_host_a_record_reaches() -> None:
    """MongoDB seed lists and a proxy host are checked like the record's own host."""
    seeds = spec(MONGODB, host="10.0.0.1", options={"hosts": ["10.0.0.1:27017", "169.254.169.254:27017"]})
    with pytest.raises(InvalidArgument):
        await connspec.check_host_allowed(connspec.validate(seeds), DEFAULT_NETWORKS)
    proxy = spec(MONGODB, host="10.0.0.1", options={"proxyHost": "169.254.169.254"})
    with pytest.raises(InvalidArgument):
        await connspec.check_host_allowed(connspec.validate(proxy), DEFAULT_NETWORKS)
    uri = connspec.parse_uri("mongodb://10.0.0.1,[fd00:ec2::254]:27017/app", MONGODB)
    with pytest.raises(InvalidArgument):
        await connspec.check_host_allowed(connspec.validate(uri), DEFAULT_NETWORKS)


async def test_the_deny_list_is_configurable() -> None:
    """DENIED_NETWORKS replaces the default: it can refuse loopback, or allow everything when empty."""
    base = {"JWT_SECRET": "x" * 32, "REGISTRY_DATABASE_URL": "postgresql://h/db", "DATABASE_ENCRYPTION_KEY": "k"}
    strict = Settings.from_env(Env(environ={**base, "DENIED_NETWORKS": "127.0.0.0/8, ::1/128"}, env_file=None))
    with pytest.raises(InvalidArgument):
        await connspec.check_host_allowed(connspec.validate(spec(host="localhost")), strict.denied_networks)
    await connspec.check_host_allowed(connspec.validate(spec(host="169.254.169.254")), strict.denied_networks)
    default = Settings.from_env(Env(environ=base, env_file=None))
    assert default.denied_networks == DEFAULT_NETWORKS
    open_ = Settings.from_env(Env(environ={**base, "DENIED_NETWORKS": ""}, env_file=None))
    await connspec.check_host_allowed(connspec.validate(spec(host="169.254.169.254")), open_.denied_networks)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(Env(environ={**base, "DENIED_NETWORKS": "10.0.0.0/99"}, env_file=None))
    assert "DENIED_NETWORKS" in str(caught.value)
