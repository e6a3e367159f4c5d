"""Building AsyncMongoClients from connection records, and translating PyMongo's errors.

Every client carries the service's network policy (:mod:`mongo_svc.dial`), which checks each
address the client dials, whenever it dials it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import bson.errors
import pymongo.errors as perr
from bson.codec_options import DatetimeConversion
from google.protobuf import struct_pb2
from pymongo import AsyncMongoClient

from mongo_svc import dial, failfast
from mongo_svc.settings import Settings
from udb.dialing import AddressDenied, DialGuard, denied_error
from udb.engine import unreadable_reply
from udb.errors import (
    AlreadyExists,
    DatabaseError,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unavailable,
)
from udb.pool import ClientFactory
from udb.registry.v1 import registry_pb2
from udb.structs import struct_dict

MongoClient = AsyncMongoClient[dict[str, Any]]

#: URI options a connection record may carry (lower case, as URI options are case-insensitive).
#: Left out on purpose: pool sizes and timeouts (this service sets them), file paths on this host
#: (tlsCAFile, tlsCertificateKeyFile), proxies, and mechanisms that would sign in with this host's
#: own identity (MONGODB-AWS, GSSAPI, MONGODB-OIDC).
ALLOWED_OPTIONS: dict[str, str] = {
    name.lower(): name
    for name in (
        "authSource",
        "authMechanism",
        "replicaSet",
        "readPreference",
        "readPreferenceTags",
        "maxStalenessSeconds",
        "directConnection",
        "loadBalanced",
        "retryWrites",
        "retryReads",
        "w",
        "journal",
        "wTimeoutMS",
        "readConcernLevel",
        "compressors",
        "zlibCompressionLevel",
        "srvMaxHosts",
        "srvServiceName",
        "tlsAllowInvalidCertificates",
        "tlsAllowInvalidHostnames",
        "tlsInsecure",
        "localThresholdMS",
        "heartbeatFrequencyMS",
        "appName",
    )
}
ALLOWED_AUTH_MECHANISMS = frozenset({"DEFAULT", "SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"})


def client_options(record: registry_pb2.Connection) -> dict[str, Any]:
    """The record's URI options, checked against :data:`ALLOWED_OPTIONS`."""
    options: dict[str, Any] = {}
    for key, value in struct_dict(record.options).items():
        if key in ("hosts", "srv"):
            continue
        name = ALLOWED_OPTIONS.get(key.lower())
        if name is None:
            raise InvalidArgument(f"connection option {key!r} is not supported", details={"option": key})
        if not isinstance(value, str | int | float | bool):
            raise InvalidArgument(f"connection option {key!r} must be a string, number or boolean")
        options[name] = value
    mechanism = options.get("authMechanism")
    if mechanism is not None and str(mechanism).upper() not in ALLOWED_AUTH_MECHANISMS:
        raise InvalidArgument(
            f"authMechanism {mechanism!r} is not supported: use SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN",
            details={"option": "authMechanism"},
        )
    return options


def client_arguments(
    resolved: registry_pb2.ResolvedConnection, settings: Settings, max_connections: int
) -> tuple[Any, dict[str, Any]]:
    """The host argument and the keyword arguments of the AsyncMongoClient for a record."""
    record = resolved.connection
    raw = dict(record.options.items()) if record.options else {}
    kwargs: dict[str, Any] = {
        **client_options(record),
        "maxPoolSize": max_connections,
        "serverSelectionTimeoutMS": int(settings.server_selection_timeout_s * 1000),
        "connectTimeoutMS": int(settings.connect_timeout_s * 1000),
        # A wait for a free connection outside an operation's time limit is as bounded as the
        # pool manager's (inside one PyMongo waits out the limit: the manager's slots, as many
        # as maxPoolSize, are what keep calls from queueing there).
        "waitQueueTimeoutMS": int(settings.pool_acquire_timeout_s * 1000),
        "tls": record.tls,
        # Documents are decoded for Extended JSON: aware UTC dates, and dates past Python's
        # range kept as DatetimeMS instead of failing.
        "tz_aware": True,
        "tzinfo": datetime.UTC,
        "datetime_conversion": DatetimeConversion.DATETIME_AUTO,
    }
    kwargs.setdefault("appName", "udb-mongo-svc")
    if record.tls and settings.tls_ca_file:
        kwargs["tlsCAFile"] = settings.tls_ca_file
    if record.username:
        kwargs["username"] = record.username
        kwargs["password"] = resolved.password or None
        # As in a mongodb:// URI, the user authenticates against the default database when no
        # authSource is given.
        kwargs.setdefault("authSource", record.database or "admin")
    host: Any
    if raw.get("srv"):
        # Resolved by the driver on first use (SRV and TXT records), not here.
        host = f"mongodb+srv://{record.host}/"
    elif isinstance(seeds := raw.get("hosts"), struct_pb2.ListValue) and len(seeds):
        host = [str(seed) for seed in seeds]
    else:
        host = f"{record.host}:{record.port}" if ":" not in record.host else f"[{record.host}]:{record.port}"
    return host, kwargs


def client_factory(settings: Settings) -> ClientFactory[MongoClient]:
    """The pool manager's factory: one AsyncMongoClient (maxPoolSize connections) per record."""
    dial.install()
    failfast.install()
    guard = DialGuard(settings.network_policy, resolve_timeout_s=settings.connect_timeout_s)
    policy = dial.DialPolicy(guard)

    async def build(resolved: registry_pb2.ResolvedConnection, max_connections: int) -> MongoClient:
        host, kwargs = client_arguments(resolved, settings, max_connections)
        # The seeds are checked at every dial; checking them here too makes a denied one fail at
        # once rather than after the server selection timeout.
        seeds = host if isinstance(host, list) else [] if host.startswith("mongodb+srv://") else [host]
        for seed in seeds:
            seed_host, _, seed_port = seed.rpartition(":")
            try:
                await guard.addresses(seed_host.strip("[]"), int(seed_port))
            except AddressDenied:
                raise  # the runtime's borrow translates it (403)
            except OSError:
                pass  # unreachable now: the driver reports it as it would
        return AsyncMongoClient(host, event_listeners=[policy], **kwargs)

    return build


async def close_client(client: MongoClient) -> None:
    await client.close()


#: PyMongo exception -> API error, looked up along the exception's class hierarchy.
_ERRORS: dict[type[BaseException], type[DatabaseError]] = {
    perr.DuplicateKeyError: AlreadyExists,
    perr.DocumentTooLarge: PayloadTooLarge,
    perr.ExecutionTimeout: DeadlineExceeded,
    perr.WTimeoutError: DeadlineExceeded,
    # Under the per-operation timeout a socket read that times out is the operation's deadline.
    perr.NetworkTimeout: DeadlineExceeded,
    perr.ServerSelectionTimeoutError: Unavailable,
    perr.AutoReconnect: Unavailable,
    perr.ConnectionFailure: Unavailable,
    # A reply that is not MongoDB's wire protocol: the server is no MongoDB (or a broken one).
    perr.ProtocolError: Unavailable,
    perr.OperationFailure: InvalidArgument,
    perr.InvalidOperation: InvalidArgument,
    perr.InvalidName: InvalidArgument,
    perr.ConfigurationError: InvalidArgument,
    bson.errors.InvalidDocument: InvalidArgument,
    bson.errors.InvalidId: InvalidArgument,
    bson.errors.InvalidBSON: InvalidArgument,
    # The driver encoding a caller's number that BSON cannot hold.
    OverflowError: InvalidArgument,
}

#: What to tell a client for driver errors whose own text names hosts and sockets.
_MESSAGES: dict[type[BaseException], str] = {
    perr.ServerSelectionTimeoutError: "no server can be reached",
    perr.AutoReconnect: "the connection to the server was lost",
    perr.ConnectionFailure: "cannot connect to the server",
    perr.NetworkTimeout: "the server did not answer within the time limit",
    perr.ProtocolError: "the server at the connection's host does not answer in MongoDB's protocol",
    OverflowError: "a number is too large for BSON (64-bit integers at most)",
}

#: Server error codes whose meaning is not their exception class's.
_ERRORS_BY_CODE: dict[int, type[DatabaseError]] = {
    11000: AlreadyExists,  # DuplicateKey
    11001: AlreadyExists,
    48: AlreadyExists,  # NamespaceExists
    85: AlreadyExists,  # IndexOptionsConflict
    86: AlreadyExists,  # IndexKeySpecsConflict
    26: NotFound,  # NamespaceNotFound
    27: NotFound,  # IndexNotFound
    43: NotFound,  # CursorNotFound: the server closed an idle cursor
    50: DeadlineExceeded,  # MaxTimeMSExpired
    262: DeadlineExceeded,  # ExceededTimeLimit
    10334: PayloadTooLarge,  # BSONObjectTooLarge
    17419: PayloadTooLarge,  # document too large after an update
    13: PermissionDenied,  # Unauthorized
}
_AUTHENTICATION_FAILED = 18
#: Client-side errors whose text describes the caller's own input (never a URI or a secret).
_SAFE_TEXT = (perr.InvalidOperation, perr.InvalidName, bson.errors.BSONError, perr.ConfigurationError)


def _server_error(exc: perr.OperationFailure) -> DatabaseError:
    details: Mapping[str, Any] = exc.details or {}
    code = exc.code
    if isinstance(exc, perr.BulkWriteError):
        # The first failed write decides, as in an ordered insert that stopped there.
        errors = details.get("writeErrors") or [{}]
        first = errors[0]
        code = first.get("code", code)
        details = {**first, "nInserted": details.get("nInserted")}
    error = _ERRORS_BY_CODE.get(code or 0)
    if code == _AUTHENTICATION_FAILED:
        return Unavailable("mongodb refused the connection's credentials")
    if error is PermissionDenied:
        return PermissionDenied("mongodb: the connection's user may not do this", details={"code": code})
    message = str(details.get("errmsg") or "operation failed")
    extra = {"code": code, "codeName": details.get("codeName")}
    if "index" in details and isinstance(exc, perr.BulkWriteError):
        extra["index"] = details["index"]
        extra["inserted"] = details.get("nInserted")
    return (error or InvalidArgument)(f"mongodb: {message}", details=extra)


def translate(exc: Exception) -> DatabaseError:
    """The API error for a PyMongo exception (server error codes first, then the most specific
    class)."""
    denied = denied_error(exc)
    if denied is not None:
        return denied
    if isinstance(exc, perr.OperationFailure):
        return _server_error(exc)
    if isinstance(exc, perr.ConfigurationError) and "DNS" in str(exc):
        # A mongodb+srv host that does not resolve (or no DNS is reachable from here).
        return Unavailable("mongodb: the mongodb+srv host cannot be resolved")
    for cls in type(exc).__mro__:
        error = _ERRORS.get(cls)
        if error is None:
            continue
        if isinstance(exc, _SAFE_TEXT) and error in (InvalidArgument, PayloadTooLarge):
            text = str(exc)
            return error(f"mongodb: {text[:300]}")
        return error(f"mongodb: {_MESSAGES.get(cls, error.default_message)}")
    return unreadable_reply(exc, "mongodb", "pymongo", "bson") or Internal()
