"""mongo-svc's clients: what a connection record becomes for PyMongo, and PyMongo's errors as API
errors. Clients are built but never connected (AsyncMongoClient connects on first use)."""

from __future__ import annotations

from typing import Any

import pymongo.errors as perr
import pytest
from bson.codec_options import DatetimeConversion
from google.protobuf import struct_pb2
from mongo_svc.clients import client_arguments, client_factory, translate
from mongo_svc.settings import Settings

from udb.config import AuthSettings, Secret
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
from udb.registry.v1 import registry_pb2

SETTINGS = Settings(
    name="mongo-svc",
    address="127.0.0.1:0",
    auth=AuthSettings(jwt_secret=Secret("x" * 32)),
    server_selection_timeout_s=2.5,
    connect_timeout_s=1.5,
)


def resolved(
    *,
    host: str = "db.example.com",
    port: int = 27017,
    username: str = "",
    password: str = "",
    database: str = "",
    tls: bool = False,
    options: dict[str, Any] | None = None,
) -> registry_pb2.ResolvedConnection:
    record = registry_pb2.ResolvedConnection(password=password)
    connection = record.connection
    connection.id, connection.project_id = "c1", "p1"
    connection.host, connection.port, connection.username = host, port, username
    connection.database, connection.tls = database, tls
    if options:
        struct = struct_pb2.Struct()
        struct.update(options)
        connection.options.CopyFrom(struct)
    return record


def test_a_plain_record_gets_the_service_limits() -> None:
    """host:port, maxPoolSize from the pool manager, the configured timeouts, EJSON-friendly decoding."""
    host, kwargs = client_arguments(resolved(), SETTINGS, 10)
    assert host == "db.example.com:27017"
    assert kwargs["maxPoolSize"] == 10
    assert kwargs["serverSelectionTimeoutMS"] == 2500
    assert kwargs["connectTimeoutMS"] == 1500
    assert kwargs["tls"] is False
    assert kwargs["tz_aware"] is True
    assert kwargs["datetime_conversion"] is DatetimeConversion.DATETIME_AUTO
    assert "username" not in kwargs


def test_credentials_authenticate_against_the_default_database_unless_authsource_says() -> None:
    """As in a mongodb:// URI: authSource defaults to the record's database, then admin."""
    _, kwargs = client_arguments(resolved(username="app", password="pw", database="shop"), SETTINGS, 10)
    assert (kwargs["username"], kwargs["password"], kwargs["authSource"]) == ("app", "pw", "shop")
    _, kwargs = client_arguments(resolved(username="app", password="pw"), SETTINGS, 10)
    assert kwargs["authSource"] == "admin"
    _, kwargs = client_arguments(
        resolved(username="app", password="pw", database="shop", options={"authsource": "admin"}), SETTINGS, 10
    )
    assert kwargs["authSource"] == "admin"


def test_replica_set_seeds_srv_and_ipv6_hosts() -> None:
    """Several seeds become a host list; an SRV record a mongodb+srv URI; IPv6 is bracketed."""
    host, kwargs = client_arguments(
        resolved(options={"hosts": ["a:27017", "b:27018"], "replicaSet": "rs0"}), SETTINGS, 10
    )
    assert host == ["a:27017", "b:27018"]
    assert kwargs["replicaSet"] == "rs0"
    host, _ = client_arguments(resolved(host="cluster0.example.net", tls=True, options={"srv": True}), SETTINGS, 10)
    assert host == "mongodb+srv://cluster0.example.net/"
    host, _ = client_arguments(resolved(host="::1"), SETTINGS, 10)
    assert host == "[::1]:27017"


async def test_the_driver_accepts_the_arguments_without_connecting() -> None:
    """The factory builds a real AsyncMongoClient (no network until first use) whose options
    carry the record's read preference, replica set, TLS and the pool cap; an SRV record is not
    resolved yet."""
    build = client_factory(SETTINGS)
    client = await build(
        resolved(
            username="app",
            password="pw",
            database="shop",
            tls=True,
            options={"hosts": ["a:1", "b:2"], "readPreference": "secondaryPreferred", "replicaSet": "rs0"},
        ),
        10,
    )
    try:
        assert client.options.pool_options.max_pool_size == 10
        assert client.options.replica_set_name == "rs0"
        assert client.options.read_preference.mongos_mode == "secondaryPreferred"
        assert client.options.server_selection_timeout == 2.5
        assert client.options.codec_options.tz_aware is True
        # No public view of these two: the pool's own copies.
        assert client.options.pool_options._credentials.source == "shop"
        assert client.options.pool_options._ssl_context is not None
    finally:
        await client.close()
    srv = await build(resolved(host="cluster0.example.invalid", tls=True, options={"srv": True}), 10)
    await srv.close()


@pytest.mark.parametrize(
    "options",
    [
        {"tlsCertificateKeyFile": "/etc/ssl/private/key.pem"},
        {"tlsCAFile": "/etc/passwd"},
        {"maxPoolSize": 500},
        {"serverSelectionTimeoutMS": 600000},
        {"timeoutMS": 0},
        {"proxyHost": "10.0.0.1"},
        {"authMechanism": "MONGODB-AWS"},
        {"authMechanism": "GSSAPI"},
    ],
)
def test_options_that_would_escape_the_service_are_refused(options: dict[str, Any]) -> None:
    """Pool sizes and timeouts stay the service's; no file of this host, no proxy, no mechanism
    that signs in with this host's own identity: each is InvalidArgument naming the option."""
    with pytest.raises(InvalidArgument) as caught:
        client_arguments(resolved(options=options), SETTINGS, 10)
    assert next(iter(options)) in caught.value.message


def test_json_numbers_in_options_become_integers() -> None:
    """Option numbers stored as JSON doubles reach the driver as integers when whole."""
    _, kwargs = client_arguments(resolved(options={"maxStalenessSeconds": 120, "w": "majority"}), SETTINGS, 10)
    assert kwargs["maxStalenessSeconds"] == 120
    assert isinstance(kwargs["maxStalenessSeconds"], int)
    assert kwargs["w"] == "majority"


def _failure(code: int, message: str = "boom", **extra: Any) -> perr.OperationFailure:
    return perr.OperationFailure(message, code, {"ok": 0, "errmsg": message, "code": code, **extra})


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (perr.DuplicateKeyError("E11000", 11000, {"code": 11000, "errmsg": "E11000 dup"}), AlreadyExists),
        (_failure(48, codeName="NamespaceExists"), AlreadyExists),
        (_failure(85), AlreadyExists),
        (_failure(86), AlreadyExists),
        (_failure(26, codeName="NamespaceNotFound"), NotFound),
        (_failure(27, codeName="IndexNotFound"), NotFound),
        (_failure(43, codeName="CursorNotFound"), NotFound),
        (_failure(50), DeadlineExceeded),
        (_failure(262, codeName="ExceededTimeLimit"), DeadlineExceeded),
        (perr.ExecutionTimeout("operation exceeded time limit", 50), DeadlineExceeded),
        (_failure(10334), PayloadTooLarge),
        (_failure(13), PermissionDenied),
        (_failure(18), Unavailable),
        (_failure(2, "unknown operator: $foo", codeName="BadValue"), InvalidArgument),
        (perr.DocumentTooLarge("BSON document too large"), PayloadTooLarge),
        (perr.ServerSelectionTimeoutError("127.0.0.1:1: connection refused"), Unavailable),
        (perr.AutoReconnect("connection closed"), Unavailable),
        (perr.NetworkTimeout("timed out"), DeadlineExceeded),
        (perr.ConfigurationError("The DNS query name does not exist: _mongodb._tcp.x."), Unavailable),
        (perr.InvalidOperation("cannot do that"), InvalidArgument),
        (perr.PyMongoError("something else"), Internal),
    ],
)
def test_driver_errors_map_to_api_errors(exc: Exception, expected: type[DatabaseError]) -> None:
    """Server codes decide first (duplicate key 409, namespace, index or cursor not found 404,
    time limit 504, too large 413, unauthorized 403), then the most specific exception class."""
    assert type(translate(exc)) is expected


def test_a_failed_batch_reports_the_first_failed_write() -> None:
    """A batch insert stopped by a duplicate is 409 naming the index of the document and how
    many went in before it."""
    exc = perr.BulkWriteError(
        {"writeErrors": [{"index": 2, "code": 11000, "errmsg": "E11000 duplicate key"}], "nInserted": 2}
    )
    error = translate(exc)
    assert isinstance(error, AlreadyExists)
    assert error.details["index"] == "2"
    assert error.details["inserted"] == "2"


def test_server_messages_are_kept_and_credentials_failures_are_not_detailed() -> None:
    """A query error carries the server's message and code name; an authentication failure says
    only that the credentials were refused."""
    error = translate(_failure(2, "unknown operator: $foo", codeName="BadValue"))
    assert error.message == "mongodb: unknown operator: $foo"
    assert error.details == {"code": "2", "codeName": "BadValue"}
    auth = translate(_failure(18, "Authentication failed for user app with password hunter2"))
    assert "hunter2" not in auth.message
