"""pg-svc's catalogue RPCs (PgCatalogService): postgres-meta's lists, objects and writes."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc

from pg_svc import writes
from pg_svc.catalog import kinds
from pg_svc.catalog_reader import CatalogReader
from pg_svc.ddl import Change, parse_body
from pg_svc.pooled import pooled_connection
from pg_svc.settings import Settings
from pg_svc.writes.request import Write
from udb.engine import EngineRuntime
from udb.errors import AlreadyExists, DatabaseError, InvalidArgument, NotFound, PermissionDenied
from udb.pg.v1 import catalog_pb2, catalog_pb2_grpc


class PgCatalogService(catalog_pb2_grpc.PgCatalogServiceServicer):
    """The catalogue of a project's Postgres databases, in postgres-meta's shapes."""

    def __init__(self, runtime: EngineRuntime[asyncpg.Pool], settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._catalog = CatalogReader(runtime, settings)

    async def ListObjects(
        self, request: catalog_pb2.ListObjectsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.CatalogReply:
        sql, args = kinds.list_query(request)
        found = await self._catalog.read(request.target, sql, args)
        if found is None:  # the first object of an empty page
            raise kinds.not_found(catalog_pb2.CATALOG_KIND_TABLES, str(request.table_id))
        return catalog_pb2.CatalogReply(json=found)

    async def GetObject(
        self, request: catalog_pb2.GetObjectRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.CatalogReply:
        sql, args = kinds.object_query(request.kind, request.key)
        found = await self._catalog.read(request.target, sql, args)
        if found is None:
            raise kinds.not_found(request.kind, request.key)
        return catalog_pb2.CatalogReply(json=found)

    async def WriteObject(
        self, request: catalog_pb2.WriteObjectRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.CatalogReply:
        rule = writes.WRITES.get((request.kind, request.action))
        if rule is None:
            raise InvalidArgument("this kind of object has no such write", details={"field": "action"})
        write = Write(request.key, parse_body(request.body), request.cascade)
        try:
            async with (
                self.runtime.borrow(request.target, rule.role) as borrowed,
                pooled_connection(borrowed.client, self.settings.connect_timeout_s) as connection,
                connection.transaction(),
            ):
                reply = await rule.handler(Change(connection), write)
        except (InvalidArgument, NotFound, AlreadyExists, PermissionDenied) as error:
            raise _as_postgres_meta(error) from None
        return catalog_pb2.CatalogReply(json=reply)


def _as_postgres_meta(error: DatabaseError) -> DatabaseError:
    """postgres-meta answers every database error of a write with 400 and the database's message
    (404 only for what it cannot find). The database's errors carry their SQLSTATE; the API's own
    (an access check, a body it refuses) and connection or time-limit errors keep their class."""
    if "sqlstate" not in error.details:
        return error
    if error.message.startswith("Cannot find"):
        return NotFound(error.message, details=error.details)
    return InvalidArgument(error.message, details=error.details)
