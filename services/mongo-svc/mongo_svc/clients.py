"""Building AsyncMongoClients from connection records, and translating PyMongo's errors."""

from __future__ import annotations

from typing import Any

import pymongo.errors as perr
from pymongo import AsyncMongoClient

from mongo_svc.settings import Settings
from udb.errors import (
    AlreadyExists,
    DatabaseError,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    PayloadTooLarge,
    PermissionDenied,
    Unavailable,
)
from udb.pool import ClientFactory
from udb.registry.v1 import registry_pb2

MongoClient = AsyncMongoClient[dict[str, Any]]


def client_factory(settings: Settings) -> ClientFactory[MongoClient]:
    """The pool manager's factory: one AsyncMongoClient (maxPoolSize connections) per record."""

    async def build(resolved: registry_pb2.ResolvedConnection, max_connections: int) -> MongoClient:
        record = resolved.connection
        options: dict[str, Any] = dict(record.options.items()) if record.options else {}
        hosts = options.pop("hosts", None)
        srv = bool(options.pop("srv", False))
        kwargs: dict[str, Any] = {
            "maxPoolSize": max_connections,
            "serverSelectionTimeoutMS": int(settings.server_selection_timeout_s * 1000),
            "connectTimeoutMS": int(settings.connect_timeout_s * 1000),
            "tls": record.tls,
            "appname": "udb-mongo-svc",
        }
        if record.username:
            kwargs["username"] = record.username
            kwargs["password"] = resolved.password or None
        # URI options kept from the record (authSource, replicaSet, readPreference, ...).
        kwargs.update({key: value for key, value in options.items() if isinstance(value, str | int | float | bool)})
        if srv:
            host: Any = f"mongodb+srv://{record.host}/"
        elif hosts:
            host = [str(h) for h in hosts]
        else:
            host = record.host
        return AsyncMongoClient(host, record.port, **kwargs)

    return build


async def close_client(client: MongoClient) -> None:
    await client.close()


#: PyMongo exception -> API error, looked up along the exception's class hierarchy.
_ERRORS: dict[type[BaseException], type[DatabaseError]] = {
    perr.DuplicateKeyError: AlreadyExists,
    perr.DocumentTooLarge: PayloadTooLarge,
    perr.ExecutionTimeout: DeadlineExceeded,
    perr.NetworkTimeout: Unavailable,
    perr.ServerSelectionTimeoutError: Unavailable,
    perr.AutoReconnect: Unavailable,
    perr.ConnectionFailure: Unavailable,
    perr.OperationFailure: InvalidArgument,
    perr.InvalidOperation: InvalidArgument,
    perr.InvalidName: InvalidArgument,
    perr.ConfigurationError: InvalidArgument,
}
_UNAUTHORIZED_CODES = {13, 18}  # Unauthorized, AuthenticationFailed


def translate(exc: Exception) -> DatabaseError:
    """The API error for a PyMongo exception (most specific class wins)."""
    if isinstance(exc, perr.OperationFailure) and exc.code in _UNAUTHORIZED_CODES:
        if exc.code == 18:
            return Unavailable("mongodb refused the connection's credentials")
        return PermissionDenied("mongodb: the connection's user may not do this")
    for cls in type(exc).__mro__:
        error = _ERRORS.get(cls)
        if error is None:
            continue
        if error is InvalidArgument and isinstance(exc, perr.OperationFailure):
            details = exc.details or {}
            return InvalidArgument(
                f"mongodb: {details.get('errmsg') or 'operation failed'}",
                details={"code": exc.code, "codeName": details.get("codeName")},
            )
        return error(f"mongodb: {error.default_message}")
    return Internal()
