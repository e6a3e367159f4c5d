"""Shapes and lookups shared by the route modules."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from gateway.calls import backends as backends  # the routes' one way to the backends
from udb.common.v1 import common_pb2
from udb.engines import DB_TYPE_NAMES
from udb.registry.v1 import registry_pb2
from udb.registry_client import connection_options
from udb.roles import role_name as role_name
from udb.roles import role_value as role_value


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
        "database_type": DB_TYPE_NAMES.get(connection.database_type, "unknown"),
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
