"""Connection specs: engine URIs, field validation, secret options and the host guard (pure logic;
the guard's hostname checks resolve names through the system resolver only: localhost and numeric
forms)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from registry import connspec
from registry.settings import Settings

from udb.common.v1 import common_pb2
from udb.config import ConfigError, Env
from udb.dialing import DialGuard
from udb.errors import InvalidArgument
from udb.netpolicy import NetworkPolicy
from udb.structs import plain_numbers

REDIS = common_pb2.DATABASE_TYPE_REDIS
MONGODB = common_pb2.DATABASE_TYPE_MONGODB
POSTGRES = common_pb2.DATABASE_TYPE_POSTGRES
DEFAULT_GUARD = DialGuard(NetworkPolicy())


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
        "127.0.0.1",
        "::1",
        "localhost",
        "0.0.0.0",
    ],
)
async def test_the_default_guard_refuses_metadata_and_local_addresses(host: str) -> None:
    """Metadata, link-local, loopback and unspecified addresses, in any spelling that resolves to them, are refused."""
    with pytest.raises(InvalidArgument) as caught:
        await connspec.check_host_allowed(connspec.validate(spec(host=host)), DEFAULT_GUARD)
    assert "does not connect to" in caught.value.message


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.9", "8.8.8.8", "db.example.invalid"])
async def test_the_default_guard_lets_other_hosts_through(host: str) -> None:
    """Private and public addresses, and names that do not resolve here, are allowed by default."""
    await connspec.check_host_allowed(connspec.validate(spec(host=host)), DEFAULT_GUARD)


async def test_the_guard_checks_every_host_a_record_reaches() -> None:
    """MongoDB seed lists and Redis sentinels are checked like the record's own host; a proxy is refused."""
    seeds = spec(MONGODB, host="10.0.0.1", options={"hosts": ["10.0.0.1:27017", "169.254.169.254:27017"]})
    with pytest.raises(InvalidArgument):
        await connspec.check_host_allowed(connspec.validate(seeds), DEFAULT_GUARD)
    sentinels = spec(REDIS, host="10.0.0.1", options={"sentinel_master": "m", "sentinels": ["[::1]:26379"]})
    with pytest.raises(InvalidArgument):
        await connspec.check_host_allowed(connspec.validate(sentinels), DEFAULT_GUARD)
    with pytest.raises(InvalidArgument):
        connspec.validate(spec(MONGODB, host="10.0.0.1", options={"proxyHost": "10.0.0.9"}))
    uri = connspec.parse_uri("mongodb://10.0.0.1,[fd00:ec2::254]:27017/app", MONGODB)
    with pytest.raises(InvalidArgument):
        await connspec.check_host_allowed(connspec.validate(uri), DEFAULT_GUARD)


async def test_the_networks_are_configurable() -> None:
    """DENIED_NETWORKS adds to the built-in ranges, ALLOWED_NETWORKS makes exceptions (loopback for a
    local stack), and the platform database's host and port stay refused whatever is allowed."""
    base = {
        "JWT_SECRET": "x" * 32,
        "REGISTRY_DATABASE_URL": "postgresql://u:pw@127.0.0.1:5999/udb",
        "DATABASE_ENCRYPTION_KEY": "k",
    }

    def guard(**env: str) -> DialGuard:
        return DialGuard(Settings.from_env(Env(environ={**base, **env}, env_file=None)).network_policy)

    strict = guard(DENIED_NETWORKS="10.0.0.0/8, fc00::/7")
    with pytest.raises(InvalidArgument):
        await connspec.check_host_allowed(connspec.validate(spec(host="10.1.2.3")), strict)
    local = guard(ALLOWED_NETWORKS="127.0.0.0/8")
    await connspec.check_host_allowed(connspec.validate(spec(host="127.0.0.1", port=6379)), local)
    with pytest.raises(InvalidArgument) as caught:
        await connspec.check_host_allowed(connspec.validate(spec(POSTGRES, host="127.0.0.1", port=5999)), local)
    assert caught.value.details["reason"] == "a platform endpoint"
    for variable in ("DENIED_NETWORKS", "ALLOWED_NETWORKS", "PLATFORM_ENDPOINTS"):
        with pytest.raises(ConfigError) as error:
            Settings.from_env(Env(environ={**base, variable: "10.0.0.0/99"}, env_file=None))
        assert variable in str(error.value)


@pytest.mark.parametrize(
    ("uri", "database_type", "password", "sealed"),
    [
        ("redis://h.internal/0?password=Hunter2", REDIS, "Hunter2", {}),
        ("redis://:pw@h.internal/0?password=Hunter2", REDIS, "pw", {"password": "Hunter2"}),
        ("postgresql://u@h.internal/db?password=Hunter2&sslpassword=k3y", POSTGRES, "Hunter2", {"sslpassword": "k3y"}),
        (
            "mongodb://u:pw@h.internal/?authMechanismProperties=AWS_SESSION_TOKEN:T0k&appName=x",
            MONGODB,
            "pw",
            {"authMechanismProperties": "AWS_SESSION_TOKEN:T0k"},
        ),
        (
            "mongodb://h.internal/?tlsCertificateKeyFilePassword=Hunter2",
            MONGODB,
            None,
            {"tlsCertificateKeyFilePassword": "Hunter2"},
        ),
    ],
)
def test_passwords_anywhere_in_a_uri_are_kept_apart(
    uri: str, database_type: common_pb2.DatabaseType, password: str | None, sealed: dict[str, str]
) -> None:
    """A query ?password= is the password (or sealed beside it); options whose names say password, secret or
    token are kept out of the options, to be sealed; none stays in the options that are shown."""
    parsed = connspec.validate(connspec.parse_uri(uri, database_type))
    assert parsed.password == password
    assert parsed.secret_options == sealed
    assert not any(connspec.is_secret_option(key) for key in parsed.options)
    assert "Hunter2" not in str(parsed.options)


def test_secret_options_from_fields_are_kept_apart() -> None:
    """The options field is split the same way: read_only_password and a token are sealed, the rest shown."""
    parsed = connspec.validate(
        spec(POSTGRES, options={"read_only_role": "r", "read_only_password": "Hunter2", "api_token": "t", "a": 1})
    )
    assert parsed.options == {"read_only_role": "r", "a": 1}
    assert parsed.secret_options == {"read_only_password": "Hunter2", "api_token": "t"}


@pytest.mark.parametrize(
    "options",
    [
        {"host": "/var/run/postgresql"},
        {"hostaddr": "127.0.0.1"},
        {"passfile": "/root/.pgpass"},
        {"sslkey": "/etc/ssl/private/key.pem"},
        {"unix_socket_path": "/tmp/redis.sock"},
        {"tlsCAFile": "/etc/passwd"},
    ],
)
def test_options_that_reach_another_host_or_a_file_are_refused(options: dict[str, str]) -> None:
    """libpq's host/hostaddr/passfile/key files, a Unix socket and MongoDB's files are refused, naming the option."""
    with pytest.raises(InvalidArgument) as caught:
        connspec.validate(spec(POSTGRES, options=options))
    assert next(iter(options)) in caught.value.message


def test_the_target_of_a_record() -> None:
    """Host, port, TLS, user and the options choosing servers or loosening TLS make the target; the database,
    the identifier and other options do not."""
    base = connspec.validate(spec(POSTGRES, host="a.internal", username="u", options={"application_name": "x"}))
    same = [{"database": "other"}, {"options": {"application_name": "y"}}, {"host": "A.internal"}]
    for change in same:
        assert connspec.target_of(connspec.validate(replace(base, **change))) == connspec.target_of(base), change
    moved = [
        {"host": "b.internal"},
        {"port": 6000},
        {"tls": True},
        {"username": "v"},
        {"options": {"sslmode": "disable"}},
        {"options": {"hosts": ["c.internal:1"]}},
    ]
    for change in moved:
        assert connspec.target_of(connspec.validate(replace(base, **change))) != connspec.target_of(base), change
