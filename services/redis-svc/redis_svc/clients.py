"""Building redis-py clients from connection records, and translating redis-py's errors."""

from __future__ import annotations

import redis.asyncio as redis
import redis.exceptions as rex

from redis_svc.settings import Settings
from udb.errors import (
    DatabaseError,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
)
from udb.pool import ClientFactory
from udb.registry.v1 import registry_pb2


def client_factory(settings: Settings) -> ClientFactory[redis.Redis]:
    """The pool manager's factory: one redis-py client (with its own connection pool) per record."""

    async def build(resolved: registry_pb2.ResolvedConnection, max_connections: int) -> redis.Redis:
        record = resolved.connection
        pool = redis.BlockingConnectionPool(
            host=record.host,
            port=record.port,
            username=record.username or None,
            password=resolved.password or None,
            db=int(record.database or 0),
            max_connections=max_connections,
            timeout=settings.command_timeout_s,
            socket_connect_timeout=settings.connect_timeout_s,
            socket_timeout=settings.command_timeout_s,
            connection_class=redis.SSLConnection if record.tls else redis.Connection,
        )
        return redis.Redis(connection_pool=pool)

    return build


async def close_client(client: redis.Redis) -> None:
    await client.aclose(close_connection_pool=True)


#: redis-py exception -> API error, looked up along the exception's class hierarchy.
_ERRORS: dict[type[BaseException], type[DatabaseError]] = {
    rex.AuthenticationError: Unavailable,
    rex.AuthorizationError: PermissionDenied,
    rex.NoPermissionError: PermissionDenied,
    rex.TimeoutError: DeadlineExceeded,
    rex.ConnectionError: Unavailable,
    rex.BusyLoadingError: Unavailable,
    rex.ResponseError: InvalidArgument,
    rex.DataError: InvalidArgument,
    OSError: Unavailable,
}


def translate(exc: Exception) -> DatabaseError:
    """The API error for a redis-py exception (most specific class wins). Messages are ours,
    except a server's reply to a bad command, which names no secret."""
    for cls in type(exc).__mro__:
        error = _ERRORS.get(cls)
        if error is None:
            continue
        if error is InvalidArgument:
            return InvalidArgument(f"redis: {exc}")
        if isinstance(exc, rex.AuthenticationError):
            return Unavailable("redis refused the connection's credentials")
        return error(f"redis: {error.default_message}")
    return Internal()
