"""Configuration read at start: the environment, then an optional ``.env`` file, then the default.

Each service has a frozen settings dataclass built by ``Settings.from_env()``; the fields every
service shares live in :class:`ServiceSettings`. Nothing is read at import time.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, unquote

from dotenv import dotenv_values

from udb.netpolicy import Endpoint, NetworkPolicy, is_path, parse_networks


class ConfigError(Exception):
    """A required setting is missing or malformed. The message names the variable."""


class Secret:
    """A value that must never be printed: ``str()`` and ``repr()`` show stars."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Typed reads of settings: the environment first, then ``.env``, then the default."""

    def __init__(self, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> None:
        self._environ = os.environ if environ is None else environ
        file_values: dict[str, str | None] = {}
        if env_file is not None and Path(env_file).is_file():
            file_values = dotenv_values(env_file)
        self._file = {k: v for k, v in file_values.items() if v is not None}

    def raw(self, name: str) -> str | None:
        """The value as written, or None when it is not set anywhere."""
        if name in self._environ:
            return self._environ[name]
        return self._file.get(name)

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self.raw(name)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{name} is required but not set")
            return default
        return value

    def optional(self, name: builtins.str) -> builtins.str | None:
        value = self.raw(name)
        return value or None

    def int(self, name: builtins.str, default: int) -> int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, not {value!r}") from None

    def float(self, name: builtins.str, default: float) -> float:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {value!r}") from None

    def bool(self, name: builtins.str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, not {value!r}")

    def secret(self, name: builtins.str) -> Secret | None:
        value = self.raw(name)
        return Secret(value) if value else None

    def list(self, name: builtins.str, default: tuple[builtins.str, ...] = ()) -> tuple[builtins.str, ...]:
        value = self.raw(name)
        if value is None:
            return default
        return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, kw_only=True)
class AuthSettings:
    """How callers' tokens are checked, and how this process proves itself to its peers."""

    jwt_secret: Secret | None = None
    jwks_url: str | None = None
    audience: str | None = None
    #: A service-role token for calls to peers when no HS256 secret is configured to mint one.
    service_token: Secret | None = None

    @classmethod
    def from_env(cls, env: Env) -> Self:
        settings = cls(
            jwt_secret=env.secret("JWT_SECRET"),
            jwks_url=env.optional("JWT_JWKS_URL"),
            audience=env.optional("JWT_AUDIENCE"),
            service_token=env.secret("SERVICE_TOKEN"),
        )
        if settings.jwt_secret is None and settings.jwks_url is None:
            raise ConfigError("JWT_SECRET or JWT_JWKS_URL is required to check callers' tokens")
        if settings.jwt_secret is None and settings.service_token is None:
            raise ConfigError("SERVICE_TOKEN is required with JWT_JWKS_URL (no secret to mint one with)")
        return settings


#: Where each service listens by default, and the variable that overrides it.
DEFAULT_ADDRESSES: dict[str, tuple[str, str]] = {
    "registry": ("REGISTRY_ADDR", "127.0.0.1:50051"),
    "redis-svc": ("REDIS_SVC_ADDR", "127.0.0.1:50052"),
    "mongo-svc": ("MONGO_SVC_ADDR", "127.0.0.1:50053"),
    "pg-svc": ("PG_SVC_ADDR", "127.0.0.1:50054"),
}

#: Where the gateway listens by default (HTTP, and gRPC for its health), and the variables.
GATEWAY_ADDRESSES: dict[str, tuple[str, str]] = {
    "gateway": ("GATEWAY_ADDR", "127.0.0.1:8080"),
    "gateway-grpc": ("GATEWAY_GRPC_ADDR", "127.0.0.1:50050"),
}

#: Where each process serves its Prometheus metrics by default, and the variable that overrides
#: it ("off" serves none).
DEFAULT_METRICS_ADDRESSES: dict[str, tuple[str, str]] = {
    "gateway": ("GATEWAY_METRICS_ADDR", "127.0.0.1:9100"),
    "registry": ("REGISTRY_METRICS_ADDR", "127.0.0.1:9101"),
    "redis-svc": ("REDIS_SVC_METRICS_ADDR", "127.0.0.1:9102"),
    "mongo-svc": ("MONGO_SVC_METRICS_ADDR", "127.0.0.1:9103"),
    "pg-svc": ("PG_SVC_METRICS_ADDR", "127.0.0.1:9104"),
}


def metrics_address(env: Env, name: str) -> str:
    """The process's metrics address, or "" when its variable says ``off``."""
    variable, default = DEFAULT_METRICS_ADDRESSES[name]
    value = env.str(variable, default)
    return "" if value.lower() in ("off", "none", "0") else value


def database_endpoints(url: str) -> list[Endpoint]:
    """The TCP endpoints of a libpq URL (``postgresql://u:p@h1:5432,h2/db?host=..&port=..``);
    socket folders are left out (tenants may never name a path). ValueError without the URL's
    text (it holds a password)."""
    _, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("not a postgresql:// URL")
    authority, _, tail = rest.partition("/")
    authority, _, early_query = authority.partition("?")
    query = dict(parse_qsl(tail.partition("?")[2] or early_query))
    hosts = [unquote(h) for h in authority.rpartition("@")[2].split(",") if h]
    hosts += [h for h in query.get("host", "").split(",") if h] + [h for h in query.get("hostaddr", "").split(",") if h]
    default_port = query.get("port", "5432").split(",")[0] or "5432"
    endpoints = []
    for host in hosts:
        if is_path(host):
            continue
        endpoint = Endpoint.parse(host)
        endpoints.append(Endpoint(endpoint.host, endpoint.port or int(default_port)))
    return endpoints


def listen_variable(address_variable: str) -> str:
    """``REGISTRY_ADDR`` -> ``REGISTRY_LISTEN_ADDR``: where one replica listens, when the peers'
    variable lists every replica (``ipv4:10.0.0.1:50051,10.0.0.2:50051``, ``dns:///registry:50051``)."""
    return address_variable.removesuffix("_ADDR") + "_LISTEN_ADDR"


def target_addresses(target: str) -> list[str]:
    """The ``host:port`` of each address a gRPC target names: ``host:port``, ``dns:///host:port``
    (its name) or ``ipv4:``/``ipv6:`` lists."""
    scheme, colon, rest = target.partition(":")
    if colon and scheme in ("ipv4", "ipv6"):
        return [address.strip() for address in rest.split(",") if address.strip()]
    if colon and scheme == "dns" and rest.startswith("//"):
        return [rest[2:].partition("/")[2]]
    return [target]


def redis_endpoints(url: str) -> list[Endpoint]:
    """The TCP endpoint of a ``redis://`` or ``rediss://`` URL (none for ``unix://``: tenants
    never name a path). ValueError without the URL's text (it holds a password)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("redis", "rediss", "unix"):
        raise ValueError("not a redis:// URL")
    if scheme.lower() == "unix":
        return []
    authority = rest.partition("/")[0].partition("?")[0].rpartition("@")[2]
    endpoint = Endpoint.parse(unquote(authority))
    return [Endpoint(endpoint.host, endpoint.port or 6379)]


def network_policy_from_env(env: Env) -> NetworkPolicy:
    """Where tenants' connections may go (:mod:`udb.netpolicy`): ``DENIED_NETWORKS`` and
    ``ALLOWED_NETWORKS``, and the platform endpoints: ``PLATFORM_ENDPOINTS``, the platform
    database of ``REGISTRY_DATABASE_URL`` and the rate limits' Redis of ``RATE_LIMIT_REDIS_URL``
    when this process is given them, and every service's listener and metrics address as this
    process knows them."""
    networks = {}
    for variable in ("DENIED_NETWORKS", "ALLOWED_NETWORKS"):
        try:
            networks[variable] = parse_networks(env.list(variable))
        except ValueError as exc:
            raise ConfigError(f"{variable} holds a bad network: {exc}") from None
    try:
        endpoints = [Endpoint.parse(text) for text in env.list("PLATFORM_ENDPOINTS")]
    except ValueError as exc:
        raise ConfigError(f"PLATFORM_ENDPOINTS holds a bad endpoint: {exc}") from None
    listeners = (
        *DEFAULT_ADDRESSES.values(),
        *((listen_variable(variable), "") for variable, _ in DEFAULT_ADDRESSES.values()),
        *GATEWAY_ADDRESSES.values(),
        *DEFAULT_METRICS_ADDRESSES.values(),
    )
    for variable, default in listeners:
        for value in target_addresses(env.str(variable, default)):
            if value.lower() in ("", "off", "none", "0") or value.endswith(":0"):
                continue  # none, or a port the system picks (tests): not known here
            try:
                endpoints.append(Endpoint.parse(value))
            except ValueError as exc:
                raise ConfigError(f"{variable} is not host:port: {exc}") from None
    database = env.secret("REGISTRY_DATABASE_URL") or env.secret("DATABASE_URL")
    if database is not None:
        try:
            endpoints.extend(database_endpoints(database.reveal()))
        except ValueError:
            raise ConfigError("REGISTRY_DATABASE_URL is not a postgresql:// URL") from None
    rate_limits = env.secret("RATE_LIMIT_REDIS_URL")
    if rate_limits is not None:
        try:
            endpoints.extend(redis_endpoints(rate_limits.reveal()))
        except ValueError:
            raise ConfigError("RATE_LIMIT_REDIS_URL is not a redis:// or rediss:// URL") from None
    return NetworkPolicy(
        denied=networks["DENIED_NETWORKS"],
        allowed=networks["ALLOWED_NETWORKS"],
        endpoints=tuple(dict.fromkeys(endpoints)),
    )


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """What every gRPC service reads: where it listens, auth, peers, logging, caches and pools."""

    name: str
    address: str
    auth: AuthSettings
    registry_address: str = "127.0.0.1:50051"
    log_level: str = "INFO"
    log_json: bool = True
    #: One log line per RPC (method, code, duration, user, request id).
    access_log: bool = True
    shutdown_grace_s: float = 10.0
    #: Seconds between reporting NOT_SERVING and refusing new calls (let load balancers notice).
    shutdown_drain_s: float = 0.0
    #: Resolved connection records are served from memory this long (invalidated at once on change).
    connection_cache_ttl_s: float = 300.0
    membership_cache_ttl_s: float = 30.0
    pool_max_connections: int = 10
    pool_idle_timeout_s: float = 300.0
    pool_cleanup_interval_s: float = 60.0
    #: Longest wait for a free connection of a target's pool before a 503 (never a queue into the
    #: caller's deadline): a slot is normally free in milliseconds; this absorbs a burst.
    pool_acquire_timeout_s: float = 5.0
    #: The per-target circuit breaker (:mod:`udb.breaker`): outages in a row that open it, its
    #: first open interval, and the longest one (each reopening doubles it).
    breaker_failure_threshold: int = 3
    breaker_open_s: float = 1.0
    breaker_open_max_s: float = 5.0
    #: Largest gRPC message accepted or sent (a MongoDB document may be 16 MB).
    max_message_bytes: int = 64 * 1024 * 1024
    #: Where ``python -m <service>`` serves Prometheus metrics ("" for nowhere).
    metrics_address: str = ""
    #: Where tenants' connections may go (checked by the registry, and by engines at every dial).
    network_policy: NetworkPolicy = field(default_factory=NetworkPolicy)

    @classmethod
    def common_from_env(cls, env: Env, name: str) -> dict[str, Any]:
        """The shared fields, as keyword arguments for a subclass's constructor."""
        address_var, default_address = DEFAULT_ADDRESSES[name]
        if env.int("BREAKER_FAILURE_THRESHOLD", 3) < 1:
            raise ConfigError("BREAKER_FAILURE_THRESHOLD must be at least 1")
        if not 0 < env.float("BREAKER_OPEN_S", 1.0) <= env.float("BREAKER_OPEN_MAX_S", 5.0):
            raise ConfigError("BREAKER_OPEN_S must be positive and at most BREAKER_OPEN_MAX_S")
        if env.float("POOL_ACQUIRE_TIMEOUT_S", 5.0) <= 0:
            raise ConfigError("POOL_ACQUIRE_TIMEOUT_S must be positive")
        return {
            "name": name,
            # A replica among several listens on <NAME>_LISTEN_ADDR; its peers dial <NAME>_ADDR.
            "address": env.str(listen_variable(address_var), "") or env.str(address_var, default_address),
            "auth": AuthSettings.from_env(env),
            "registry_address": env.str("REGISTRY_ADDR", DEFAULT_ADDRESSES["registry"][1]),
            "log_level": env.str("LOG_LEVEL", "INFO").upper(),
            "log_json": env.bool("LOG_JSON", True),
            "access_log": env.bool("ACCESS_LOG", True),
            "shutdown_grace_s": env.float("SHUTDOWN_GRACE_S", 10.0),
            "shutdown_drain_s": env.float("SHUTDOWN_DRAIN_S", 0.0),
            "connection_cache_ttl_s": env.float("CONNECTION_CACHE_TTL_S", 300.0),
            "membership_cache_ttl_s": env.float("MEMBERSHIP_CACHE_TTL_S", 30.0),
            "pool_max_connections": env.int("POOL_MAX_CONNECTIONS", 10),
            "pool_idle_timeout_s": env.float("POOL_IDLE_TIMEOUT_S", 300.0),
            "pool_cleanup_interval_s": env.float("POOL_CLEANUP_INTERVAL_S", 60.0),
            "pool_acquire_timeout_s": env.float("POOL_ACQUIRE_TIMEOUT_S", 5.0),
            "breaker_failure_threshold": env.int("BREAKER_FAILURE_THRESHOLD", 3),
            "breaker_open_s": env.float("BREAKER_OPEN_S", 1.0),
            "breaker_open_max_s": env.float("BREAKER_OPEN_MAX_S", 5.0),
            "max_message_bytes": env.int("GRPC_MAX_MESSAGE_BYTES", 64 * 1024 * 1024),
            "metrics_address": metrics_address(env, name),
            "network_policy": network_policy_from_env(env),
        }
