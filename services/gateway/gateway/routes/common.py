"""Shapes and lookups shared by the route modules."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from starlette.requests import HTTPConnection

from gateway.backends import Backends
from udb.common.v1 import common_pb2
from udb.registry.v1 import registry_pb2
from udb.registry_client import connection_options
from udb.roles import role_name as role_name
from udb.roles import role_value as role_value

#: The engines' path segments in the API, and their record type.
ENGINE_SEGMENTS: dict[str, common_pb2.DatabaseType] = {
    "redis": common_pb2.DATABASE_TYPE_REDIS,
    "mongodb": common_pb2.DATABASE_TYPE_MONGODB,
    "pg-meta": common_pb2.DATABASE_TYPE_POSTGRES,
}
DATABASE_TYPE_NAMES: dict[int, str] = {
    common_pb2.DATABASE_TYPE_REDIS: "redis",
    common_pb2.DATABASE_TYPE_MONGODB: "mongodb",
    common_pb2.DATABASE_TYPE_POSTGRES: "postgres",
}


StubT = TypeVar("StubT")
_STUBS: weakref.WeakKeyDictionary[grpc.aio.Channel, dict[Any, Any]] = weakref.WeakKeyDictionary()


def service_stub(b: Backends, channel: str, factory: Callable[[grpc.aio.Channel], StubT]) -> StubT:
    """A stub made by ``factory`` on the service's channel, once per channel: for a service a
    route module adds beside the stubs :class:`Backends` holds."""
    made = _STUBS.setdefault(b.channels[channel], {})
    if factory not in made:
        made[factory] = factory(b.channels[channel])
    stub: StubT = made[factory]
    return stub


def backends(connection: HTTPConnection) -> Backends:
    found: Backends = connection.app.state.backends
    return found


def timestamp(value: timestamp_pb2.Timestamp) -> str | None:
    """RFC 3339 in UTC, or None for an unset time."""
    if not value.seconds and not value.nanos:
        return None
    return value.ToJsonString()


def connection_json(connection: registry_pb2.Connection) -> dict[str, Any]:
    """A connection record as the API shows it (never a secret: ``has_password`` only)."""
    database: str | int = connection.database
    if connection.database_type == common_pb2.DATABASE_TYPE_REDIS and connection.database.isdigit():
        database = int(connection.database)
    return {
        "id": connection.id,
        "project_ref": connection.project_ref,
        "database_type": DATABASE_TYPE_NAMES.get(connection.database_type, "unknown"),
        "identifier": connection.identifier,
        "host": connection.host,
        "port": connection.port,
        "username": connection.username or None,
        "database": database,
        "tls": connection.tls,
        "options": connection_options(connection),
        "is_primary": connection.is_primary,
        "status": connection.status,
        "has_password": connection.has_password,
        "created_at": timestamp(connection.created_at),
        "updated_at": timestamp(connection.updated_at),
    }


def page(items: list[Any], next_cursor: str) -> dict[str, Any]:
    """A list reply: the items and, when there is more, the cursor of the next page."""
    return {"data": items, "next_cursor": next_cursor or None}
