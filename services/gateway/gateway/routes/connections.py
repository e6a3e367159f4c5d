"""Connection records of each engine: ``/[engine]/[ref]/connections[/[id][/test]]``.

The registry decides who may do what (viewers read, admins write); the gateway passes the
caller's token on and shapes the replies.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.calls import backends, call
from gateway.http import JSONResponse, field, query_int, read_object
from gateway.routes.common import connection_json, page
from udb.common.v1 import common_pb2
from udb.engines import ENGINE_SEGMENTS
from udb.errors import InvalidArgument, NotFound
from udb.registry.v1 import registry_pb2

_FIELDS = frozenset(
    {"identifier", "uri", "host", "port", "username", "password", "database", "tls", "options", "is_primary"}
)


def _database_type(request: Request) -> common_pb2.DatabaseType:
    engine = request.path_params["engine"]
    if engine not in ENGINE_SEGMENTS:
        raise NotFound(f"no engine {engine!r}: use redis, mongodb or pg-meta")
    return ENGINE_SEGMENTS[engine]


def _database(body: dict[str, Any]) -> str | None:
    value = field(body, "database", (str, int))
    return None if value is None else str(value)


def _options(body: dict[str, Any]) -> struct_pb2.Struct | None:
    options = field(body, "options", dict)
    if options is None:
        return None
    message = struct_pb2.Struct()
    try:
        message.update(options)
    except (TypeError, ValueError):
        raise InvalidArgument("options must be a JSON object", details={"field": "options"}) from None
    return message


def _port(body: dict[str, Any]) -> int | None:
    port: int | None = field(body, "port", int)
    if port is not None and not 1 <= port <= 65535:
        raise InvalidArgument("port must be between 1 and 65535", details={"field": "port"})
    return port


async def connections(request: Request) -> Response:
    """
    get:
      summary: The project's connections of this engine (any member).
      responses: {200: {description: '{"data": [Connection], "next_cursor"}'}}
    post:
      summary: >-
        Creates a connection (admins), from fields or a uri. The first of an engine becomes primary.
        Passwords (in the uri too) and options named like secrets (read_only_password, ...) are sealed,
        never returned. A host that is, or resolves to, a denied address is 400 (README, threat model).
      requestBody: {content: {application/json: {example: {identifier: cache, uri: 'redis://:pw@cache:6379/0'}}}}
      responses:
        201: {description: Connection}
        400: {description: a bad field or uri}
        409: {description: duplicate identifier or second primary}
    """
    b = backends(request)
    database_type = _database_type(request)
    if request.method == "GET":
        reply = await call(
            request,
            b.registry.ListConnections,
            lambda target: registry_pb2.ListConnectionsRequest(
                project_ref=target.project_ref,
                database_type=database_type,
                limit=query_int(request, "limit", 0, minimum=1, maximum=1000),
                cursor=request.query_params.get("cursor", ""),
            ),
        )
        return JSONResponse(page([connection_json(c) for c in reply.connections], reply.next_cursor))

    async def build(target: common_pb2.ConnectionTarget) -> registry_pb2.CreateConnectionRequest:
        body = await read_object(request, b.settings.max_body_bytes, allowed=_FIELDS)
        return registry_pb2.CreateConnectionRequest(
            project_ref=target.project_ref,
            database_type=database_type,
            identifier=field(body, "identifier", str, required=True),
            uri=field(body, "uri", str) or "",
            host=field(body, "host", str) or "",
            port=_port(body) or 0,
            username=field(body, "username", str),
            password=field(body, "password", str),
            database=_database(body),
            tls=field(body, "tls", bool),
            options=_options(body),
            is_primary=field(body, "is_primary", bool),
        )

    created = await call(request, b.registry.CreateConnection, build)
    return JSONResponse(connection_json(created), status_code=201)


async def connection(request: Request) -> Response:
    """
    get:
      summary: One connection (any member).
      responses: {200: {description: Connection}, 404: {description: no such connection}}
    put:
      summary: >-
        Changes the given fields (admins). An empty password removes the stored one; a change of host,
        port, TLS, user or of an option choosing servers drops the stored secrets unless the same request
        supplies them.
      responses: {200: {description: Connection}}
    delete:
      summary: Deletes the connection (admins); its pooled clients close at once.
      responses: {200: {description: the deleted Connection}}
    """
    b = backends(request)
    database_type = _database_type(request)
    connection_id = request.path_params["id"]
    if request.method == "GET":
        found = await call(
            request,
            b.registry.GetConnection,
            lambda target: registry_pb2.GetConnectionRequest(
                project_ref=target.project_ref, database_type=database_type, id=connection_id
            ),
        )
        return JSONResponse(connection_json(found))
    if request.method == "DELETE":
        deleted = await call(
            request,
            b.registry.DeleteConnection,
            lambda target: registry_pb2.DeleteConnectionRequest(
                project_ref=target.project_ref, database_type=database_type, id=connection_id
            ),
        )
        return JSONResponse(connection_json(deleted.connection))

    async def build(target: common_pb2.ConnectionTarget) -> registry_pb2.UpdateConnectionRequest:
        body = await read_object(request, b.settings.max_body_bytes, allowed=_FIELDS)
        return registry_pb2.UpdateConnectionRequest(
            project_ref=target.project_ref,
            database_type=database_type,
            id=connection_id,
            identifier=field(body, "identifier", str),
            uri=field(body, "uri", str),
            host=field(body, "host", str),
            port=_port(body),
            username=field(body, "username", str),
            password=field(body, "password", str),
            database=_database(body),
            tls=field(body, "tls", bool),
            options=_options(body),
            is_primary=field(body, "is_primary", bool),
        )

    updated = await call(request, b.registry.UpdateConnection, build)
    return JSONResponse(connection_json(updated))


async def test_connection(request: Request) -> Response:
    """
    post:
      summary: Connects with the stored record (a body is ignored) and reports latency and server version (admins).
      responses: {200: {description: '{"ok": true, "latency_ms", "server_version"} or {"ok": false, "error"}'}}
    """
    b = backends(request)
    result = await call(
        request,
        b.registry.TestConnection,
        lambda target: registry_pb2.TestConnectionRequest(
            project_ref=target.project_ref,
            database_type=_database_type(request),
            id=request.path_params["id"],
        ),
    )
    if result.ok:
        return JSONResponse(
            {"ok": True, "latency_ms": round(result.latency_ms, 3), "server_version": result.server_version}
        )
    error = result.error
    return JSONResponse(
        {
            "ok": False,
            "latency_ms": round(result.latency_ms, 3),
            "error": {"code": error.code, "message": error.message, "details": dict(error.details)},
        }
    )


routes: list[BaseRoute] = [
    Route("/{engine}/{ref}/connections", connections, methods=["GET", "POST"]),
    Route("/{engine}/{ref}/connections/{id}", connection, methods=["GET", "PUT", "DELETE"]),
    Route("/{engine}/{ref}/connections/{id}/test", test_connection, methods=["POST"]),
]
