"""Connection specs: parsing engine URIs, validating fields, sealing secret options, and
guarding hosts.

A spec is what a connection record holds, secrets included. It comes from fields, from a URI
(``redis://user:pw@host:6380/2``, ``mongodb://...``, ``mongodb+srv://...``, ``postgresql://...``)
or from both (fields override the URI). Nothing here touches the network except the host guard,
which resolves a hostname to check its addresses (:class:`udb.dialing.DialGuard`).

An option whose name says it is a secret (``password``, ``...Password``, ``secret``, ``token``,
``authMechanismProperties``), from a URI's query or the ``options`` field, is kept apart from
the options (:attr:`ConnectionSpec.secret_options`), sealed with the password and never returned.

Error messages never quote the URI or a part of it: a malformed one may hold a password in
any position (an unescaped ``/`` or ``@`` in it moves the split points).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, unquote

from udb.common.v1 import common_pb2
from udb.dialing import AddressDenied, DialGuard
from udb.engines import DB_TYPE_NAMES
from udb.errors import InvalidArgument
from udb.netpolicy import DENIED_MESSAGE, split_host_port
from udb.structs import plain_numbers

DatabaseType = common_pb2.DatabaseType

DEFAULT_PORTS: dict[DatabaseType, int] = {
    common_pb2.DATABASE_TYPE_REDIS: 6379,
    common_pb2.DATABASE_TYPE_MONGODB: 27017,
    common_pb2.DATABASE_TYPE_POSTGRES: 5432,
}
_SCHEMES: dict[str, tuple[DatabaseType, bool]] = {
    "redis": (common_pb2.DATABASE_TYPE_REDIS, False),
    "rediss": (common_pb2.DATABASE_TYPE_REDIS, True),
    "mongodb": (common_pb2.DATABASE_TYPE_MONGODB, False),
    "mongodb+srv": (common_pb2.DATABASE_TYPE_MONGODB, True),
    "postgresql": (common_pb2.DATABASE_TYPE_POSTGRES, False),
    "postgres": (common_pb2.DATABASE_TYPE_POSTGRES, False),
}
_TLS_SSLMODES = {"require", "verify-ca", "verify-full"}
_SSLMODES = {"disable", "allow", "prefer", *_TLS_SSLMODES}

IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$")
_MONGO_DB_FORBIDDEN = set('/\\. "$*<>:|?')
#: Option names that hold a secret: sealed like the password, never returned.
SECRET_OPTION_RE = re.compile(
    r"pass(word|wd|phrase)?|secret|token|credential|private_?key|authmechanismproperties", re.I
)
#: Options that would make a driver reach a host, socket or file other than the record's own
#: (libpq's host/hostaddr/service and key files, a Unix socket, a proxy), refused outright.
_REDIRECTING_OPTIONS = frozenset(
    name.lower()
    for name in (
        "host",
        "hostaddr",
        "service",
        "servicefile",
        "passfile",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "unix_socket_path",
        "unixSocketPath",
        "path",
        "socket",
        "tlsCAFile",
        "tlsCertificateKeyFile",
        "tlsCRLFile",
        "proxyHost",
        "proxyPort",
        "proxyUsername",
        "proxyPassword",
    )
)
#: Options that choose where, or how safely, the password goes: changing one is changing the
#: record's target (see :func:`target_of`).
_TARGET_OPTIONS = frozenset(
    name.lower()
    for name in (
        "hosts",
        "srv",
        "srvServiceName",
        "sentinels",
        "sentinel_master",
        "sentinel_auth",
        "cluster",
        "sslmode",
        "tls_verify",
        "tlsInsecure",
        "tlsAllowInvalidCertificates",
        "tlsAllowInvalidHostnames",
        "directConnection",
        "loadBalanced",
        "replicaSet",
        "authSource",
        "authMechanism",
    )
)


@dataclass(frozen=True)
class ConnectionSpec:
    """The settable parts of a connection record, validated."""

    database_type: DatabaseType
    host: str
    port: int
    username: str = ""
    password: str | None = None
    database: str = ""
    tls: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    #: Options that hold secrets (sealed with the password).
    secret_options: dict[str, Any] = field(default_factory=dict)


def is_secret_option(name: str) -> bool:
    """Whether an option's name says that its value is a secret."""
    return SECRET_OPTION_RE.search(name) is not None


def split_secret_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain options, secret options) of an options object."""
    plain: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for key, value in options.items():
        (secret if is_secret_option(str(key)) else plain)[key] = value
    return plain, secret


def target_of(spec: ConnectionSpec) -> tuple[Any, ...]:
    """What decides where a record's secrets are sent, and how safely: its host, port, TLS,
    user and the options that choose servers or loosen TLS. A stored secret follows its target:
    a change of any of these drops it unless the same change supplies it again."""
    options = {key.lower(): value for key, value in spec.options.items() if key.lower() in _TARGET_OPTIONS}
    return (spec.host.lower(), spec.port, spec.tls, spec.username, sorted(options.items(), key=lambda item: item[0]))


def parse_uri(uri: str, database_type: DatabaseType) -> ConnectionSpec:
    """A spec from an engine URI; InvalidArgument for a URI of another engine or a bad one."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise InvalidArgument(
            "uri must start with redis://, rediss://, mongodb://, mongodb+srv:// or postgresql://",
            details={"field": "uri"},
        )
    uri_type, tls = _SCHEMES[scheme.lower()]
    if uri_type != database_type:
        raise InvalidArgument(
            f"a {scheme.lower()}:// uri is not a {DB_TYPE_NAMES.get(database_type, 'known')} connection",
            details={"field": "uri"},
        )
    authority, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    if "?" in authority:  # mongodb://host?opts without a path
        authority, _, query = authority.partition("?")
    userinfo, at, hosts = authority.rpartition("@")
    if not at:
        userinfo, hosts = "", authority
    username, has_password, quoted_password = userinfo.partition(":")
    password = unquote(quoted_password) if has_password else None
    seeds = [_split_host_port(h) for h in hosts.split(",")] if hosts else []
    if not seeds or not all(host for host, _ in seeds):
        raise InvalidArgument("uri has no host", details={"field": "uri"})
    options: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False))
    # A password in the query (redis-py and libpq take ?password=) is the password.
    query_password = next((key for key in options if key.lower() == "password"), None)
    if query_password is not None and password is None:
        password = options.pop(query_password)
    options, secret_options = split_secret_options(options)
    if uri_type == common_pb2.DATABASE_TYPE_MONGODB:
        if scheme.lower() == "mongodb+srv":
            options["srv"] = True
            tls = str(options.pop("tls", options.pop("ssl", "true"))).lower() != "false"
            if len(seeds) != 1 or seeds[0][1] is not None:
                raise InvalidArgument(
                    "a mongodb+srv uri names exactly one host, without a port", details={"field": "uri"}
                )
        else:
            tls = str(options.pop("tls", options.pop("ssl", "false"))).lower() == "true"
        if len(seeds) > 1:
            options["hosts"] = [f"{_bracket(h)}:{p or DEFAULT_PORTS[uri_type]}" for h, p in seeds]
    elif len(seeds) > 1:
        raise InvalidArgument("only mongodb uris may name several hosts", details={"field": "uri"})
    if uri_type == common_pb2.DATABASE_TYPE_POSTGRES:
        sslmode = options.get("sslmode")
        if sslmode is not None:
            tls = sslmode in _TLS_SSLMODES
    host, port = seeds[0]
    return ConnectionSpec(
        database_type=uri_type,
        host=host,
        port=port or DEFAULT_PORTS[uri_type],
        username=unquote(username),
        password=password,
        database=unquote(path),
        tls=tls,
        options=options,
        secret_options=secret_options,
    )


def _split_host_port(text: str) -> tuple[str, int | None]:
    host, port_text = split_host_port(unquote(text.strip()))
    if not port_text:
        return host, None
    if not port_text.isdigit() or not port_text.isascii():
        # Not the text itself: in a malformed uri it may be part of the password.
        raise InvalidArgument(
            "the uri's port is not a number (a password with '/', '@' or ':' must be percent-encoded)",
            details={"field": "uri"},
        )
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise InvalidArgument("port must be between 1 and 65535", details={"field": "port"})
    return host, port


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def validate(spec: ConnectionSpec) -> ConnectionSpec:
    """The spec with defaults applied; InvalidArgument naming the first bad field."""
    if spec.database_type not in DB_TYPE_NAMES:
        raise InvalidArgument("database_type must be redis, mongodb or postgres")
    host = spec.host.strip().removeprefix("[").removesuffix("]")
    if not host:
        raise InvalidArgument("host is required", details={"field": "host"})
    if not _is_ip(host) and not _HOSTNAME_RE.match(host):
        raise InvalidArgument("host is not a valid hostname or IP address", details={"field": "host"})
    port = spec.port or DEFAULT_PORTS[spec.database_type]
    if not 1 <= port <= 65535:
        raise InvalidArgument("port must be between 1 and 65535", details={"field": "port"})
    if len(spec.username) > 256 or (spec.password is not None and len(spec.password) > 4096):
        raise InvalidArgument("username or password too long")
    database = spec.database
    if spec.database_type == common_pb2.DATABASE_TYPE_REDIS:
        database = database or "0"
        if not database.isdigit() or int(database) > 1_000_000:
            raise InvalidArgument("database must be a Redis db index (0, 1, ...)", details={"field": "database"})
        database = str(int(database))
    elif spec.database_type == common_pb2.DATABASE_TYPE_MONGODB:
        if len(database) > 63 or _MONGO_DB_FORBIDDEN & set(database):
            raise InvalidArgument("database is not a valid MongoDB database name", details={"field": "database"})
    elif len(database) > 63:
        raise InvalidArgument("database name is longer than 63 bytes", details={"field": "database"})
    options, secret_options = split_secret_options(plain_numbers(dict(spec.options)))
    secret_options = {**spec.secret_options, **secret_options}
    tls = spec.tls
    if spec.database_type == common_pb2.DATABASE_TYPE_POSTGRES and "sslmode" in options:
        if options["sslmode"] not in _SSLMODES:
            raise InvalidArgument(f"sslmode must be one of {', '.join(sorted(_SSLMODES))}")
        tls = tls or options["sslmode"] in _TLS_SSLMODES
    _check_options(options)
    _check_options(secret_options)
    for key in (*options, *secret_options):
        if key.lower() in _REDIRECTING_OPTIONS:
            raise InvalidArgument(
                f"option {key!r} is not accepted: a connection reaches its own host and port only, "
                "never a socket, file or proxy of the service's host",
                details={"field": "options", "option": key},
            )
    _hosts_of(replace(spec, options=options))  # the seed and sentinel lists are well-formed
    return replace(
        spec, host=host, port=port, database=database, tls=tls, options=options, secret_options=secret_options
    )


def _check_options(options: Mapping[str, Any], depth: int = 0) -> None:
    if depth > 4:
        raise InvalidArgument("options nest too deeply")
    for key, value in options.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            raise InvalidArgument("options keys must be short strings")
        if isinstance(value, Mapping):
            _check_options(value, depth + 1)
        elif not isinstance(value, str | int | float | bool | list | type(None)):
            raise InvalidArgument(f"option {key!r} has an unsupported value")


def validate_identifier(identifier: str) -> str:
    if not IDENTIFIER_RE.match(identifier):
        raise InvalidArgument(
            "identifier must be 1-63 characters of letters, digits, '_', '.' and '-', starting with a letter or digit",
            details={"field": "identifier"},
        )
    return identifier


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def check_host_allowed(spec: ConnectionSpec, guard: DialGuard) -> None:
    """Refuses a record that reaches a denied address (:mod:`udb.netpolicy`): its host and
    port, and each MongoDB seed and Redis sentinel it lists.

    A hostname is resolved and each of its addresses checked. One that does not resolve here is
    let through: it may resolve only where the engine services run, and they check every
    address again when they dial it (as they do the hosts drivers discover later: Sentinel
    masters, Cluster nodes, SRV targets, replica-set members).
    """
    for host, port in _hosts_of(spec):
        try:
            await guard.check(host, port)
        except AddressDenied as exc:
            raise InvalidArgument(DENIED_MESSAGE, details={"field": "host", "reason": exc.reason}) from None


def _hosts_of(spec: ConnectionSpec) -> list[tuple[str, int]]:
    """Every (host, port) the record makes an engine service connect to: its own, a MongoDB
    seed list (``options.hosts``) and Redis sentinels (``options.sentinels``)."""
    hosts = [(spec.host, spec.port or DEFAULT_PORTS.get(spec.database_type, 0))]
    for name, default_port in (("hosts", DEFAULT_PORTS[common_pb2.DATABASE_TYPE_MONGODB]), ("sentinels", 26379)):
        seeds = spec.options.get(name)
        if seeds is None:
            continue
        if not isinstance(seeds, list) or not all(isinstance(seed, str) for seed in seeds):
            raise InvalidArgument(f"options.{name} must be a list of host:port", details={"field": "options"})
        for seed in seeds:
            host, port = _split_host_port(seed)
            if not host:
                raise InvalidArgument(f"options.{name} must be a list of host:port", details={"field": "options"})
            hosts.append((host, port or default_port))
    return [(host.strip().removeprefix("[").removesuffix("]"), port) for host, port in hosts]
