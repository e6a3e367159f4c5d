"""pg-svc's RPCs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import orjson

from pg_svc.catalog_reader import CatalogReader
from pg_svc.pooled import pooled_connection
from pg_svc.query import run
from pg_svc.settings import Settings
from pg_svc.typegen import generate as typegen
from pg_svc.viewer import ViewerPools
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.errors import Internal, InvalidArgument
from udb.pg.v1 import pg_pb2, pg_pb2_grpc


class PgService(pg_pb2_grpc.PgServiceServicer):
    """Operations on a project's Postgres databases."""

    def __init__(self, runtime: EngineRuntime[asyncpg.Pool], settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._catalog = CatalogReader(runtime, settings)
        self.viewers = ViewerPools(settings, acquire_timeout_s=settings.connect_timeout_s)
        runtime.registry.add_listener(self.viewers.invalidate)

    async def start(self) -> None:
        await self.viewers.start()

    async def close(self) -> None:
        await self.viewers.close()

    @contextlib.asynccontextmanager
    async def sql_connection(
        self, target: common_pb2.ConnectionTarget
    ) -> AsyncIterator[tuple[asyncpg.pool.PoolConnectionProxy, bool]]:
        """A connection for a caller's SQL, and whether it is a viewer's (read only): a developer's
        runs as the connection's user, a viewer's with read rights only (:mod:`pg_svc.viewer`)."""
        async with self.runtime.borrow(target, common_pb2.ROLE_VIEWER) as borrowed:
            if borrowed.access.role < common_pb2.ROLE_DEVELOPER:
                async with self.viewers.connection(borrowed) as connection:
                    yield connection, True
                return
            async with pooled_connection(borrowed.client, self.settings.connect_timeout_s) as connection:
                yield connection, False

    async def Query(
        self, request: pg_pb2.QueryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.QueryResponse:
        if request.statement_timeout_ms < 0:
            raise InvalidArgument(
                "statement_timeout_ms must not be negative", details={"field": "statement_timeout_ms"}
            )
        parameters = _parameters(request.parameters)
        async with self.sql_connection(request.target) as (connection, read_only):
            result = await run(
                connection,
                request.query,
                parameters,
                read_only=read_only,
                limits=self.settings.limits(request.statement_timeout_ms),
                application_name=request.application_name,
            )
        return pg_pb2.QueryResponse(rows=result.rows, truncated=result.truncated, row_count=result.row_count)

    async def TestConnection(
        self, request: pg_pb2.TestConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.ConnectionTestResult:
        async def probe(pool: asyncpg.Pool) -> str:
            async with pooled_connection(pool, self.settings.connect_timeout_s) as connection:
                return str(await connection.fetchval("SHOW server_version"))

        return await self.runtime.test_connection(request.target, probe)

    # ---- postgres-meta's type generators ----------------------------------------------------

    async def GenerateTypes(
        self, request: pg_pb2.GenerateTypesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.GenerateTypesResponse:
        typegen.check(request)
        document = await self._catalog.read(
            request.target,
            typegen.QUERY,
            (list(request.included_schemas) or None, list(request.excluded_schemas) or None),
        )
        if document is None:
            raise Internal("the type generator's query answered nothing")
        # Templating a large schema takes a while: off the event loop.
        text = await asyncio.to_thread(typegen.generate, request, document)
        return pg_pb2.GenerateTypesResponse(text=text)


def _parameters(text: bytes) -> list[Any] | None:
    """The bind parameters: a JSON array, or none."""
    if not text:
        return None
    try:
        values = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidArgument("parameters must be a JSON array", details={"field": "parameters"}) from None
    if values is None:
        return None
    if not isinstance(values, list):
        raise InvalidArgument("parameters must be a JSON array", details={"field": "parameters"})
    return values
