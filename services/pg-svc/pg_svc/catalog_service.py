"""pg-svc's catalogue RPCs (PgCatalogService): postgres-meta's lists, objects and writes."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc

from pg_svc import writes
from pg_svc.catalog import kinds
from pg_svc.catalog_reader import CatalogReader
from pg_svc.clients import translate
from pg_svc.ddl import Change, parse_body
from pg_svc.pooled import pooled_connection
from pg_svc.settings import Settings
from pg_svc.writes.request import Write
from udb.engine import EngineRuntime
from udb.errors import AlreadyExists, DatabaseError, DeadlineExceeded, InvalidArgument, NotFound, PermissionDenied
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
        async with self.runtime.borrow(request.target, rule.role) as borrowed:
            write = Write(request.key, parse_body(request.body), request.cascade)
            async with pooled_connection(borrowed.client, self.settings.connect_timeout_s) as connection:
                try:
                    async with connection.transaction():
                        reply = await rule.handler(Change(connection), write)
                except DatabaseError:
                    raise
                except TimeoutError:
                    raise DeadlineExceeded("the write ran past its time limit") from None
                except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
                    raise _write_error(exc) from None
        return catalog_pb2.CatalogReply(json=reply)


def _write_error(exc: Exception) -> DatabaseError:
    """postgres-meta answers every database error of a write with 400 and the database's message
    (404 only for what it cannot find): a driver error keeps its own class only when it is about
    the connection or a time limit."""
    error = translate(exc)
    if isinstance(error, InvalidArgument | NotFound | AlreadyExists | PermissionDenied):
        if error.message.startswith("Cannot find"):
            return NotFound(error.message, details=error.details)
        return InvalidArgument(error.message, details=error.details)
    return error
