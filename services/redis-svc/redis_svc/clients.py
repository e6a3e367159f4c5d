"""Building redis-py clients from connection records, and translating redis-py's errors.

A record is a standalone Redis (the default), a Redis Sentinel deployment (option
``sentinel_master``: the record's host and port are a sentinel, ``sentinels`` lists more as
``"host:port"``) or a Redis Cluster (option ``cluster: true``: the record's host and port are a
seed node). Each record gets one :class:`RedisHandle`: the pooled client every operation shares
(at most ``max_connections`` connections) and a way to open the dedicated connection a
subscription needs.

Every connection is one of the :class:`DialClasses` of the service's network policy: before
each connect it resolves its host and checks every address (:mod:`udb.dialing`), then connects
to the checked address. That covers the record's host, each sentinel, the master a sentinel
names, every Cluster node the cluster announces (at any time), and a server's redirection of a
connection elsewhere; TLS still presents and verifies the host's name.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import redis.asyncio as redis
import redis.exceptions as rex
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection, SentinelManagedSSLConnection
from redis.backoff import ExponentialWithJitterBackoff

from redis_svc.reply_limit import CountedReader
from redis_svc.settings import Settings
from udb.dialing import DialGuard, denied_error
from udb.engine import unreadable_reply
from udb.errors import (
    Aborted,
    DatabaseError,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
)
from udb.netpolicy import clean_host, parse_ip
from udb.pool import ClientFactory
from udb.registry.v1 import registry_pb2
from udb.structs import struct_dict

#: A client of one Redis deployment: standalone and Sentinel give a Redis, Cluster a RedisCluster.
AnyRedis = redis.Redis | RedisCluster


def _raw_reply(response: Any, **options: Any) -> Any:
    return response


class _Guarded(Connection):
    """A redis-py connection that dials only addresses its guard allows (see the module), and
    reads through a :class:`redis_svc.reply_limit.CountedReader`."""

    guard: ClassVar[DialGuard]
    _pinned: str | None = None

    async def _connect(self) -> None:
        await self.guard.dial(self.host, self.port, self._connect_to)

    async def _connect_to(self, address: str) -> None:
        self._pinned = address
        try:
            await super()._connect()  # type: ignore[no-untyped-call]
        finally:
            self._pinned = None
        # Before redis-py's parser takes the reader (in on_connect): every read is counted.
        if self._reader is not None:
            self._reader = CountedReader(self._reader)  # type: ignore[assignment]

    def _connection_arguments(self) -> Mapping[str, Any]:
        arguments = dict(super()._connection_arguments())
        if self._pinned is not None:
            if "ssl" in arguments and parse_ip(self.host) is None:
                arguments["server_hostname"] = clean_host(self.host)
            arguments["host"] = self._pinned
        return arguments


@dataclass(frozen=True)
class DialClasses:
    """The connection classes of one network policy: plain and TLS, direct and Sentinel-managed."""

    plain: type[Connection]
    tls: type[Connection]
    sentinel_plain: type[Connection]
    sentinel_tls: type[Connection]

    @classmethod
    def of(cls, guard: DialGuard) -> DialClasses:
        def guarded(base: type[Connection]) -> type[Connection]:
            return type(f"Guarded{base.__name__}", (_Guarded, base), {"guard": guard})

        return cls(
            plain=guarded(Connection),
            tls=guarded(SSLConnection),
            sentinel_plain=guarded(SentinelManagedConnection),
            sentinel_tls=guarded(SentinelManagedSSLConnection),
        )

    def direct(self, tls: bool) -> type[Connection]:
        return self.tls if tls else self.plain

    def sentinel(self, tls: bool) -> type[Connection]:
        return self.sentinel_tls if tls else self.sentinel_plain


def _guard_cluster(cluster: RedisCluster, connection_class: type[Connection]) -> None:
    """Makes every node of a cluster connect with ``connection_class``. RedisCluster takes no
    connection class of its own: it builds each node, the seed and every node announced later,
    from one dict of connection keywords, which names the class."""
    cluster.connection_kwargs["connection_class"] = connection_class
    for node in cluster.nodes_manager.startup_nodes.values():
        node.connection_class = connection_class


@dataclass(eq=False)
class RedisHandle:
    """The pooled client of one connection record, and what a subscription needs to open its own."""

    client: AnyRedis
    #: Keyword arguments of a standalone connection (host, port, credentials, TLS, timeouts, and
    #: the guarded connection class).
    connection_kwargs: dict[str, Any]
    cluster: bool = False
    sentinel: Sentinel | None = None
    sentinel_master: str = ""
    #: The guarded class of connections to the master a sentinel names.
    sentinel_connection_class: type[Connection] | None = None
    #: Cleared when the server refuses scripts (an ACL without EVALSHA, a managed Redis without
    #: Lua): reads then take the pipelined path.
    scripts: bool = True

    @property
    def ops(self) -> Any:
        """The client for commands. Untyped on purpose: redis-py types every reply as a union of
        bytes and str (it cannot know ``decode_responses``); these clients always return bytes."""
        return self.client

    async def subscriber(self) -> Any:
        """A client with a connection of its own, outside the operation pool, for one subscription."""
        if self.cluster:
            # Pub/sub picks its node from the slot map: the client must have read it.
            await self.client.initialize()
            return self.client
        if self.sentinel is not None:
            kwargs = {**self.connection_kwargs, "connection_class": self.sentinel_connection_class}
            return self.sentinel.master_for(self.sentinel_master, redis_class=redis.Redis, **kwargs)
        pool = redis.ConnectionPool(**self.connection_kwargs, max_connections=1)
        client = redis.Redis(connection_pool=pool)
        _set_callbacks(client)
        return client

    async def close_subscriber(self, client: Any) -> None:
        if client is not self.client:
            await client.aclose(close_connection_pool=True)

    async def aclose(self) -> None:
        if isinstance(self.client, RedisCluster):
            await self.client.aclose()
        else:
            await self.client.aclose(close_connection_pool=True)
        if self.sentinel is not None:
            for sentinel in self.sentinel.sentinels:
                await sentinel.aclose(close_connection_pool=True)


def _set_callbacks(client: AnyRedis) -> None:
    # INFO is parsed by us, keeping its sections (redis-py flattens them).
    client.set_response_callback("INFO", _raw_reply)


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep:
        return str(text), default_port
    if not port.isdigit():
        raise InvalidArgument(f"sentinels: {text!r} is not host:port")
    return host.strip("[]"), int(port)


def connection_kwargs(
    resolved: registry_pb2.ResolvedConnection, options: Mapping[str, Any], settings: Settings, classes: DialClasses
) -> dict[str, Any]:
    """redis-py connection keywords for a record (host and port aside), with the guarded
    connection class of its TLS setting."""
    record = resolved.connection
    kwargs: dict[str, Any] = {
        "username": record.username or None,
        "password": resolved.password or None,
        "db": int(record.database or 0),
        "socket_connect_timeout": settings.connect_timeout_s,
        "socket_timeout": settings.command_timeout_s,
        "socket_keepalive": True,
        "health_check_interval": 30,
        # A restarted server is reconnected to on the next call: a dead pooled connection is
        # retried once, on a new connection. Once only: a server that is down answers 503 after
        # at most two connect timeouts, not after a loop of them.
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=1),
        "retry_on_error": [rex.ConnectionError],
        "client_name": "udb-redis-svc",
        "connection_class": classes.direct(record.tls),
    }
    if record.tls:
        verify = options.get("tls_verify", True)
        kwargs["ssl_cert_reqs"] = ssl.CERT_REQUIRED if verify is not False else ssl.CERT_NONE
        kwargs["ssl_check_hostname"] = verify is not False
        kwargs["ssl_ca_certs"] = settings.tls_ca_file
    return kwargs


def client_factory(settings: Settings) -> ClientFactory[RedisHandle]:
    """The pool manager's factory: one :class:`RedisHandle` (with its own connection pool) per record."""

    classes = DialClasses.of(DialGuard(settings.network_policy, resolve_timeout_s=settings.connect_timeout_s))

    async def build(resolved: registry_pb2.ResolvedConnection, max_connections: int) -> RedisHandle:
        record = resolved.connection
        options = struct_dict(record.options)
        kwargs = connection_kwargs(resolved, options, settings, classes)
        if options.get("cluster") in (True, "true", "1", 1):
            kwargs.pop("db")  # a cluster has db 0 only
            skipped = ("retry_on_error", "health_check_interval", "connection_class")
            cluster_kwargs = {k: v for k, v in kwargs.items() if k not in skipped}
            cluster = RedisCluster(
                host=record.host, port=record.port, max_connections=max_connections, ssl=record.tls, **cluster_kwargs
            )
            _guard_cluster(cluster, kwargs["connection_class"])
            _set_callbacks(cluster)
            return RedisHandle(cluster, kwargs, cluster=True)
        master = options.get("sentinel_master")
        if master:
            seeds = [(record.host, record.port)]
            extra = options.get("sentinels") or []
            if not isinstance(extra, list):
                raise InvalidArgument("options.sentinels must be a list of host:port")
            seeds += [_host_port(str(seed), 26379) for seed in extra]
            sentinel_kwargs: dict[str, Any] = {
                "socket_connect_timeout": settings.connect_timeout_s,
                "connection_class": classes.plain,
            }
            if options.get("sentinel_auth") is True:
                sentinel_kwargs.update(username=kwargs["username"], password=kwargs["password"])
            sentinel = Sentinel([], **kwargs)  # type: ignore[no-untyped-call]
            # Sentinel builds its own clients of the sentinels, with no connection class: ours.
            sentinel.sentinels = [
                redis.Redis(connection_pool=redis.ConnectionPool(host=host, port=port, **sentinel_kwargs))
                for host, port in seeds
            ]
            managed = classes.sentinel(record.tls)
            client = sentinel.master_for(
                str(master), redis_class=redis.Redis, **{**kwargs, "connection_class": managed}
            )
            client.connection_pool.max_connections = max_connections
            _set_callbacks(client)
            return RedisHandle(
                client, kwargs, sentinel=sentinel, sentinel_master=str(master), sentinel_connection_class=managed
            )
        kwargs.update(host=record.host, port=record.port)
        # A connection borrowed past the pool manager's slots (a batched read) waits as long.
        pool = redis.BlockingConnectionPool(
            max_connections=max_connections, timeout=settings.pool_acquire_timeout_s, **kwargs
        )
        client = redis.Redis(connection_pool=pool)
        _set_callbacks(client)
        return RedisHandle(client, kwargs)

    return build


async def close_client(handle: RedisHandle) -> None:
    await handle.aclose()


#: redis-py exception -> API error, looked up along the exception's class hierarchy.
_ERRORS: dict[type[BaseException], type[DatabaseError]] = {
    rex.AuthenticationError: Unavailable,
    rex.AuthorizationError: PermissionDenied,
    rex.NoPermissionError: PermissionDenied,
    rex.TimeoutError: DeadlineExceeded,
    rex.ConnectionError: Unavailable,
    # A reply that is not RESP: the server is no Redis (or a broken one).
    rex.InvalidResponse: Unavailable,
    rex.BusyLoadingError: Unavailable,
    rex.ClusterDownError: Unavailable,
    rex.MasterDownError: Unavailable,
    rex.WatchError: Aborted,
    rex.ResponseError: InvalidArgument,
    rex.DataError: InvalidArgument,
    rex.RedisClusterException: InvalidArgument,
    OSError: Unavailable,
    TimeoutError: DeadlineExceeded,
}


def as_text(value: bytes | str) -> str:
    """A reply's bytes as text (a client without ``decode_responses`` answers bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def translate(exc: BaseException) -> DatabaseError:
    """The API error for a redis-py exception (most specific class wins). Messages are ours,
    except a server's reply to a bad command, which names no secret."""
    denied = denied_error(exc)
    if denied is not None:
        return denied
    for cls in type(exc).__mro__:
        error = _ERRORS.get(cls)
        if error is None:
            continue
        if error is InvalidArgument:
            return InvalidArgument(f"redis: {exc}")
        if isinstance(exc, rex.TimeoutError) and str(exc).startswith("Timeout connecting"):
            return Unavailable("redis: the server does not accept connections")  # down, not slow
        if isinstance(exc, rex.AuthenticationError):
            return Unavailable("redis refused the connection's credentials")
        if isinstance(exc, rex.InvalidResponse):
            return Unavailable("redis: the server at the connection's host does not answer in Redis's protocol")
        if isinstance(exc, rex.NoPermissionError):
            return PermissionDenied("redis: the connection's ACL user may not run this command")
        if error is Aborted:
            return Aborted("the key changed while it was being written; try again")
        return error(f"redis: {error.default_message}")
    return unreadable_reply(exc, "redis", "redis", "hiredis") or Internal()
